"""Sampling valid training pixels from one or many scenes without loading any whole scene."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.io.scene import Scene
from phism_cli.pixels import valid_mask

TileCallback = Callable[[int], None]


def sample_pixels(scenes: Sequence[Scene], max_pixels: int, seed: int = 0,
                  tile_size: int = 256, on_tile: TileCallback | None = None) -> np.ndarray:
    """Return up to `max_pixels` valid spectra (N, C), a uniform sample over all scenes.

    Each valid pixel gets a random key and the `max_pixels` smallest keys are kept as the
    tiles stream by (a one-pass reservoir), so memory holds the sample plus one tile.
    """
    counts = {s.count for s in scenes}
    if len(counts) > 1:
        raise PhismError("scenes have different band counts "
                         f"({', '.join(f'{s.path}: {s.count}' for s in scenes)}); "
                         "train one encoder per sensor")
    rng = np.random.default_rng(seed)
    kept = np.empty((0, counts.pop()), dtype=np.float32)
    keys = np.empty(0)
    for scene in scenes:
        for window in scene.windows(tile_size):
            block = scene.read(window)
            pixels = block[valid_mask(block)]
            kept = np.concatenate([kept, pixels])
            keys = np.concatenate([keys, rng.random(len(pixels))])
            if len(keys) > max_pixels:
                keep = np.sort(np.argpartition(keys, max_pixels)[:max_pixels])
                kept, keys = kept[keep], keys[keep]
            if on_tile is not None:
                on_tile(window.height * window.width)
    return kept
