"""The `phism` Typer application and its error-reporting entry point."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer
from typer.exceptions import TyperException

from phism_cli import __version__
from phism_cli.cli.encode import encode
from phism_cli.cli.fit_encoder import fit_encoder
from phism_cli.cli.info import info
from phism_cli.cli.predict import predict
from phism_cli.cli.render import render
from phism_cli.cli.train_head import train_head
from phism_cli.errors import PhismError

DEFAULT_GDAL_CACHE_MB = 64

app = typer.Typer(
    name="phism", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Physically interpretable spectral latents for hyperspectral scenes.",
)
app.command("info")(info)
app.command("fit-encoder")(fit_encoder)
app.command("encode")(encode)
app.command("render")(render)
app.command("train-head")(train_head)
app.command("predict")(predict)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"phism {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Global options go before the command: phism --debug encode ..."""


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    sys.stderr.write(f"phism: error: {message}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: errors become one line on stderr and a non-zero exit code."""
    args = sys.argv[1:] if argv is None else argv
    # GDAL caches every block it reads, up to 5 % of RAM by default: a stream that reads each
    # block once gains nothing from that, and memory would grow with the scene. Users can
    # still choose their own cache size.
    os.environ.setdefault("GDAL_CACHEMAX", str(DEFAULT_GDAL_CACHE_MB))
    debug = "--debug" in args
    try:
        app(args=args, prog_name="phism", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # usage errors: typer prints them, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted; no output was left behind", 130, debug)
    except PhismError as exc:
        _fail(str(exc), exc.exit_code, debug)
    except MemoryError:
        _fail("out of memory; try a smaller --tile-size or --batch-size", 1, debug)
    except Exception as exc:  # an unexpected failure still gets one line by default
        _fail(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1, debug)
    sys.exit(0)
