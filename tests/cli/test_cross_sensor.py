"""One encoder across sensors: a scene of another sensor encoded through the model's bands
(--resample-bands) and rendered at its own bands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import xarray as xr

from tests.io.mission_files import write_emit, write_enmap


def _field(wavelength_nm: np.ndarray) -> np.ndarray:
    """One smooth scene of 12 x 10 pixels, seen at any band centres."""
    coef = np.random.default_rng(0).random((12, 10, 3))
    basis = np.stack([np.ones_like(wavelength_nm), np.sin(wavelength_nm / 300.0),
                      np.exp(-0.5 * ((wavelength_nm - 1200.0) / 150.0) ** 2)], -1)
    return (coef @ basis.T).astype(np.float32) * 0.2


@pytest.fixture
def two_sensors(tmp_path):
    emit_nm = np.linspace(381.0, 2493.0, 120)
    emit = write_emit(tmp_path / "EMIT_L2A_RFL_001_x.nc", _field(emit_nm), emit_nm)
    enmap_nm = np.r_[np.linspace(418.0, 993.0, 40), np.linspace(1000.0, 2445.0, 60)]
    dn = np.moveaxis(np.round(_field(enmap_nm) * 10000), -1, 0).astype(np.int16)
    _, enmap = write_enmap(tmp_path, dn, enmap_nm)
    return emit, enmap


def test_encode_another_sensor_and_render_at_its_bands(two_sensors, cli, tmp_path) -> None:
    emit, enmap = two_sensors
    model = tmp_path / "emit.safetensors"
    assert cli("fit-encoder", emit, "--no-ortho", "-o", model, "--epochs", "3", "-q").code == 0
    refused = cli("encode", enmap, "-m", model, "-o", tmp_path / "x.zarr")
    assert refused.code != 0 and "pass --resample-bands" in refused.err
    assert not (tmp_path / "x.zarr").exists()
    assert cli("encode", enmap, "-m", model, "-o", tmp_path / "x.zarr", "--resample-bands",
               "-q").code == 0
    source = xr.open_zarr(tmp_path / "x.zarr").attrs["phism"]["source"]
    assert source["resampled_from"]["bands"] == 100
    assert source["resampled_from"]["coverage"] == pytest.approx((2445 - 418) / (2493 - 381),
                                                                 abs=1e-3)
    result = cli("render", tmp_path / "x.zarr", "-o", tmp_path / "r.tif", "--reference", enmap,
                 "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["bands"] == 100 and summary["at_reference_bands"] is True
    # EnMAP's bands (7.5 nm FWHM) are narrower than the EMIT model's (8.5 nm): nothing is
    # left to integrate, each band is the value at its centre.
    assert summary["band_response"] == "centre"
    assert summary["psnr_db"] > 30
    with rasterio.open(tmp_path / "r.tif") as ds:
        assert ds.count == 100 and float(ds.tags(1)["wavelength"]) == pytest.approx(418.0)


def test_too_little_overlap_is_refused(two_sensors, cli, tmp_path) -> None:
    emit, _ = two_sensors
    vnir_nm = np.linspace(400.0, 1000.0, 30)
    vnir = write_emit(tmp_path / "EMIT_L2A_RFL_001_vnir.nc", _field(vnir_nm), vnir_nm)
    model = tmp_path / "emit.safetensors"
    assert cli("fit-encoder", emit, "--no-ortho", "-o", model, "--basis", "pca",
               "--components", "3", "-q").code == 0
    result = cli("encode", vnir, "-m", model, "-o", tmp_path / "v.zarr", "--resample-bands")
    assert result.code != 0
    assert "spans 400-1000 nm, 28 % of the 381-2493 nm of the model" in result.err


def test_fit_encoder_on_two_sensors_resamples_onto_the_first(two_sensors, cli,
                                                             tmp_path) -> None:
    emit, enmap = two_sensors
    model = tmp_path / "both.safetensors"
    refused = cli("fit-encoder", emit, enmap, "-o", model, "--epochs", "2")
    assert refused.code == 1 and not model.exists()
    assert refused.err.rstrip().endswith("pass --resample-bands to train on every scene "
                                         "resampled onto the first one's bands"), refused.err
    # --no-ortho is EMIT's option: it applies to the EMIT granule and not to the EnMAP product
    fitted = cli("fit-encoder", emit, enmap, "--no-ortho", "-o", model, "--epochs", "2",
                 "--resample-bands", "--json")
    assert fitted.code == 0, fitted.err
    info = json.loads(cli("info", model, "--json").out)
    assert info["bands"] == 120  # the first scene's (EMIT's) bands
    # Each sensor then encodes through the one model, EnMAP resampled onto EMIT's bands.
    for scene, name in ((emit, "emit"), (enmap, "enmap")):
        args = ["--resample-bands"] if name == "enmap" else ["--no-ortho"]
        result = cli("encode", scene, "-m", model, "-o", tmp_path / f"{name}.zarr", "-q", *args)
        assert result.code == 0, result.err
    latents = [xr.open_zarr(tmp_path / f"{n}.zarr")["latent"] for n in ("emit", "enmap")]
    assert list(latents[0].channel.values) == list(latents[1].channel.values)


def test_fit_encoder_refuses_a_scene_that_covers_too_little(two_sensors, cli,
                                                            tmp_path) -> None:
    emit, _ = two_sensors
    vnir_nm = np.linspace(400.0, 1000.0, 30)
    vnir = write_emit(tmp_path / "EMIT_L2A_RFL_001_vnir.nc", _field(vnir_nm), vnir_nm)
    result = cli("fit-encoder", emit, vnir, "-o", tmp_path / "m.safetensors",
                 "--resample-bands")
    assert result.code == 1 and not (tmp_path / "m.safetensors").exists()
    assert "spans 400-1000 nm, 28 % of the 381-2493 nm of the first scene" in result.err


def test_a_format_option_no_scene_takes_is_still_refused(two_sensors, cli, tmp_path) -> None:
    _, enmap = two_sensors
    result = cli("fit-encoder", enmap, enmap, "--no-ortho", "-o", tmp_path / "m.safetensors")
    assert result.code == 1 and "--no-ortho: applies to EMIT" in result.err


def test_a_coarser_sensor_renders_bands_integrated_over_the_width_it_adds(
        two_sensors, cli, tmp_path) -> None:
    """An EnMAP model (7.5 nm bands) renders the EMIT granule's 8.5 nm bands integrated over
    sqrt(8.5^2 - 7.5^2) = 4 nm, and the model records the FWHM it was fitted at."""
    emit, enmap = two_sensors
    model = tmp_path / "enmap.safetensors"
    assert cli("fit-encoder", enmap, "-o", model, "--epochs", "3", "-q").code == 0
    info = json.loads(cli("info", model, "--json").out)
    assert info["fwhm_range_nm"] == pytest.approx([7.5, 7.5])
    assert "nm, fwhm 7.50 nm" in cli("info", model).out
    assert cli("encode", emit, "--no-ortho", "-m", model, "-o", tmp_path / "e.zarr",
               "--resample-bands", "-q").code == 0
    source = xr.open_zarr(tmp_path / "e.zarr").attrs["phism"]["source"]
    assert source["fwhm_nm"] == pytest.approx([7.5] * 100)  # the model's bands
    result = cli("render", tmp_path / "e.zarr", "-o", tmp_path / "e.tif", "--reference", emit,
                 "--no-ortho", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["band_response"] == "gaussian" and summary["psnr_db"] > 30
