"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.model.bases import BASES

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars on stderr.")]
Device = Annotated[str, typer.Option(
    "--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")]
TileSize = Annotated[int, typer.Option(
    "--tile-size", min=16, help="Tile edge in pixels for streaming reads and output chunks.")]
KeepBadBands = Annotated[bool, typer.Option(
    "--keep-bad-bands", help="Keep bands the file's bad-band list (bbl) marks as bad.")]
Wavelengths = Annotated[str | None, typer.Option(
    "--wavelengths", help="Band centres in nm for scenes without them: START:STOP, "
    "comma-separated values, or a text file of values (one per source band).")]
Variable = Annotated[str | None, typer.Option(
    "--variable", help="Variable to read from a .mat file (default: the largest 3-D array).")]
OutputPath = Annotated[Path, typer.Option("--output", "-o", help="Output path.")]

# Encoder hyper-parameters (fit-encoder, and encode without -m).
Components = Annotated[int, typer.Option(
    "--components", "-k", min=1, help="Number of spectral components K.")]
Basis = Annotated[str, typer.Option(
    "--basis", help=f"Spectral basis: {', '.join(BASES)}.")]
Fixed = Annotated[bool, typer.Option(
    "--fixed", help="Ablation: component shapes shared by all pixels, amplitudes per pixel.")]
Decoder = Annotated[str, typer.Option(
    "--decoder", help="basis: PhISM's parameter-free renderer of --components components; "
    "mlp: a conventional autoencoder (the same encoder, a mirrored MLP decoder, linear "
    "output) with a unitless latent of --latent-dim values.")]
LatentDim = Annotated[int | None, typer.Option(
    "--latent-dim", min=1, help="Latent size of --decoder mlp (default: 4 x --components, "
    "as many values as the skew-normal latent).")]
Epochs = Annotated[int, typer.Option("--epochs", min=1, help="Maximum training epochs.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same CPU result).")]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", min=100, help="Most training pixels sampled over all scenes.")]
