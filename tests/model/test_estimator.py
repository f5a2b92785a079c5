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
    assert latent.shape == (900, 13)
    assert enc.channel_names_[-1] == "brightness"
    mu = latent[:, 0:12:4]
    assert mu.min() >= 400 and mu.max() <= 2500
    assert (np.diff(mu, axis=1) >= 0).all()  # components sorted by centre in every pixel
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
    latent = enc.transform(pixels[:50])[:, :12].reshape(50, 3, 4)
    np.testing.assert_allclose(latent[:, :, :3], np.broadcast_to(latent[:1, :, :3],
                                                                (50, 3, 3)), rtol=1e-6)
    assert latent[:, :, 3].std(axis=0).min() > 0


@pytest.mark.parametrize("basis", ["gaussian", "lorentzian"])
def test_checkpoint_round_trip_without_pickle(pixels, tmp_path, basis) -> None:
    enc = _small(basis=basis, epochs=2).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    save_encoder(enc, tmp_path / "m.safetensors")
    loaded, meta = load_encoder(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.transform(pixels[:20]), enc.transform(pixels[:20]))
    assert meta["format"] == "phism-encoder" and len(meta["sha256"]) == 64
    assert meta["renderer"]["axis_unit"] == "nm" and meta["config"]["basis"] == basis
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


def test_amplitudes_and_brightness_are_least_squares_optimal(pixels) -> None:
    enc = _small(epochs=2).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    latent = enc.transform(pixels[:30])
    renderer = enc.renderer_
    scaled = (pixels[:30] - renderer.band_mean) / renderer.band_scale
    parts = renderer.components(latent) / renderer.band_scale  # (N, K, C), standardised
    amp = latent[:, 3:12:4]
    reference = np.broadcast_to(renderer.band_mean / renderer.band_scale, (30, 1, 40))
    design = np.concatenate([parts / amp[:, :, None], reference], axis=1).astype(np.float64)
    ours = np.concatenate([amp, latent[:, -1:] - 1.0], axis=1)
    for i in range(30):
        best, *_ = np.linalg.lstsq(design[i].T, scaled[i], rcond=None)
        residual = np.sum((ours[i] @ design[i] - scaled[i]) ** 2)
        optimum = np.sum((best @ design[i] - scaled[i]) ** 2)
        assert residual <= optimum * (1 + 1e-3) + 1e-6


def test_brightness_recovers_an_illumination_factor() -> None:
    rng = np.random.default_rng(3)
    spectrum = smooth_cube(1, 1, 40, seed=2).reshape(40)
    factor = rng.uniform(0.5, 1.5, 400).astype(np.float32)
    pixels = factor[:, None] * spectrum + rng.normal(0, 1e-3, (400, 40)).astype(np.float32)
    enc = _small(n_components=1, epochs=3).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    brightness = enc.transform(pixels)[:, -1]
    np.testing.assert_allclose(brightness, factor / factor.mean(), rtol=0.02, atol=0.02)
    plain = _small(n_components=1, epochs=3, brightness=False).fit(
        pixels, wavelength_nm=WAVELENGTH_NM)
    assert plain.transform(pixels).shape[1] == 4
    assert psnr_db(pixels, enc.inverse_transform(enc.transform(pixels))) > \
        psnr_db(pixels, plain.inverse_transform(plain.transform(pixels))) + 3.0


def test_models_written_before_the_settings_keep_their_meaning() -> None:
    from phism_cli.model.checkpoint import _checked_config

    config = _checked_config({"n_components": 3}, "m.safetensors")
    assert config["amplitudes"] == "encoder" and config["brightness"] is False
    assert _checked_config({"amplitudes": "solve"}, "m")["amplitudes"] == "solve"
    with pytest.raises(Exception, match="amplitudes"):
        _checked_config({"amplitudes": "guess"}, "m.safetensors")


def test_small_scenes_still_train_for_whole_epochs_of_steps() -> None:
    pixels = smooth_cube(6, 6, 40, seed=4).reshape(-1, 40)  # 36 pixels: one batch a pass
    enc = _small(epochs=1, patience=1).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    steps = enc.model_.encoder.net[1].num_batches_tracked
    assert int(steps) >= 25


def test_step_budget_caps_training_and_epochs_go_on_through_the_pixels(pixels) -> None:
    # 810 training pixels in batches of 128: 7 steps a pass, 4 passes an epoch uncapped.
    capped = _small(epochs=5, patience=5, max_steps=20).fit(pixels,
                                                            wavelength_nm=WAVELENGTH_NM)
    # The best epoch's weights are kept, with BatchNorm's count of the steps up to it.
    steps = int(capped.model_.encoder.net[1].num_batches_tracked)
    assert capped.training_.steps == 20 and capped.training_.epochs == 5
    assert steps == 4 * capped.training_.best_epoch
    free = _small(epochs=5, patience=5).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    assert free.training_.steps == 5 * 28
    assert capped.training_.val_psnr_db != free.training_.val_psnr_db
    assert _checked_config_of(capped)["max_steps"] == 20


def _checked_config_of(encoder: PhismEncoder) -> dict:
    from phism_cli.model.checkpoint import _checked_config

    return _checked_config(encoder.get_params(), "m.safetensors")


def test_step_budget_must_be_positive_and_old_models_have_none() -> None:
    from phism_cli.model.checkpoint import _checked_config

    with pytest.raises(ValueError, match="max_steps"):
        PhismEncoder(max_steps=0)
    assert _checked_config({"n_components": 3}, "m")["max_steps"] is None
    with pytest.raises(Exception, match="max_steps"):
        _checked_config({"max_steps": -3}, "m.safetensors")


def test_a_model_without_its_widths_has_the_papers_and_new_ones_are_stored() -> None:
    from phism_cli.model.checkpoint import _checked_config

    assert _checked_config({"n_components": 3}, "m")["hidden"] == [512, 1024, 512, 256]
    assert PhismEncoder().get_params()["hidden"] == [256, 512, 256, 128]


def test_fixed_shapes_with_solved_amplitudes_need_no_network(pixels) -> None:
    enc = _small(fixed=True, epochs=2).fit(pixels, wavelength_nm=WAVELENGTH_NM)
    assert enc.model_.encoder is None
    assert [name for name, _ in enc.model_.named_parameters()] == ["shared_raw"]


def test_models_with_predicted_amplitudes_keep_their_slot_order(pixels) -> None:
    enc = _small(amplitudes="encoder", brightness=False, epochs=2).fit(
        pixels, wavelength_nm=WAVELENGTH_NM)
    assert not enc.renderer_.sorted_by_centre and enc.linear_terms == 0
    with torch.no_grad():
        params, _ = enc.model_.encode(torch.as_tensor(
            (pixels[:50] - enc.scaler_.mean_) / enc.scaler_.scale_))
    mu_nm = 400.0 + 2100.0 * params[..., 0].numpy()
    np.testing.assert_allclose(enc.transform(pixels[:50])[:, 0::4], mu_nm, rtol=1e-5)


def test_more_linear_terms_than_bands_is_refused() -> None:
    pixels = smooth_cube(5, 5, 4, seed=6).reshape(-1, 4)
    with pytest.raises(ValueError, match="need at least 5 bands"):
        _small(n_components=4).fit(pixels)
