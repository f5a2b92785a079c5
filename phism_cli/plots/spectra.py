"""The `render --plot` figure: a few pixels' rendered spectra, their components, the input
and the per-pixel error (paper Fig. 2). By default the pixels span the scene's spectral
variety: k-means on a bounded sample of the rendered pixels, one pixel nearest each centre."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.io.rasters import RasterReader
from phism_cli.io.scene import Scene
from phism_cli.model.renderer import Renderer, SpectralRenderer
from phism_cli.pixels import valid_mask
from phism_cli.plots import common

N_PIXELS = 4
MAX_SAMPLES = 20_000
# tab10 less blue (rendered), red (error) and grey (band mean)
COMPONENT_COLOURS = ("C1", "C2", "C4", "C5", "C6", "C8", "C9")
_PAIR = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*$")


def parse_pixels(text: str, flag: str = "--plot-pixels") -> list[tuple[int, int]]:
    """"r,c;r,c" (0-based row, column) -> [(r, c), ...]; anything else is a one-line error."""
    parts = [p for p in text.split(";") if p.strip()]
    matches = [_PAIR.match(p) for p in parts]
    if not parts or not all(matches):
        raise PhismError(f"{flag} {text!r}: give ROW,COL pairs (0-based) separated by ';', "
                         "e.g. '10,20;30,40'")
    return [(int(m.group(1)), int(m.group(2))) for m in matches if m]


def check_pixels(pixels: list[tuple[int, int]], height: int, width: int, text: str,
                 flag: str = "--plot-pixels") -> None:
    for row, col in pixels:
        if not (0 <= row < height and 0 <= col < width):
            raise PhismError(f"{flag} {text!r}: pixel row {row}, col {col} is outside the "
                             f"{height} x {width} latent map (rows 0-{height - 1}, columns "
                             f"0-{width - 1})")


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """(k, D) centres of `points` (N, D) by Lloyd's k-means from a k-means++ start."""
    rng = np.random.default_rng(seed)
    points = np.asarray(points, dtype=np.float64)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        dist = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
        total = dist.sum()
        centres.append(points[rng.choice(len(points), p=dist / total)] if total > 0
                       else points[rng.integers(len(points))])
    centre = np.array(centres)
    for _ in range(iterations):
        nearest = (((points[:, None, :] - centre[None]) ** 2).sum(axis=-1)).argmin(axis=1)
        moved = np.array([points[nearest == j].mean(axis=0) if (nearest == j).any()
                          else centre[j] for j in range(k)])
        if np.allclose(moved, centre):
            break
        centre = moved
    return centre


def spread_pixels(spectra: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """Indices of up to k rows of `spectra` spanning their variety: the row nearest each
    k-means centre, ordered from darkest to brightest."""
    n = len(spectra)
    if n <= k:
        return list(range(n))
    centres = kmeans(spectra, k, seed)
    chosen: list[int] = []
    for centre in centres:
        order = np.argsort(((spectra - centre) ** 2).sum(axis=1))
        chosen.append(int(next(i for i in order if i not in chosen)))
    return sorted(chosen, key=lambda i: float(np.nanmean(spectra[i])))


def sample_pixels(reader: RasterReader, renderer: Renderer,
                  max_samples: int = MAX_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) rows and columns of a regular grid of at most ~`max_samples` valid pixels, and
    their rendered spectra (N, C); read tile by tile."""
    step = max(1, math.ceil(math.sqrt(reader.height * reader.width / max_samples)))
    block, step = common.decimated(reader.read, reader.height, reader.width,
                                   side=math.ceil(max(reader.height, reader.width) / step))
    valid = np.isfinite(block).all(axis=-1)
    where = np.argwhere(valid)
    if not len(where):
        return np.zeros((0, 2), dtype=int), np.zeros((0, len(renderer.band_mean)))
    return where * step, renderer.render(block[valid].astype(np.float32))


def choose_pixels(reader: RasterReader, renderer: Renderer, n: int = N_PIXELS,
                  seed: int = 0) -> list[tuple[int, int]]:
    positions, spectra = sample_pixels(reader, renderer)
    finite = np.isfinite(spectra).all(axis=1)
    positions, spectra = positions[finite], spectra[finite]
    return [(int(positions[i, 0]), int(positions[i, 1]))
            for i in spread_pixels(spectra, n, seed)]


def _scores(truth: np.ndarray, estimate: np.ndarray, peak: float | None) -> tuple[float, float]:
    """PSNR (dB; peak: the scene's value range, else this pixel's) and SAM (deg)."""
    mse = float(np.mean((truth - estimate) ** 2))
    peak = peak if peak and peak > 0 else float(truth.max() - truth.min())
    psnr = float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse) if peak > 0 \
        else float("nan")
    cos = float(truth @ estimate / (np.linalg.norm(truth) * np.linalg.norm(estimate) or 1.0))
    return psnr, math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def plot_pixel_spectra(reader: RasterReader, renderer: Renderer, reference: Scene | None,
                       path: Path, pixels: list[tuple[int, int]] | None = None,
                       unit: str | None = None, peak: float | None = None) -> dict[str, Any]:
    """Rendered spectra of `pixels` (default: `choose_pixels`), sorted by wavelength and broken
    at gaps and detector overlaps, with the input and the error below when `reference` is
    given; one shared legend right of the panels. `unit` labels the values."""
    plt = common.pyplot()
    pixels = pixels or choose_pixels(reader, renderer)
    if not pixels:
        raise PhismError(f"{reader.path}: no valid pixel to plot")
    axis = renderer.axis
    x = axis.positions
    n_cols = 1 if len(pixels) == 1 else 2
    n_rows = math.ceil(len(pixels) / n_cols)
    with_error = reference is not None
    fig = plt.figure(figsize=(6.0 * n_cols + 2.2, (4.2 if with_error else 3.2) * n_rows),
                     layout="constrained")
    outer = fig.add_gridspec(n_rows, n_cols)
    handles: dict[str, Any] = {}

    def line(ax: Any, values: np.ndarray, label: str, **style: Any) -> None:
        (drawn,) = ax.plot(*common.with_breaks(x, values), label=label, **style)
        handles.setdefault(label, drawn)

    for index, (row, col) in enumerate(pixels):
        cell = outer[index // n_cols, index % n_cols]
        inner = cell.subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05) if with_error \
            else cell.subgridspec(1, 1)
        ax = fig.add_subplot(inner[0])
        latent = reader.read(Window(col, row, 1, 1)).reshape(1, -1).astype(np.float32)
        title = f"row {row}, col {col}"
        if not np.isfinite(latent).all():
            ax.set_title(f"{title}: no data", fontsize=9)
            ax.set_axis_off()
            continue
        rendered = renderer.render(latent)[0]
        truth = None
        if reference is not None:
            spectrum = reference.read(Window(col, row, 1, 1)).reshape(1, 1, -1)
            if valid_mask(spectrum)[0, 0]:
                truth = spectrum[0, 0].astype(np.float64)
                line(ax, truth, "input", color="k", lw=1.2, ls="--")
                psnr, sam = _scores(truth, rendered.astype(np.float64), peak)
                title += f" · PSNR {psnr:.1f} dB · SAM {sam:.2f}°"
            else:
                title += " · input: no data"
        line(ax, rendered, "rendered", color="C0", lw=2)
        baseline = renderer.band_mean
        if isinstance(renderer, SpectralRenderer):  # a learned decoder has no components
            for k, part in enumerate(renderer.components(latent)[0]):
                line(ax, part, f"component {k + 1}", color=COMPONENT_COLOURS[k % 7], lw=0.9,
                     alpha=0.85)
            if renderer.brightness:
                factor = float(renderer.brightness_of(latent)[0, 0])
                baseline = factor * renderer.band_mean
                title += f"\nbrightness {factor:.2f}"
        line(ax, baseline, "brightness x band mean" if isinstance(renderer, SpectralRenderer)
             and renderer.brightness else "band mean", color="0.6", lw=0.9)
        ax.set_title(title, fontsize=9)
        common.axis_labels(ax, axis.unit, unit)
        ax.grid(alpha=0.25)
        if with_error:
            ax.tick_params(labelbottom=False)
            ax.set_xlabel("")
            err = fig.add_subplot(inner[1], sharex=ax)
            err.axhline(0, color="0.5", lw=0.6)
            if truth is not None:
                xs, residual = common.with_breaks(x, rendered - truth)
                (drawn,) = err.plot(xs, residual, color="C3", lw=0.9)
                err.fill_between(xs, 0, residual, color="C3", alpha=0.25, lw=0)
                drawn.set_label("rendered - input")
                handles.setdefault("rendered - input", drawn)
            err.set_ylabel("Error", fontsize=8)
            err.set_xlabel(common.AXIS_LABELS.get(axis.unit, axis.unit))
            err.tick_params(labelsize=8)
            err.grid(alpha=0.25)
    order = [k for k in ("input", "rendered", "rendered - input") if k in handles] + \
        [k for k in handles if k.startswith("component")] + \
        [k for k in handles if "band mean" in k]
    fig.legend([handles[k] for k in order], order, loc="outside right upper", fontsize=8,
               frameon=False)
    return common.save_figure(fig, path)
