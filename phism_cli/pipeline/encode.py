"""Encode a scene tile by tile: read, encode valid pixels in batches, write, repeat."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.inversion.refine import LatentRefiner, refine_batch_size
from phism_cli.io.rasters import RasterWriter
from phism_cli.io.scene import Scene
from phism_cli.model.pca import Encoder
from phism_cli.model.renderer import LinearRenderer, SpectralRenderer
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.pipeline.pixels import valid_mask


@dataclass
class Refinement:
    """`encode --refine`: the refiner and reconstruction metrics before and after it."""

    refiner: LatentRefiner
    batch_size: int
    before: ReconstructionMetrics = field(default_factory=ReconstructionMetrics)
    after: ReconstructionMetrics = field(default_factory=ReconstructionMetrics)
    seconds: float = 0.0

    def apply(self, encoder: Encoder, pixels: np.ndarray,
              latent: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = np.empty_like(latent)
        for first in range(0, len(pixels), self.batch_size):
            chunk = slice(first, first + self.batch_size)
            out[chunk] = self.refiner.refine(pixels[chunk], latent[chunk])
        self.seconds += time.perf_counter() - start
        finite = np.isfinite(out).all(axis=1)
        self.before.update(pixels[finite], encoder.inverse_transform(latent[finite]))
        self.after.update(pixels[finite], encoder.inverse_transform(out[finite]))
        return out

    def summary(self) -> dict[str, float]:
        before, after = self.before.psnr_db, self.after.psnr_db
        return {"psnr_before_db": before, "psnr_after_db": after,
                "psnr_gain_db": after - before, "refine_seconds": self.seconds}


def make_refinement(encoder: Encoder, steps: int, lr: float,
                    model_name: object) -> Refinement | None:
    """The `--refine` set-up, or None for 0 steps; refuses a learned (MLP) decoder and PCA."""
    if steps <= 0:
        return None
    renderer = encoder.renderer_
    if isinstance(renderer, LinearRenderer):
        raise PhismError(f"{model_name}: --refine optimises the parameters of a physical "
                         "renderer, and this encoder is PCA, whose scores are already the "
                         "least-squares fit; encode without --refine")
    if not isinstance(renderer, SpectralRenderer):
        raise PhismError(f"{model_name}: --refine optimises the parameters of a physical "
                         "renderer, and this encoder has a learned MLP decoder; encode "
                         "without --refine or use a --decoder basis model")
    device = next(encoder.model_.parameters()).device
    return Refinement(LatentRefiner(renderer, steps, lr, device), refine_batch_size(device))


def encode_scene(scene: Scene, encoder: Encoder, writer: RasterWriter,
                 tile_size: int = 256, batch_size: int = 16384,
                 on_tile: Callable[[int], None] | None = None,
                 refinement: Refinement | None = None,
                 windows: Iterable[Window] | None = None,
                 on_written: Callable[[Window, int, int], None] | None = None
                 ) -> dict[str, int]:
    """Stream `scene` through `encoder` into `writer`; invalid pixels become NaN.

    A valid pixel whose latent is not finite (values far outside the training data) is
    written as NaN too, every channel of it, and counted in `nonfinite_pixels`. With
    `refinement`, latents are refined per pixel before they are written. `windows` limits
    the work to some tiles (default: every tile of `tile_size`); `on_written(window, valid,
    nonfinite)` is called, in tile order, once a tile's write has returned (resume records).
    The counts returned cover the windows done.
    """
    n_channels = len(encoder.channel_names_)
    valid_total = nonfinite_total = pixels_total = 0
    for window in (scene.windows(tile_size) if windows is None else windows):
        block = scene.read(window)
        mask = valid_mask(block)
        out = np.full((*mask.shape, n_channels), np.nan, dtype=np.float32)
        if mask.any():
            latent = encoder.transform(block[mask], batch_size=batch_size)
            if refinement is not None:
                latent = refinement.apply(encoder, block[mask], latent)
            nonfinite = ~np.isfinite(latent).all(axis=1)
            latent[nonfinite] = np.nan
            nonfinite_total += int(nonfinite.sum())
            out[mask] = latent
        else:
            nonfinite = np.zeros(0, dtype=bool)
        writer.write(window, out)
        valid_total += int(mask.sum())
        pixels_total += window.height * window.width
        if on_written is not None:
            on_written(window, int(mask.sum()) - int(nonfinite.sum()), int(nonfinite.sum()))
        if on_tile is not None:
            on_tile(window.height * window.width)
    return {"pixels": pixels_total, "valid_pixels": valid_total - nonfinite_total,
            "nonfinite_pixels": nonfinite_total}
