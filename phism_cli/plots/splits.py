"""The `train-head --split-plot` figure: where the training and test pixels lie."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.heads.splits import Split
from phism_cli.pipeline.labelled import LabelledPixels
from phism_cli.plots import common


def plot_split(pixels: LabelledPixels, split: Split, shapes: Sequence[tuple[int, int]],
               names: Sequence[str], path: Path, max_panels: int = 24) -> dict[str, Any]:
    """One panel per source: training pixels, test pixels, pixels the buffer dropped, and the
    block grid of a block split."""
    plt = common.pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

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
    legend = [Patch(color=palette(i), label=label) for i, label in
              ((1, "train"), (2, "test"), (3, "dropped (buffer)"), (0, "unlabelled"))]
    settings = ", ".join(f"{k} {v}" for k, v in split.settings.items() if k != "test_blocks")
    fig.suptitle(settings, fontsize=8)
    fig.legend(handles=legend, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return common.save_figure(fig, path, dpi=110)
