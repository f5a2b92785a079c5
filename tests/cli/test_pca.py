"""`--basis pca` end to end on a small ENVI scene: fit-encoder, encode to Zarr and GeoTIFF,
render with and without the model, train-head and predict, and the refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from phism_cli.io.rasters import RasterReader
from phism_cli.model.checkpoint import load_encoder, read_encoder_metadata
from phism_cli.model.pca import PcaEncoder
from tests.conftest import smooth_cube, write_envi

ROWS, COLS, BANDS = 18, 20, 12
WAVELENGTHS = np.linspace(420.0, 980.0, BANDS)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pca_scene")
    cube = smooth_cube(ROWS, COLS, BANDS, seed=4)
    cube[2:4, 5:8] = -9999
    wl = ", ".join(f"{w:.2f}" for w in WAVELENGTHS)
    return write_envi(folder / "s.img", cube, extra_header=(
        f"data ignore value = -9999\nwavelength = {{{wl}}}\nwavelength units = Nanometers\n"))


@pytest.fixture(scope="module")
def labels(scene) -> Path:
    path = scene.with_name("labels.tif")
    values = (np.arange(ROWS * COLS).reshape(ROWS, COLS) % 3 + 1).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", height=ROWS, width=COLS, count=1,
                       dtype="uint8", nodata=0) as ds:
        ds.write(values, 1)
    return path


@pytest.fixture(scope="module")
def pca_model(scene) -> Path:
    from tests.cli.kit import run

    path = scene.with_name("pca.safetensors")
    assert run("fit-encoder", scene, "-o", path, "--basis", "pca", "-k", 4, "-q") == 0
    return path


def test_fit_encoder_basis_pca(cli, tmp_path, scene) -> None:
    model = tmp_path / "pca.safetensors"
    result = cli("fit-encoder", scene, "-o", model, "--basis", "pca", "-k", 3, "--json", "-q")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["channel_names"] == ["pc0", "pc1", "pc2"] and summary["epochs"] == 0
    assert summary["val_psnr_db"] > 20 and len(summary["sha256"]) == 64
    assert summary["pixels"] == ROWS * COLS - 6
    meta = read_encoder_metadata(model)
    assert meta["config"]["decoder"] == "pca" and meta["renderer"]["decoder"] == "pca"
    assert sorted(meta["tensors"]) == ["band_mean", "band_scale", "pca.components"]
    assert meta["tensors"]["pca.components"]["shape"] == [3, BANDS]
    loud = cli("fit-encoder", scene, "-o", tmp_path / "b.safetensors", "--basis", "pca")
    assert loud.code == 0 and "closed form" in loud.err


def test_encode_and_render_without_the_model(cli, tmp_path, scene, pca_model) -> None:
    encoder, meta = load_encoder(pca_model)
    assert isinstance(encoder, PcaEncoder)
    for suffix in ("zarr", "tif"):
        latents = tmp_path / f"l.{suffix}"
        result = cli("encode", scene, "-o", latents, "-m", pca_model, "--json", "-q")
        assert result.code == 0, result.err
        summary = json.loads(result.out)
        assert summary["channels"] == ["pc0", "pc1", "pc2", "pc3"]
        assert summary["device"] == "cpu" and summary["valid_pixels"] == ROWS * COLS - 6
        with RasterReader(latents) as reader:
            assert reader.metadata["renderer"]["decoder"] == "pca"
            assert len(reader.metadata["renderer"]["loadings"]) == 4
            assert reader.metadata["model_sha256"] == meta["sha256"]
        recon = tmp_path / f"r_{suffix}.tif"
        result = cli("render", latents, "-o", recon, "--reference", scene, "--plot",
                     tmp_path / f"{suffix}.png", "--json", "-q")
        assert result.code == 0, result.err
        assert json.loads(result.out)["psnr_db"] > 25
        assert (tmp_path / f"{suffix}.png").read_bytes()[:4] == b"\x89PNG"
        if suffix == "zarr":
            latent = np.moveaxis(xr.open_zarr(latents)["latent"].values, 0, -1)
            assert str(xr.open_zarr(latents)["channel"].values[0]) == "pc0"
        else:
            with rasterio.open(latents) as ds:
                latent = np.moveaxis(ds.read(), 0, -1)
                assert ds.descriptions == ("pc0", "pc1", "pc2", "pc3")
                assert ds.tags(1)["units"] == "1"
        nodata = np.isnan(latent).all(axis=-1)
        assert nodata.sum() == 6 and nodata[2:4, 5:8].all()
        with rasterio.open(recon) as ds:
            rendered = np.moveaxis(ds.read(), 0, -1)
            assert float(ds.tags(1)["wavelength"]) == pytest.approx(WAVELENGTHS[0])
        np.testing.assert_array_equal(rendered[~nodata],
                                      encoder.inverse_transform(latent[~nodata]))
        assert np.isnan(rendered[nodata]).all()
        with_model = tmp_path / f"m_{suffix}.tif"
        assert cli("render", latents, "-o", with_model, "-m", pca_model, "-q").code == 0
        with rasterio.open(with_model) as ds:
            np.testing.assert_array_equal(np.moveaxis(ds.read(), 0, -1)[~nodata],
                                          rendered[~nodata])


def test_encode_without_a_model_fits_pca(cli, tmp_path, scene) -> None:
    out = tmp_path / "l.zarr"
    result = cli("encode", scene, "-o", out, "--basis", "pca", "-k", 2, "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["channels"] == ["pc0", "pc1"]
    encoder, _ = load_encoder(tmp_path / "l.encoder.safetensors")
    assert isinstance(encoder, PcaEncoder) and encoder.n_components_ == 2


def test_train_head_and_predict_on_pca_latents(cli, tmp_path, scene, labels,
                                               pca_model) -> None:
    latents = tmp_path / "l.zarr"
    assert cli("encode", scene, "-o", latents, "-m", pca_model, "-q").code == 0
    head = tmp_path / "head.ubj"
    result = cli("train-head", latents, "--labels", labels, "-o", head, "--n-estimators", 3,
                 "--json", "-q")
    assert result.code == 0, result.err
    assert 0 <= json.loads(result.out)["oa"] <= 1
    out = tmp_path / "classes.tif"
    result = cli("predict", latents, "-H", head, "-o", out, "-q")
    assert result.code == 0, result.err
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    assert (classes[2:4, 5:8] == 0).all() and set(np.unique(classes)) <= {0, 1, 2, 3}


@pytest.mark.parametrize(("args", "says"), [
    (["-k", 13], "-k 12 or fewer"),
    (["--fixed"], "--fixed"),
    (["--decoder", "mlp"], "--decoder mlp"),
    (["--latent-dim", 4], "--latent-dim"),
    (["--hidden", "16,8"], "--hidden"),
    (["--no-brightness"], "--no-brightness"),
])
def test_fit_encoder_refusals(cli, tmp_path, scene, args, says) -> None:
    model = tmp_path / "m.safetensors"
    result = cli("fit-encoder", scene, "-o", model, "--basis", "pca", *args)
    assert result.code == 1 and says in _one_line(result.err)
    assert not model.exists()


@pytest.mark.parametrize(("args", "says"), [
    (["-k", 12], "-k 11 or fewer or --no-brightness"),  # 12 amplitudes + brightness > 12 bands
    (["-k", 13, "--no-brightness"], "-k 12 or fewer"),
    (["--decoder", "mlp", "--no-brightness"], "--no-brightness"),
])
def test_basis_refusals_before_work(cli, tmp_path, scene, args, says) -> None:
    model = tmp_path / "m.safetensors"
    result = cli("fit-encoder", scene, "-o", model, *args)
    assert result.code == 1 and says in _one_line(result.err), result.err
    assert not model.exists()


def test_unknown_basis_is_refused_before_work(cli, tmp_path, scene) -> None:
    result = cli("fit-encoder", scene, "-o", tmp_path / "m.safetensors", "--basis", "pcb")
    assert result.code == 1 and "skewnormal, gaussian, lorentzian, pca" in _one_line(result.err)


def test_refine_with_pca_is_refused(cli, tmp_path, scene, pca_model) -> None:
    out = tmp_path / "r.zarr"
    result = cli("encode", scene, "-o", out, "-m", pca_model, "--refine", 3)
    assert result.code == 1 and "this encoder is PCA" in _one_line(result.err)
    assert not out.exists()
    result = cli("encode", scene, "-o", out, "--basis", "pca", "--refine", 3)
    assert result.code == 1 and "--basis pca" in _one_line(result.err)
    assert not out.exists() and not (tmp_path / "r.encoder.safetensors").exists()
