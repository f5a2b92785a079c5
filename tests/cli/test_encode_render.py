import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from phism_cli.io import open_scene
from phism_cli.model.checkpoint import read_encoder_metadata
from phism_cli.model.estimator import psnr_db
from tests.conftest import SAMPLE_SCENE, real_file, smooth_cube, write_envi


def test_fit_encoder_json(cli, tmp_path) -> None:
    result = cli("fit-encoder", SAMPLE_SCENE, "-o", tmp_path / "m.safetensors", "--epochs", "2",
                 "--max-pixels", "1000", "--json", "-q")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["pixels"] == 1000 and summary["epochs"] == 2
    assert {"val_psnr_db", "seconds", "sha256"} <= summary.keys()
    meta = read_encoder_metadata(tmp_path / "m.safetensors")
    assert meta["good_band_mask"].count(0) == 6 and meta["bad_bands_dropped"] is True
    assert len(meta["renderer"]["band_mean"]) == 218


def test_fit_encoder_step_budget_is_the_libraries_and_caps_the_steps(cli, tmp_path) -> None:
    from phism_cli.cli.options import DEFAULT_MAX_STEPS
    from phism_cli.model.estimator import DEFAULT_MAX_STEPS as LIBRARY_DEFAULT

    assert DEFAULT_MAX_STEPS == LIBRARY_DEFAULT
    result = cli("fit-encoder", SAMPLE_SCENE, "-o", tmp_path / "m.safetensors", "--epochs", "4",
                 "--max-steps", "10", "--max-pixels", "1000", "--json", "-q")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["steps"] == 8 and summary["epochs"] == 4  # 10 // 4 steps an epoch
    assert read_encoder_metadata(tmp_path / "m.safetensors")["config"]["max_steps"] == 10


def check_refinement_improves_the_render(cli, tmp_path: Path, model: Path,
                                         plain: Path) -> None:
    """`encode --refine`: its reported gain is real (render both against the scene) and the
    refined latents stay within the basis's bounds."""
    refined = tmp_path / "refined.zarr"
    result = cli("encode", SAMPLE_SCENE, "-o", refined, "-m", model, "--refine", 20, "--json",
                 "-q", "--threads", 1)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["refine_steps"] == 20 and summary["psnr_gain_db"] > 0.2
    psnr = {}
    for name, latents in (("plain", plain), ("refined", refined)):
        out = cli("render", latents, "-o", tmp_path / f"{name}.tif", "--reference",
                  SAMPLE_SCENE, "--json", "-q")
        assert out.code == 0, out.err
        psnr[name] = json.loads(out.out)["psnr_db"]
        # At its own bands a latent map renders as it was fitted: each band at its centre.
        assert json.loads(out.out)["band_response"] == "centre"
    assert psnr["plain"] == pytest.approx(summary["psnr_before_db"], abs=0.05)
    assert psnr["refined"] == pytest.approx(summary["psnr_after_db"], abs=0.05)
    sigma = xr.open_zarr(refined)["latent"].sel(channel="c0_sigma_nm").values
    assert np.nanmin(sigma) > 0


def test_encode_zarr_then_render_reaches_psnr(cli, tmp_path, sample_model) -> None:
    latents = tmp_path / "latents.zarr"
    result = cli("encode", SAMPLE_SCENE, "-o", latents, "-m", sample_model, "--json", "-q",
                 "--tile-size", "32")
    assert result.code == 0, result.err
    assert json.loads(result.out)["valid_pixels"] > 4000
    check_refinement_improves_the_render(cli, tmp_path, sample_model, latents)

    ds = xr.open_zarr(latents)
    latent = ds["latent"]
    assert latent.dims == ("channel", "y", "x") and latent.shape == (21, 64, 64)
    assert list(ds["channel"].values[:4]) == ["c0_mu_nm", "c0_sigma_nm", "c0_alpha", "c0_amp"]
    assert ds["channel"].values[-1] == "brightness"
    centres = latent.sel(channel=[f"c{k}_mu_nm" for k in range(5)]).values
    assert (np.diff(centres, axis=0)[:, np.isfinite(centres).all(0)] >= 0).all()
    assert ds["x"].values[0] == pytest.approx(366975.0 + 15.0)  # pixel centres
    assert "32633" in ds["spatial_ref"].attrs["crs_wkt"]
    assert latent.encoding["chunks"] == (21, 32, 32)

    recon = tmp_path / "recon.tif"
    result = cli("render", latents, "-o", recon, "--reference", SAMPLE_SCENE, "--plot",
                 tmp_path / "fig.png", "--json", "-q")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    # The floor: predicting every pixel as the scene's mean spectrum.
    with open_scene(SAMPLE_SCENE) as scene:
        cube = scene.read()
        valid = np.isfinite(cube).all(-1)
        pixels = cube[valid]
        mean_psnr = psnr_db(pixels, np.broadcast_to(pixels.mean(0), pixels.shape))
        with rasterio.open(recon) as out:
            assert out.crs == scene.crs and out.transform == scene.transform
            assert out.count == scene.count
            assert float(out.tags(1)["wavelength"]) == pytest.approx(scene.wavelength_nm[0])
            rendered = np.moveaxis(out.read(), 0, -1)
    assert np.isnan(rendered[~valid]).all()
    # 25 epochs on 4,000 pixels: the renderer must clearly beat the mean spectrum (about 21
    # dB here) and reach 27 dB (a 4 % RMS error of the scene's reflectance range).
    assert summary["psnr_db"] > max(27.0, mean_psnr + 5.0), (summary, mean_psnr)
    assert summary["sam_deg"] < 15.0
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_encode_without_model_fits_and_saves_one(cli, tmp_path) -> None:
    out = tmp_path / "lat.tif"
    result = cli("encode", SAMPLE_SCENE, "-o", out, "--epochs", "2", "--max-pixels", "500",
                 "--json", "-q")
    assert result.code == 0, result.err
    model = tmp_path / "lat.encoder.safetensors"
    assert model.is_file() and json.loads(result.out)["fitted_model"] is True
    with rasterio.open(out) as ds, open_scene(SAMPLE_SCENE) as scene:
        assert ds.descriptions[:2] == ("c0_mu_nm", "c0_sigma_nm")
        assert ds.crs == scene.crs and ds.transform == scene.transform
        meta = json.loads(ds.tags(ns="PHISM")["metadata"])
        assert meta["renderer"]["n_components"] == 5
        assert len(meta["model_sha256"]) == 64 and meta["renderer"]["basis"] == "skewnormal"
        # one 64 x 64 tile: blocks are never larger than the image (rasterio's profile
        # calls a tile as wide as the image untiled)
        assert ds.block_shapes[0] == (64, 64) and ds.profile["compress"] == "zstd"


def test_encode_without_model_reports_the_fit_and_refuses_its_model_path_first(
        cli, tmp_path) -> None:
    """One scene without -m goes the batch's way (one encode path): the fit, the refinement
    and the saved encoder are reported, and an encoder already at the model path stops the
    command before any fitting."""
    cube = smooth_cube(16, 16, 12, seed=4)
    wl = ", ".join(str(w) for w in np.linspace(400, 1000, 12))
    header = write_envi(tmp_path / "s.img", cube, "bip", extra_header=f"wavelength = {{{wl}}}\n")
    out, model = tmp_path / "l.zarr", tmp_path / "l.encoder.safetensors"
    result = cli("encode", header, "-o", out, "--epochs", "1", "-k", "2", "--refine", "2",
                 "--json", "--threads", 1)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["fitted_model"] is True and summary["model"] == str(model)
    assert summary["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    lines = result.err.splitlines()
    said = [next(i for i, line in enumerate(lines) if line.startswith(start))
            for start in ("no --model given: fitting an encoder on", "wrote ", "--refine 2: PSNR",
                          "saved the encoder to")]
    assert said == sorted(said), result.err

    out.rename(tmp_path / "moved.zarr")
    before = model.read_bytes()
    again = cli("encode", header, "-o", out, "--epochs", "1", "-k", "2")
    assert again.code != 0 and str(model) in again.err and "--overwrite" in again.err
    assert "fitting" not in again.err and not out.exists() and model.read_bytes() == before


def test_nodata_pixels_become_nan(cli, tmp_path) -> None:
    cube = smooth_cube(20, 24, 12, seed=2)
    cube[3:6, 4:9] = -9999
    wl = ", ".join(str(w) for w in np.linspace(400, 1000, 12))
    header = write_envi(tmp_path / "s.img", cube, "bip",
                        extra_header=f"data ignore value = -9999\nwavelength = {{{wl}}}\n")
    result = cli("encode", header, "-o", tmp_path / "l.zarr", "--epochs", "1", "-q")
    assert result.code == 0, result.err
    latent = xr.open_zarr(tmp_path / "l.zarr")["latent"].values
    nan = np.isnan(latent).all(axis=0)
    expected = np.zeros((20, 24), bool)
    expected[3:6, 4:9] = True
    np.testing.assert_array_equal(nan, expected)
    assert np.isfinite(latent[:, ~expected]).all()


@pytest.mark.parametrize("relative", [
    "aviris_ng/topoflux/ang20160910t185702_2rdn_img.hdr",
    "enmap_potsdam/images/enmap_potsdam_tile_160_64.tif",
])
def test_real_scenes_keep_crs_and_transform(cli, tmp_path, shared_data, relative) -> None:
    path = real_file(shared_data, relative)
    out = tmp_path / "l.tif"
    result = cli("encode", path, "-o", out, "--epochs", "1", "--components", "2", "-q")
    assert result.code == 0, result.err
    with rasterio.open(out) as ds, open_scene(path) as scene:
        assert ds.crs == scene.crs and ds.transform == scene.transform
        assert ds.count == 9 and np.isfinite(ds.read()).all()


def test_indian_pines_mat(cli, tmp_path, shared_data) -> None:
    path = real_file(shared_data, "indian_pines/Indian_pines_corrected.mat")
    result = cli("encode", path, "-o", tmp_path / "ip.zarr", "--epochs", "1",
                 "--max-pixels", "2000", "--json", "-q")
    assert result.code == 0, result.err
    ds = xr.open_zarr(tmp_path / "ip.zarr")
    assert ds["latent"].shape == (21, 145, 145)
    assert str(ds["channel"].values[0]) == "c0_mu_band"  # no wavelengths: band-number axis
    assert "spatial_ref" not in ds


def test_fit_encoder_hidden_widths_are_the_models(cli, tmp_path) -> None:
    model = tmp_path / "m.safetensors"
    result = cli("fit-encoder", SAMPLE_SCENE, "-o", model, "--hidden", "32,16", "--epochs", "2",
                 "--max-pixels", "500", "-q")
    assert result.code == 0, result.err
    assert read_encoder_metadata(model)["config"]["hidden"] == [32, 16]
    assert cli("encode", SAMPLE_SCENE, "-o", tmp_path / "l.zarr", "-m", model, "-q").code == 0


@pytest.mark.parametrize("widths", ["", "32,,16", "32,x", "0,16", "16384,16385",
                                    "1,2,3,4,5,6,7,8,9", "-4"])
def test_fit_encoder_refuses_bad_hidden_widths(cli, tmp_path, widths) -> None:
    model = tmp_path / "m.safetensors"
    result = cli("fit-encoder", SAMPLE_SCENE, "-o", model, f"--hidden={widths}")
    assert result.code == 2 and "--hidden" in result.err and "layer widths" in result.err
    assert not model.exists()


def test_conventional_autoencoder_encodes_and_renders_with_its_model(cli, tmp_path) -> None:
    model = tmp_path / "ae.safetensors"
    result = cli("fit-encoder", SAMPLE_SCENE, "-o", model, "--decoder", "mlp", "--latent-dim",
                 "6", "--epochs", "3", "--max-pixels", "1500", "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["channel_names"] == [f"z{i}" for i in range(6)]
    latents = tmp_path / "ae.zarr"
    assert cli("encode", SAMPLE_SCENE, "-o", latents, "-m", model, "-q").code == 0
    refine = cli("encode", SAMPLE_SCENE, "-o", tmp_path / "r.zarr", "-m", model, "--refine", 5)
    assert refine.code == 1 and "learned MLP decoder" in refine.err
    assert not (tmp_path / "r.zarr").exists()
    no_model = cli("render", latents, "-o", tmp_path / "r.tif")
    assert no_model.code == 1 and "--model" in no_model.err
    assert not (tmp_path / "r.tif").exists()
    result = cli("render", latents, "-o", tmp_path / "r.tif", "-m", model, "--reference",
                 SAMPLE_SCENE, "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["psnr_db"] > 15.0
    other = tmp_path / "other.safetensors"
    assert cli("fit-encoder", SAMPLE_SCENE, "-o", other, "--decoder", "mlp", "--epochs", "1",
               "--max-pixels", "500", "-q").code == 0
    wrong = cli("render", latents, "-o", tmp_path / "r2.tif", "-m", other)
    assert wrong.code == 1 and "not the encoder that made these latents" in wrong.err


def test_refine_with_a_learned_decoder_is_refused_before_fitting(cli, tmp_path) -> None:
    output = tmp_path / "x.zarr"
    result = cli("encode", SAMPLE_SCENE, "-o", output, "--decoder", "mlp", "--refine", 3)
    assert result.code == 1 and "--decoder mlp" in result.err and "fitting" not in result.err
    assert not output.exists() and not (tmp_path / "x.encoder.safetensors").exists()


def test_a_registered_basis_runs_through_every_command(cli, tmp_path) -> None:
    """The Lorentzian basis is one module and one registration line: fit, encode, render and
    info take it with nothing else changed."""
    model = tmp_path / "lorentz.safetensors"
    fit = cli("fit-encoder", SAMPLE_SCENE, "-o", model, "--basis", "lorentzian", "-k", "3",
              "--epochs", "2", "--max-pixels", "1000", "-q", "--threads", 1)
    assert fit.code == 0, fit.err
    assert cli("encode", SAMPLE_SCENE, "-o", tmp_path / "l.zarr", "-m", model, "-q").code == 0
    channels = list(xr.open_zarr(tmp_path / "l.zarr")["latent"].channel.values)
    assert channels[:3] == ["c0_mu_nm", "c0_gamma_nm", "c0_amp"]
    result = cli("render", tmp_path / "l.zarr", "-o", tmp_path / "l.tif", "--reference",
                 SAMPLE_SCENE, "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["psnr_db"] > 25
    info = cli("info", model)
    assert info.code == 0 and "lorentzian" in info.out.lower(), info.out
