"""`phism fuse` end to end on Wald-protocol pairs made by `phism degrade`, bad inputs, and
the real Paris hyperspectral + panchromatic pair."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS

from phism_cli.io.rasters import phism_raster_metadata
from phism_cli.io.scene_formats import open_scene
from phism_cli.io.spectral_tables import read_spectral_table
from tests.cli.test_degrade import WAVELENGTH_NM, write_srf
from tests.conftest import real_file, smooth_cube

torch.set_num_threads(1)

FAST = ("--steps", 60, "--hidden-units", 32, "--endmembers", 4, "--quiet")
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)


def write_geotiff(path: Path, cube: np.ndarray, transform: Affine | None = TRANSFORM) -> Path:
    height, width, bands = cube.shape
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=bands,
                       dtype="float32", crs=CRS.from_epsg(32633) if transform else None,
                       transform=transform or Affine.identity()) as ds:
        ds.write(np.moveaxis(cube.astype(np.float32), -1, 0))
        for i, w in enumerate(WAVELENGTH_NM[:bands], start=1):
            ds.update_tags(i, wavelength=f"{w:.4f}", wavelength_units="Nanometers", fwhm="12.5")
    return path


@pytest.fixture
def pair(tmp_path, cli) -> Path:
    """A georeferenced Wald pair at ratio 4 (hsi 8 x 9, msi 32 x 36, 4 bands)."""
    write_geotiff(tmp_path / "scene.tif", smooth_cube(32, 36, 16, seed=4))
    write_srf(tmp_path / "srf.csv", {"blue": 480.0, "green": 560.0, "red": 660.0,
                                     "nir": 850.0})
    result = cli("degrade", tmp_path / "scene.tif", "-o", tmp_path / "p", "--ratio", 4,
                 "--srf", tmp_path / "srf.csv", "--quiet")
    assert result.code == 0, result.err
    return tmp_path


def test_fuse_writes_the_cube_abundances_and_checks(pair, cli):
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "fused.tif",
                 "--srf", pair / "srf.csv", "--reference", pair / "p_reference.tif",
                 "--abundances", pair / "ab.zarr", "--json", *FAST)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["ratio"] == 4 and (summary["height"], summary["width"]) == (32, 36)
    assert summary["fused_pixels"] == 32 * 36
    for check in ("check_lowres", "check_msi", "reference"):
        assert np.isfinite(summary[check]["psnr_db"]) and summary[check]["sam_deg"] >= 0
    assert {"ergas", "uiqi"} <= set(summary["reference"])
    assert summary["seconds"] >= summary["train_seconds"] > 0
    # a calibrated pair: radiometric matching must leave it (nearly) alone despite the blur
    np.testing.assert_allclose(summary["msi_gain"], 1.0, atol=0.1)
    with open_scene(pair / "fused.tif") as fused, open_scene(pair / "p_msi.tif") as msi:
        assert fused.shape == (32, 36, 16)
        assert fused.crs == msi.crs and fused.transform == msi.transform
        np.testing.assert_allclose(fused.wavelength_nm, WAVELENGTH_NM, atol=1e-3)
        np.testing.assert_allclose(fused.fwhm_nm, 12.5)
        assert np.isfinite(fused.read()).all()
    assert phism_raster_metadata(pair / "fused.tif")["format"] == "phism-fused"
    table = read_spectral_table(pair / "ab_endmembers.csv")
    assert table.names == [f"endmember {k}" for k in range(1, 5)]
    np.testing.assert_allclose(table.axis, WAVELENGTH_NM, atol=1e-3)


def test_fused_cube_is_its_abundances_times_the_endmembers(pair, cli):
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "f.tif",
                 "--srf", pair / "srf.csv", "--abundances", pair / "a.tif", "--method", "net",
                 *FAST)
    assert result.code == 0, result.err
    table = read_spectral_table(pair / "a_endmembers.csv")
    with open_scene(pair / "f.tif") as fused, rasterio.open(pair / "a.tif") as ab:
        abundances = np.moveaxis(ab.read(), 0, -1)
        np.testing.assert_allclose(abundances @ table.spectra, fused.read(), rtol=1e-3,
                                   atol=1e-3 * float(np.abs(fused.read()).max()))


def test_a_single_band_and_gaussian_responses_from_the_metadata(pair, cli):
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "g.tif",
                 "--json", *FAST)  # no --srf: Gaussians at the degrade output's band centres
    assert result.code == 0, result.err
    assert json.loads(result.out)["response"]["source"] == "gaussian"
    pan = cli("degrade", pair / "scene.tif", "-o", pair / "pan", "--ratio", 2, "--srf",
              pair / "srf.csv", "--srf-columns", "red", "--quiet")
    assert pan.code == 0, pan.err
    result = cli("fuse", pair / "pan_hsi.tif", pair / "pan_msi.tif", "-o", pair / "pan.tif",
                 "--srf", pair / "srf.csv", "--srf-columns", "red", "--json", *FAST)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["msi_bands"] == 1 and summary["check_msi"]["sam_deg"] is None


def refused(cli, folder: Path, *args: object, match: str) -> None:
    before = sorted(p.name for p in folder.iterdir())
    result = cli("fuse", *FAST, *args, "-o", folder / "out.tif")
    assert result.code != 0
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert match in result.err, result.err
    assert sorted(p.name for p in folder.iterdir()) == before


def test_bad_pairs_are_refused_before_any_work(pair, cli):
    srf = ("--srf", pair / "srf.csv")
    refused(cli, pair, pair / "p_msi.tif", pair / "p_hsi.tif", *srf,
            match="swap the two inputs")
    refused(cli, pair, pair / "p_hsi.tif", pair / "p_msi.tif", *srf, "--endmembers", 17,
            match="--endmembers 17")
    with rasterio.open(pair / "p_msi.tif") as ds:
        data = np.moveaxis(ds.read(), 0, -1)
    shifted = Affine(10.0, 0.0, 500040.0, 0.0, -10.0, 4200000.0)
    write_geotiff(pair / "shifted.tif", data[..., :1].repeat(4, -1), shifted)
    refused(cli, pair, pair / "p_hsi.tif", pair / "shifted.tif", *srf,
            match="same area")
    coarse = Affine(12.0, 0.0, 500000.0, 0.0, -12.0, 4200000.0)
    write_geotiff(pair / "coarse.tif", data[..., :1].repeat(4, -1), coarse)
    refused(cli, pair, pair / "p_hsi.tif", pair / "coarse.tif", *srf, match="integer ratio")
    write_geotiff(pair / "plain.tif", data[:30, :, :1].repeat(4, -1), None)
    write_geotiff(pair / "plain_hsi.tif", smooth_cube(8, 9, 16), None)
    refused(cli, pair, pair / "plain_hsi.tif", pair / "plain.tif", *srf,
            match="integer multiple")
    write_srf(pair / "far.csv", {"swir": 1500.0})
    refused(cli, pair, pair / "p_hsi.tif", pair / "p_msi.tif", "--srf", pair / "far.csv",
            match="outside the hyperspectral bands")
    refused(cli, pair, pair / "p_hsi.tif", pair / "p_msi.tif", *srf, "--reference",
            pair / "p_hsi.tif", match="--reference")
    refused(cli, pair, pair / "p_hsi.tif", pair / "p_msi.tif", *srf, "--no-prior",
            match="--method net")


def test_map_is_the_default_and_its_abundances_say_what_they_miss(pair, cli):
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "m.tif",
                 "--srf", pair / "srf.csv", "--abundances", pair / "am.tif", "--json", *FAST)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["settings"]["method"] == "map"
    assert summary["check_msi"]["psnr_db"] > 30 and summary["check_lowres"]["psnr_db"] > 25
    meta = phism_raster_metadata(pair / "am.tif")
    assert (meta["method"] == "map" and "residual" in meta["note"]) or "unexplained" in meta["note"]


def test_zero_filled_multispectral_pixels_are_nodata(pair, cli):
    with rasterio.open(pair / "p_msi.tif") as ds:
        data = np.moveaxis(ds.read(), 0, -1)
        profile = ds.profile
    data[:, :12] = 0.0
    with rasterio.open(pair / "zero.tif", "w", **profile) as ds:
        ds.write(np.moveaxis(data, -1, 0))
    result = cli("fuse", pair / "p_hsi.tif", pair / "zero.tif", "-o", pair / "z.tif", "--srf",
                 pair / "srf.csv", "--json", *FAST)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["fused_pixels"] == 32 * (36 - 12)
    np.testing.assert_allclose(summary["msi_gain"], 1.0, atol=0.1)
    with open_scene(pair / "z.tif") as fused:
        assert np.isnan(fused.read()[:, :12]).all()


def test_a_nodata_low_resolution_pixel_blanks_only_its_own_block(pair, cli):
    import shutil

    shutil.copy(pair / "p_hsi.tif", pair / "hole.tif")
    with rasterio.open(pair / "hole.tif", "r+") as ds:
        data = ds.read()
        data[:, 2, 3] = np.nan
        ds.write(data)
    result = cli("fuse", pair / "hole.tif", pair / "p_msi.tif", "-o", pair / "h.tif", "--srf",
                 pair / "srf.csv", "--json", *FAST)
    assert result.code == 0, result.err
    assert json.loads(result.out)["fused_pixels"] == 32 * 36 - 4 * 4
    with open_scene(pair / "h.tif") as fused:
        cube = fused.read()
    assert np.isnan(cube[8:12, 12:16]).all()
    assert np.isfinite(np.delete(cube.reshape(-1, 16), [r * 36 + c for r in range(8, 12)
                                                       for c in range(12, 16)], axis=0)).all()


def test_georeferencing_mismatches_are_refused(pair, cli):
    srf = ("--srf", pair / "srf.csv")
    with rasterio.open(pair / "p_msi.tif") as ds:
        data = np.moveaxis(ds.read(), 0, -1)
    # one column too many (the extents differ by a pixel)
    write_geotiff(pair / "wide.tif", np.concatenate([data, data[:, -1:]], axis=1))
    refused(cli, pair, pair / "p_hsi.tif", pair / "wide.tif", *srf, match="same area")
    # a reference elsewhere
    elsewhere = Affine(10.0, 0.0, 600000.0, 0.0, -10.0, 4200000.0)
    with open_scene(pair / "p_reference.tif") as ref:
        write_geotiff(pair / "far_ref.tif", ref.read(), elsewhere)
    refused(cli, pair, pair / "p_hsi.tif", pair / "p_msi.tif", *srf, "--reference",
            pair / "far_ref.tif", match="georeferencing differs")


def test_the_output_takes_the_crs_of_the_hyperspectral_input_when_the_msi_has_none(pair, cli):
    with rasterio.open(pair / "p_msi.tif") as ds:
        data = np.moveaxis(ds.read(), 0, -1)
    with rasterio.open(pair / "nocrs.tif", "w", driver="GTiff", height=32, width=36, count=4,
                       dtype="float32", transform=TRANSFORM) as ds:
        ds.write(np.moveaxis(data, -1, 0))
    result = cli("fuse", pair / "p_hsi.tif", pair / "nocrs.tif", "-o", pair / "c.tif", "--srf",
                 pair / "srf.csv", "--json", *FAST)
    assert result.code == 0, result.err
    assert any("CRS" in note for note in json.loads(result.out)["notes"])
    with open_scene(pair / "c.tif") as fused:
        assert fused.crs == CRS.from_epsg(32633)


def test_an_existing_output_is_kept_without_overwrite(pair, cli):
    (pair / "out.tif").write_bytes(b"precious")
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "out.tif",
                 "--srf", pair / "srf.csv", *FAST)
    assert result.code != 0 and "--overwrite" in result.err
    assert (pair / "out.tif").read_bytes() == b"precious"


def hyperion_wavelengths(bands: np.ndarray) -> np.ndarray:
    """Approximate Hyperion band centres (nm) of 1-based band numbers."""
    return np.where(bands <= 70, 355.59 + 10.1763 * (bands - 1),
                    851.92 + 10.0895 * (bands - 71))


def test_the_real_paris_hyperspectral_and_panchromatic_pair(shared_data, tmp_path, cli):
    from scipy.io import loadmat

    paris = real_file(shared_data, "paris_fusion/paris_data_hs_pan.mat")
    bands = loadmat(paris)["non_del_bands"].ravel().astype(float)
    (tmp_path / "wl.txt").write_text("\n".join(f"{w:.2f}" for w in hyperion_wavelengths(bands)))
    result = cli("fuse", paris, paris, "--variable", "HSim", "--msi-variable", "PCim",
                 "--wavelengths", tmp_path / "wl.txt", "--msi-wavelengths", 585,
                 "--msi-fwhm", 210, "-o", tmp_path / "paris.tif", "--json", "--quiet",
                 "--steps", 200, "--hidden-units", 128, "--endmembers", 8)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["ratio"] == 3 and (summary["height"], summary["width"]) == (216, 174)
    # No high-resolution reference: the fused cube must agree with both inputs.
    assert summary["check_lowres"]["psnr_db"] > 25 and summary["check_lowres"]["sam_deg"] < 5
    assert summary["check_msi"]["psnr_db"] > 25


def textured_pair(folder: Path, cli, *args: object) -> Path:
    """A 96 x 96 scene of white noise in 16 bands (every spatial frequency present),
    degraded at ratio 4 with `args` (the PSF)."""
    rng = np.random.default_rng(7)
    write_geotiff(folder / "noise.tif", 0.2 + 0.6 * rng.random((96, 96, 16)))
    write_srf(folder / "srf.csv", {"blue": 480.0, "green": 560.0, "red": 660.0,
                                   "nir": 850.0})
    result = cli("degrade", folder / "noise.tif", "-o", folder / "t", "--ratio", 4,
                 "--srf", folder / "srf.csv", "--quiet", *args)
    assert result.code == 0, result.err
    return folder


@pytest.mark.parametrize(("args", "fwhm_px"), [([], [4.17, 4.17]),
                                               (["--psf", "motion"], [4.0, 12.0])])
def test_the_psf_is_estimated_from_the_pair(tmp_path, cli, args, fwhm_px):
    folder = textured_pair(tmp_path, cli, *args)
    result = cli("fuse", folder / "t_hsi.tif", folder / "t_msi.tif", "-o", folder / "f.tif",
                 "--srf", folder / "srf.csv", "--json", *FAST)
    assert result.code == 0, result.err
    assert result.err == ""  # centred on its block: no note
    estimate = json.loads(result.out)["psf_estimate"]
    assert estimate["shape"] == "estimated" and estimate["ratio"] == 4
    assert estimate["fwhm_px"] == pytest.approx(fwhm_px, abs=0.1)
    assert estimate["shift_px"] == pytest.approx([0.0, 0.0], abs=0.05)
    assert estimate["patches"] == 22 * 22 and estimate["separable_share"] > 0.99
    assert phism_raster_metadata(folder / "f.tif")["psf_estimate"] == estimate


def test_a_misregistered_pair_gets_a_note_and_estimation_can_be_skipped(tmp_path, cli):
    folder = textured_pair(tmp_path, cli, "--psf", "box")
    shutil.copy(folder / "t_msi.tif", folder / "moved.tif")
    with rasterio.open(folder / "moved.tif", "r+") as moved:  # 2 pixels further along x
        moved.write(np.roll(moved.read(), 2, axis=2))
    base = ["fuse", folder / "t_hsi.tif", folder / "moved.tif", "--srf", folder / "srf.csv",
            "--json", *FAST[:-1]]
    result = cli(*base, "-o", folder / "f.tif")
    assert result.code == 0, result.err
    assert json.loads(result.out)["psf_estimate"]["shift_px"] == pytest.approx([0, 2],
                                                                             abs=0.1)
    assert "note: the PSF estimated from the pair is centred +0.00 rows and +2.00 columns" \
        in result.err and "misregistered" in result.err
    skipped = cli(*base, "-o", folder / "g.tif", "--no-estimate-psf")
    assert skipped.code == 0, skipped.err
    assert json.loads(skipped.out)["psf_estimate"] is None and "PSF" not in skipped.err
