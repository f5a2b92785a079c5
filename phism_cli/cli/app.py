"""The `phism` Typer application. Command modules import their heavy dependencies (torch,
XGBoost, Zarr) inside the command, so `phism --help` and `phism info` start fast."""

from __future__ import annotations

from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.degrade import degrade
from phism_cli.cli.encode import encode
from phism_cli.cli.endmembers import endmembers
from phism_cli.cli.fit_encoder import fit_encoder
from phism_cli.cli.fuse import fuse
from phism_cli.cli.info import info
from phism_cli.cli.predict import predict
from phism_cli.cli.render import render
from phism_cli.cli.train_head import train_head
from phism_cli.cli.unmix import unmix

app = typer.Typer(
    name="phism", no_args_is_help=True, add_completion=True,  # --install-completion
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Physically interpretable spectral latents for hyperspectral scenes.",
)
app.command("info")(info)
app.command("fit-encoder")(fit_encoder)
app.command("encode")(encode)
app.command("render")(render)
app.command("train-head")(train_head)
app.command("predict")(predict)
app.command("unmix")(unmix)
app.command("endmembers")(endmembers)
app.command("degrade")(degrade)
app.command("fuse")(fuse)


def _version(value: bool) -> None:
    if value:
        from phism_cli import __version__

        typer.echo(f"phism {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks for errors.")] = False,
    threads: opt.Threads = None,
) -> None:
    """Global options go before the command: phism --debug --threads 2 encode ..."""
    opt.apply_threads(threads)
