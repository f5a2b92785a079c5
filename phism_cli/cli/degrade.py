"""`phism degrade`: Wald-protocol pairs (low-res hyperspectral, high-res multispectral and the
reference) from a real hyperspectral cube."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, outputs, progress_bar, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.io.scene import Scene

FORMATS = ("tif", "zarr")
_SUFFIXES = {".tif": "tif", ".tiff": "tif", ".zarr": "zarr"}


def _format(value: str | None) -> str | None:
    if value is not None and value not in FORMATS:
        raise typer.BadParameter(f"{value!r}: use one of {', '.join(FORMATS)}")
    return value


def check_ratio(ratio: float) -> int:
    if not (math.isfinite(ratio) and ratio == int(ratio) and ratio >= 2):
        raise PhismError(f"--ratio {ratio:g}: the resolution ratio must be a whole number of "
                         "at least 2")
    return int(ratio)


def _psf_shape(value: str) -> str:
    from phism_cli.forward.psf import PSF_SHAPES

    if value not in PSF_SHAPES:
        raise typer.BadParameter(f"{value!r}: use one of {', '.join(PSF_SHAPES)}")
    return value


def output_paths(prefix: Path, fmt: str | None) -> dict[str, Path]:
    """PREFIX_hsi, PREFIX_msi and PREFIX_reference; a raster suffix on PREFIX sets the format."""
    from phism_cli.pipeline.degrade import ROLES

    named = _SUFFIXES.get(prefix.suffix.lower())
    if named is not None:
        if fmt is not None and fmt != named:
            raise PhismError(f"-o {prefix}: ends in {prefix.suffix} but --format is {fmt}; "
                             "give the prefix without a suffix")
        prefix = prefix.with_suffix("")
    kind = fmt or named or "tif"
    return {role: prefix.with_name(f"{prefix.name}_{role}.{kind}") for role in ROLES}


def check_scene(scene: Scene, ratio: int, path: Path) -> None:
    if scene.height < ratio or scene.width < ratio:
        raise PhismError(f"{path}: {scene.height} x {scene.width} pixels is smaller than one "
                         f"{ratio} x {ratio} block; give a larger scene or a smaller --ratio")
    if scene.wavelength_nm is None:
        raise PhismError(f"{path}: its bands have no wavelengths, so --srf cannot be matched "
                         "to them; give them with --wavelengths")


@with_scene_options
def degrade(
    reference: Annotated[Path, typer.Argument(
        metavar="REFERENCE", help="The high-resolution hyperspectral cube (anything encode "
        "reads).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="PREFIX", help="Writes PREFIX_hsi, PREFIX_msi and "
        "PREFIX_reference (.tif or .zarr).")],
    ratio: Annotated[float, typer.Option(
        "--ratio", metavar="R", help="Resolution ratio: a whole number >= 2.")],
    srf: opt.Srf = ...,
    srf_columns: opt.SrfColumns = None,
    cut_srf: opt.CutSrf = False,
    psf_shape: Annotated[str, typer.Option(
        "--psf", callback=_psf_shape, help="Point-spread function of the low-res cube, "
        "centred on each R x R block: gaussian, box, sinc (sinc^2, first zeros one block "
        "from the centre, 3 lobes) or motion (a box along x).")] = "gaussian",
    psf_sigma: Annotated[float | None, typer.Option(
        "--psf-sigma", help="Gaussian PSF standard deviation in high-res pixels (default: "
        "FWHM equal to the ratio, R / 2.3548; 0: a plain R x R block average).")] = None,
    psf_length: Annotated[float | None, typer.Option(
        "--psf-length", metavar="BLOCKS", help="Box width or motion length along x, in "
        "blocks (default: box 1, motion 3).")] = None,
    snr_db: Annotated[float | None, typer.Option(
        "--snr-db", help="Add Gaussian noise to the low-res and multispectral outputs at "
        "this SNR per band (default: none).")] = None,
    seed: opt.Seed = 0,
    fmt: Annotated[str | None, typer.Option(
        "--format", callback=_format, help="tif (default) or zarr.")] = None,
    tile_size: opt.TileSize = 256,
    threads: opt.Threads = None,
    scene_options: dict | None = None,
    creation_options: opt.CreationOptions = None,
    cog: opt.Cog = False,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Degrade REFERENCE into a low-res hyperspectral cube and a multispectral image."""
    opt.apply_threads(threads)
    from contextlib import ExitStack

    from phism_cli.io.rasters import RasterWriter, is_phism_raster
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.io.srf import read_response
    from phism_cli.pipeline import degrade as pipeline

    start = time.perf_counter()
    factor = check_ratio(ratio)
    psf = pipeline.psf_from_options(psf_shape, factor, psf_sigma, psf_length)
    if snr_db is not None and not (math.isfinite(snr_db) and snr_db >= 0):
        raise PhismError(f"--snr-db {snr_db:g}: give a finite number of dB, 0 or more")
    paths = output_paths(output, fmt)
    kind = paths["hsi"].suffix[1:]
    geotiff = opt.geotiff_options(creation_options, cog, paths["hsi"])
    with ExitStack() as stack:
        scene = stack.enter_context(open_scene(reference, **scene_options))
        check_scene(scene, factor, reference)
        response = read_response(srf, scene.wavelength_nm, srf_columns,
                                 hsi_name=str(reference), cut=cut_srf)
        if response.n_bands > scene.count:
            raise PhismError(f"--srf {srf}: {plural(response.n_bands, 'band')}, more than the "
                             f"{scene.count} bands of {reference}; pick fewer with "
                             "--srf-columns")
        out = stack.enter_context(outputs(overwrite, [srf, *scene.source_files], quiet))
        reserved = {role: out.add(path, recognise=is_phism_raster)
                    for role, path in paths.items()}
        pixels = (scene.height // factor) * (scene.width // factor) * factor**2
        settings: dict[str, Any] = {"snr_db": snr_db, "seed": seed}
        noise = {}
        if snr_db is not None:
            with progress_bar(quiet) as progress:
                task = progress.add_task("measuring the signal", total=pixels)
                squares = pipeline.band_mean_squares(
                    scene, response, factor, tile_size, lambda n: progress.advance(task, n))
            noise = {role: pipeline.noise_std(ms, snr_db)
                     for role, ms in zip(("hsi", "msi"), squares, strict=True)}
            settings["noise_std"] = {role: [float(v) for v in std]
                                     for role, std in noise.items()}
        specs = pipeline.output_specs(scene, response, factor, psf, settings, tile_size)
        writers = {role: stack.enter_context(RasterWriter(
            reserved[role].tmp, specs[role].with_options(**geotiff), kind, name=paths[role]))
            for role in paths}
        with progress_bar(quiet) as progress:
            task = progress.add_task("degrading", total=pixels)
            summary = pipeline.degrade_scene(
                scene, response, writers["hsi"], writers["msi"], writers["reference"],
                ratio=factor, psf=psf, noise=noise, seed=seed, tile_size=tile_size,
                on_tile=lambda n: progress.advance(task, n))
        if summary.valid_pixels == 0:
            raise no_valid_pixels(reference)
    hsi_shape = summary.shapes["hsi"]
    say(f"wrote {paths['hsi']} ({hsi_shape[0]} x {hsi_shape[1]} x {hsi_shape[2]}), "
        f"{paths['msi']} ({plural(response.n_bands, 'band')}) and {paths['reference']}", quiet)
    if json_out:
        emit_json({
            "reference": str(reference), "outputs": {r: str(p) for r, p in paths.items()},
            "format": kind, "shapes": {r: list(s) for r, s in summary.shapes.items()},
            "ratio": factor, "psf": psf.describe(),
            "psf_sigma_px": psf.parameters.get("sigma_px"), "snr_db": snr_db, "seed": seed,
            "noise_std": {role: _spread(std) for role, std in noise.items()} or None,
            "srf": response.describe(), "valid_pixels": summary.valid_pixels,
            "seconds": time.perf_counter() - start,
        })


def _spread(values: Any) -> dict[str, float]:
    import numpy as np

    return {"min": float(np.min(values)), "median": float(np.median(values)),
            "max": float(np.max(values))}
