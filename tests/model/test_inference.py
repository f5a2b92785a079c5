"""What `PhismEncoder.transform` runs: BatchNorm folded into the linear layers, the basis'
design matrix in place, a cached inference copy, automatic batch sizes and precisions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from phism_cli.forward.bases import GaussianBasis, SkewNormalBasis
from phism_cli.model import PhismEncoder
from phism_cli.model.estimator import (
    CPU_BATCH_SIZE,
    check_precision,
    precision_name,
    psnr_db,
    resolve_precision,
)
from phism_cli.model.network import (
    PixelEncoder,
    StableBatchNorm1d,
    fold_pixel_encoder,
    inference_basis,
    inference_copy,
)
from phism_cli.pixels import valid_mask
from tests.conftest import SAMPLE_SCENE, smooth_cube


def randomise_batch_norm(module: nn.Module, seed: int = 0) -> None:
    """Running statistics and affine parameters far from their initial values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm1d):
                n = layer.num_features
                layer.running_mean.copy_(torch.randn(n, generator=gen) * 2)
                layer.running_var.copy_(torch.rand(n, generator=gen) * 3 + 0.05)
                layer.weight.copy_(torch.randn(n, generator=gen))
                layer.bias.copy_(torch.randn(n, generator=gen))


def test_folded_encoder_matches_the_eval_mode_original() -> None:
    torch.manual_seed(0)
    encoder = PixelEncoder(50, 12, (64, 128, 32))
    randomise_batch_norm(encoder)
    encoder.eval()
    folded = fold_pixel_encoder(encoder)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    # Layer types are kept (narrow layers stay SerialLinear: thread-count independent).
    kinds = [type(m) for m in encoder.net if isinstance(m, nn.Linear)]
    assert [type(m) for m in folded.net if isinstance(m, nn.Linear)] == kinds
    x = torch.randn(2000, 50) * 3
    with torch.inference_mode():
        want, got = encoder(x), folded(x)
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()
    # The original is untouched and still has its BatchNorm layers.
    assert sum(isinstance(m, StableBatchNorm1d) for m in encoder.modules()) == 3


def test_folding_without_batch_norm_changes_nothing() -> None:
    encoder = PixelEncoder(20, 6, (64,), batch_norm=False).eval()
    x = torch.randn(100, 20)
    with torch.inference_mode():
        assert torch.equal(fold_pixel_encoder(encoder)(x), encoder(x))


@pytest.mark.parametrize("basis", [SkewNormalBasis(), GaussianBasis(),
                                   SkewNormalBasis(max_skew=3.0, min_width=0.01)])
def test_in_place_design_matrix_matches_the_basis(basis) -> None:
    fast = inference_basis(basis)
    assert type(fast) is not type(basis) and isinstance(fast, type(basis))
    assert fast.config() == basis.config()
    torch.manual_seed(1)
    params = basis.activate(torch.randn(500, 6, basis.n_params) * 2)
    x = torch.linspace(0, 1, 150)
    with torch.inference_mode():
        want, got = basis.unit_components(params, x), fast.unit_components(params, x)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 2e-6 * want.abs().max()


def test_an_unknown_basis_is_used_as_it_is() -> None:
    class Custom(SkewNormalBasis):
        pass

    custom = Custom()
    assert inference_basis(custom) is custom


@pytest.fixture(scope="module")
def sample():
    """The sample EnMAP scene's valid pixels and an encoder trained on them briefly."""
    from phism_cli.io.scene_formats import open_scene

    with open_scene(SAMPLE_SCENE) as scene:
        block = scene.read()
        wavelengths = scene.wavelength_nm
    pixels = block[valid_mask(block)]
    encoder = PhismEncoder(epochs=3, seed=0, device="cpu").fit(pixels, wavelengths)
    return pixels, encoder


def unfolded_transform(encoder: PhismEncoder, pixels: np.ndarray) -> np.ndarray:
    """transform's maths on the trained model itself (BatchNorm layers, the basis' own
    design matrix), as transform computed it before it ran an inference copy."""
    with torch.inference_mode():
        model = encoder.model_.eval()
        scaled = (torch.as_tensor(pixels) - torch.as_tensor(encoder.scaler_.mean_)) / \
            torch.as_tensor(encoder.scaler_.scale_)
        return encoder._physical_latent(model, scaled).numpy()


def test_transform_matches_the_unfolded_model(sample) -> None:
    pixels, encoder = sample
    want, got = unfolded_transform(encoder, pixels), encoder.transform(pixels)
    error = np.abs(got - want).max(axis=0) / np.abs(want).max(axis=0)
    solved = np.array([name.endswith("_amp") or name == "brightness"
                       for name in encoder.channel_names_])
    # The network's outputs (centres, widths, skews) agree to float32 rounding; the
    # amplitudes solved from them by least squares can move a little more where two
    # components overlap (the solve's condition number).
    assert error[~solved].max() < 1e-5
    assert error[solved].max() < 2e-3
    assert abs(psnr_db(pixels, encoder.inverse_transform(got))
               - psnr_db(pixels, encoder.inverse_transform(want))) < 1e-4


def test_the_inference_copy_is_cached_until_the_model_changes(sample) -> None:
    pixels, encoder = sample
    encoder = pickle.loads(pickle.dumps(encoder))  # a copy this test may change
    first = encoder.inference_model()
    assert encoder.inference_model() is first
    encoder.transform(pixels[:10])
    assert encoder.inference_model() is first
    before = encoder.transform(pixels[:50])
    with torch.no_grad():  # changed in place, as an optimiser step or load_state_dict does
        encoder.model_.encoder.net[0].bias.add_(0.5)
    assert encoder.inference_model() is not first
    assert not np.array_equal(encoder.transform(pixels[:50]), before)
    state = {k: v.clone() for k, v in encoder.model_.state_dict().items()}
    second = encoder.inference_model()
    encoder.model_.load_state_dict(state)
    assert encoder.inference_model() is not second
    encoder.model_ = inference_copy(encoder.model_)  # a new model object
    assert encoder.inference_model() is not second


def test_an_encoder_pickles_without_its_inference_copy(sample) -> None:
    pixels, encoder = sample
    latent = encoder.transform(pixels[:20])
    assert "_inference" in encoder.__dict__
    copy = pickle.loads(pickle.dumps(encoder))
    assert "_inference" not in copy.__dict__
    assert np.array_equal(copy.transform(pixels[:20]), latent)


def test_batch_size_and_thread_count_do_not_change_the_latent(sample) -> None:
    pixels, encoder = sample
    assert encoder.auto_batch_size() == CPU_BATCH_SIZE
    auto = encoder.transform(pixels)
    assert np.array_equal(encoder.transform(pixels, batch_size=CPU_BATCH_SIZE), auto)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = encoder.transform(pixels)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(two, auto)


def test_precisions(sample) -> None:
    pixels, encoder = sample
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) is None  # float32 on the CPU
    assert resolve_precision("float32", cuda) is None
    assert resolve_precision("bfloat16", cpu) is torch.bfloat16
    assert precision_name("auto", cpu) == "float32"
    assert precision_name("auto", cuda) == "bfloat16"
    assert precision_name("float16", cpu) == "float16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        check_precision("half")
    full = encoder.transform(pixels[:500])
    assert np.array_equal(encoder.transform(pixels[:500], precision="float32"), full)
    reference = psnr_db(pixels[:500], encoder.inverse_transform(full))
    reduced = encoder.transform(pixels[:500], precision="bfloat16")
    assert not np.array_equal(reduced, full)
    assert reduced.dtype == np.float32
    # The network's layers ran in bfloat16; the reconstruction barely notices.
    assert reference - psnr_db(pixels[:500], encoder.inverse_transform(reduced)) < 0.05
    encoder.inference_precision = "bfloat16"
    try:
        assert np.array_equal(encoder.transform(pixels[:500]), reduced)
    finally:
        del encoder.inference_precision
    assert np.array_equal(encoder.transform(pixels[:500]), full)
    # One inference copy per precision, each left as it was made (threads may share them).
    half = encoder.inference_model("bfloat16")
    assert encoder.inference_model("bfloat16") is half
    assert encoder.inference_model("float32") is encoder.inference_model() is not half
    assert half.encoder.compute_dtype is torch.bfloat16
    assert encoder.inference_model().encoder.compute_dtype is None


def test_mlp_decoder_transform_matches_its_encoder() -> None:
    pixels = smooth_cube(10, 30, 40).reshape(-1, 40)
    encoder = PhismEncoder(n_components=3, hidden=(64, 32), epochs=1, device="cpu",
                           decoder="mlp").fit(pixels)
    randomise_batch_norm(encoder.model_)
    with torch.inference_mode():
        scaled = (torch.as_tensor(pixels) - torch.as_tensor(encoder.scaler_.mean_)) / \
            torch.as_tensor(encoder.scaler_.scale_)
        want = encoder.model_.eval().encode(scaled).numpy()
    got = encoder.transform(pixels)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
