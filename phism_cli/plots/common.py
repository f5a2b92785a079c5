"""What every phism figure shares: the gated pyplot import, the PNG's phism mark, spectra
lines sorted by wavelength and broken at gaps and detector overlaps, contrast stretches,
axis labels in the data's unit, decimated reads of written rasters and the saving itself."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError

# Marks the picture as phism's, so --overwrite may replace it (see io.png).
PNG_METADATA = {"Software": "phism"}
DPI = 100
QUICKLOOK_SIDE = 2000  # the longest side of a map re-read for a figure, in pixels


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; a one-line error when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PhismError("plots need matplotlib: pip install 'phism[plot]'") from None
    return plt


def check_png_name(path: Path | None, flag: str = "--plot") -> None:
    """Refuse a picture name that is not *.png (before any work)."""
    if path is not None and path.suffix.lower() != ".png":
        raise PhismError(f"{flag} {path}: name the picture *.png")


# -- spectra lines ------------------------------------------------------------------------------
def line_breaks(x: np.ndarray, gap_factor: float = 2.5) -> np.ndarray:
    """Where a spectrum drawn in band order must break: indices i such that no line should join
    band i-1 to band i, because the wavelengths between them were dropped (a step over
    `gap_factor` times the median band spacing: bad bands, water absorption) or because the
    axis turns back or repeats (overlapping detectors). A descending axis is read in its own
    order."""
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


def line_segments(x: np.ndarray, gap_factor: float = 2.5) -> list[np.ndarray]:
    """The band indices of each line to draw, each in increasing wavelength, the lines in
    order of their first wavelength. Bands are cut into detectors where the axis (in band
    order) turns back, as EnMAP's SWIR starts below the end of its VNIR: two detectors give
    two lines over their overlap, never a zig-zag between them. A line also breaks where
    bands were dropped. An axis with no detector order (many turns) is simply sorted."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return []
    order = np.arange(n)
    if n > 1 and np.median(np.diff(x)) < 0:
        order = order[::-1]
    turns = np.flatnonzero(np.diff(x[order]) <= 0) + 1
    if len(turns) > max(3, n // 10):  # shuffled, not detectors: sort the whole axis
        order, turns = np.argsort(x, kind="stable"), np.zeros(0, dtype=int)
        turns = np.flatnonzero(np.diff(x[order]) <= 0) + 1  # repeated wavelengths
    runs = np.split(order, turns)
    steps = np.concatenate([np.diff(x[r]) for r in runs])
    spacing = float(np.median(steps)) if len(steps) else 0.0
    lines = []
    for run in runs:
        gaps = np.flatnonzero(np.diff(x[run]) > gap_factor * spacing) + 1 if spacing > 0 \
            else np.zeros(0, dtype=int)
        lines.extend(np.split(run, gaps))
    lines.sort(key=lambda r: x[r[0]])
    return lines


def with_breaks(x: np.ndarray, *ys: np.ndarray,
                gap_factor: float = 2.5) -> tuple[np.ndarray, ...]:
    """`x` and each of `ys` sorted by wavelength into the lines of `line_segments`, with NaN
    between the lines so that matplotlib draws them separately."""
    lines = line_segments(x, gap_factor)
    out = []
    for values in (x, *ys):
        values = np.asarray(values, dtype=np.float64)
        parts: list[np.ndarray] = []
        for k, line in enumerate(lines):
            if k:
                parts.append(np.array([np.nan]))
            parts.append(values[line])
        out.append(np.concatenate(parts) if parts else values[:0])
    return tuple(out)


# -- labels ---------------------------------------------------------------------------------------
def value_label(unit: str | None) -> str:
    """The y label of spectra in `unit`: "Reflectance", "Radiance (W m-2 sr-1 um-1)", "DN",
    "Value (K)", or "Value" when nothing says what the numbers are."""
    if not unit or unit.strip().lower() in ("input units", "unknown", ""):
        return "Value"
    text = unit.strip()
    lower = text.lower()
    if "reflect" in lower:
        return "Reflectance" if lower in ("reflectance", "reflectance (1)") else text
    if lower in ("dn", "digital number", "digital numbers", "counts"):
        return "DN"
    if "radiance" in lower:
        return text[0].upper() + text[1:]
    if "sr" in lower.replace("-", " ").split() or "sr-1" in lower or "/sr" in lower:
        return f"Radiance ({text})"
    return f"Value ({text})"


def scene_unit(scene: Any) -> str | None:
    """What a scene's values are: the unit its file states, else the word an ENVI header
    implies (`reflectance scale factor`: reflectance; `data units`), else None."""
    unit = getattr(scene, "data_unit", None)
    if unit:
        return str(unit)
    header = getattr(scene, "header", None)
    if header is not None:
        try:
            if "data units" in header and isinstance(header.get("data units"), str):
                return str(header.get("data units"))
            if "reflectance scale factor" in header:
                return "reflectance"
        except Exception:  # a header that reads oddly only loses the label
            return None
    return None


AXIS_LABELS = {"nm": "Wavelength (nm)", "wavelength_nm": "Wavelength (nm)",
               "wavelength_um": "Wavelength (µm)", "wavenumber_cm-1": "Wavenumber (cm⁻¹)",
               "band": "Band number"}


def axis_labels(ax: Any, axis_unit: str, data_unit: str | None) -> None:
    """Wavelength (nm) (or band number) below, the values' unit beside."""
    ax.set_xlabel(AXIS_LABELS.get(axis_unit, axis_unit))
    ax.set_ylabel(value_label(data_unit))


# -- images ---------------------------------------------------------------------------------------
def stretch(image: np.ndarray) -> np.ndarray:
    """An RGB (or grey, when all bands are one) picture in [0, 1], each band stretched to its
    2-98 %; NaN as white."""
    out = np.ones_like(image, dtype=np.float64)
    finite = np.isfinite(image).all(axis=-1)
    if finite.any():
        low, high = np.percentile(image[finite], [2, 98], axis=0)
        scaled = (image - low) / np.where(high > low, high - low, 1.0)
        out[finite] = np.clip(scaled[finite], 0, 1)
    return out


def decimation_step(height: int, width: int, side: int = QUICKLOOK_SIDE) -> int:
    return max(1, math.ceil(max(height, width) / side))


def decimated(read: Callable[[Any], np.ndarray], height: int, width: int,
              side: int = QUICKLOOK_SIDE, tile: int = 256) -> tuple[np.ndarray, int]:
    """Every `step`-th pixel of a raster (read tile by tile through `read(window)`, which gives
    (rows, cols, channels)), so that the long side is at most `side`; and the step."""
    from rasterio.windows import Window

    step = decimation_step(height, width, side)
    tile = step * max(1, tile // step)
    parts: list[list[np.ndarray]] = []
    for row in range(0, height, tile):
        strip = []
        for col in range(0, width, tile):
            block = read(Window(col, row, min(tile, width - col), min(tile, height - row)))
            strip.append(np.asarray(block)[::step, ::step])
        parts.append(strip)
    return np.concatenate([np.concatenate(s, axis=1) for s in parts], axis=0), step


# -- saving ---------------------------------------------------------------------------------------
def describe(fig: Any) -> dict[str, Any]:
    """What a figure says, for tests and callers: its size in pixels, each axes' title and
    labels, legend texts (per axes and the figure's) and image shapes."""
    width, height = (round(v) for v in fig.get_size_inches() * fig.dpi)
    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        axes.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(),
                     "ylabel": ax.get_ylabel(),
                     "legend": [] if legend is None else [t.get_text() for t in legend.texts],
                     "images": [tuple(im.get_array().shape) for im in ax.images],
                     "texts": [t.get_text() for t in ax.texts]})
    return {"size_px": (width, height), "axes": axes,
            "legend": [t.get_text() for lg in fig.legends for t in lg.texts],
            "suptitle": fig._suptitle.get_text() if fig._suptitle is not None else ""}


def save_figure(fig: Any, path: Path, dpi: int = DPI) -> dict[str, Any]:
    """Save `fig` as phism's PNG at `dpi` (the size is figsize x dpi: no tight cropping) and
    close it; returns `describe(fig)`."""
    fig.set_dpi(dpi)
    info = describe(fig)
    fig.savefig(path, format="png", dpi=dpi, metadata=PNG_METADATA)
    pyplot().close(fig)
    return info


def open_written(path: Path) -> Any:
    """A `RasterReader` of a raster this run has just written and not yet committed: it still
    has its hidden partial name, which `RasterReader` refuses for others to read."""
    from phism_cli.io.rasters import RasterReader

    class _Written(RasterReader):
        def __init__(self, path: Path) -> None:  # RasterReader's, less refuse_partial
            self.path = Path(path)
            self.kind = "zarr" if self.path.is_dir() else "tif"
            if self.kind == "zarr":
                self._open_zarr()
            else:
                self._open_geotiff()

    return _Written(path)
