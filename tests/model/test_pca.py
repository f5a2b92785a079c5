"""`PcaEncoder` and its `LinearRenderer`: exact on low-rank data, the SVD's reconstruction,
checkpoints that round-trip and refuse damage."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from phism_cli.errors import PhismError
from phism_cli.model.checkpoint import encoder_checksum, load_encoder, save_encoder
from phism_cli.model.encoder_file import META_KEY
from phism_cli.model.estimator import psnr_db
from phism_cli.model.pca import PcaEncoder
from phism_cli.model.renderer import (
    LinearRenderer,
    check_renderer_metadata,
    renderer_from_metadata,
)
from tests.conftest import smooth_cube

WAVELENGTH_NM = np.linspace(400.0, 1000.0, 24)


def _low_rank(rank: int = 3, n: int = 600, bands: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = 0.3 + 0.1 * np.sin(np.linspace(0, 3, bands))
    return (mean + rng.normal(size=(n, rank)) @ rng.normal(size=(rank, bands)) * 0.05).astype(
        np.float32)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    noise = np.random.default_rng(3).normal(scale=0.01, size=(30 * 30, 24))
    return (smooth_cube(30, 30, 24, seed=1).reshape(-1, 24) + noise).astype(np.float32)


def test_recovers_a_low_rank_cube_exactly() -> None:
    data = _low_rank(rank=3)
    enc = PcaEncoder(n_components=3).fit(data, wavelength_nm=WAVELENGTH_NM)
    latent = enc.transform(data)
    assert latent.shape == (600, 3) and latent.dtype == np.float32
    assert enc.channel_names_ == ["pc0", "pc1", "pc2"]
    recon = enc.inverse_transform(latent)
    np.testing.assert_allclose(recon, data, atol=1e-5)
    assert psnr_db(data, recon) > 90
    t = enc.training_
    assert t.epochs == 0 and (t.train_pixels, t.val_pixels) == (540, 60)
    assert t.val_psnr_db > 90
    np.testing.assert_array_equal(enc.scaler_.scale_, 1)
    np.testing.assert_allclose(enc.wavelength_nm_, WAVELENGTH_NM)


def test_matches_the_numpy_svd_reconstruction(pixels) -> None:
    enc = PcaEncoder(n_components=4, seed=5).fit(pixels)
    # the documented split: a seeded permutation, the first 10 % held out
    order = np.random.default_rng(5).permutation(len(pixels))
    train = pixels[order[90:]].astype(np.float64)
    mean = train.mean(axis=0)
    _, singular, vt = np.linalg.svd(train - mean, full_matrices=False)
    top = vt[:4]
    expected = mean + (pixels - mean) @ top.T @ top
    np.testing.assert_allclose(enc.inverse_transform(enc.transform(pixels)), expected,
                               atol=2e-5)
    np.testing.assert_allclose(np.abs(enc.components_ @ top.T), np.eye(4), atol=1e-5)
    # scores are in the input's units: their variance is the component's eigenvalue
    scores = enc.transform(pixels[order[90:]]).astype(np.float64)
    np.testing.assert_allclose(scores.var(axis=0, ddof=1), singular[:4] ** 2 / (len(train) - 1),
                               rtol=1e-4)
    assert enc.wavelength_nm_ is None and enc.axis_.unit == "band"


def test_more_components_than_bands_is_refused() -> None:
    with pytest.raises(ValueError, match="24 bands; give --components/-k 24 or fewer"):
        PcaEncoder(n_components=25).fit(_low_rank())


def test_components_are_capped_at_the_training_pixels() -> None:
    enc = PcaEncoder(n_components=20).fit(_low_rank(n=20))
    assert enc.n_components_ == 18 and len(enc.channel_names_) == 18


def test_checkpoint_round_trip_gives_the_same_transform(pixels, tmp_path) -> None:
    enc = PcaEncoder(n_components=5).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    path = tmp_path / "pca.safetensors"
    save_encoder(enc, path)
    loaded, meta = load_encoder(path)
    assert isinstance(loaded, PcaEncoder) and meta["config"]["decoder"] == "pca"
    assert loaded.get_params() == enc.get_params()
    np.testing.assert_array_equal(loaded.transform(pixels), enc.transform(pixels))
    latent = enc.transform(pixels)
    np.testing.assert_array_equal(loaded.inverse_transform(latent), enc.inverse_transform(latent))
    assert loaded.training_.val_psnr_db == enc.training_.val_psnr_db
    assert loaded.channel_names_ == enc.channel_names_ and loaded.n_bands_ == 24
    np.testing.assert_allclose(loaded.wavelength_nm_, WAVELENGTH_NM)
    # a latent map's renderer metadata renders without the model, exactly as the model does
    renderer = renderer_from_metadata(json.loads(json.dumps(enc.renderer_.to_metadata())))
    assert isinstance(renderer, LinearRenderer)
    np.testing.assert_array_equal(renderer.render(latent), enc.inverse_transform(latent))
    # identical fits, identical files
    save_encoder(PcaEncoder(n_components=5).fit(pixels, wavelength_nm=WAVELENGTH_NM),
                 tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == path.read_bytes()


def _rewrite(path: Path, change_tensors=None, change_meta=None) -> None:
    """Edit a saved model's tensors or metadata and write it back with a valid checksum."""
    with safe_open(str(path), "np") as fh:
        meta = json.loads(fh.metadata()[META_KEY])
    tensors = load_file(str(path))
    if change_tensors:
        change_tensors(tensors)
    if change_meta:
        change_meta(meta)
    import torch

    meta["checksum"] = encoder_checksum({k: torch.as_tensor(v) for k, v in tensors.items()},
                                        meta)
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(meta)})


@pytest.fixture
def saved(pixels, tmp_path) -> Path:
    path = tmp_path / "pca.safetensors"
    save_encoder(PcaEncoder(n_components=3).fit(pixels, wavelength_nm=WAVELENGTH_NM), path)
    return path


def test_damaged_loadings_are_refused(saved) -> None:
    data = bytearray(saved.read_bytes())
    header_bytes = int.from_bytes(data[:8], "little")
    begin, _ = json.loads(data[8:8 + header_bytes])["pca.components"]["data_offsets"]
    data[8 + header_bytes + begin + 5] ^= 0x40  # one loading, a little off
    saved.write_bytes(bytes(data))
    with pytest.raises(PhismError, match="checksum does not match"):
        load_encoder(saved)


def test_nan_loadings_are_refused(saved) -> None:
    def nan(tensors):
        tensors["pca.components"][0, 0] = np.nan

    _rewrite(saved, change_tensors=nan)
    with pytest.raises(PhismError, match=r"'pca\.components' holds NaN"):
        load_encoder(saved)


def test_loadings_that_disagree_with_the_metadata_are_refused(saved) -> None:
    def flip(tensors):
        tensors["pca.components"][1] *= -1

    _rewrite(saved, change_tensors=flip)
    with pytest.raises(PhismError, match="differs from the loadings in its metadata"):
        load_encoder(saved)


def test_loadings_of_the_wrong_shape_are_refused(saved) -> None:
    def drop_a_row(tensors):
        tensors["pca.components"] = np.ascontiguousarray(tensors["pca.components"][:2])

    _rewrite(saved, change_tensors=drop_a_row)
    with pytest.raises(PhismError, match=r"'pca.components' has shape \[2, 24\] but the "
                                         r"configuration needs \[3, 24\]"):
        load_encoder(saved)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["loadings"][1].__setitem__(3, float("nan")), "3 lists of 24 finite numbers"),
    (lambda m: m["loadings"].pop(), "3 lists of 24 finite numbers"),
    (lambda m: m["loadings"][0].pop(), "3 lists of 24 finite numbers"),
    (lambda m: m.pop("loadings"), "field 'loadings'"),
    (lambda m: m.__setitem__("n_components", 0), "'n_components' is 0"),
])
def test_renderer_metadata_is_checked(pixels, change, message) -> None:
    meta = PcaEncoder(n_components=3).fit(pixels).renderer_.to_metadata()
    change(meta)
    with pytest.raises(PhismError, match=message) as info:
        check_renderer_metadata(meta, "latents.zarr")
    assert str(info.value).startswith("latents.zarr: ") and "\n" not in str(info.value)


def test_settings_of_other_encoders_are_ignored_on_load() -> None:
    enc = PcaEncoder.from_params({"n_components": 4, "decoder": "pca", "amplitudes": "solve",
                                  "brightness": False, "seed": 2})
    assert enc.get_params() == {"n_components": 4, "val_fraction": 0.1, "seed": 2,
                                "device": "auto", "decoder": "pca"}
    with pytest.raises(ValueError, match="not 'basis'"):
        PcaEncoder(decoder="basis")
