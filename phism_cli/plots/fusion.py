"""The `fuse --plot` figure: the endmembers (each scaled to a peak of 1, in order of the
wavelength of their peak) and quicklooks of the low-res cube (upsampled), the multispectral
image and the fused cube, with the per-pixel RMSE against the reference when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.plots import common
from phism_cli.plots.library import draw_spectra


def plot_fusion(images: dict[str, np.ndarray], endmembers: np.ndarray,
                wavelength_nm: np.ndarray, path: Path, unit: str | None = None) -> dict[str, Any]:
    """`images` from `pipeline.fuse.Quicklook`: "hsi", "msi", "fused" (rows, cols, 3) and,
    with a reference, "rmse" (rows, cols)."""
    plt = common.pyplot()
    panels = ["hsi", "msi", "fused"] + (["rmse"] if "rmse" in images else [])
    fig = plt.figure(figsize=(3.6 * len(panels) + 1.5, 8.0), layout="constrained")
    grid = fig.add_gridspec(2, len(panels), height_ratios=[1, 1.3])
    ax = fig.add_subplot(grid[0, :])
    draw_spectra(fig, ax, endmembers, wavelength_nm, unit, normalise=True)
    ax.set_title(f"{len(endmembers)} endmembers (NMF of the low-resolution cube), each "
                 "scaled to its peak, in order of the peak's wavelength", fontsize=10)
    titles = {"hsi": "low-res hyperspectral (upsampled)", "msi": "multispectral",
              "fused": "fused", "rmse": "RMSE, fused vs reference"}
    for column, name in enumerate(panels):
        panel = fig.add_subplot(grid[1, column])
        if name == "rmse":
            error = images[name]
            finite = error[np.isfinite(error)]
            top = float(np.percentile(finite, 99)) if finite.size else 1.0
            shown = panel.imshow(error, cmap="magma", vmin=0, vmax=top or 1.0,
                                 interpolation="nearest")
            bar = fig.colorbar(shown, ax=panel, shrink=0.8, pad=0.02)
            bar.set_label(f"RMSE ({unit})" if unit else "RMSE")
        else:
            panel.imshow(common.stretch(images[name]), interpolation="nearest")
        panel.set_title(titles[name], fontsize=10)
        panel.set_xticks([])
        panel.set_yticks([])
    return common.save_figure(fig, path)
