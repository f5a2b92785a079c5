import numpy as np
import pytest
import torch

from phism_cli.model import PhismEncoder
from phism_cli.model.checkpoint import load_encoder, save_encoder
from phism_cli.model.estimator import psnr_db
from tests.conftest import smooth_cube

WAVELENGTH_NM = np.linspace(400.0, 2500.0, 40)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return smooth_cube(30, 30, 40, seed=1).reshape(-1, 40)


def _small(**kw) -> PhismEncoder:
    defaults = dict(n_components=3, hidden=(64, 64), epochs=15, batch_size=128, device="cpu")
    return PhismEncoder(**(defaults | kw))


def test_fit_beats_the_mean_spectrum(pixels) -> None:
    enc = _small().fit(pixels, wavelength_nm=WAVELENGTH_NM)
    latent = enc.transform(pixels)
    assert latent.shape == (900, 12)
    mu = latent[:, 0::4]
    assert mu.min() >= 400 and mu.max() <= 2500
    baseline = psnr_db(pixels, np.broadcast_to(pixels.mean(0), pixels.shape))
    assert psnr_db(pixels, enc.inverse_transform(latent)) > baseline + 3.0
    assert enc.training_.val_psnr_db > baseline + 3.0


def test_same_seed_same_cpu_result(pixels) -> None:
    a = _small(epochs=3, seed=7).fit(pixels)
    b = _small(epochs=3, seed=7).fit(pixels)
    for (name, ta), tb in zip(a.model_.state_dict().items(), b.model_.state_dict().values(),
                              strict=True):
        assert torch.equal(ta, tb), name


def test_best_weights_are_restored(pixels) -> None:
    enc = _small(epochs=8, patience=100).fit(pixels)
    history = enc.training_.history
    best = min(h["val_loss"] for h in history)
    assert enc.training_.val_loss == pytest.approx(best)
    assert history[enc.training_.best_epoch - 1]["val_loss"] == pytest.approx(best)


def test_fixed_ablation_shares_shapes(pixels) -> None:
    enc = _small(fixed=True, epochs=2).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    latent = enc.transform(pixels[:50]).reshape(50, 3, 4)
    np.testing.assert_allclose(latent[:, :, :3], np.broadcast_to(latent[:1, :, :3],
                                                                (50, 3, 3)), rtol=1e-6)
    assert latent[:, :, 3].std(axis=0).min() > 0


def test_checkpoint_round_trip_without_pickle(pixels, tmp_path) -> None:
    enc = _small(basis="gaussian", epochs=2).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    save_encoder(enc, tmp_path / "m.safetensors")
    loaded, meta = load_encoder(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.transform(pixels[:20]), enc.transform(pixels[:20]))
    assert meta["format"] == "phism-encoder" and len(meta["sha256"]) == 64
    assert meta["renderer"]["axis_unit"] == "nm" and meta["config"]["basis"] == "gaussian"
    assert (tmp_path / "m.safetensors").read_bytes()[:8] != b"\x80\x04"  # not a pickle


def test_too_few_pixels() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        _small().fit(np.ones((5, 40), np.float32))


def test_conventional_autoencoder_round_trip(pixels, tmp_path) -> None:
    enc = _small(decoder="mlp", latent_dim=5, epochs=10).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    latent = enc.transform(pixels)
    assert latent.shape == (900, 5) and enc.channel_names_ == [f"z{i}" for i in range(5)]
    baseline = psnr_db(pixels, np.broadcast_to(pixels.mean(0), pixels.shape))
    assert psnr_db(pixels, enc.inverse_transform(latent)) > baseline + 3.0
    save_encoder(enc, tmp_path / "ae.safetensors")
    loaded, meta = load_encoder(tmp_path / "ae.safetensors")
    assert meta["renderer"]["decoder"] == "mlp" and meta["config"]["latent_dim"] == 5
    np.testing.assert_array_equal(loaded.transform(pixels[:20]), latent[:20])
    np.testing.assert_allclose(loaded.inverse_transform(latent[:20]),
                               enc.inverse_transform(latent[:20]), rtol=1e-5)


def test_unknown_decoder() -> None:
    with pytest.raises(ValueError, match="unknown decoder"):
        PhismEncoder(decoder="transformer")
