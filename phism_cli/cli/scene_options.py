"""The options that say how to read a scene, declared once for every command that reads one.

`@with_scene_options` adds them to a command's signature (after its own options) and hands
the command one `scene_options` dict, the keyword arguments of `io.scene.open_scene`. Their
syntax is checked here (a usage error, exit 2); what they mean for a file (a band number
beyond the last, a shape that does not fit) is checked when the scene opens. Importing this
module stays cheap: no numpy, torch or GDAL.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from phism_cli.io.band_lists import parse_band_list

PIXEL_ORDERS = ("column-major", "row-major")  # phism_cli.io.arrays.PIXEL_ORDERS
WAVELENGTH_UNITS = ("nm", "um", "µm", "micrometers", "nanometers")


def _band_list(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_band_list(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _shape(value: str | None) -> str | None:
    if value is not None:
        parts = value.replace("x", ",").split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
            raise typer.BadParameter(f"{value!r}: give LINES,SAMPLES, two whole numbers of "
                                     "at least 1 (e.g. 100,100)")
    return value


def _layout(value: str | None) -> str | None:
    if value is not None:
        axes = sorted(p.strip().lower() for p in value.split(","))
        if axes not in (["bands", "cols", "rows"], ["bands", "pixels"]):
            raise typer.BadParameter(f"{value!r}: give the stored axes in order, e.g. "
                                     "bands,rows,cols (3-D) or bands,pixels (2-D)")
    return value


def _choice(names: tuple[str, ...]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and value.lower() not in names:
            raise typer.BadParameter(f"{value!r}: use one of {', '.join(names)}")
        return None if value is None else value.lower()
    return check


_OPTIONS: dict[str, tuple[Any, Any]] = {
    "keep_bad_bands": (bool, typer.Option(
        "--keep-bad-bands", help="Keep bands the file's bad-band list (bbl) marks as bad.")),
    "bad_bands": (str | None, typer.Option(
        "--bad-bands", metavar="LIST", callback=_band_list,
        help="Drop these bands: 1-based numbers and ranges of the file's bands, e.g. "
        "108-112,154-167,224 (AVIRIS's water bands); added to the file's bad-band list.")),
    "bands": (str | None, typer.Option(
        "--bands", metavar="LIST", callback=_band_list,
        help="Read only these bands: 1-based numbers and ranges, e.g. 1-100,120-200.")),
    "wavelengths": (str | None, typer.Option(
        "--wavelengths", help="Band centres for scenes without them (or to replace them): "
        "START:STOP, comma-separated values, or a text file of values, one per band of the "
        "file; in nm, or in --wavelength-unit.")),
    "wavelength_unit": (str | None, typer.Option(
        "--wavelength-unit", callback=_choice(WAVELENGTH_UNITS),
        help="Unit of --wavelengths and --fwhm, and of the file's own wavelengths where it "
        "states none or a wrong one: nm or um. Without it, unit-less wavelengths all below 30 "
        "are read as um (and said).")),
    "fwhm": (str | None, typer.Option(
        "--fwhm", help="Band widths (FWHM) for scenes without them: one width for every band, "
        "or one per band (as --wavelengths); in nm, or in --wavelength-unit.")),
    "ignore_wavelengths": (bool, typer.Option(
        "--ignore-wavelengths", help="Ignore the file's wavelengths and fwhm (band numbers "
        "are used, or --wavelengths).")),
    "variable": (str | None, typer.Option(
        "--variable", help="The array of a .mat file to read (needed when it holds more "
        "than one that could be the image).")),
    "shape": (str | None, typer.Option(
        "--shape", metavar="LINES,SAMPLES", callback=_shape,
        help="Image shape of a 2-D .mat/.npy matrix of one spectrum per column or row (as "
        "Jasper Ridge, Samson, Urban ship: bands x pixels); default: the file's nRow, nCol.")),
    "layout": (str | None, typer.Option(
        "--layout", metavar="AXES", callback=_layout,
        help="Stored axis order of a .mat/.npy array: rows,cols,bands (default for 3-D), "
        "bands,rows,cols, ...; bands,pixels or pixels,bands for a 2-D matrix (default: the "
        "axis of LINES x SAMPLES length holds the pixels).")),
    "pixel_order": (str | None, typer.Option(
        "--pixel-order", callback=_choice(PIXEL_ORDERS),
        help="Order of the pixels of a 2-D matrix: column-major (MATLAB's; default for .mat) "
        "or row-major (NumPy's; default for .npy).")),
    "no_ortho": (bool, typer.Option(
        "--no-ortho", help="Read an EMIT granule in sensor geometry (downtrack x crosstrack, "
        "not georeferenced) instead of orthorectified through its geometry lookup table.")),
}
_DEFAULTS: dict[str, Any] = {name: False if kind is bool else None
                             for name, (kind, _) in _OPTIONS.items()}
SCENE_OPTION_NAMES = tuple(_OPTIONS)


def with_scene_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` with the scene options in its signature; it receives them as one dict,
    its keyword argument `scene_options`."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "scene_options"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_DEFAULTS[name],
                               annotation=Annotated[kind, info])
             for name, (kind, info) in _OPTIONS.items()]
    # Options that carry no default must come first for a valid signature; none of ours do.
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = {name: kwargs.pop(name, _DEFAULTS[name]) for name in SCENE_OPTION_NAMES}
        return command(*args, scene_options=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper

