"""Torch modules: the pixel-wise encoder and the autoencoder that renders through a basis.

The modules compute the same bits whatever the number of torch threads (`--threads`), on
the machines we measured: MKL sums a layer with few outputs, or a batch of a few rows, in an
order that depends on the thread count, so those run on one thread (`serial_torch`), and
BatchNorm's batch statistics use reductions split by channel, not by row.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from phism_cli.forward.bases import GaussianBasis, SkewNormalBasis, SpectralBasis

# Below this many rows a batch runs on one thread (MKL's small-batch kernels differ by thread
# count for 4-43 rows on the AMD EPYC we measured; one thread is no slower for so few).
SERIAL_BELOW_ROWS = 64


@contextmanager
def serial_torch(active: bool = True) -> Iterator[None]:
    """Run torch on one thread inside the block (when `active`), then restore the count."""
    threads = torch.get_num_threads()
    if not active or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _SerialLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        with serial_torch():
            return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        with serial_torch():
            return grad @ weight, grad.t() @ x, grad.sum(dim=0)


class SerialLinear(nn.Linear):
    """A linear layer computed on one thread, forward and backward. MKL splits the sums of a
    layer with few outputs across threads (for 3 or more), so its bits would depend on the
    thread count; output layers are small, so this costs little. Same parameters as
    `nn.Linear`, so checkpoints load either way."""

    def forward(self, x: Tensor) -> Tensor:
        return _SerialLinearFunction.apply(x, self.weight, self.bias)


# A layer with a side this narrow (a latent of K x 4 values) is computed on one thread.
SERIAL_BELOW_WIDTH = 64


def linear(n_in: int, n_out: int) -> nn.Linear:
    """A linear layer whose results do not depend on the thread count: narrow layers, whose
    products MKL splits along the long side across threads, run on one thread."""
    if min(n_in, n_out) < SERIAL_BELOW_WIDTH:
        return SerialLinear(n_in, n_out)
    return nn.Linear(n_in, n_out)


class StableBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm whose training statistics do not depend on the thread count.

    torch's fused CPU kernel splits the batch over threads, so the sums (and the trained
    weights) change with `--threads`; a reduction over the batch dimension alone is split by
    channel instead, which gives the same bits for any thread count. Same parameters and
    state as `nn.BatchNorm1d`, so checkpoints load either way; inference is unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or x.dim() != 2:
            return super().forward(x)
        mean = x.mean(dim=0)
        centred = x - mean
        var = (centred * centred).mean(dim=0)
        with torch.no_grad():
            n = x.shape[0]
            momentum = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            unbiased = var.detach() * (n / max(n - 1, 1))
            self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)
            self.num_batches_tracked.add_(1)
        out = centred * torch.rsqrt(var + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out


class PixelEncoder(nn.Module):
    """A per-pixel MLP (the paper's stack of 1x1 convolutions): C -> hidden... -> out.

    `compute_dtype` (None: float32) runs the layers under autocast in that dtype (bfloat16 or
    float16) and returns float32; only inference copies (`inference_copy`) set it.
    """

    compute_dtype: torch.dtype | None = None

    def __init__(self, n_bands: int, n_outputs: int, hidden: Sequence[int],
                 batch_norm: bool = True, negative_slope: float = 0.01) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_bands
        for h in hidden:
            layers.append(linear(width, h))
            if batch_norm:
                layers.append(StableBatchNorm1d(h))
            layers.append(nn.LeakyReLU(negative_slope))
            width = h
        layers.append(linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.compute_dtype is None:
            return self.net(x)
        with torch.autocast(x.device.type, dtype=self.compute_dtype):
            out = self.net(x)
        return out.float()


def fold_batch_norm(linear_layer: nn.Linear, norm: nn.BatchNorm1d) -> nn.Linear:
    """A copy of `linear_layer` that computes linear then eval-mode `norm` in one layer:
    w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta
    (worked out in float64). Same class as `linear_layer`, so a narrow layer stays serial."""
    folded = copy.deepcopy(linear_layer)
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var.double() + norm.eps)
        shift = -norm.running_mean.double() * scale
        if norm.affine:
            scale, shift = scale * norm.weight.double(), shift * norm.weight.double()
            shift = shift + norm.bias.double()
        bias = (linear_layer.bias.double() if linear_layer.bias is not None
                else torch.zeros_like(scale))
        folded.weight.copy_(linear_layer.weight.double() * scale[:, None])
        if folded.bias is None:
            folded.bias = nn.Parameter(torch.empty_like(folded.weight[:, 0]))
        folded.bias.copy_(bias * scale + shift)
    return folded


def fold_pixel_encoder(encoder: PixelEncoder) -> PixelEncoder:
    """A copy of `encoder` for inference: every BatchNorm (eval mode: its running
    statistics) folded into the linear layer before it, activations in place. The output
    matches the eval-mode original to float32 rounding, not bit for bit."""
    folded = copy.deepcopy(encoder)
    layers: list[nn.Module] = []
    for layer in encoder.net:
        if isinstance(layer, nn.BatchNorm1d) and layers and isinstance(layers[-1], nn.Linear) \
                and layer.track_running_stats and layer.running_var is not None:
            layers[-1] = fold_batch_norm(layers[-1], layer)
        elif isinstance(layer, nn.LeakyReLU):
            layers.append(nn.LeakyReLU(layer.negative_slope, inplace=True))
        else:
            layers.append(copy.deepcopy(layer))
    folded.net = nn.Sequential(*layers)
    return folded.eval().requires_grad_(False)


class _InferenceSkewNormal(SkewNormalBasis):
    """The skew-normal basis with the amplitude solve's design matrix computed in place:
    2/sigma phi(z) Phi(alpha z) as exp(-z^2/2) erfc(-alpha z/sqrt 2) / (sigma sqrt(2 pi)),
    one buffer instead of a dozen temporaries (5x faster on the CPU we measured). Equal to
    `SkewNormalBasis.unit_components` to float32 rounding; inference only (no gradients)."""

    def unit_components(self, params: Tensor, x: Tensor) -> Tensor:
        mu, sigma, alpha = (params[..., i, None] for i in range(3))  # (N, K, 1)
        inverse = sigma.reciprocal()
        z = (x - mu).mul_(inverse)  # (N, K, C)
        cdf = torch.mul(z, alpha * -math.sqrt(0.5)).erfc_()  # 2 Phi(alpha z)
        return z.square_().mul_(-0.5).exp_().mul_(cdf).mul_(inverse / math.sqrt(2 * math.pi))


class _InferenceGaussian(GaussianBasis):
    """The Gaussian basis' design matrix in place (see `_InferenceSkewNormal`)."""

    def unit_components(self, params: Tensor, x: Tensor) -> Tensor:
        mu, sigma = params[..., 0, None], params[..., 1, None]
        inverse = sigma.reciprocal()
        z = (x - mu).mul_(inverse)
        return z.square_().mul_(-0.5).exp_().mul_(inverse / math.sqrt(2 * math.pi))


_INFERENCE_BASES: dict[type, type] = {SkewNormalBasis: _InferenceSkewNormal,
                                      GaussianBasis: _InferenceGaussian}


def inference_basis(basis: SpectralBasis) -> SpectralBasis:
    """`basis` with its design matrix computed in place when phism has a version for it
    (the built-in bases, not subclasses of them); otherwise `basis` itself."""
    fast = _INFERENCE_BASES.get(type(basis))
    return basis if fast is None else fast(**basis.config())


def inference_copy(model: nn.Module, compute_dtype: torch.dtype | None = None) -> nn.Module:
    """A copy of `model` (eval mode, no gradients) with each `PixelEncoder` folded
    (`fold_pixel_encoder`) and run in `compute_dtype` (None: float32), and the basis' design
    matrix computed in place (`inference_basis`): what `PhismEncoder.transform` runs.
    `model` is not changed."""
    copied = copy.deepcopy(model).eval().requires_grad_(False)
    for name, child in list(copied.named_children()):
        if isinstance(child, PixelEncoder):
            folded = fold_pixel_encoder(child)
            folded.compute_dtype = compute_dtype
            setattr(copied, name, folded)
    if isinstance(copied, PhismAutoencoder):
        copied.basis = inference_basis(copied.basis)
    return copied


AMPLITUDE_MODES = ("solve", "encoder")
# The encoder's hidden widths: half the paper's 512-1024-512-256. On two CPU cores the half
# width fits 100,000 pixels about 3x faster at the same validation PSNR, and its latents
# classify Indian Pines and Potsdam as well (benchmarks/fit_speed.py, classification_width.md).
DEFAULT_HIDDEN = (256, 512, 256, 128)
PAPER_HIDDEN = (512, 1024, 512, 256)


class PhismAutoencoder(nn.Module):
    """Encoder to K components of a basis, rendered back at the sensor's band positions.

    `amplitudes="solve"` (variable projection): the network predicts each component's shape
    (centre, width, skew) and the amplitudes, the only parameters the spectrum is linear in,
    are solved exactly per pixel by least squares against the input; training runs through
    the solve. `amplitudes="encoder"` is the paper's way (the network predicts them too).
    `brightness=True` adds one more linear term, a per-pixel multiple of a reference
    spectrum (`set_reference`; the training mean, so brightness 1 is the mean's level).

    With `fixed=True` (the paper's "PhISM (fixed)" ablation) only the amplitudes depend on the
    pixel; the other parameters of each component are learned constants, so the model is
    linear unmixing with learned smooth endmembers.
    """

    def __init__(self, n_bands: int, basis: SpectralBasis, n_components: int,
                 axis: Tensor, hidden: Sequence[int] = DEFAULT_HIDDEN,
                 batch_norm: bool = True, fixed: bool = False, amplitudes: str = "solve",
                 brightness: bool = False) -> None:
        super().__init__()
        if amplitudes not in AMPLITUDE_MODES:
            raise ValueError(f"unknown amplitude mode {amplitudes!r}; use "
                             f"{' or '.join(AMPLITUDE_MODES)}")
        if brightness and amplitudes != "solve":
            raise ValueError("the brightness term needs solved amplitudes (amplitudes='solve')")
        self.basis = basis
        self.n_components = n_components
        self.fixed = fixed
        self.solve = amplitudes == "solve"
        self.brightness = brightness
        per_pixel = 1 if fixed else basis.n_params
        # Fixed shapes with solved amplitudes leave the network nothing to predict: the model
        # is least-squares unmixing with learned smooth endmembers.
        self.encoder = None if fixed and self.solve else PixelEncoder(
            n_bands, n_components * per_pixel, hidden, batch_norm)
        start = basis.initial_raw(n_components)
        if fixed:
            self.shared_raw = nn.Parameter(start)
        elif self.solve:
            # Start every pixel at the spread-out components; the input moves them from there.
            last = self.encoder.net[-1]
            with torch.no_grad():
                last.weight.mul_(0.1)
                last.bias.copy_(start.reshape(-1))
        self.register_buffer("axis", axis.to(torch.float32))
        self.register_buffer("reference", torch.zeros(n_bands), persistent=False)

    def set_reference(self, reference: Tensor) -> None:
        """The brightness term's spectrum, in the standardised units the network sees."""
        self.reference.copy_(torch.as_tensor(reference, dtype=torch.float32))

    def _shapes(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if self.encoder is None:
            return self.basis.activate(self.shared_raw.expand(n, -1, -1))
        out = self.encoder(x)
        if self.fixed:
            raw = self.shared_raw.expand(n, -1, -1).clone()
            raw[..., self.basis.amplitude_index] = out
        else:
            raw = out.reshape(n, self.n_components, self.basis.n_params)
        return self.basis.activate(raw)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Bounded component parameters (N, K, P) on the normalised axis, and the brightness
        (N,) (None without the term)."""
        params = self._shapes(x)
        if not self.solve:
            return params, None
        return self.basis.solve_amplitudes(params, self.axis, x,
                                           self.reference if self.brightness else None)

    def render(self, params: Tensor, brightness: Tensor | None = None) -> Tensor:
        return self.basis.render_with(params, self.axis, brightness, self.reference)

    def forward(self, x: Tensor) -> Tensor:
        if not self.solve:
            return self.render(*self.encode(x))
        reference = self.reference if self.brightness else None
        return self.basis.solve_and_render(self._shapes(x), self.axis, x, reference)[2]


class MLPAutoencoder(nn.Module):
    """The conventional autoencoder PhISM is compared with: the same pixel encoder, a mirrored
    MLP decoder (hidden widths reversed) and a linear output. Its latent has no units."""

    def __init__(self, n_bands: int, latent_dim: int,
                 hidden: Sequence[int] = DEFAULT_HIDDEN,
                 batch_norm: bool = True) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = PixelEncoder(n_bands, latent_dim, hidden, batch_norm)
        self.decoder = PixelEncoder(latent_dim, n_bands, tuple(reversed(hidden)), batch_norm)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def render(self, latent: Tensor) -> Tensor:
        return self.decoder(latent)

    def forward(self, x: Tensor) -> Tensor:
        return self.render(self.encode(x))
