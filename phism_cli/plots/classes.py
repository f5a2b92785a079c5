"""The `predict --plot` figure: the class map with a legend of class names (or one map per
regression target with its colour bar) and, when labels were given, the confusion matrix
with OA, AA and kappa."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.plots import common

MAX_ANNOTATED = 16  # more classes: the confusion matrix's cells carry no numbers
MAX_TARGET_PANELS = 6


def plot_predictions(path: Path, written: Path, meta: dict[str, Any], nodata: float,
                     agreement: dict[str, Any] | None = None, title: str = "") -> dict[str, Any]:
    """Draw the prediction raster just written at `written` (re-read decimated to at most
    `common.QUICKLOOK_SIDE` pixels on its long side). `meta`: the head's metadata (task,
    classes or targets); `agreement`: `pipeline.predict.Agreement.metrics()`."""
    with common.open_written(written) as reader:
        maps, step = common.decimated(reader.read, reader.height, reader.width)
    note = f" (every {step}th pixel)" if step > 1 else ""
    if meta["task"] == "classification":
        return _plot_classes(path, maps[..., 0], meta["classes"], nodata, agreement,
                             title + note)
    return _plot_targets(path, maps, list(meta["targets"]), title + note)


def _class_colour(entry: dict[str, Any]) -> tuple[float, ...]:
    colour = [float(v) / 255.0 for v in entry.get("colour", (128, 128, 128))][:4]
    return tuple(colour + [1.0] * (4 - len(colour)))


def _plot_classes(path: Path, classes_map: np.ndarray, classes: list[dict[str, Any]],
                  nodata: float, agreement: dict[str, Any] | None, title: str) -> dict[str, Any]:
    plt = common.pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    values = [int(c["value"]) for c in classes]
    index_of = {v: i for i, v in enumerate(values)}
    valid = np.isfinite(classes_map) if np.isnan(nodata) else classes_map != nodata
    indexed = np.full(classes_map.shape, np.nan)
    for value, i in index_of.items():
        indexed[valid & (classes_map == value)] = i
    palette = ListedColormap([_class_colour(c) for c in classes])
    palette.set_bad("white")
    with_matrix = agreement is not None
    height, width = classes_map.shape
    map_width = 6.0 if not with_matrix else 5.5
    map_height = max(2.5, min(7.0, map_width * height / max(width, 1)))
    if with_matrix:  # room for the square matrix, its rotated class names and its title
        map_height = max(map_height, 5.5) + 1.8
    fig = plt.figure(figsize=(map_width + (6.5 if with_matrix else 0) + 2.4, map_height + 1.2),
                     layout="constrained")
    axes = fig.subplots(1, 2 if with_matrix else 1, squeeze=False)[0]
    ax = axes[0]
    ax.imshow(np.ma.masked_invalid(indexed), cmap=palette, vmin=-0.5,
              vmax=len(values) - 0.5, interpolation="nearest")
    ax.set_title(title or "predicted classes", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [Patch(facecolor=_class_colour(c), edgecolor="0.4", lw=0.4,
                     label=f"{c['value']} {c['name']}") for c in classes]
    if not valid.all():
        handles.append(Patch(facecolor="white", edgecolor="0.4", lw=0.4, label="no data"))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False,
               title="class", ncols=1 if len(handles) <= 24 else 2)
    if with_matrix:
        _draw_confusion(fig, axes[1], agreement, {int(c["value"]): c["name"] for c in classes})
    return common.save_figure(fig, path)


def _draw_confusion(fig: Any, ax: Any, agreement: dict[str, Any], names: dict[int, str]) -> None:
    """Rows: the labels' classes; columns: the predicted classes; colour: the fraction of
    each true class (row) predicted as each class, so a perfect map is a bright diagonal."""
    matrix = np.asarray(agreement["confusion"], dtype=np.float64)
    classes = agreement["classes"]
    support = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    shown = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(shown, ax=ax, shrink=0.8, pad=0.02).set_label("Fraction of the true class")
    labels = [str(names.get(int(c), f"class_{c}")) for c in classes]
    ticks = np.arange(len(classes))
    small = len(classes) > MAX_ANNOTATED
    ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=6 if small else 8)
    ax.set_yticks(ticks, labels, fontsize=6 if small else 8)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class (labels)")
    if not small:
        for row in range(len(classes)):
            for col in range(len(classes)):
                if matrix[row, col]:
                    ax.text(col, row, f"{int(matrix[row, col])}", ha="center", va="center",
                            fontsize=7, color="white" if fraction[row, col] > 0.5 else "black")
    ax.set_title(f"against {Path(agreement['labels']).name}: OA {100 * agreement['oa']:.1f} %"
                 f" · AA {100 * agreement['aa']:.1f} % · κ {agreement['kappa']:.3f}\n"
                 f"{agreement['n_test']} labelled pixels"
                 + (", the head's training pixels among them (not held out)"
                    if agreement.get("includes_training_labels") else ""), fontsize=10)


def _plot_targets(path: Path, maps: np.ndarray, targets: list[str], title: str
                  ) -> dict[str, Any]:
    plt = common.pyplot()
    shown_targets = targets[:MAX_TARGET_PANELS]
    n = len(shown_targets)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = plt.figure(figsize=(4.2 * cols + 0.8, 3.8 * rows + 0.6), layout="constrained")
    for k, name in enumerate(shown_targets):
        ax = fig.add_subplot(rows, cols, k + 1)
        values = maps[..., k].astype(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
        image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high if high > low else low + 1,
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.85).set_label(f"predicted {name}")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    more = f"; {len(targets) - n} more targets not shown" if len(targets) > n else ""
    fig.suptitle((title or "predicted targets") + more, fontsize=10)
    return common.save_figure(fig, path)
