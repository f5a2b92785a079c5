"""`PhismEncoder`: the self-supervised autoencoder as a scikit-learn-style estimator."""

from __future__ import annotations

import copy
import itertools
import math
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from phism_cli.forward.bases import make_basis
from phism_cli.model.network import (
    DEFAULT_HIDDEN,
    SERIAL_BELOW_ROWS,
    MLPAutoencoder,
    PhismAutoencoder,
    inference_copy,
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
# Training steps in all, at most: a large sample trains for this many steps rather than for
# `epochs` whole passes (epochs are then shorter, and go on through the pixels). It binds from
# about 20,000 training pixels at the default batch of 512 (benchmarks/fit_speed.py: 100,000
# pixels on two CPU cores, against 50 whole passes of the paper-width network).
DEFAULT_MAX_STEPS = 2000

EpochCallback = Callable[[int, float, float], None]

# `transform` on the CPU: pixels per batch when none is given. Small batches keep the
# activations and the design matrices of the amplitude solve in cache; on a 2-core AMD
# EPYC with 1 and 2 threads, 2048 was the fastest or within 10 % of it among 512-16384, and
# 16384 (the old default) 25-35 % slower (benchmarks/throughput.py, `--sweep`). A constant,
# so that a latent's bits do not depend on the machine's memory or thread count.
CPU_BATCH_SIZE = 2048
# On CUDA: a share of the free device memory, at an estimated cost per pixel, as a power of
# two in this range.
CUDA_MEMORY_SHARE = 0.25
CUDA_BATCH_RANGE = (16384, 1 << 20)

# Precision of the encoder network's layers in `transform` (the amplitude solve, the
# activations and the outputs stay float32). "auto": float32 on the CPU (bfloat16 is 5x
# slower there) and AUTO_CUDA_PRECISION on CUDA. bfloat16 there: reconstruction PSNR 0.0013
# dB below float32 on an H200 (synthetic scene; 0.009 dB on the sample EnMAP scene on the
# CPU), well under the 0.05 dB allowed, centres moved 0.5 nm on average (3.3 nm at most),
# and the whole model runs 2x faster (the MLP 8x); float16 is as fast and closer (0.08 nm)
# but overflows past 65504, where bfloat16 has float32's range.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
AUTO_CUDA_PRECISION = "bfloat16"
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without it is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or auto")
    return torch.device(device)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of "
                         f"{', '.join(PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the network's layers (None: float32) for `precision` on
    `device`."""
    check_precision(precision)
    if precision == "auto":
        precision = AUTO_CUDA_PRECISION if device.type == "cuda" else "float32"
    return _DTYPES.get(precision)


def precision_name(precision: str, device: torch.device) -> str:
    """What `precision` runs as on `device`: "float32", "bfloat16" or "float16" (for output
    metadata and --json)."""
    dtype = resolve_precision(precision, device)
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def auto_batch_size(device: torch.device, n_bands: int, hidden: Sequence[int],
                    n_latent: int, n_curves: int) -> int:
    """Pixels per `transform` batch on `device` when none is given: CPU_BATCH_SIZE on the
    CPU; on CUDA a power of two using about CUDA_MEMORY_SHARE of the free memory."""
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(device)
    widest = max([n_bands, *hidden])
    # float32 values alive per pixel at the peak: input, scaled input, activations, the
    # latent, and the amplitude solve's design matrix (`n_curves` curves of n_bands values)
    # with its temporaries. For the default model (218 bands, 6 curves) this is 30 kB; an
    # H200 measured 10.5 kB (benchmarks/cuda_encode.py), so the share is a safe one.
    per_pixel = 4 * (2 * n_bands + 3 * widest + 4 * n_latent + 3 * n_curves * n_bands)
    batch = max(1, int(free * CUDA_MEMORY_SHARE) // per_pixel)
    low, high = CUDA_BATCH_RANGE
    return max(low, min(high, 1 << (batch.bit_length() - 1)))


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
    steps: int = 0
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

    # The FWHM (nm) of the bands fitted on, when the scene gave them: how much a band
    # already smooths the spectrum, which resampling another sensor onto these bands (and
    # rendering at its bands) takes into account. None: unknown (models before it).
    fwhm_nm_: np.ndarray | None = None

    def _set_fwhm(self, fwhm_nm: np.ndarray | None, n_bands: int) -> None:
        if fwhm_nm is None:
            self.fwhm_nm_ = None
            return
        fwhm = np.asarray(fwhm_nm, dtype=np.float64)
        if fwhm.shape != (n_bands,) or not bool(np.all(np.isfinite(fwhm) & (fwhm > 0))):
            raise ValueError(f"fwhm_nm must be {n_bands} finite positive widths")
        self.fwhm_nm_ = fwhm


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
        hidden: Sequence[int] = DEFAULT_HIDDEN,
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
        max_steps: int | None = DEFAULT_MAX_STEPS,
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
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.max_steps = max_steps

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
            "lr_schedule": self.lr_schedule, "max_steps": self.max_steps,
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
            on_epoch: EpochCallback | None = None,
            fwhm_nm: np.ndarray | None = None) -> PhismEncoder:
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
        self._set_fwhm(fwhm_nm, pixels.shape[1])
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
        batches = self._batch_orders(train.shape[0], device, shuffle)
        epoch_steps = self._epoch_steps(train.shape[0])

        summary = TrainingSummary(train_pixels=len(train_idx), val_pixels=n_val)
        best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
        for epoch in range(1, self.epochs + 1):
            train_loss = self._train_epoch(model, train, batches, epoch_steps, optimiser,
                                           loss_fn)
            summary.steps += epoch_steps
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

    def _epoch_steps(self, n_train: int) -> int:
        """Training steps per epoch: a pass over the training pixels (or as many passes as
        give MIN_STEPS_PER_EPOCH steps), cut to max_steps // epochs (at least 1) when the
        whole schedule would take more than `max_steps` steps; the epochs then go on through
        the pixels where the last one stopped."""
        per_pass = math.ceil(n_train / self.batch_size)
        steps = per_pass * max(1, math.ceil(MIN_STEPS_PER_EPOCH / per_pass))
        if self.max_steps is not None:
            steps = min(steps, max(1, self.max_steps // self.epochs))
        return steps

    def _batch_orders(self, n: int, device: torch.device,
                      generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Pixel indices of one training batch after another, pass after pass, each pass
        a fresh permutation."""
        while True:
            order = torch.randperm(n, generator=generator).to(device)
            for start in range(0, n, self.batch_size):
                yield order[start:start + self.batch_size]

    def _train_epoch(self, model: nn.Module, data: torch.Tensor, batches: Iterator[torch.Tensor],
                     steps: int, optimiser: torch.optim.Optimizer, loss_fn: nn.Module) -> float:
        model.train()
        total, seen = 0.0, 0
        for index in itertools.islice(batches, steps):
            batch = data[index]
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
        # transform's batch: on the CPU 2048 validated 2.7x faster than 8192 (cache).
        chunk = self.auto_batch_size()
        for start in range(0, data.shape[0], chunk):
            batch = data[start:start + chunk]
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
                total += float(loss_fn(model(batch), batch)) * batch.shape[0]
        return total / data.shape[0]

    # -- using ----------------------------------------------------------------------------
    # Precision of `transform` when it is not given (not a hyper-parameter: not saved).
    inference_precision: str = "auto"

    def to(self, device: str | torch.device) -> PhismEncoder:
        self.model_ = self.model_.to(resolve_device(str(device)))
        return self

    @property
    def device_(self) -> torch.device:
        return next(self.model_.parameters()).device

    def auto_batch_size(self) -> int:
        """What `transform` uses when no batch size is given (see `auto_batch_size`)."""
        return auto_batch_size(self.device_, self.n_bands_, self.hidden,
                               len(self.channel_names_), self.linear_terms or 1)

    def inference_model(self, precision: str | None = None) -> nn.Module:
        """The model `transform` runs for `precision` (default `inference_precision`): an
        eval-mode copy with BatchNorm folded into the linear layers and the network's
        layers in that precision (`network.inference_copy`). Made once per precision and
        kept until `model_` is replaced, moved or changed in place (refit, `to`,
        `load_state_dict`, training); never changed after, so threads may share it."""
        model = self.model_
        dtype = resolve_precision(precision or self.inference_precision, self.device_)
        try:
            key = tuple((t.device, t.data_ptr(), t._version)
                        for t in (*model.parameters(), *model.buffers()))
        except RuntimeError:  # inference tensors keep no version: copy every time
            return inference_copy(model, dtype)
        cache = self.__dict__.get("_inference")
        if cache is None or cache[0]() is not model or cache[1] != key:
            cache = (weakref.ref(model), key, {})
            self.__dict__["_inference"] = cache
        copies = cache[2]
        if dtype not in copies:
            copies[dtype] = inference_copy(model, dtype)
        return copies[dtype]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the inference copy (it is remade on first use)."""
        return {k: v for k, v in self.__dict__.items() if k != "_inference"}

    @torch.inference_mode()
    def transform(self, pixels: np.ndarray, batch_size: int | None = None,
                  precision: str | None = None) -> np.ndarray:
        """(N, C) spectra in physical units -> (N, K*P [+1]) latent in physical units.

        Components come out sorted by centre within each pixel (slot 0 is the component
        nearest the short end of the axis; models written before phism sorted keep their
        network's order), then the brightness when the model has the term.
        With the MLP decoder the latent is the encoder's (N, latent_dim) output, unitless.

        Runs the folded inference copy (`inference_model`): equal to the trained model's
        eval-mode output to float32 rounding. `batch_size` None: `auto_batch_size()`.
        `precision` (default `inference_precision`): the network layers' dtype, "auto",
        "float32", "bfloat16" or "float16" (`resolve_precision`). On CUDA the batches go
        through pinned host memory, copied on a side stream while the previous one computes.
        """
        self.model_.eval()
        device = self.device_
        model = self.inference_model(precision)
        batch_size = batch_size or self.auto_batch_size()
        mean = torch.as_tensor(self.scaler_.mean_, device=device)
        scale = torch.as_tensor(self.scaler_.scale_, device=device)

        def encode(batch: torch.Tensor) -> torch.Tensor:
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
                if isinstance(model, PhismAutoencoder):
                    return self._physical_latent(model, (batch - mean) / scale)
                return model.encode((batch - mean) / scale)

        out = np.empty((pixels.shape[0], len(self.channel_names_)), dtype=np.float32)
        if device.type == "cuda":
            _transform_cuda(encode, pixels, out, batch_size, device)
            return out
        for start in range(0, pixels.shape[0], batch_size):
            batch = torch.as_tensor(pixels[start:start + batch_size], device=device)
            out[start:start + batch_size] = encode(batch).cpu().numpy()
        return out

    def _physical_latent(self, model: PhismAutoencoder, scaled: torch.Tensor,
                         sort: bool = True) -> torch.Tensor:
        params, brightness = model.encode(scaled)
        if sort and model.solve:  # older models keep the slot order their heads were trained on
            params = sort_components(params, model.basis.position_index)
        latent = model.basis.to_physical(params, self.axis_.minimum, self.axis_.span)
        latent = latent.reshape(scaled.shape[0], -1)
        if brightness is not None:
            latent = torch.cat((latent, brightness[:, None]), dim=1)
        return latent

    def inverse_transform(self, latent: np.ndarray) -> np.ndarray:
        return self.renderer_.render(latent)


def _transform_cuda(encode: Callable[[torch.Tensor], torch.Tensor], pixels: np.ndarray,
                    out: np.ndarray, batch_size: int, device: torch.device) -> None:
    """`out[i] = encode(pixels[i])` batch by batch on CUDA: each batch is copied into pinned
    host memory and up to the device on a side stream (non-blocking) while the previous
    batch computes; results come back through pinned memory. Two buffers alternate."""
    n, n_bands = pixels.shape
    rows = min(batch_size, n)
    if rows == 0:
        return
    copy_stream = torch.cuda.Stream(device)
    compute = torch.cuda.current_stream(device)
    host_in = [torch.empty((rows, n_bands), dtype=torch.float32, pin_memory=True)
               for _ in range(2)]
    host_out = [torch.empty((rows, out.shape[1]), dtype=torch.float32, pin_memory=True)
                for _ in range(2)]
    pending: list[tuple[torch.cuda.Event, int, int] | None] = [None, None]

    def collect(slot: int) -> None:
        if pending[slot] is not None:
            done, start, stop = pending[slot]
            done.synchronize()
            out[start:stop] = host_out[slot][:stop - start].numpy()
            pending[slot] = None

    for i, start in enumerate(range(0, n, rows)):
        slot, stop = i % 2, min(start + rows, n)
        collect(slot)  # its buffers are free once its results are back
        staged = host_in[slot][:stop - start]
        staged.copy_(torch.from_numpy(np.ascontiguousarray(pixels[start:stop],
                                                           dtype=np.float32)))
        with torch.cuda.stream(copy_stream):
            batch = staged.to(device, non_blocking=True)
        compute.wait_stream(copy_stream)
        batch.record_stream(compute)
        latent = encode(batch)
        host_out[slot][:stop - start].copy_(latent, non_blocking=True)
        done = torch.cuda.Event()
        done.record(compute)
        pending[slot] = (done, start, stop)
    collect(1 - (i % 2))  # the older of the two in flight first
    collect(i % 2)
