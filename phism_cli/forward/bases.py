"""Spectral bases: what a latent component means and how it renders into a spectrum.

A basis turns the encoder's unconstrained outputs (pixels, K, P) into bounded parameters on a
normalised spectral axis x in [0, 1] (`activate`), renders parameters into spectra at the
sensor's band positions (`render`), and maps parameters to and from physical units for the
outputs (`to_physical` / `from_physical`). Nothing in a basis is trained, so the renderer is
fixed physics. `phism_cli.forward.bumps.BumpModel` wraps a basis as a forward model with
parameters in physical units, which the per-spectrum optimiser (`encode --refine`) works on.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from phism_cli.forward.basis_registry import basis_class

__all__ = [
    "GaussianBasis",
    "ParamSpec",
    "SkewNormalBasis",
    "SpectralBasis",
    "make_basis",
    "solve_weights",
]

ParamKind = Literal["position", "width", "unitless"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a component. `kind` decides its physical unit:
    position -> axis unit (nm), width -> axis unit, unitless -> no unit."""

    name: str
    kind: ParamKind

    def channel_name(self, component: int, axis_unit: str) -> str:
        suffix = f"_{axis_unit}" if self.kind in ("position", "width") else ""
        return f"c{component}_{self.name}{suffix}"


class SpectralBasis(abc.ABC):
    """A family of smooth spectral components with no trainable parameters."""

    name: ClassVar[str]
    params: ClassVar[tuple[ParamSpec, ...]]
    amplitude_param: ClassVar[str] = "amp"

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def amplitude_index(self) -> int:
        return [p.name for p in self.params].index(self.amplitude_param)

    @property
    def position_index(self) -> int:
        """The centre parameter: components are sorted by it in every output."""
        return [p.kind for p in self.params].index("position")

    def initial_raw(self, n_components: int) -> Tensor:
        """(K, P) raw outputs that activate to components spread evenly over the axis, each
        half its share of the axis wide, unskewed and of zero amplitude: where the encoder's
        output layer starts, so no two components begin on the same feature."""
        raw = torch.zeros(n_components, self.n_params)
        share = 1.0 / n_components
        centres = (torch.arange(n_components, dtype=torch.float32) + 0.5) * share
        for i, spec in enumerate(self.params):
            if spec.kind == "position":
                raw[:, i] = torch.logit(centres)
            elif spec.kind == "width":
                raw[:, i] = torch.logit(torch.tensor(0.5 * share))
        return raw

    def unit_components(self, params: Tensor, x: Tensor) -> Tensor:
        """(N, K, C): each component rendered with amplitude 1, the design matrix of the
        amplitudes, which the model is linear in."""
        unit = params.clone()
        unit[..., self.amplitude_index] = 1.0
        return self.render_components(unit, x)

    def solve_amplitudes(self, params: Tensor, x: Tensor, target: Tensor,
                         reference: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """`params` (N, K, P) with the amplitudes that fit `target` (N, C) best for their
        shapes, and, given a `reference` spectrum (C,), each row's brightness: 1 + its
        least-squares weight, solved jointly (None without a reference)."""
        params, brightness, _, _ = self._solve(params, x, target, reference)
        return params, brightness

    def solve_and_render(self, params: Tensor, x: Tensor, target: Tensor,
                         reference: Tensor | None = None
                         ) -> tuple[Tensor, Tensor | None, Tensor]:
        """`solve_amplitudes` and the spectra (N, C) that `render_with` gives for its result,
        summed from the design matrix already at hand instead of rendered again (training
        runs through this: the second render was half the decoder's cost)."""
        params, brightness, design, weights = self._solve(params, x, target, reference)
        return params, brightness, (weights[..., None] * design).sum(dim=1)

    def _solve(self, params: Tensor, x: Tensor, target: Tensor, reference: Tensor | None
               ) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
        design = self.unit_components(params, x)
        if reference is not None:
            design = torch.cat((design, reference.expand(len(target), 1, -1)), dim=1)
        weights = solve_weights(design, target)
        amp = self.amplitude_index
        k = params.shape[1]
        params = torch.cat((params[..., :amp], weights[:, :k, None], params[..., amp + 1:]),
                           dim=-1)
        brightness = 1.0 + weights[:, k] if reference is not None else None
        return params, brightness, design, weights

    def render_with(self, params: Tensor, x: Tensor, brightness: Tensor | None = None,
                    reference: Tensor | None = None) -> Tensor:
        """`render` plus (brightness - 1) x reference: the spectrum around the mean."""
        spectra = self.render(params, x)
        if brightness is not None and reference is not None:
            spectra = spectra + (brightness - 1.0)[:, None] * reference
        return spectra

    @abc.abstractmethod
    def activate(self, raw: Tensor) -> Tensor:
        """Map unconstrained (N, K, P) encoder outputs to bounded parameters on the x axis."""

    @abc.abstractmethod
    def render(self, params: Tensor, x: Tensor) -> Tensor:
        """Render (N, K, P) parameters at positions x (C,) in [0, 1] into spectra (N, C)."""

    @abc.abstractmethod
    def bounds(self) -> list[tuple[float, float]]:
        """The range `activate` maps into, per parameter, on the normalised axis."""

    def render_components(self, params: Tensor, x: Tensor) -> Tensor:
        """Each component's contribution, (N, K, C); `render` is its sum over K."""
        n, k, p = params.shape
        flat = params.reshape(n * k, 1, p)
        return self.render(flat, x).reshape(n, k, -1)

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments, stored with models and latent maps."""

    def to_physical(self, params: Tensor, axis_min: float, axis_span: float) -> Tensor:
        """Positions to axis units (min + span * x), widths to axis units (span * x)."""
        out = params.clone()
        for i, spec in enumerate(self.params):
            if spec.kind == "position":
                out[..., i] = axis_min + axis_span * params[..., i]
            elif spec.kind == "width":
                out[..., i] = axis_span * params[..., i]
        return out

    def from_physical(self, params: Tensor, axis_min: float, axis_span: float) -> Tensor:
        out = params.clone()
        for i, spec in enumerate(self.params):
            if spec.kind == "position":
                out[..., i] = (params[..., i] - axis_min) / axis_span
            elif spec.kind == "width":
                out[..., i] = params[..., i] / axis_span
        return out

    def channel_names(self, n_components: int, axis_unit: str) -> list[str]:
        return [spec.channel_name(k, axis_unit)
                for k in range(n_components) for spec in self.params]


def solve_weights(design: Tensor, target: Tensor, ridge: float = 1e-5) -> Tensor:
    """Per-row least-squares weights w (N, J) minimising |w @ design - target|^2, for design
    (N, J, C) and target (N, C). The ridge, relative to the mean squared norm of a row's
    design vectors (and at least `ridge` itself, for components that fall between bands), keeps
    two coinciding components solvable in float32; it is differentiable, so
    training can run through it (variable projection: the network learns the shapes, the
    amplitudes are solved exactly)."""
    gram = design @ design.transpose(1, 2)  # (N, J, J)
    scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1.0)
    eye = torch.eye(design.shape[1], dtype=design.dtype, device=design.device)
    gram = gram + (ridge * scale)[:, None, None] * eye
    rhs = design @ target.unsqueeze(-1)  # (N, J, 1)
    return torch.linalg.solve(gram, rhs).squeeze(-1)


def _normal_pdf(z: Tensor) -> Tensor:
    return torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


class _SkewNormalDensity(torch.autograd.Function):
    """2/sigma phi(z) Phi(alpha z), z = (x - mu) / sigma, with its gradient written out.

    Autograd through the formula keeps a dozen (N, K, C) temporaries and runs about thirty
    elementwise passes backwards; the closed form below needs z, the density and
    2/sigma phi(z) from the forward pass, and about a third of the passes. With
    g = 2/sigma phi(z) phi(alpha z) and df/dz = alpha g - z f:
    df/dmu = (z f - alpha g) / sigma, df/dsigma = ((z^2 - 1) f - alpha z g) / sigma,
    df/dalpha = z g. Gradients reach mu, sigma and alpha only (not x).
    """

    @staticmethod
    def forward(ctx: Any, mu: Tensor, sigma: Tensor, alpha: Tensor, x: Tensor) -> Tensor:
        z = (x - mu) / sigma
        scaled_pdf = 2.0 / sigma * _normal_pdf(z)
        density = scaled_pdf * torch.special.ndtr(alpha * z)
        ctx.mu_shape = mu.shape
        ctx.save_for_backward(sigma, alpha, z, scaled_pdf, density)
        return density

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        sigma, alpha, z, scaled_pdf, density = ctx.saved_tensors
        alpha_z = alpha * z
        g = scaled_pdf * _normal_pdf(alpha_z)
        grad_f, grad_g = grad * density, grad * g
        grad_f_z = grad_f * z
        sum_f = grad_f.sum(dim=-1, keepdim=True)
        sum_fz = grad_f_z.sum(dim=-1, keepdim=True)
        sum_fzz = (grad_f_z * z).sum(dim=-1, keepdim=True)
        sum_g = grad_g.sum(dim=-1, keepdim=True)
        sum_gz = (grad_g * z).sum(dim=-1, keepdim=True)
        d_mu = (sum_fz - alpha * sum_g) / sigma
        d_sigma = (sum_fzz - sum_f - alpha * sum_gz) / sigma
        return (d_mu.sum_to_size(ctx.mu_shape) if ctx.needs_input_grad[0] else None,
                d_sigma.sum_to_size(sigma.shape) if ctx.needs_input_grad[1] else None,
                sum_gz.sum_to_size(alpha.shape) if ctx.needs_input_grad[2] else None,
                None)


def skew_normal_density(mu: Tensor, sigma: Tensor, alpha: Tensor, x: Tensor) -> Tensor:
    """2/sigma phi(z) Phi(alpha z) for mu, sigma, alpha (..., 1) at positions x (C,):
    (..., C), the skew normal of unit area, differentiable in mu, sigma and alpha."""
    return _SkewNormalDensity.apply(mu, sigma, alpha, x)


class SkewNormalBasis(SpectralBasis):
    """Skew-normal bumps: f(x) = 2/sigma * phi(z) * Phi(alpha z), z = (x - mu) / sigma.

    `amp` is the signed area of the component (in standardised spectrum units times the
    normalised axis), so alpha = 0 gives `amp` times a Gaussian density.
    """

    name = "skewnormal"
    params = (
        ParamSpec("mu", "position"),
        ParamSpec("sigma", "width"),
        ParamSpec("alpha", "unitless"),
        ParamSpec("amp", "unitless"),
    )

    def __init__(self, max_skew: float = 10.0, amplitude_scale: float = 4.0,
                 min_width: float = 1e-3) -> None:
        self.max_skew = max_skew
        self.amplitude_scale = amplitude_scale
        self.min_width = min_width

    def activate(self, raw: Tensor) -> Tensor:
        mu = torch.sigmoid(raw[..., 0])
        sigma = self.min_width + torch.sigmoid(raw[..., 1])
        alpha = torch.tanh(raw[..., 2]) * self.max_skew
        amp = torch.tanh(raw[..., 3]) * self.amplitude_scale
        return torch.stack((mu, sigma, alpha, amp), dim=-1)

    def render(self, params: Tensor, x: Tensor) -> Tensor:
        mu, sigma, alpha, amp = (params[..., i, None] for i in range(4))  # (N, K, 1)
        density = skew_normal_density(mu, sigma, alpha, x)  # (N, K, C)
        return (amp * density).sum(dim=1)  # not einsum: bmm loops over rows on CPU

    def unit_components(self, params: Tensor, x: Tensor) -> Tensor:
        mu, sigma, alpha = (params[..., i, None] for i in range(3))
        return skew_normal_density(mu, sigma, alpha, x)

    def bounds(self) -> list[tuple[float, float]]:
        return [(0.0, 1.0), (self.min_width, 1.0 + self.min_width),
                (-self.max_skew, self.max_skew), (-self.amplitude_scale, self.amplitude_scale)]

    def config(self) -> dict[str, Any]:
        return {"max_skew": self.max_skew, "amplitude_scale": self.amplitude_scale,
                "min_width": self.min_width}


class GaussianBasis(SpectralBasis):
    """Gaussian bumps, amp * phi((x - mu) / sigma) / sigma: the skew normal without skew."""

    name = "gaussian"
    params = (
        ParamSpec("mu", "position"),
        ParamSpec("sigma", "width"),
        ParamSpec("amp", "unitless"),
    )

    def __init__(self, amplitude_scale: float = 4.0, min_width: float = 1e-3) -> None:
        self.amplitude_scale = amplitude_scale
        self.min_width = min_width

    def activate(self, raw: Tensor) -> Tensor:
        mu = torch.sigmoid(raw[..., 0])
        sigma = self.min_width + torch.sigmoid(raw[..., 1])
        amp = torch.tanh(raw[..., 2]) * self.amplitude_scale
        return torch.stack((mu, sigma, amp), dim=-1)

    def render(self, params: Tensor, x: Tensor) -> Tensor:
        mu, sigma, amp = (params[..., i, None] for i in range(3))
        density = _normal_pdf((x - mu) / sigma) / sigma
        return (amp * density).sum(dim=1)  # not einsum: bmm loops over rows on CPU

    def bounds(self) -> list[tuple[float, float]]:
        return [(0.0, 1.0), (self.min_width, 1.0 + self.min_width),
                (-self.amplitude_scale, self.amplitude_scale)]

    def config(self) -> dict[str, Any]:
        return {"amplitude_scale": self.amplitude_scale, "min_width": self.min_width}


def make_basis(name: str, **config: Any) -> SpectralBasis:
    """A registered basis (`basis_registry`); every setting of the built-in bases is a
    finite positive number."""
    cls = basis_class(name)
    for key, value in config.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value) or value <= 0:
            raise ValueError(f"basis setting {key} = {value!r} is not a finite positive number")
    return cls(**config)
