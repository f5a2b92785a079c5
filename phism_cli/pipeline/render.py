"""Render a latent map back into spectra tile by tile, optionally scoring against a reference."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from phism_cli.io.rasters import RasterReader, RasterWriter
from phism_cli.io.scene import Scene, iter_windows
from phism_cli.model.renderer import Renderer
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.pipeline.pixels import valid_mask


def render_latents(latents: RasterReader, renderer: Renderer, writer: RasterWriter,
                   reference: Scene | None = None, tile_size: int = 256,
                   on_tile: Callable[[int], None] | None = None) -> ReconstructionMetrics:
    metrics = ReconstructionMetrics()
    n_bands = len(renderer.band_mean)
    for window in iter_windows(latents.height, latents.width, tile_size):
        latent = latents.read(window)
        mask = np.isfinite(latent).all(axis=-1)
        out = np.full((*mask.shape, n_bands), np.nan, dtype=np.float32)
        if mask.any():
            out[mask] = renderer.render(latent[mask])
            metrics.rendered += int(mask.sum())
        writer.write(window, out)
        if reference is not None:
            ref = reference.read(window)
            both = mask & valid_mask(ref)
            metrics.update(ref[both], out[both])
        if on_tile is not None:
            on_tile(window.height * window.width)
    return metrics
