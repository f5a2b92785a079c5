"""`phism encode` on files: a scene and an encoder in, a latent map out (one scene).

The CLI reserves the output (`io.outputs`) and the batch driver (`pipeline.batch`, or
`pipeline.distributed` on a Dask cluster) chooses the scenes; this module describes the
latent map (`latent_spec`) and writes it tile by tile, continuing a resumable partial store
when the reserved output adopted one (`pipeline.resume`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.io.latent_format import LATENT_FORMAT, LATENT_FORMAT_VERSION
from phism_cli.io.outputs import Output, OutputSet
from phism_cli.io.rasters import RasterSpec, RasterWriter, is_phism_raster, output_kind
from phism_cli.io.scene import Scene, band_provenance, json_value
from phism_cli.model.pca import Encoder
from phism_cli.pipeline.encode import Refinement, encode_scene
from phism_cli.pipeline.resume import (
    PROGRESS_NAME,
    TileProgress,
    ZarrTileWriter,
    can_resume,
    discard_interrupted_chunk_writes,
)


@dataclass
class EncodeSettings:
    """How every scene of an `encode` call is read and encoded."""

    scene_options: dict[str, Any] = field(default_factory=dict)
    tile_size: int = 256
    batch_size: int | None = None  # None: the encoder's automatic size for its device
    device: str = "auto"
    refine: int = 0  # --refine steps per pixel (0: none)
    refine_lr: float = 0.01
    geotiff: dict[str, Any] = field(default_factory=dict)  # --co and --cog
    precision: str = "auto"  # of the encoder network's layers (PhismEncoder.transform)
    resample_bands: bool = False  # scenes of other sensors resampled onto the model's bands


def latent_spec(scene: Scene, encoder: Encoder, model_meta: dict[str, Any],
                settings: EncodeSettings | None = None) -> RasterSpec:
    """The latent map of `scene`: its grid, the encoder's channels and phism's metadata,
    with the source's band provenance and how it was encoded (what --resume compares)."""
    settings_ = settings or EncodeSettings()
    geotiff, tile_size = settings_.geotiff, settings_.tile_size
    from phism_cli import __version__

    names = encoder.channel_names_
    units = [n.rsplit("_", 1)[1] if n.endswith(("_nm", "_band")) else "1" for n in names]
    return RasterSpec(
        height=scene.height, width=scene.width, channel_names=names, crs=scene.crs,
        transform=scene.transform, tile_size=tile_size, variable="latent",
        channel_units=units,
        metadata={
            "format": LATENT_FORMAT, "format_version": LATENT_FORMAT_VERSION,
            "phism_version": __version__, "variable": "latent",
            "renderer": encoder.renderer_.to_metadata(),
            "model_sha256": model_meta["sha256"], "model_path": model_meta.get("path"),
            "source": {"path": str(scene.path), "format": scene.format,
                       "bands": scene.count, "scale": json_value(scene.scale),
                       "offset": json_value(scene.offset), "nodata": json_value(scene.nodata),
                       "bad_bands": [int(b) + 1 for b in (~scene.bands.good).nonzero()[0]],
                       "bad_bands_dropped": not scene.keep_bad_bands,
                       **band_provenance(scene), **scene.provenance()},
            "encode": {"precision": settings_.precision, "refine_steps": settings_.refine,
                       "refine_lr": settings_.refine_lr if settings_.refine else None},
        },
    ).with_options(**geotiff)


def inference_settings(encoder: Encoder, settings: EncodeSettings) -> dict[str, Any]:
    """Set the encoder's precision from `settings`; what it runs as, for --json."""
    from phism_cli.pipeline.encode import resolve_batch_size

    encoder.inference_precision = settings.precision
    precision = "float32"
    if encoder.decoder != "pca":
        from phism_cli.model.estimator import precision_name

        precision = precision_name(settings.precision, encoder.device_)
    return {"precision": precision,
            "batch_size": resolve_batch_size(encoder, settings.batch_size)}


def place_encoder(encoder: Encoder, device: str) -> None:
    """Put the encoder on `device`; an unavailable device is a one-line error."""
    try:
        encoder.to(device)
    except (ValueError, RuntimeError) as exc:
        raise PhismError(f"--device {device}: {' '.join(str(exc).split())}") from None


def encoder_device(encoder: Encoder) -> str:
    """Where the encoder computes (PCA: always the CPU)."""
    if encoder.decoder == "pca":
        return "cpu"
    return str(next(encoder.model_.parameters()).device)


def check_counts(counts: dict[str, int], source: Path, model_name: object) -> None:
    """Refuse a latent map without one valid latent: nothing useful would be written."""
    if counts["valid_pixels"] == 0 and counts["nonfinite_pixels"]:
        raise PhismError(f"{model_name} gave NaN or infinite latents for every valid pixel "
                         f"of {source}: its values are far outside what the model was "
                         "trained on (check the scale factor); nothing was written")
    if counts["valid_pixels"] == 0:
        raise no_valid_pixels(source)


def reserve_latents(out: OutputSet, path: Path, spec: RasterSpec, resume: bool) -> Output:
    """Reserve the latent map at `path`; with `resume` a Zarr output takes over a matching
    partial store of an interrupted run and keeps its own partial store if this run fails."""
    resumable = resume and output_kind(path) == "zarr"
    output = out.add(path, recognise=is_phism_raster,
                     adopt=(lambda p: can_resume(p, spec)) if resumable else None,
                     keep_partial=resumable)
    if output.adopted:
        discard_interrupted_chunk_writes(output.tmp)
    return output


def open_latent_writer(output: Output, spec: RasterSpec) -> tuple[RasterWriter, TileProgress]:
    """A writer of the reserved `output` (continuing an adopted partial store, else new) and
    its progress record (read back when adopted, empty otherwise). A new store kept for a
    resume gets its (empty) record at once, so that an interruption before the first tile
    leaves a store the next `--resume` takes over (`can_resume` wants the record)."""
    if output.adopted:
        return (ZarrTileWriter(output.tmp, spec, output.path), TileProgress.read(output.tmp))
    writer = RasterWriter(output.tmp, spec, output_kind(output.path), name=output.path)
    progress = TileProgress(output.tmp / PROGRESS_NAME)
    if output.keep_partial and writer.kind == "zarr":
        progress.create()
    return writer, progress


def write_latents(scene: Scene, encoder: Encoder, spec: RasterSpec, output: Output,
                  settings: EncodeSettings, model_name: object,
                  on_tile: Callable[[int], None] | None = None,
                  refinement: Refinement | None = None) -> dict[str, int]:
    """Encode `scene` into the reserved `output` (its `tmp`); returns pixel counts and
    `resumed_tiles`, the tiles an interrupted run had written already.

    With `output.adopted` the partial store is continued from its progress record; with
    `output.keep_partial` (a Zarr output under `--resume`) a progress record is kept."""
    kind = output_kind(output.path)
    windows = list(scene.windows(settings.tile_size))
    resumable = kind == "zarr" and (output.adopted or output.keep_partial)
    writer, progress = open_latent_writer(output, spec)
    with writer:
        todo = [w for w in windows if not progress.is_done(w)]
        if on_tile is not None and len(todo) < len(windows):
            on_tile(sum(w.height * w.width for w in windows if progress.is_done(w)))
        counts = encode_scene(scene, encoder, writer, tile_size=settings.tile_size,
                              batch_size=settings.batch_size, on_tile=on_tile,
                              refinement=refinement, windows=todo,
                              on_written=progress.record if resumable else None)
        if resumable:
            counts = progress.counts(windows)
        check_counts(counts, scene.path, model_name)
        if resumable:
            progress.remove()
    return {**counts, "resumed_tiles": len(windows) - len(todo)}

