"""`phism info LATENTS`: a summary of a latent map; scenes keep their description."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.conftest import SAMPLE_SCENE, smooth_cube, write_envi
from tests.pipeline.latent_maps import (
    PEAKS_NM,
    basis_names,
    basis_renderer,
    synthetic_basis_values,
    write_latent_map,
)

K = 3
SUMMARY_KEYS = {
    "path", "kind", "format", "height", "width", "crs", "channels", "pixels", "valid_pixels",
    "model_path", "model_sha256", "decoder", "basis", "n_components", "axis_unit", "axis_min",
    "axis_max", "percentiles", "fine_bins", "components", "brightness", "centre_histogram",
    "features", "sorted_by_centre",
}


@pytest.fixture
def latents(tmp_path) -> Path:
    values = synthetic_basis_values(40, 30, K, brightness=True)
    values[0, :10] = np.nan
    return write_latent_map(tmp_path / "latents.zarr", values, basis_names(K, brightness=True),
                            basis_renderer(K, brightness=True))


def test_scene_description(cli) -> None:
    result = cli("info", SAMPLE_SCENE)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"path:        {SAMPLE_SCENE} (ENVI)",
        "size:        64 rows x 64 cols x 218 bands (224 in file), int16",
        "wavelengths: 418.24-2445.53 nm",
        "fwhm:        5.80-11.43 nm",
        "bad bands:   130-135 (dropped)",
        "nodata:      -32768.0",
        "scale:       0.0001 offset 0.0",
        "crs:         EPSG:32633",
        "transform:   [30.0, -0.0, 366975.0, -0.0, -30.0, 5807085.0]",
    ]
    summary = json.loads(cli("info", SAMPLE_SCENE, "--json").out)
    assert set(summary) == {
        "path", "format", "height", "width", "bands", "source_bands", "dtype", "bad_bands",
        "bad_bands_dropped", "dropped_bands", "wavelength_nm", "fwhm_nm", "nodata", "scale",
        "offset", "crs", "transform", "notes"}
    chosen = cli("info", SAMPLE_SCENE, "--bad-bands", "1-3").out.splitlines()
    assert "bands read:  all but 1-3,130-135" in chosen
    assert "size:        64 rows x 64 cols x 215 bands (224 in file), int16" in chosen


def test_plain_geotiff_is_still_a_scene(cli, tmp_path) -> None:
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", height=4, width=5, count=3,
                       dtype="float32") as ds:
        ds.write(np.ones((3, 4, 5), dtype=np.float32))
    result = cli("info", path)
    assert result.code == 0 and result.out.startswith(f"path:        {path} (GTiff)")


def test_latents_text(cli, latents) -> None:
    result = cli("info", latents)
    assert result.code == 0, result.err
    out = result.out
    assert out.startswith(f"path:        {latents} (zarr, phism latent map)\n")
    assert "size:        40 rows x 30 cols x 13 channels" in out
    assert "valid:       1190 of 1200 pixels (99.2 %)" in out
    assert "model:       encoder.safetensors (sha256 000000000000)" in out
    assert "decoder:     basis (skewnormal), K = 3" in out
    assert "axis:        400.00-1000.00 nm\ncrs:         None\n" in out
    lines = out.splitlines()
    assert [line.split()[0] for line in lines if line[:2] in ("c0", "c1", "c2")] == \
        ["c0", "c1", "c2"]
    assert any(line.startswith("brightness:  p5 ") for line in lines)
    assert "centres of 3570 components" in out
    bins = [line for line in lines if line.startswith("  ") and "-" in line[:20]
            and line.split()[0][0].isdigit()]
    assert len(bins) == 20
    features = next(line for line in lines if line.startswith("features near: "))
    assert features.count(" nm (") == K


def test_latents_json(cli, latents) -> None:
    result = cli("info", latents, "--json", "--bins", "10")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert set(summary) == SUMMARY_KEYS
    assert summary["valid_pixels"] == 1190 and summary["n_components"] == K
    assert summary["sorted_by_centre"] is False  # its renderer does not say it sorted
    assert len(summary["centre_histogram"]["bins"]) == 10
    assert sum(b["count"] for b in summary["centre_histogram"]["bins"]) == 1190 * K
    assert sorted(f["centre"] for f in summary["features"]) == pytest.approx(PEAKS_NM,
                                                                            abs=30.0)
    assert set(summary["components"][0]) == {
        "component", "centre_percentiles", "width_median", "alpha_median", "amp_median",
        "negative_amp_fraction"}
    assert set(summary["centre_histogram"]["bins"][0]) == {
        "start", "stop", "count", "fraction", "negative_amp_fraction", "mean_centre"}


def test_damaged_latent_metadata(cli, tmp_path) -> None:
    renderer = {**basis_renderer(K), "axis_positions": "400-1000"}
    path = write_latent_map(tmp_path / "bad.tif", synthetic_basis_values(8, 8, K),
                            basis_names(K), renderer)
    result = cli("info", path)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and len(lines) == 1 and "Traceback" not in result.err
    assert str(path) in lines[0] and "'renderer.axis_positions'" in lines[0]


def test_encoded_latents(cli, tmp_path) -> None:
    """The maps `phism encode` writes, Zarr and GeoTIFF, are recognised and summarised."""
    wavelengths = np.linspace(450.0, 950.0, 24)
    cube = smooth_cube(12, 10, len(wavelengths), seed=3)
    cube[0, 0] = np.nan
    scene = write_envi(tmp_path / "scene.img", cube, extra_header=(
        "wavelength units = Nanometers\nwavelength = {"
        + ", ".join(f"{w:.1f}" for w in wavelengths) + "}\n"))
    zarr_out, tif_out = tmp_path / "z.zarr", tmp_path / "t.tif"
    assert cli("encode", scene, "-o", zarr_out, "-k", "2", "--epochs", "2",
               "--device", "cpu", "-q").code == 0
    model = tmp_path / "z.encoder.safetensors"
    assert cli("encode", scene, "-o", tif_out, "-m", model, "--device", "cpu", "-q").code == 0
    summaries = []
    for path in (zarr_out, tif_out):
        result = cli("info", path, "--json")
        assert result.code == 0, result.err
        summaries.append(json.loads(result.out))
    for s, kind in zip(summaries, ("zarr", "tif"), strict=True):
        assert s["format"] == kind and s["valid_pixels"] == 119
        assert (s["decoder"], s["n_components"]) == ("basis", 2)
        assert s["model_path"] == str(model) and len(s["model_sha256"]) == 64
        assert (s["axis_min"], s["axis_max"]) == pytest.approx((450.0, 950.0))
        assert s["centre_histogram"]["total"] == 2 * 119
    assert summaries[0]["components"] == summaries[1]["components"]
    assert cli("info", tif_out).out.startswith(f"path:        {tif_out} (tif, phism latent")
