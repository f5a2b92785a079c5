"""Options shared by several commands, declared once. Importing this module must stay cheap:
no torch, XGBoost or GDAL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from phism_cli.forward.basis_registry import REGISTERED

BASIS_NAMES = tuple(REGISTERED)  # the registered spectral bases
# --basis also takes pca: principal components (phism_cli.model.pca), no spectral basis.
ENCODER_BASES = (*BASIS_NAMES, "pca")

Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an existing output (only one phism wrote).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
def choice(names: tuple[str, ...]):
    """A callback refusing values outside `names` (a usage error, exit 2)."""
    def check(value: str) -> str:
        if value not in names:
            raise typer.BadParameter(f"{value!r}: use one of {', '.join(names)}")
        return value
    return check


def _check_device(value: str) -> str:
    import re

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r}: use auto, cpu, cuda or cuda:N")
    return value


Device = Annotated[str, typer.Option(
    "--device", callback=_check_device, help="auto (CUDA when available), cpu, cuda or cuda:N.")]
Threads = Annotated[int | None, typer.Option(
    "--threads", min=1, help="Threads for torch, XGBoost, GDAL and BLAS together (default: "
    "$PHISM_THREADS, else the CPUs this process may use, less one on 4 or more).")]
TileSize = Annotated[int, typer.Option(
    "--tile-size", min=16, max=8192,
    help="Tile edge in pixels for streaming reads and output chunks.")]
OutputPath = Annotated[Path, typer.Option("--output", "-o", help="Output path.")]

# GeoTIFF outputs (render, predict, degrade, fuse, unmix; encode): see geotiff_options.
CreationOptions = Annotated[list[str] | None, typer.Option(
    "--co", metavar="KEY=VALUE", help="A GDAL creation option of GeoTIFF outputs over "
    "phism's (tiled, ZSTD, pixel interleaved), e.g. --co COMPRESS=DEFLATE; repeat for more. "
    "With --cog, the COG driver's options (BLOCKSIZE, OVERVIEW_COUNT, ...).")]
Cog = Annotated[bool, typer.Option(
    "--cog", help="Write GeoTIFF outputs as Cloud-Optimized GeoTIFFs with overviews "
    "(averages; the most frequent class for class maps).")]

# A multispectral sensor's spectral response (degrade, fuse).
Srf = Annotated[Path | None, typer.Option(
    "--srf", help="Spectral response of the multispectral bands: a CSV (wavelength_nm or "
    "wavelength_um, then one column per band, named in the header) or a .mat table "
    "(wavelength, then one column per band).")]
CutSrf = Annotated[bool, typer.Option(
    "--cut-srf", help="Accept multispectral bands whose response reaches outside the "
    "hyperspectral range: cut the response there and renormalise it (the fraction cut from "
    "each band is said on stderr and given in --json). Without it more than 5 % outside is "
    "refused.")]
SrfColumns = Annotated[str | None, typer.Option(
    "--srf-columns", metavar="COLUMNS", help="Bands of --srf to use, by file column (1-based; "
    "column 1 is the wavelength): numbers, ranges such as 3-6, or CSV header names, "
    "comma-separated (default: every band column).")]

# Encoder hyper-parameters (fit-encoder, and encode without -m).
Components = Annotated[int, typer.Option(
    "--components", "-k", min=1, max=256, help="Number of spectral components K.")]
Basis = Annotated[str, typer.Option(
    "--basis", help=f"Spectral basis: {', '.join(BASIS_NAMES)}; or pca: the first "
    "--components principal components (closed form, no training; a linear baseline).")]
Brightness = Annotated[bool, typer.Option(
    "--brightness/--no-brightness", help="Add a per-pixel brightness channel: a multiple of "
    "the training mean spectrum (illumination, topography, albedo) beside the components.")]
Fixed = Annotated[bool, typer.Option(
    "--fixed", help="Ablation: component shapes shared by all pixels, amplitudes per pixel.")]
Decoder = Annotated[str, typer.Option(
    "--decoder", help="basis: PhISM's parameter-free renderer of --components components; "
    "mlp: a conventional autoencoder (the same encoder, a mirrored MLP decoder, linear "
    "output) with a unitless latent of --latent-dim values.")]
LatentDim = Annotated[int | None, typer.Option(
    "--latent-dim", min=1, max=4096, help="Latent size of --decoder mlp (default: 4 x "
    "--components, as many values as the skew-normal latent).")]
Epochs = Annotated[int, typer.Option("--epochs", min=1, help="Maximum training epochs.")]
# model.estimator.DEFAULT_MAX_STEPS, kept here so that the CLI starts without torch (a test
# keeps the two equal).
DEFAULT_MAX_STEPS = 2000
MaxSteps = Annotated[int, typer.Option(
    "--max-steps", min=1, help="Training steps in all, at most: a large sample trains for "
    "this many batches instead of --epochs whole passes.")]
MAX_LAYERS, MAX_WIDTH = 8, 16384


def _parse_widths(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        widths = tuple(int(part) for part in value.split(","))
    except ValueError:
        widths = ()
    if not 1 <= len(widths) <= MAX_LAYERS or not all(1 <= w <= MAX_WIDTH for w in widths):
        raise typer.BadParameter(f"{value!r}: give 1 to {MAX_LAYERS} layer widths of 1 to "
                                 f"{MAX_WIDTH} units, separated by commas (e.g. 256,512,256,128)")
    return widths


Hidden = Annotated[str | None, typer.Option(
    "--hidden", callback=_parse_widths, metavar="W1,W2,...", help="Hidden layer widths of "
    "the encoder network, comma-separated (default 256,512,256,128; the paper's is "
    "512,1024,512,256).")]
Patience = Annotated[int, typer.Option(
    "--patience", min=1, help="Epochs without validation improvement before stopping.")]
Seed = Annotated[int, typer.Option(
    "--seed", min=0, max=2**32 - 1, help="Random seed (same seed, same result).")]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", min=100, help="Most training pixels sampled over all scenes.")]


def apply_threads(threads: int | None) -> None:
    """Apply --threads (when given) to every library before the command's work starts."""
    if threads is not None:
        from phism_cli.threads import configure_threads

        configure_threads(threads)


def geotiff_options(creation_options: list[str] | None, cog: bool,
                    *outputs: Path | None) -> dict[str, Any]:
    """--co KEY=VALUE and --cog as keyword arguments of `RasterSpec.with_options`; refused in
    one sentence when malformed or when an output they would apply to is not a GeoTIFF."""
    from phism_cli.errors import PhismError

    parsed: dict[str, str] = {}
    for item in creation_options or []:
        key, sep, value = item.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip() or not key.replace("_", "").isalnum():
            raise PhismError(f"--co {item!r}: give a GDAL creation option as KEY=VALUE, "
                             "e.g. --co COMPRESS=DEFLATE")
        parsed[key] = value.strip()
    if parsed or cog:
        flag = "--cog" if cog and not parsed else "--co"
        for output in outputs:
            if output is not None and output.suffix.lower() not in (".tif", ".tiff"):
                raise PhismError(f"{output}: {flag} applies to GeoTIFF outputs only; drop it "
                                 "or name the output *.tif")
    if parsed:  # GDAL is asked now, before any work (imported only when --co is given)
        from phism_cli.io.geotiff import probe_creation_options

        named = next((o for o in outputs if o is not None), Path("the output"))
        probe_creation_options(parsed, cog, str(named))
    return {"creation_options": parsed, "cog": cog}


def low_high(value: str | None) -> str | None:
    """Typer callback: `value` must be LOW:HIGH, two numbers with LOW below HIGH."""
    if value is None:
        return None
    try:
        low, high = (float(p) for p in value.split(":"))
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give LOW:HIGH, two numbers") from None
    if not low < high:
        raise typer.BadParameter(f"{value!r}: LOW must be below HIGH")
    return value


def range_of(value: str | None) -> tuple[float, float] | None:
    """(LOW, HIGH) of a `low_high` value (None stays None)."""
    if value is None:
        return None
    low, high = (float(p) for p in value.split(":"))
    return low, high
