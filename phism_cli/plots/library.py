"""Endmember spectra (`endmembers --plot`, `fuse --plot`) and the `unmix --plot` figure:
the library's spectra and one abundance map per endmember on a shared 0-1 colour bar."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.plots import common

MAX_LEGEND = 10  # more spectra: a colour bar of the peak position instead of a legend
AXIS_SYMBOL = {"nm": "nm", "wavelength_nm": "nm", "wavelength_um": "µm",
               "wavenumber_cm-1": "cm⁻¹", "band": ""}


def peak_order(spectra: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The spectra's indices in order of their peak's position, and those positions."""
    filled = np.where(np.isfinite(spectra), spectra, -np.inf)
    peaks = np.asarray(axis, dtype=np.float64)[np.argmax(filled, axis=1)]
    order = np.argsort(peaks, kind="stable")
    return order, peaks[order]


def draw_spectra(fig: Any, ax: Any, spectra: np.ndarray, axis: np.ndarray, unit: str | None,
                 names: list[str] | None = None, normalise: bool = False,
                 axis_unit: str = "nm") -> None:
    """Spectra in order of their peak's position, lines sorted along the axis and broken at
    gaps and detector overlaps; a legend right of the axes (<= 10 spectra) or a colour bar of
    the peak position. `normalise` scales each to a peak of 1."""
    import matplotlib as mpl

    spectra = np.asarray(spectra, dtype=np.float64)
    names = names or [f"endmember {k + 1}" for k in range(len(spectra))]
    if normalise:
        scale = np.nanmax(np.abs(spectra), axis=1, keepdims=True)
        spectra = spectra / np.where(scale > 0, scale, 1.0)
    order, peaks = peak_order(spectra, axis)
    many = len(spectra) > MAX_LEGEND
    norm = mpl.colors.Normalize(peaks.min(), max(peaks.max(), peaks.min() + 1))
    cmap = mpl.colormaps["turbo"]
    symbol = AXIS_SYMBOL.get(axis_unit, axis_unit)
    for rank, k in enumerate(order):
        colour = cmap(norm(peaks[rank])) if many else f"C{rank}"
        ax.plot(*common.with_breaks(axis, spectra[k]), lw=0.9 if many else 1.3, color=colour,
                alpha=0.85 if many else 1.0,
                label=f"{names[k]} (peak {peaks[rank]:.4g} {symbol})".replace(" )", ")"))
    common.axis_labels(ax, axis_unit, unit)
    if normalise:
        ax.set_ylabel(f"{common.value_label(unit)}, scaled to peak 1")
    ax.grid(alpha=0.25)
    if many:
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm, cmap), ax=ax, pad=0.01)
        bar.set_label(f"Position of the peak ({symbol})" if symbol else "Band of the peak")
    else:
        # a figure legend: constrained layout makes room for it right of every panel
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=8,
                   frameon=False)


def plot_library(spectra: np.ndarray, wavelength_nm: np.ndarray, names: list[str],
                 path: Path, unit: str | None = None, title: str = "") -> dict[str, Any]:
    """The `endmembers --plot` figure: the spectra in the scene's unit."""
    plt = common.pyplot()
    fig = plt.figure(figsize=(10.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    draw_spectra(fig, ax, spectra, wavelength_nm, unit, names)
    ax.set_title(title or f"{len(spectra)} endmembers", fontsize=10)
    return common.save_figure(fig, path)


def plot_unmixing(spectra: np.ndarray, axis: np.ndarray, axis_unit: str, names: list[str],
                  abundances: Any, path: Path, unit: str | None = None,
                  title: str = "") -> dict[str, Any]:
    """The `unmix --plot` figure. `abundances`: the written abundance raster (a
    `RasterReader`: one band per endmember, then `rms`), re-read decimated to at most
    `common.QUICKLOOK_SIDE` pixels on its long side."""
    plt = common.pyplot()
    maps, step = common.decimated(abundances.read, abundances.height, abundances.width)
    channels = list(abundances.channel_names)
    k = len(names)
    n_cols = min(k + 1, 4)
    n_rows = 1 + math.ceil((k + 1) / n_cols)
    fig = plt.figure(figsize=(3.3 * n_cols + 2.5, 3.6 + 3.0 * (n_rows - 1)),
                     layout="constrained")
    grid = fig.add_gridspec(n_rows, n_cols, height_ratios=[1.2] + [1] * (n_rows - 1))
    ax = fig.add_subplot(grid[0, :])
    draw_spectra(fig, ax, spectra, axis, unit, names, axis_unit=axis_unit)
    ax.set_title(title or f"library: {k} endmembers", fontsize=10)
    shown = None
    map_axes = []
    for index in range(k + 1):
        panel = fig.add_subplot(grid[1 + index // n_cols, index % n_cols])
        panel.set_xticks([])
        panel.set_yticks([])
        if index < k:
            band = channels.index(names[index]) if names[index] in channels else index
            shown = panel.imshow(maps[..., band], cmap="viridis", vmin=0, vmax=1,
                                 interpolation="nearest")
            panel.set_title(f"abundance of {names[index]}", fontsize=9)
            map_axes.append(panel)
        else:
            rms = maps[..., channels.index("rms") if "rms" in channels else -1]
            finite = rms[np.isfinite(rms)]
            top = float(np.percentile(finite, 99)) if finite.size else 1.0
            error = panel.imshow(rms, cmap="magma", vmin=0, vmax=top or 1.0,
                                 interpolation="nearest")
            panel.set_title("fit RMS", fontsize=9)
            fig.colorbar(error, ax=panel, shrink=0.85).set_label(
                f"RMS ({unit})" if unit else "RMS")
    for index in range(k + 1, (n_rows - 1) * n_cols):
        fig.add_subplot(grid[1 + index // n_cols, index % n_cols]).set_axis_off()
    if shown is not None:
        fig.colorbar(shown, ax=map_axes, shrink=0.6, aspect=40, location="bottom").set_label(
            "Abundance (0-1), every map")
    if step > 1:
        fig.suptitle(f"maps: every {step}th pixel", fontsize=8)
    return common.save_figure(fig, path)


def check_unmix_plot(plot: Path, table_input: bool) -> None:
    """Refuse, before any work, a picture unmix cannot draw."""
    from phism_cli.errors import PhismError

    common.check_png_name(plot)
    if table_input:
        raise PhismError(f"--plot {plot}: draws abundance maps, and INPUT is a spectra table; "
                         "plot the abundances CSV yourself, or unmix a scene")


def reserve_plot(out: Any, plot: Path) -> Any:
    """Reserve the picture in an `io.outputs.OutputSet` (--overwrite replaces only phism's
    own PNGs)."""
    from phism_cli.io.png import is_phism_png

    return out.add(plot, recognise=is_phism_png)


def plot_unmix(library: Any, abundance_path: Path, path: Path, scene: Any,
               method: str) -> dict[str, Any]:
    """`plot_unmixing` of the library (`SpectralTable`) as the unmixing used it, on the
    scene's bands (in band order, so that overlapping detectors draw as two lines, not a
    zig-zag between them), and the abundance raster written at `abundance_path`, labelled in
    `scene`'s unit."""
    on_bands = library.resampled(scene.wavelength_nm, "wavelength_nm", what=str(scene.path))
    with common.open_written(abundance_path) as reader:
        return plot_unmixing(on_bands.spectra, on_bands.axis, "wavelength_nm",
                             list(library.names), reader, path, common.scene_unit(scene),
                             f"library {getattr(library, 'path', None) and library.path.name}"
                             f" ({len(library.names)} endmembers); {method} abundances of "
                             f"{scene.path.name}")
