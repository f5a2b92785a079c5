"""Render a latent map back into spectra tile by tile, optionally scoring against a reference
(`render_file` is `phism render` for one latent map).

Reading a tile (and its reference), rendering it and writing it overlap, each in a thread of
its own (`pipeline.overlap`; the writer stays in the calling thread, as GeoTIFF writes need);
the tiles are rendered and scored in the same order either way, so the output and the scores
are the same, bit for bit, with `OVERLAP` off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import ModelMismatchError, PhismError, check_file_format, no_valid_pixels
from phism_cli.forward.resampling import band_widths, effective_fwhm, usable_fwhm
from phism_cli.io.latent_format import LATENT_FORMAT, LATENT_FORMAT_VERSION
from phism_cli.io.png import is_phism_png
from phism_cli.io.rasters import (
    RasterReader,
    RasterSpec,
    RasterWriter,
    is_phism_raster,
    output_kind,
    spectral_band_metadata,
)
from phism_cli.io.scene import Scene, iter_windows
from phism_cli.io.scene_formats import open_scene
from phism_cli.model.checkpoint import load_encoder
from phism_cli.model.renderer import Renderer, SpectralRenderer, renderer_from_metadata
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.pipeline.overlap import Overlapped
from phism_cli.pipeline.reporter import OpenOutputs, Reporter
from phism_cli.pixels import valid_mask

# Reading, rendering and writing overlap (False: one after another, for comparison).
OVERLAP = True
IN_FLIGHT = 3  # tiles between the start of their read and their write: one per stage


def render_latents(latents: RasterReader, renderer: Renderer, writer: RasterWriter,
                   reference: Scene | None = None, tile_size: int = 256,
                   on_tile: Callable[[int], None] | None = None) -> ReconstructionMetrics:
    """Render every tile of `latents` into `writer` (NaN where a latent is), scoring against
    `reference` where both are valid; `writer` and `on_tile` are called in this thread."""
    metrics = ReconstructionMetrics()
    n_bands = len(renderer.band_mean)
    windows = list(iter_windows(latents.height, latents.width, tile_size))

    def read(window: Window) -> tuple[Window, np.ndarray, np.ndarray | None]:
        return window, latents.read(window), None if reference is None else \
            reference.read(window)

    def render(tile: tuple[Window, np.ndarray, np.ndarray | None]
               ) -> tuple[Window, np.ndarray]:
        window, latent, ref = tile
        mask = np.isfinite(latent).all(axis=-1)
        out = np.full((*mask.shape, n_bands), np.nan, dtype=np.float32)
        if mask.any():
            out[mask] = renderer.render(latent[mask])
            metrics.rendered += int(mask.sum())
        if ref is not None:
            both = mask & valid_mask(ref)
            metrics.update(ref[both], out[both])
        return window, out

    def write(tile: tuple[Window, np.ndarray]) -> None:
        window, out = tile
        writer.write(window, out)
        if on_tile is not None:
            on_tile(window.height * window.width)

    if OVERLAP and len(windows) > 1:
        pipeline = Overlapped(windows, read, render, limit=IN_FLIGHT, name="phism-render")
        with pipeline:
            for tile in pipeline:
                write(tile)
    else:
        for window in windows:
            write(render(read(window)))
    return metrics


def renderer_for_reference(renderer: Renderer, reference: Scene, n_bands: int,
                           latents_fwhm_nm: np.ndarray | None = None
                           ) -> tuple[Renderer, bool]:
    """The renderer that draws the latents at `reference`'s bands, and whether they are not
    the latents' own: a scene of another sensor (encoded with --resample-bands, or compared
    with a scene of another sensor) is rendered at its own bands, which a basis renderer can
    since its bumps are continuous in nm. Where the scene gives every band's FWHM, each band
    integrates the width the latents' bands (`latents_fwhm_nm`; None: their spacing) lack,
    as resampling does (`forward.resampling.effective_fwhm`); else it is taken at its
    centre."""
    from phism_cli.pipeline.cross_sensor import MIN_OVERLAP

    if reference.count == n_bands:
        return renderer, False
    mismatch = (f"--reference {reference.path} gives {reference.count} bands but the latents "
                f"render {n_bands}")
    wl = reference.wavelength_nm
    if not isinstance(renderer, SpectralRenderer) or renderer.axis.unit != "nm" or wl is None:
        raise ModelMismatchError(f"{mismatch}; open it with the same band options as encode "
                                 "(only latents of the basis decoder render at another "
                                 "sensor's wavelengths)")
    fitted = renderer.axis.positions
    inside = max(0.0, min(wl.max(), fitted.max()) - max(wl.min(), fitted.min()))
    share = inside / max(float(wl.max() - wl.min()), 1e-9)
    if share < MIN_OVERLAP:
        raise ModelMismatchError(
            f"{mismatch}, and its {wl.min():.0f}-{wl.max():.0f} nm lie only "
            f"{100 * share:.0f} % inside the latents' {fitted.min():.0f}-{fitted.max():.0f} nm "
            f"(at least {100 * MIN_OVERLAP:.0f} % is needed to render at its bands)")
    fwhm = usable_fwhm(reference.fwhm_nm)
    if fwhm is not None:
        own = usable_fwhm(latents_fwhm_nm)
        fwhm = effective_fwhm(wl, fwhm, fitted, band_widths(fitted) if own is None else own)
    return renderer.at_wavelengths(wl, fwhm), True


def latent_band_fwhm(meta: dict[str, Any], n_bands: int) -> np.ndarray | None:
    """The FWHM (nm) of the bands a latent map renders, from its metadata (the encoded
    scene's, or the model's for a scene resampled onto them), None where not recorded."""
    source = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    fwhm = source.get("fwhm_nm")
    if not (isinstance(fwhm, list) and len(fwhm) == n_bands):
        return None
    try:
        return usable_fwhm(np.asarray(fwhm, dtype=np.float64))
    except (TypeError, ValueError):
        return None


def band_response_of(renderer: Renderer) -> str:
    """How the renderer draws a band: "gaussian" (integrated over its response) or "centre"
    (the spectrum's value at the band centre)."""
    return "gaussian" if getattr(renderer, "integration", None) is not None else "centre"


def source_bands_of(source: dict[str, Any] | None, n_bands: int) -> list[int] | None:
    """The 1-based numbers in the encoded file of the bands a latent map renders, from its
    metadata: listed (`source_bands`), or worked out from the bad bands encode dropped."""
    if not isinstance(source, dict):
        return None
    listed = source.get("source_bands")
    if isinstance(listed, list) and len(listed) == n_bands:
        return [int(b) for b in listed]
    bad = source.get("bad_bands")
    if source.get("bands") != n_bands or not isinstance(bad, list):
        return None
    if not source.get("bad_bands_dropped"):
        return list(range(1, n_bands + 1))
    dropped = {int(b) for b in bad}
    return [b for b in range(1, n_bands + len(dropped) + 1) if b not in dropped]


def rendering_spec(latents: RasterReader, renderer: Renderer, meta: dict[str, Any],
                   tile_size: int, reference: Scene | None = None,
                   at_reference: bool = False) -> RasterSpec:
    """The rendered spectra: one band per band of the encoded scene (or, `at_reference`, of
    the reference), with its wavelength, fwhm and number in that file, in the scene's data
    unit when it is known (from the latent map's metadata, else from --reference)."""
    axis = renderer.axis
    n_bands = len(axis.positions)
    source = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    source_bands = source_bands_of(source, n_bands)
    fwhm = source.get("fwhm_nm")
    if at_reference and reference is not None:
        source_bands = [int(b) + 1 for b in reference.band_indices]
        fwhm = reference.fwhm_nm
    elif not (isinstance(fwhm, list) and len(fwhm) == n_bands):
        fwhm = None if reference is None else reference.fwhm_nm
    unit = source.get("data_unit") or (None if reference is None else reference.data_unit)
    if axis.unit == "nm":
        names, band_tags, coords = spectral_band_metadata(
            axis.positions, None if fwhm is None else np.asarray(fwhm, dtype=np.float64),
            source_bands=source_bands)
    else:
        names = [f"band {int(b)}" for b in axis.positions]
        band_tags, coords = None, {}
        if source_bands is not None:
            band_tags = [{"source_band": str(b)} for b in source_bands]
            coords = {"source_band": source_bands}
    return RasterSpec(
        height=latents.height, width=latents.width, channel_names=names, crs=latents.crs,
        transform=latents.transform, tile_size=tile_size, variable="spectra",
        channel_coords=coords, band_tags=band_tags,
        channel_units=None if unit is None else [str(unit)] * n_bands,
        metadata={"format": "phism-rendering", "format_version": 1, "variable": "spectra",
                  "latents": str(latents.path), "model_sha256": meta.get("model_sha256"),
                  "source": meta.get("source"), "source_bands": source_bands},
    )


@dataclass
class RenderRequest:
    """One latent map to render (what `phism render` does for each of its inputs)."""

    latents: Path
    output: Path  # .tif or .zarr
    reference: Path | None = None  # the encoded scene: score against it, render at its bands
    model: Path | None = None  # the encoder, for latents of a learned decoder
    tile_size: int = 256
    scene_options: dict[str, Any] = field(default_factory=dict)
    geotiff: dict[str, Any] = field(default_factory=dict)  # creation options
    plot: Path | None = None  # a PNG the `RenderPlot` draws


class RenderPlot(Protocol):
    """The figure of `--plot`, drawn by a layer above the pipeline."""

    def check(self, height: int, width: int) -> None:
        """Refuse pixels outside a latent map of this size, before any work."""

    def draw(self, png: Path, latents: RasterReader, renderer: Renderer,
             reference: Scene | None, unit: str | None, peak: float | None) -> None: ...


def render_file(request: RenderRequest, reporter: Reporter, open_outputs: OpenOutputs,
                plot: RenderPlot | None = None) -> dict[str, Any]:
    """Render the latent map into `request.output` (and the plot), committed together; the
    summary `render --json` prints."""
    kind = output_kind(request.output)
    with ExitStack() as stack:
        reader = stack.enter_context(RasterReader(request.latents))
        meta = reader.metadata
        renderer = _checked_renderer(reader, request)
        n_bands = len(renderer.band_mean)
        if plot is not None:
            plot.check(reader.height, reader.width)
        ref, at_reference = None, False
        if request.reference is not None:
            ref = stack.enter_context(open_scene(request.reference, **request.scene_options))
            if (ref.height, ref.width) != (reader.height, reader.width):
                raise ModelMismatchError(
                    f"--reference {ref.path} is {ref.height}x{ref.width} pixels but "
                    f"{request.latents} is {reader.height}x{reader.width}")
            renderer, at_reference = renderer_for_reference(
                renderer, ref, n_bands, latent_band_fwhm(meta, n_bands))
        inputs = [request.latents, request.model,
                  *(ref.source_files if ref is not None else [])]
        out = stack.enter_context(open_outputs([p for p in inputs if p is not None]))
        main_out = out.add(request.output, recognise=is_phism_raster)
        plot_out = None if request.plot is None or plot is None else \
            out.add(request.plot, recognise=is_phism_png)
        spec = rendering_spec(reader, renderer, meta, request.tile_size, ref,
                              at_reference).with_options(**request.geotiff)
        start = time.perf_counter()
        with RasterWriter(main_out.tmp, spec, kind, name=request.output) as writer, \
                reporter.progress("rendering", reader.height * reader.width) as advance:
            metrics = render_latents(reader, renderer, writer, reference=ref,
                                     tile_size=request.tile_size, on_tile=advance)
            if metrics.rendered == 0:
                raise no_valid_pixels(request.latents, "latent")
            if ref is not None and metrics.pixels == 0:
                raise PhismError(f"--reference {request.reference}: no pixel is valid in both "
                                 f"it and {request.latents}, so nothing can be compared; "
                                 "nothing was written")
        render_seconds = time.perf_counter() - start
        if plot_out is not None:
            plot.draw(plot_out.tmp, reader, renderer, ref, (spec.channel_units or [None])[0],
                      None if ref is None else metrics.maximum - metrics.minimum)
    summary: dict[str, Any] = {"output": str(request.output), "format": kind,
                               "bands": len(renderer.band_mean),
                               "at_reference_bands": at_reference,
                               "band_response": band_response_of(renderer),
                               "height": reader.height, "width": reader.width,
                               "rendered_pixels": metrics.rendered,
                               "render_seconds": render_seconds,
                               "pixels_per_second": reader.height * reader.width
                               / max(render_seconds, 1e-9)}
    if ref is not None:
        summary |= {"psnr_db": metrics.psnr_db, "sam_deg": metrics.sam_deg,
                    "mse": metrics.mse, "pixels_compared": metrics.pixels,
                    "peak": metrics.maximum - metrics.minimum}
    if request.plot is not None:
        summary["plot"] = str(request.plot)
    return summary


def _checked_renderer(reader: RasterReader, request: RenderRequest) -> Renderer:
    """The latent map's own parameter-free renderer (or the decoder of the encoder that made
    it, `request.model`), after checking the map is phism's and matches it."""
    meta, latents = reader.metadata, request.latents
    if meta.get("format") != LATENT_FORMAT:
        raise PhismError(f"{latents}: not a phism latent map (format "
                         f"{meta.get('format')!r}); give the output of 'phism encode'")
    check_file_format(meta, latents, LATENT_FORMAT, LATENT_FORMAT_VERSION, "latent map")
    if request.model is None:
        renderer = renderer_from_metadata(meta.get("renderer"), str(latents))
    else:
        encoder, model_meta = load_encoder(request.model)
        if model_meta["sha256"] != meta.get("model_sha256"):
            raise ModelMismatchError(f"{request.model} is not the encoder that made these "
                                     "latents (sha256 differs); pass the encoder file encode "
                                     "used")
        renderer = encoder.renderer_
    if list(renderer.channel_names) != list(reader.channel_names):
        raise PhismError(f"{latents}: its channels ({len(reader.channel_names)}) are not "
                         f"those its renderer describes ({len(renderer.channel_names)}); "
                         "the latent map is damaged, encode again")
    return renderer
