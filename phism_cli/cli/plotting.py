"""The `render --plot` figure: a few pixels' spectra with their components (paper Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.io.rasters import RasterReader
from phism_cli.io.scene import Scene, iter_windows
from phism_cli.model.renderer import SpectralRenderer
from phism_cli.pipeline.pixels import valid_mask


def _pick_pixels(reader: RasterReader, n: int) -> list[tuple[int, int]]:
    """Up to n valid pixels spread over the first tile that has any."""
    for window in iter_windows(reader.height, reader.width, 256):
        valid = np.argwhere(np.isfinite(reader.read(window)).all(axis=-1))
        if len(valid):
            picks = valid[np.linspace(0, len(valid) - 1, min(n, len(valid))).astype(int)]
            return [(int(r) + window.row_off, int(c) + window.col_off) for r, c in picks]
    return []


def plot_pixel_spectra(reader: RasterReader, renderer: SpectralRenderer,
                       reference: Scene | None, path: Path, n_pixels: int = 4) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PhismError("--plot needs matplotlib: pip install 'phism[plot]'") from None
    from rasterio.windows import Window

    pixels = _pick_pixels(reader, n_pixels)
    if not pixels:
        raise PhismError(f"{reader.path}: no valid pixel to plot")
    axis = renderer.axis
    order = np.argsort(axis.positions)
    x = axis.positions[order]
    fig, axes = plt.subplots(len(pixels), 1, figsize=(8, 2.6 * len(pixels)), squeeze=False)
    for ax, (row, col) in zip(axes[:, 0], pixels, strict=True):
        latent = reader.read(Window(col, row, 1, 1)).reshape(1, -1)
        ax.plot(x, renderer.render(latent)[0][order], color="C0", lw=2, label="rendered")
        if reference is not None:
            spectrum = reference.read(Window(col, row, 1, 1)).reshape(1, -1)
            if valid_mask(spectrum[None])[0, 0]:
                ax.plot(x, spectrum[0][order], color="k", lw=1, ls="--", label="input")
        for k, part in enumerate(renderer.components(latent)[0]):
            ax.plot(x, part[order], lw=0.8, alpha=0.8, label=f"component {k}")
        ax.plot(x, renderer.band_mean[order], color="0.6", lw=0.8, label="band mean")
        ax.set_title(f"pixel row {row}, col {col}", fontsize=9)
        ax.set_xlabel("wavelength (nm)" if axis.unit == "nm" else "band")
    axes[0, 0].legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
