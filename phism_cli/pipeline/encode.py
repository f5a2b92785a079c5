"""Encode a scene tile by tile: read, encode valid pixels in batches, write, repeat."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from phism_cli.io.rasters import RasterWriter
from phism_cli.io.scene import Scene
from phism_cli.model.estimator import PhismEncoder
from phism_cli.pipeline.pixels import valid_mask


def encode_scene(scene: Scene, encoder: PhismEncoder, writer: RasterWriter,
                 tile_size: int = 256, batch_size: int = 16384,
                 on_tile: Callable[[int], None] | None = None) -> dict[str, int]:
    """Stream `scene` through `encoder` into `writer`; invalid pixels become NaN.

    A valid pixel whose latent is not finite (values far outside the training data) is
    written as NaN too, every channel of it, and counted in `nonfinite_pixels`.
    """
    n_channels = len(encoder.channel_names_)
    valid_total = nonfinite_total = 0
    for window in scene.windows(tile_size):
        block = scene.read(window)
        mask = valid_mask(block)
        out = np.full((*mask.shape, n_channels), np.nan, dtype=np.float32)
        if mask.any():
            latent = encoder.transform(block[mask], batch_size=batch_size)
            nonfinite = ~np.isfinite(latent).all(axis=1)
            latent[nonfinite] = np.nan
            nonfinite_total += int(nonfinite.sum())
            out[mask] = latent
        writer.write(window, out)
        valid_total += int(mask.sum())
        if on_tile is not None:
            on_tile(window.height * window.width)
    return {"pixels": scene.height * scene.width, "valid_pixels": valid_total - nonfinite_total,
            "nonfinite_pixels": nonfinite_total}
