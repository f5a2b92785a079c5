"""The `render --plot` figure: a few pixels' spectra with their components (paper Fig. 2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.heads.splits import Split
from phism_cli.io.rasters import RasterReader
from phism_cli.io.scene import Scene, iter_windows
from phism_cli.model.renderer import Renderer, SpectralRenderer
from phism_cli.pipeline.labelled import LabelledPixels
from phism_cli.pipeline.pixels import valid_mask

# Marks the picture as phism's, so --overwrite may replace it (see io.png).
PNG_METADATA = {"Software": "phism"}


def _pick_pixels(reader: RasterReader, n: int) -> list[tuple[int, int]]:
    """Up to n valid pixels spread over the first tile that has any."""
    for window in iter_windows(reader.height, reader.width, 256):
        valid = np.argwhere(np.isfinite(reader.read(window)).all(axis=-1))
        if len(valid):
            picks = valid[np.linspace(0, len(valid) - 1, min(n, len(valid))).astype(int)]
            return [(int(r) + window.row_off, int(c) + window.col_off) for r, c in picks]
    return []


def line_breaks(x: np.ndarray, gap_factor: float = 2.5) -> np.ndarray:
    """Where a spectrum's line must break: indices i such that no line should join band i-1
    to band i, because the wavelengths between them were dropped (a step over `gap_factor`
    times the median band spacing: bad bands, water absorption) or because the axis turns
    back or repeats (overlapping detectors). A descending axis is read in its own order."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(0, dtype=int)
    steps = np.diff(x)
    if np.median(steps) < 0:
        steps = -steps
    forward = steps[steps > 0]
    spacing = float(np.median(forward)) if len(forward) else 0.0
    broken = (steps <= 0) | ((spacing > 0) & (steps > gap_factor * spacing))
    return np.flatnonzero(broken) + 1


def with_breaks(x: np.ndarray, *ys: np.ndarray,
                gap_factor: float = 2.5) -> tuple[np.ndarray, ...]:
    """`x` and each of `ys` with NaN inserted where `line_breaks` says, so matplotlib draws
    separate lines there."""
    where = line_breaks(x, gap_factor)
    return tuple(np.insert(np.asarray(v, dtype=np.float64), where, np.nan)
                 for v in (x, *ys))


def axis_labels(ax: Any, axis_unit: str, data_unit: str | None) -> None:
    """Wavelength (nm) or band number below, the values' unit (when known) beside."""
    ax.set_xlabel("Wavelength (nm)" if axis_unit == "nm" else "Band")
    ax.set_ylabel(f"Value ({data_unit or 'input units'})")


def plot_pixel_spectra(reader: RasterReader, renderer: Renderer,
                       reference: Scene | None, path: Path, n_pixels: int = 4,
                       unit: str | None = None) -> None:
    """Rendered spectra of a few pixels, in band order, lines broken at wavelength gaps and
    detector overlaps; `unit` labels the values."""
    plt = _pyplot()
    from rasterio.windows import Window

    pixels = _pick_pixels(reader, n_pixels)
    if not pixels:
        raise PhismError(f"{reader.path}: no valid pixel to plot")
    axis = renderer.axis
    x = axis.positions

    def line(ax: Any, values: np.ndarray, **style: Any) -> None:
        ax.plot(*with_breaks(x, values), **style)

    fig, axes = plt.subplots(len(pixels), 1, figsize=(8, 2.6 * len(pixels)), squeeze=False)
    for ax, (row, col) in zip(axes[:, 0], pixels, strict=True):
        latent = reader.read(Window(col, row, 1, 1)).reshape(1, -1)
        line(ax, renderer.render(latent)[0], color="C0", lw=2, label="rendered")
        if reference is not None:
            spectrum = reference.read(Window(col, row, 1, 1)).reshape(1, -1)
            if valid_mask(spectrum[None])[0, 0]:
                line(ax, spectrum[0], color="k", lw=1, ls="--", label="input")
        baseline, name = renderer.band_mean, "band mean"
        if isinstance(renderer, SpectralRenderer):  # a learned decoder has no components
            for k, part in enumerate(renderer.components(latent)[0]):
                line(ax, part, lw=0.8, alpha=0.8, label=f"component {k}")
            if renderer.brightness:
                factor = float(renderer.brightness_of(latent)[0, 0])
                baseline, name = factor * renderer.band_mean, f"{factor:.2f} x band mean"
        line(ax, baseline, color="0.6", lw=0.8, label=name)
        ax.set_title(f"pixel row {row}, col {col}", fontsize=9)
        axis_labels(ax, axis.unit, unit)
    axes[0, 0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PhismError("plots need matplotlib: pip install 'phism[plot]'") from None
    return plt


def plot_split(pixels: LabelledPixels, split: Split, shapes: Sequence[tuple[int, int]],
               names: Sequence[str], path: Path, max_panels: int = 24) -> None:
    """One panel per source: training pixels, test pixels, pixels the buffer dropped, and the
    block grid of a block split."""
    from matplotlib.colors import ListedColormap

    plt = _pyplot()
    n = min(len(shapes), max_panels)
    cols = min(n, 6)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(2.6 * cols, 6.0), 2.6 * rows + 0.8),
                             squeeze=False)
    palette = ListedColormap(["#f2f2f2", "#2c7fb8", "#d95f0e", "#bdbdbd"])
    block = split.settings.get("block_size")
    for index, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if index >= n:
            continue
        height, width = shapes[index]
        image = np.zeros((height, width), dtype=np.int8)  # 0 unlabelled
        here = pixels.source == index
        for value, mask in ((3, ~split.train & ~split.test), (1, split.train), (2, split.test)):
            chosen = here & mask
            image[pixels.row[chosen], pixels.col[chosen]] = value
        ax.imshow(image, cmap=palette, vmin=0, vmax=3, interpolation="nearest")
        if block:
            for edge in range(block, max(height, width), block):
                if edge < width:
                    ax.axvline(edge - 0.5, color="k", lw=0.4)
                if edge < height:
                    ax.axhline(edge - 0.5, color="k", lw=0.4)
        if split.block_fold is not None:  # every labelled block's fold number
            for _, b_row, b_col, fold in split.block_fold[split.block_fold[:, 0] == index]:
                centre_row = (b_row * block + min((b_row + 1) * block, height)) / 2 - 0.5
                centre_col = (b_col * block + min((b_col + 1) * block, width)) / 2 - 0.5
                ax.text(centre_col, centre_row, str(fold + 1), ha="center", va="center",
                        fontsize=7, color="k")
        ax.set_title(names[index], fontsize=7)
    from matplotlib.patches import Patch

    legend = [Patch(color=palette(i), label=label) for i, label in
              ((1, "train"), (2, "test"), (3, "dropped (buffer)"), (0, "unlabelled"))]
    settings = ", ".join(f"{k} {v}" for k, v in split.settings.items() if k != "test_blocks")
    fig.suptitle(settings, fontsize=8)
    fig.legend(handles=legend, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    fig.savefig(path, format="png", dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def plot_fusion(images: dict[str, np.ndarray], endmembers: np.ndarray,
                wavelength_nm: np.ndarray, path: Path, unit: str | None = None) -> None:
    """The `fuse --plot` figure: the endmember spectra and quicklooks of the low-res cube
    (upsampled), the multispectral image and the fused cube, each stretched to its 2-98 %."""
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.25])
    ax = fig.add_subplot(grid[0, :])
    for k, spectrum in enumerate(endmembers):
        ax.plot(*with_breaks(wavelength_nm, spectrum), lw=1, label=f"endmember {k + 1}")
    axis_labels(ax, "nm", unit)
    ax.set_title(f"{len(endmembers)} endmembers (NMF of the low-resolution cube)", fontsize=9)
    ax.legend(fontsize=6, ncol=max(1, len(endmembers) // 4), loc="upper right")
    titles = {"hsi": "low-res hyperspectral (upsampled)", "msi": "multispectral",
              "fused": "fused"}
    for column, (name, title) in enumerate(titles.items()):
        panel = fig.add_subplot(grid[1, column])
        panel.imshow(_stretch(images[name]), interpolation="nearest")
        panel.set_title(title, fontsize=9)
        panel.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def _stretch(image: np.ndarray) -> np.ndarray:
    """An RGB (or grey, when all bands are one) picture in [0, 1]; NaN as white."""
    out = np.ones_like(image, dtype=np.float64)
    finite = np.isfinite(image).all(axis=-1)
    if finite.any():
        low, high = np.percentile(image[finite], [2, 98], axis=0)
        scaled = (image - low) / np.where(high > low, high - low, 1.0)
        out[finite] = np.clip(scaled[finite], 0, 1)
    return out
