"""`PhismEncoder`: the self-supervised autoencoder as a scikit-learn-style estimator."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from phism_cli.model.bases import make_basis
from phism_cli.model.network import (
    SERIAL_BELOW_ROWS,
    MLPAutoencoder,
    PhismAutoencoder,
    serial_torch,
)
from phism_cli.model.preprocessing import BandScaler
from phism_cli.model.renderer import LearnedRenderer, Renderer, SpectralAxis, SpectralRenderer

DECODERS = ("basis", "mlp")
# cosine: the learning rate falls from `lr` to 0 over `epochs` (early stopping may end it
# sooner); constant: the paper's fixed rate.
LR_SCHEDULES = ("cosine", "constant")
# An epoch is one pass over the training pixels, or as many passes as give this many steps:
# a scene of a few hundred pixels would otherwise train for a few dozen steps in all.
MIN_STEPS_PER_EPOCH = 25

EpochCallback = Callable[[int, float, float], None]


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without it is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or auto")
    return torch.device(device)


def psnr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR with the peak taken as the reference's value range."""
    mse = float(np.mean((reference.astype(np.float64) - estimate) ** 2))
    peak = float(reference.max() - reference.min())
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def sort_components(params: torch.Tensor, position_index: int) -> torch.Tensor:
    """(N, K, P) parameters with each pixel's components in order of their centres: the
    renderer sums components, so the order is free, and sorting makes slot k mean "the k-th
    component from the short-wavelength end" in every pixel."""
    order = params[..., position_index].argsort(dim=1, stable=True)
    return params.gather(1, order[..., None].expand_as(params))


class StableHuberLoss(nn.Module):
    """The mean Huber loss, reduced per pixel first: torch splits a whole-tensor sum across
    threads (so its bits would change with --threads) but a sum along rows by row."""

    def __init__(self, delta: float) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        per_value = nn.functional.huber_loss(estimate, target, delta=self.delta,
                                             reduction="none")
        return per_value.mean(dim=1).mean()


@dataclass
class TrainingSummary:
    epochs: int = 0
    best_epoch: int = 0
    train_pixels: int = 0
    val_pixels: int = 0
    val_loss: float = math.nan
    val_psnr_db: float = math.nan
    seconds: float = 0.0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


class FittedAxisMixin:
    """What every fitted encoder derives from its renderer and spectral axis."""

    renderer_: Renderer
    axis_: SpectralAxis

    @property
    def channel_names_(self) -> list[str]:
        return self.renderer_.channel_names

    @property
    def wavelength_nm_(self) -> np.ndarray | None:
        return self.axis_.positions if self.axis_.unit == "nm" else None


class PhismEncoder(FittedAxisMixin):
    """Fit on (N, C) spectra; `transform` gives (N, K*P) physical latent values.

    `decoder="basis"` is PhISM: K components of a parameter-free spectral basis.
    `decoder="mlp"` is the conventional autoencoder it is compared with: the same encoder, a
    mirrored MLP decoder, and a latent of `latent_dim` unitless values (default 4K).
    Hyper-parameters are set here; fitted state lives in attributes ending in `_`.
    """

    def __init__(
        self,
        n_components: int = 5,
        basis: str = "skewnormal",
        fixed: bool = False,
        hidden: Sequence[int] = (512, 1024, 512, 256),
        batch_norm: bool = True,
        epochs: int = 50,
        patience: int = 5,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 512,
        val_fraction: float = 0.1,
        huber_delta: float = 1.0,
        scaling: str = "global",
        seed: int = 0,
        device: str = "auto",
        basis_config: dict[str, Any] | None = None,
        decoder: str = "basis",
        latent_dim: int | None = None,
        amplitudes: str = "solve",
        brightness: bool = True,
        lr_schedule: str = "cosine",
    ) -> None:
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        self.n_components = n_components
        self.basis = basis
        self.fixed = fixed
        self.hidden = tuple(hidden)
        self.batch_norm = batch_norm
        self.epochs = epochs
        self.patience = patience
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.huber_delta = huber_delta
        self.scaling = scaling
        self.seed = seed
        self.device = device
        self.basis_config = dict(basis_config or {})
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.amplitudes = amplitudes
        self.brightness = brightness
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {lr_schedule!r}; choose one of "
                             f"{', '.join(LR_SCHEDULES)}")
        self.lr_schedule = lr_schedule

    def get_params(self) -> dict[str, Any]:
        return {
            "n_components": self.n_components, "basis": self.basis, "fixed": self.fixed,
            "hidden": list(self.hidden), "batch_norm": self.batch_norm, "epochs": self.epochs,
            "patience": self.patience, "lr": self.lr, "weight_decay": self.weight_decay,
            "batch_size": self.batch_size, "val_fraction": self.val_fraction,
            "huber_delta": self.huber_delta, "scaling": self.scaling,
            "seed": self.seed, "device": self.device,
            "basis_config": self.basis_config,
            "decoder": self.decoder, "latent_dim": self.latent_dim,
            "amplitudes": self.amplitudes, "brightness": self.uses_brightness,
            "lr_schedule": self.lr_schedule,
        }

    # -- building -------------------------------------------------------------------------
    def _build(self, n_bands: int, wavelength_nm: np.ndarray | None) -> None:
        self.axis_ = SpectralAxis.from_wavelengths(wavelength_nm, n_bands)
        self.model_: PhismAutoencoder | MLPAutoencoder
        if self.decoder == "mlp":
            latent_dim = self.latent_dim or 4 * self.n_components
            self.model_ = MLPAutoencoder(n_bands, latent_dim, hidden=self.hidden,
                                         batch_norm=self.batch_norm)
        else:
            basis = make_basis(self.basis, **self.basis_config)
            self.model_ = PhismAutoencoder(
                n_bands, basis, self.n_components, self.axis_.normalised(),
                hidden=self.hidden, batch_norm=self.batch_norm, fixed=self.fixed,
                amplitudes=self.amplitudes, brightness=self.uses_brightness)
        self.n_bands_ = n_bands

    @property
    def uses_brightness(self) -> bool:
        """The brightness term is part of the basis decoder with solved amplitudes only."""
        return self.decoder == "basis" and self.amplitudes == "solve" and self.brightness

    @property
    def linear_terms(self) -> int:
        """Values solved by least squares per pixel (amplitudes, brightness); each needs a
        band of its own, or the solve is underdetermined."""
        if self.decoder != "basis" or self.amplitudes != "solve":
            return 0
        return self.n_components + int(self.uses_brightness)

    def _set_reference(self) -> None:
        """The brightness term's spectrum: the training mean, standardised."""
        if isinstance(self.model_, PhismAutoencoder):
            self.model_.set_reference(torch.as_tensor(self.scaler_.mean_ / self.scaler_.scale_))

    @property
    def renderer_(self) -> Renderer:
        if isinstance(self.model_, MLPAutoencoder):
            return LearnedRenderer(self.model_.decoder, self.model_.latent_dim, self.axis_,
                                   self.scaler_.mean_, self.scaler_.scale_)
        return SpectralRenderer(self.model_.basis, self.n_components, self.axis_,
                                self.scaler_.mean_, self.scaler_.scale_,
                                brightness=self.uses_brightness,
                                sorted_by_centre=self.amplitudes == "solve")

    # -- fitting --------------------------------------------------------------------------
    def fit(self, pixels: np.ndarray, wavelength_nm: np.ndarray | None = None,
            on_epoch: EpochCallback | None = None) -> PhismEncoder:
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 2 or pixels.shape[0] < 20:
            raise ValueError(f"need at least 20 valid pixels to fit, got {pixels.shape[0]}")
        if self.linear_terms > pixels.shape[1]:
            raise ValueError(f"{self.n_components} components"
                             + (" and a brightness term" if self.uses_brightness else "")
                             + f" need at least {self.linear_terms} bands; the spectra have "
                             f"{pixels.shape[1]}")
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(pixels.shape[0])
        n_val = max(1, round(self.val_fraction * pixels.shape[0]))
        val_idx, train_idx = order[:n_val], order[n_val:]

        self.scaler_ = BandScaler(self.scaling).fit(pixels[train_idx])
        self._build(pixels.shape[1], wavelength_nm)
        self._set_reference()
        device = resolve_device(self.device)
        scaled = torch.as_tensor(self.scaler_.transform(pixels), device=device)
        train, val = scaled[train_idx], scaled[val_idx]
        model = self.model_.to(device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr,
                                      weight_decay=self.weight_decay)
        schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, self.epochs)
                    if self.lr_schedule == "cosine" else None)
        loss_fn = StableHuberLoss(self.huber_delta)
        shuffle = torch.Generator(device="cpu").manual_seed(self.seed)

        summary = TrainingSummary(train_pixels=len(train_idx), val_pixels=n_val)
        best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
        for epoch in range(1, self.epochs + 1):
            train_loss = self._train_epoch(model, train, optimiser, loss_fn, shuffle)
            val_loss = self._evaluate(model, val, loss_fn)
            if schedule is not None:
                schedule.step()
            summary.history.append({"epoch": epoch, "train_loss": train_loss,
                                    "val_loss": val_loss})
            summary.epochs = epoch
            if on_epoch is not None:
                on_epoch(epoch, train_loss, val_loss)
            if val_loss < best_loss:
                best_loss, stale, summary.best_epoch = val_loss, 0, epoch
                best_state = copy.deepcopy(model.state_dict())  # a copy, not an alias
            else:
                stale += 1
                if stale >= self.patience:
                    summary.stopped_early = True
                    break
        model.load_state_dict(best_state)
        model.eval()
        self.model_ = model.cpu()
        summary.val_loss = best_loss
        recon = self.inverse_transform(self.transform(pixels[val_idx]))
        summary.val_psnr_db = psnr_db(pixels[val_idx], recon)
        summary.seconds = time.perf_counter() - start
        self.training_ = summary
        return self

    def _train_epoch(self, model: nn.Module, data: torch.Tensor,
                     optimiser: torch.optim.Optimizer, loss_fn: nn.Module,
                     generator: torch.Generator) -> float:
        model.train()
        n = data.shape[0]
        passes = max(1, math.ceil(MIN_STEPS_PER_EPOCH / math.ceil(n / self.batch_size)))
        orders = [torch.randperm(n, generator=generator).to(data.device)
                  for _ in range(passes)]
        total, seen = 0.0, 0
        for order, start in ((o, s) for o in orders for s in range(0, n, self.batch_size)):
            batch = data[order[start:start + self.batch_size]]
            if batch.shape[0] < 2 and self.batch_norm:
                continue  # BatchNorm cannot train on a single pixel
            optimiser.zero_grad(set_to_none=True)
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
                loss = loss_fn(model(batch), batch)
                loss.backward()
            optimiser.step()
            total += float(loss.detach()) * batch.shape[0]
            seen += batch.shape[0]
        return total / max(seen, 1)

    @torch.no_grad()
    def _evaluate(self, model: nn.Module, data: torch.Tensor, loss_fn: nn.Module) -> float:
        model.eval()
        total = 0.0
        for start in range(0, data.shape[0], 8192):
            batch = data[start:start + 8192]
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
                total += float(loss_fn(model(batch), batch)) * batch.shape[0]
        return total / data.shape[0]

    # -- using ----------------------------------------------------------------------------
    def to(self, device: str | torch.device) -> PhismEncoder:
        self.model_ = self.model_.to(resolve_device(str(device)))
        return self

    @torch.inference_mode()
    def transform(self, pixels: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """(N, C) spectra in physical units -> (N, K*P [+1]) latent in physical units.

        Components come out sorted by centre within each pixel (slot 0 is the component
        nearest the short end of the axis; models written before phism sorted keep their
        network's order), then the brightness when the model has the term.
        With the MLP decoder the latent is the encoder's (N, latent_dim) output, unitless.
        """
        model = self.model_.eval()
        device = next(model.parameters()).device
        mean = torch.as_tensor(self.scaler_.mean_, device=device)
        scale = torch.as_tensor(self.scaler_.scale_, device=device)
        out = np.empty((pixels.shape[0], len(self.channel_names_)), dtype=np.float32)
        for start in range(0, pixels.shape[0], batch_size):
            batch = torch.as_tensor(pixels[start:start + batch_size], device=device)
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
                if isinstance(model, PhismAutoencoder):
                    latent = self._physical_latent(model, (batch - mean) / scale)
                else:
                    latent = model.encode((batch - mean) / scale)
            out[start:start + batch_size] = latent.cpu().numpy()
        return out

    def _physical_latent(self, model: PhismAutoencoder, scaled: torch.Tensor) -> torch.Tensor:
        params, brightness = model.encode(scaled)
        if model.solve:  # older models keep the slot order their heads were trained on
            params = sort_components(params, model.basis.position_index)
        latent = model.basis.to_physical(params, self.axis_.minimum, self.axis_.span)
        latent = latent.reshape(scaled.shape[0], -1)
        if brightness is not None:
            latent = torch.cat((latent, brightness[:, None]), dim=1)
        return latent

    def inverse_transform(self, latent: np.ndarray) -> np.ndarray:
        return self.renderer_.render(latent)
