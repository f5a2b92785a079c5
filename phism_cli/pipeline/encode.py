"""Encode a scene tile by tile: read, encode valid pixels in batches, write, repeat.

The steps overlap (`pipeline.overlap`), each in a thread of its own: one reads tiles, one
finds each tile's valid pixels and lays them out as rows, one runs the encoder, and the
calling thread writes (GeoTIFF writes and the redirection of GDAL's stderr belong in one
thread, the main one). Every tile is encoded in the same batches as in the plain loop
(`overlap=False`), so the output is the same, bit for bit. On a GPU the encoder outruns one
CPU core, so reading and preparing a tile are two stages (measured on an H200:
benchmarks/cuda_encode.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.inversion.refine import LatentRefiner, refine_batch_size
from phism_cli.model.pca import Encoder
from phism_cli.model.renderer import LinearRenderer, SpectralRenderer
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.pipeline.overlap import Overlapped
from phism_cli.pixels import valid_mask

if TYPE_CHECKING:  # not imported at run time: encoding needs neither rasterio nor zarr
    from rasterio.windows import Window

    from phism_cli.io.rasters import RasterWriter
    from phism_cli.io.scene import Scene

# Reading, encoding and writing overlap (False: one after another, for comparison).
OVERLAP = True
# Tiles between the start of their read and their write (a tile holds rows x cols x bands
# float32): one in each stage (reading, laying out, encoding), so all three can work at
# once. The plain loop holds one (two while it lays a tile out as rows); this holds three.
IN_FLIGHT = 3
# Pixels per `transform` call of an encoder without an automatic batch size (PCA).
DEFAULT_BATCH_SIZE = 16384


@dataclass
class Refinement:
    """`encode --refine`: the refiner and reconstruction metrics before and after it."""

    refiner: LatentRefiner
    batch_size: int
    before: ReconstructionMetrics = field(default_factory=ReconstructionMetrics)
    after: ReconstructionMetrics = field(default_factory=ReconstructionMetrics)
    seconds: float = 0.0

    def apply(self, encoder: Encoder, pixels: np.ndarray, latent: np.ndarray,
              check: Callable[[], None] | None = None) -> np.ndarray:
        """Refined `latent`; `check` is called before each batch (it may raise to stop)."""
        start = time.perf_counter()
        out = np.empty_like(latent)
        for first in range(0, len(pixels), self.batch_size):
            if check is not None:
                check()
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


def resolve_batch_size(encoder: Encoder, batch_size: int | None) -> int:
    """`batch_size`, or the encoder's automatic one for its device (None)."""
    if batch_size is not None:
        return batch_size
    auto = getattr(encoder, "auto_batch_size", None)
    return int(auto()) if callable(auto) else DEFAULT_BATCH_SIZE


def valid_rows(block: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`block[mask]` (valid pixels as (N, bands) rows), C-contiguous: a band-major block (a
    BSQ read) is laid out pixel by pixel once, then the valid rows are picked."""
    rows = np.ascontiguousarray(block).reshape(-1, block.shape[-1])
    return rows if mask.all() else rows[mask.ravel()]


@dataclass
class _Tile:
    window: Window
    mask: np.ndarray  # (rows, cols) valid pixels
    pixels: np.ndarray | None  # (valid, bands) float32, dropped once encoded
    latent: np.ndarray | None = None  # (valid, channels), NaN rows where not finite
    nonfinite: int = 0


def encode_scene(scene: Scene, encoder: Encoder, writer: RasterWriter,
                 tile_size: int = 256, batch_size: int | None = None,
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
    The counts returned cover the windows done. `batch_size` None: the encoder's automatic
    size for its device (`PhismEncoder.auto_batch_size`).

    Reading the next tile and writing the last one overlap encoding this one (see the
    module's docstring); `writer`, `on_written` and `on_tile` are called in the calling
    thread only, and no thread of this function outlives the call.
    """
    return _encode_tiles(scene, encoder, writer, tile_size, batch_size, on_tile, refinement,
                         windows, on_written, overlap=OVERLAP)


def _encode_tiles(scene: Scene, encoder: Encoder, writer: RasterWriter, tile_size: int,
                  batch_size: int | None, on_tile: Callable[[int], None] | None,
                  refinement: Refinement | None, windows: Iterable[Window] | None,
                  on_written: Callable[[Window, int, int], None] | None,
                  overlap: bool) -> dict[str, int]:
    n_channels = len(encoder.channel_names_)
    batch = resolve_batch_size(encoder, batch_size)
    # Listed here, in this thread: the reader must not iterate a caller's generator that
    # may look at what on_written records.
    todo = list(scene.windows(tile_size) if windows is None else windows)
    pipeline: Overlapped | None = None

    def check() -> None:
        if pipeline is not None:
            pipeline.check()

    def read(window: Window) -> tuple[Window, np.ndarray]:
        return window, scene.read(window)

    def prepare(read: tuple[Window, np.ndarray]) -> _Tile:
        window, block = read
        mask = valid_mask(block)
        return _Tile(window, mask, valid_rows(block, mask) if mask.any() else None)

    def encode(tile: _Tile) -> _Tile:
        pixels, tile.pixels = tile.pixels, None
        if pixels is None:
            return tile
        latent = np.empty((len(pixels), n_channels), dtype=np.float32)
        for first in range(0, len(pixels), batch):  # the batches transform would make
            check()
            latent[first:first + batch] = encoder.transform(pixels[first:first + batch],
                                                            batch_size=batch)
        if refinement is not None:
            latent = refinement.apply(encoder, pixels, latent, check)
        nonfinite = ~np.isfinite(latent).all(axis=1)
        latent[nonfinite] = np.nan
        tile.latent, tile.nonfinite = latent, int(nonfinite.sum())
        return tile

    valid_total = nonfinite_total = pixels_total = 0

    def write(tile: _Tile) -> None:
        nonlocal valid_total, nonfinite_total, pixels_total
        window = tile.window
        out = np.full((*tile.mask.shape, n_channels), np.nan, dtype=np.float32)
        if tile.latent is not None:
            out[tile.mask] = tile.latent
        writer.write(window, out)
        valid = int(tile.mask.sum())
        valid_total += valid
        nonfinite_total += tile.nonfinite
        pixels_total += window.height * window.width
        if on_written is not None:
            on_written(window, valid - tile.nonfinite, tile.nonfinite)
        if on_tile is not None:
            on_tile(window.height * window.width)

    if overlap and len(todo) > 1:
        pipeline = Overlapped(todo, read, prepare, encode, limit=IN_FLIGHT,
                              name="phism-encode")
        with pipeline:
            for tile in pipeline:
                write(tile)
    else:
        for window in todo:
            write(encode(prepare(read(window))))
    return {"pixels": pixels_total, "valid_pixels": valid_total - nonfinite_total,
            "nonfinite_pixels": nonfinite_total}
