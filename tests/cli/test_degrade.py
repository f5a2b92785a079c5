"""`phism degrade` end to end: the three outputs, their metadata, georeferencing, refusals."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS

from phism_cli.forward.psf import make_psf
from phism_cli.io.rasters import RasterReader, phism_raster_metadata
from phism_cli.io.scene_formats import open_scene
from phism_cli.pipeline.degrade import default_psf_sigma, spatial_degrade
from tests.conftest import REPO, real_file, smooth_cube, write_envi

torch.set_num_threads(1)

WAVELENGTH_NM = np.linspace(420.0, 980.0, 16)
FWHM_NM = np.full(16, 12.5)


def scene_header(wavelength_nm: np.ndarray | None = WAVELENGTH_NM) -> str:
    if wavelength_nm is None:
        return ""
    return ("wavelength units = Nanometers\n"
            "wavelength = {" + ", ".join(f"{w:.4f}" for w in wavelength_nm) + "}\n"
            "fwhm = {" + ", ".join(f"{f:.4f}" for f in FWHM_NM) + "}\n")


def write_srf(path: Path, centres: dict[str, float], width: float = 25.0) -> Path:
    axis = np.arange(380.0, 1801.0, 5.0)
    lines = ["wavelength_nm," + ",".join(centres)]
    for w in axis:
        values = [np.exp(-0.5 * ((w - c) / width) ** 2) for c in centres.values()]
        lines.append(f"{w:g}," + ",".join(f"{v:.6f}" for v in values))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def work(tmp_path) -> Path:
    cube = smooth_cube(42, 37, 16, seed=2)
    write_envi(tmp_path / "scene.img", cube, extra_header=scene_header())
    write_srf(tmp_path / "srf.csv", {"blue": 480.0, "green": 560.0, "red": 660.0,
                                     "nir": 850.0})
    return tmp_path


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_degrade_writes_the_three_outputs(work, cli) -> None:
    result = cli("degrade", work / "scene.hdr", "-o", work / "pair", "--ratio", 4,
                 "--srf", work / "srf.csv", "--json", "--quiet")
    assert result.code == 0, result.err
    assert result.err == ""
    summary = json.loads(result.out)
    assert summary["shapes"] == {"hsi": [10, 9, 16], "msi": [40, 36, 4],
                                 "reference": [40, 36, 16]}
    assert summary["ratio"] == 4 and summary["snr_db"] is None
    assert summary["psf_sigma_px"] == pytest.approx(default_psf_sigma(4))
    assert summary["noise_std"] is None and summary["srf"]["band_names"][0] == "blue"
    assert set(summary["outputs"].values()) == {str(work / f"pair_{role}.tif")
                                                for role in ("hsi", "msi", "reference")}
    with open_scene(work / "scene.hdr") as scene:
        cube = scene.read()
    with open_scene(work / "pair_hsi.tif") as hsi:
        np.testing.assert_allclose(hsi.wavelength_nm, WAVELENGTH_NM, atol=1e-4)
        np.testing.assert_allclose(hsi.fwhm_nm, FWHM_NM)
        np.testing.assert_array_equal(hsi.read(), spatial_degrade(cube, 4, default_psf_sigma(4)))
        assert hsi.crs is None and hsi.transform is None
    with open_scene(work / "pair_reference.tif") as ref:
        np.testing.assert_allclose(ref.wavelength_nm, WAVELENGTH_NM, atol=1e-4)
        np.testing.assert_allclose(ref.fwhm_nm, FWHM_NM)
        np.testing.assert_array_equal(ref.read(), cube[:40, :36])
    with open_scene(work / "pair_msi.tif") as msi:
        assert msi.bands.names == ["blue", "green", "red", "nir"]
        np.testing.assert_allclose(msi.wavelength_nm, [480, 560, 660, 850], atol=2.0)
        assert msi.fwhm_nm is not None and (msi.fwhm_nm > 50).all()
    meta = phism_raster_metadata(work / "pair_msi.tif")
    assert meta["format"] == "phism-degraded" and meta["role"] == "msi"
    assert meta["ratio"] == 4 and meta["seed"] == 0 and meta["snr_db"] is None
    assert meta["srf"]["source"] == "srf.csv" and meta["source"].endswith("scene.hdr")
    assert {p.name for p in work.iterdir()} == {"scene.img", "scene.hdr", "srf.csv",
                                                "pair_hsi.tif", "pair_msi.tif",
                                                "pair_reference.tif"}


def test_zarr_outputs_and_noise(work, cli) -> None:
    args = ["degrade", work / "scene.hdr", "-o", work / "z", "--ratio", 2, "--srf",
            work / "srf.csv", "--srf-columns", "green,red", "--format", "zarr",
            "--psf-sigma", 0, "--snr-db", 30, "--seed", 3, "--quiet", "--json"]
    result = cli(*args)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["noise_std"]["msi"]["max"] > 0 and summary["psf_sigma_px"] == 0
    with RasterReader(work / "z_hsi.zarr") as reader:
        assert reader.metadata["role"] == "hsi" and reader.metadata["snr_db"] == 30
        assert len(reader.metadata["noise_std"]["hsi"]) == 16
        assert (reader.height, reader.width) == (21, 18)
        first = reader.read(rasterio.windows.Window(0, 0, 18, 21))
    with RasterReader(work / "z_msi.zarr") as reader:
        assert reader.channel_names == ["green", "red"]
    again = cli(*args, "--overwrite", "--tile-size", 16)
    assert again.code == 0, again.err
    with RasterReader(work / "z_hsi.zarr") as reader:
        np.testing.assert_array_equal(reader.read(rasterio.windows.Window(0, 0, 18, 21)), first)


@pytest.mark.parametrize(("args", "psf"), [
    (["--psf", "motion"], make_psf("motion", 4)),
    (["--psf", "box", "--psf-length", 2], make_psf("box", 4, length_blocks=2)),
    (["--psf", "sinc"], make_psf("sinc", 4)),
])
def test_each_psf_shape_is_written_and_recorded(work, cli, args, psf) -> None:
    result = cli("degrade", work / "scene.hdr", "-o", work / "pair", "--ratio", 4,
                 "--srf", work / "srf.csv", *args, "--tile-size", 16, "--json", "--quiet")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["psf"] == psf.describe() and summary["psf_sigma_px"] is None
    with open_scene(work / "scene.hdr") as scene:
        cube = scene.read()
    with open_scene(work / "pair_hsi.tif") as hsi:
        np.testing.assert_array_equal(hsi.read(), spatial_degrade(cube, 4, psf))
    assert phism_raster_metadata(work / "pair_hsi.tif")["psf"] == psf.describe()


def test_an_unknown_psf_shape_is_a_usage_error(work, cli) -> None:
    result = cli("degrade", work / "scene.hdr", "-o", work / "pair", "--ratio", 2,
                 "--srf", work / "srf.csv", "--psf", "airy")
    assert result.code == 2
    assert "'airy': use one of gaussian, box, sinc, motion" in result.err
    assert not (work / "pair_hsi.tif").exists()


def test_same_seed_same_bytes(work, cli) -> None:
    for prefix, seed in (("a", 1), ("b", 1), ("c", 2)):
        result = cli("degrade", work / "scene.hdr", "-o", work / prefix, "--ratio", 3,
                     "--srf", work / "srf.csv", "--snr-db", 20, "--seed", seed, "--quiet")
        assert result.code == 0, result.err
    for role in ("hsi", "msi"):
        first = (work / f"a_{role}.tif").read_bytes()
        assert first == (work / f"b_{role}.tif").read_bytes()
        assert first != (work / f"c_{role}.tif").read_bytes()


def test_georeferenced_input_keeps_and_scales_the_transform(tmp_path, cli) -> None:
    cube = smooth_cube(24, 20, 16)
    transform = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
    with rasterio.open(tmp_path / "geo.tif", "w", driver="GTiff", height=24, width=20,
                       count=16, dtype="float32", crs=CRS.from_epsg(32633),
                       transform=transform) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
        for i, w in enumerate(WAVELENGTH_NM, start=1):
            ds.update_tags(i, wavelength=f"{w:.4f}", wavelength_units="Nanometers")
    write_srf(tmp_path / "srf.csv", {"green": 560.0, "red": 660.0})
    result = cli("degrade", tmp_path / "geo.tif", "-o", tmp_path / "g", "--ratio", 3,
                 "--srf", tmp_path / "srf.csv", "--quiet")
    assert result.code == 0, result.err
    with rasterio.open(tmp_path / "g_hsi.tif") as ds:
        assert ds.crs == CRS.from_epsg(32633)
        assert ds.transform == transform * Affine.scale(3)
        assert (ds.height, ds.width) == (8, 6)
    for role in ("msi", "reference"):
        with rasterio.open(tmp_path / f"g_{role}.tif") as ds:
            assert ds.crs == CRS.from_epsg(32633) and ds.transform == transform
            assert (ds.height, ds.width) == (24, 18)
    with open_scene(tmp_path / "g_hsi.tif") as hsi:
        assert hsi.fwhm_nm is None  # the input had none
        np.testing.assert_allclose(hsi.wavelength_nm, WAVELENGTH_NM, atol=1e-4)


def write_tiny(work: Path) -> Path:
    write_envi(work / "tiny.img", smooth_cube(3, 5, 16), extra_header=scene_header())
    return work / "tiny.hdr"


def write_bare(work: Path) -> Path:
    write_envi(work / "bare.img", smooth_cube(12, 12, 16), extra_header="")
    return work / "bare.hdr"


BAD = [
    ("ratio 1", lambda w: ["--ratio", 1], 1, r"--ratio 1: .*whole number of at least 2"),
    ("ratio 2.5", lambda w: ["--ratio", 2.5], 1, r"--ratio 2\.5: .*whole number"),
    ("negative sigma", lambda w: ["--ratio", 2, "--psf-sigma", -1], 1, "--psf-sigma -1"),
    ("sigma of a box", lambda w: ["--ratio", 2, "--psf", "box", "--psf-sigma", 1], 1,
     r"--psf-sigma 1: a box PSF has no sigma; drop it or use --psf gaussian"),
    ("length of a sinc", lambda w: ["--ratio", 2, "--psf", "sinc", "--psf-length", 2], 1,
     r"--psf-length 2: a sinc PSF has no length"),
    ("zero length", lambda w: ["--ratio", 2, "--psf", "motion", "--psf-length", 0], 1,
     r"--psf-length 0: give a length in blocks"),
    ("tiny", lambda w: ["--ratio", 4, "--scene", write_tiny(w)], 1,
     r"tiny\.hdr: 3 x 5 pixels is smaller than one 4 x 4 block"),
    ("no wavelengths", lambda w: ["--ratio", 2, "--scene", write_bare(w)], 1,
     r"bare\.hdr: its bands have no wavelengths.*--wavelengths"),
    ("srf outside", lambda w: ["--ratio", 2, "--srf", write_srf(w / "far.csv",
                                                                {"swir": 1600.0})], 1,
     r"--srf .*far\.csv: band 'swir' responds from 15\d\d to 16\d\d nm, and all of its "
     r"response falls outside the hyperspectral bands of .*scene\.hdr \(\d+-\d+ nm\); no "
     r"band can be cut to nothing"),
    ("srf beyond", lambda w: ["--ratio", 2, "--srf", write_srf(w / "edge.csv",
                                                               {"nir": 1010.0})], 1,
     r"band 'nir' responds from 9\d\d to 10\d\d nm, and .* outside the hyperspectral bands"),
    ("too many bands", lambda w: ["--ratio", 2, "--scene", write_few(w)], 1,
     r"4 bands, more than the 3 bands of .*few\.hdr"),
    ("bad columns", lambda w: ["--ratio", 2, "--srf-columns", "7"], 1,
     r"--srf-columns '7': .* has no column 7"),
    ("prefix format", lambda w: ["--ratio", 2, "-o", w / "p.tif", "--format", "zarr"], 1,
     r"ends in \.tif but --format is zarr"),
    ("existing output", lambda w: ["--ratio", 2, "-o", make_existing(w)], 3,
     r"pair_msi\.tif: exists; pass --overwrite"),
]


def write_few(work: Path) -> Path:
    wl = np.array([500.0, 600.0, 700.0])
    header = "wavelength = {" + ", ".join(f"{w:g}" for w in wl) + "}\n"
    write_envi(work / "few.img", smooth_cube(8, 8, 3), extra_header=header)
    write_srf(work / "srf.csv", {"a": 520.0, "b": 560.0, "c": 600.0, "d": 640.0}, 10.0)
    return work / "few.hdr"


def make_existing(work: Path) -> Path:
    (work / "pair_msi.tif").write_text("not mine")
    return work / "pair"


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_in_one_line_leaving_nothing(work, cli, case) -> None:
    _, build, code, match = case
    extra = build(work)
    args = {"--scene": work / "scene.hdr", "-o": work / "pair", "--srf": work / "srf.csv"}
    rest: list[object] = []
    pairs = iter(extra)
    for flag in pairs:
        value = next(pairs)
        if flag in args:
            args[flag] = value
        else:
            rest += [flag, value]
    before = listing(work)
    result = cli("degrade", args.pop("--scene"), *[x for kv in args.items() for x in kv],
                 *rest)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == code, result.err
    assert len(lines) == 1 and lines[0].startswith("phism: error: "), result.err
    assert re.search(match, lines[0]), lines[0]
    assert result.out == ""
    assert listing(work) == before


def test_help_does_not_import_torch() -> None:
    script = ("import sys\nfrom phism_cli.cli.main import main\ntry:\n"
              "    main(['degrade', '--help'])\nexcept SystemExit as exc:\n"
              "    assert not exc.code, exc.code\n"
              "print(sorted(m for m in ('torch', 'xgboost', 'zarr') if m in sys.modules),"
              " file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "PHISM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    assert "--srf-columns" in proc.stdout and "PREFIX" in proc.stdout


def test_indian_pines_with_the_ikonos_pan_band(shared_data, tmp_path, cli) -> None:
    scene = real_file(shared_data, "indian_pines/Indian_pines_corrected.mat")
    srf = real_file(shared_data, "paris_fusion/ikonos_spec_resp.mat")
    result = cli("degrade", scene, "--wavelengths", "400:2500", "-o", tmp_path / "ip",
                 "--ratio", 4, "--srf", srf, "--srf-columns", 2, "--snr-db", 35, "--json",
                 "--quiet")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["shapes"] == {"hsi": [36, 36, 200], "msi": [144, 144, 1],
                                 "reference": [144, 144, 200]}
    assert summary["srf"]["band_names"] == ["column 2"]
    with open_scene(tmp_path / "ip_msi.tif") as msi:
        pan = msi.read()
        assert msi.bands.names == ["column 2"]
    with open_scene(tmp_path / "ip_reference.tif") as ref:
        assert ref.wavelength_nm[0] == pytest.approx(400) and ref.count == 200
        visible = ref.read()[..., ref.wavelength_nm < 900].mean(axis=-1)
    assert np.isfinite(pan).all()
    assert np.corrcoef(pan[..., 0].ravel(), visible.ravel())[0, 1] > 0.9
