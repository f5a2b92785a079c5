"""Opening any scene: the registered formats, and the reading options every command takes
(band lists, wavelengths and widths, units) applied once, whatever the format.

A new format is a module with a `FORMAT = SceneFormat(...)` (see `io.scene`) and one line
in `FORMATS` below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import SceneError
from phism_cli.io import arrays, emit, enmap, envi, prisma, raster, zarr_scene
from phism_cli.io.scene import BandInfo, OpenRequest, Scene, SceneFormat, check_band_info
from phism_cli.text import plural

# Tried in order; the first whose can_open says yes reads the file. GDAL comes last: it
# takes whatever the others do not, and says so when it cannot read it either.
FORMATS: tuple[SceneFormat, ...] = (
    zarr_scene.FORMAT,
    arrays.FORMAT,
    emit.FORMAT,
    prisma.FORMAT,
    enmap.FORMAT,
    envi.FORMAT,
    raster.FORMAT,
)


def find_format(path: Path) -> SceneFormat:
    """The registered format that reads `path`."""
    for scene_format in FORMATS:
        if scene_format.can_open(path):
            return scene_format
    raise SceneError(f"{path}: not a scene format phism reads")


FORMAT_OPTIONS = ("variable", "shape", "layout", "pixel_order", "no_ortho")


def options_per_scene(paths: list[Path], options: dict[str, Any]) -> list[dict[str, Any]]:
    """`open_scene` options for each of several scenes: a format's own option (`--no-ortho`,
    `--variable`, ...) goes to the scenes of the formats that take it, so that one command
    can read scenes of several formats; an option no scene's format takes is left in for
    all, and `open_scene` refuses it naming the formats it applies to."""
    formats = [_format_of(Path(p)) for p in paths]
    given = [k for k in FORMAT_OPTIONS if options.get(k) not in (None, False)]
    taken = [k for k in given if any(f is not None and k in f.options for f in formats)]
    return [options if f is None else
            {k: v for k, v in options.items() if k not in taken or k in f.options}
            for f in formats]


def _format_of(path: Path) -> SceneFormat | None:
    """The format of `path`, or None where `open_scene` will refuse the path itself."""
    try:
        return find_format(path) if path.exists() else None
    except (SceneError, OSError):
        return None


def open_scene(
    path: str | Path,
    *,
    keep_bad_bands: bool = False,
    bad_bands: str | None = None,
    bands: str | None = None,
    wavelengths: str | None = None,
    wavelength_unit: str | None = None,
    fwhm: str | None = None,
    ignore_wavelengths: bool = False,
    variable: str | None = None,
    shape: str | None = None,
    layout: str | None = None,
    pixel_order: str | None = None,
    no_ortho: bool = False,
    flag_prefix: str = "--",
) -> Scene:
    """Open and validate any supported scene.

    `bands` keeps only the listed source bands and `bad_bands` drops the listed ones (1-based
    numbers and ranges, on top of the file's bad-band list unless `keep_bad_bands`).
    `wavelengths` overrides or supplies wavelengths and `fwhm` the band widths (flag specs;
    one number gives every band that width), both in `wavelength_unit` when given (which
    also says the unit of the file's own wavelengths); `ignore_wavelengths` drops the file's
    wavelengths and fwhm. `variable`, `shape`, `layout` and `pixel_order` say how a .mat or
    .npy array is an image (see `io.arrays`); `no_ortho` reads an EMIT granule in sensor
    geometry instead of through its GLT. Messages call the flags `{flag_prefix}NAME`
    (e.g. "--msi-" for a second scene). What phism assumes is said as `PhismNote` warnings
    and kept in `Scene.notes`."""
    import warnings

    from phism_cli.errors import PhismNote, note

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", PhismNote)
        scene = _open_scene(Path(path), keep_bad_bands, bad_bands, bands, wavelengths,
                            wavelength_unit, fwhm, ignore_wavelengths,
                            {"variable": variable, "shape": shape, "layout": layout,
                             "pixel_order": pixel_order, "no_ortho": no_ortho or None},
                            flag_prefix)
    scene.notes = [str(w.message) for w in said if issubclass(w.category, PhismNote)]
    for message in scene.notes:  # said again, now outside the recording
        note(message)
    return scene


def _open_scene(path: Path, keep_bad_bands: bool, bad_bands: str | None, bands: str | None,
                wavelengths: str | None, wavelength_unit: str | None, fwhm: str | None,
                ignore_wavelengths: bool, format_options: dict[str, str | None],
                flag_prefix: str) -> Scene:
    from phism_cli.io.outputs import refuse_partial

    if not path.exists():
        raise SceneError(f"{path}: no such file")
    refuse_partial(path)
    _check_wavelength_unit(wavelength_unit, f"{flag_prefix}wavelength-unit")
    scene_format = find_format(path)
    given = [k for k, v in format_options.items() if v is not None]
    for key in given:
        if key not in scene_format.options:
            flag = flag_prefix + key.replace("_", "-")
            value = format_options[key]
            shown = flag if value is True else f"{flag} {value}"
            owners = " and ".join(f.files for f in FORMATS if key in f.options)
            raise SceneError(f"{shown}: applies to {owners}, and {path} is not one; "
                             f"drop {flag}")
    request = OpenRequest(keep_bad_bands=keep_bad_bands, ignore_wavelengths=ignore_wavelengths,
                          wavelength_unit=wavelength_unit, wavelengths=wavelengths,
                          format_options=format_options, flag_prefix=flag_prefix)
    scene = scene_format.open(path, request)
    try:
        if ignore_wavelengths:
            scene.bands = BandInfo(None, None, scene.bands.good, scene.bands.names)
        if wavelengths is not None:
            _override_wavelengths(scene, wavelengths, wavelength_unit,
                                  f"{flag_prefix}wavelengths")
        if fwhm is not None:
            _override_fwhm(scene, fwhm, wavelength_unit, f"{flag_prefix}fwhm")
        if scene.height < 1 or scene.width < 1 or len(scene.bands.good) < 1:
            raise SceneError(f"{path}: the scene is empty ({scene.height} rows x {scene.width} "
                             f"columns x {len(scene.bands.good)} bands)")
        check_band_info(path, scene.bands, len(scene.bands.good))
        if bands is not None or bad_bands is not None:
            scene.band_selection = _band_selection(scene, bands, bad_bands, flag_prefix)
    except BaseException:
        scene.close()
        raise
    return scene


def _check_wavelength_unit(unit: str | None, flag: str) -> None:
    from phism_cli.io.wavelengths import check_wavelength_unit

    if unit is not None:
        try:
            check_wavelength_unit(unit)
        except ValueError as exc:
            raise SceneError(f"{flag} {exc}") from None


def _band_selection(scene: Scene, bands: str | None, bad_bands: str | None,
                    flag_prefix: str) -> np.ndarray:
    """The source bands kept by --bands (default all) less --bad-bands, checked against the
    file; a selection that leaves no band is refused."""
    from phism_cli.io.band_lists import parse_band_list

    n = len(scene.bands.good)
    keep = np.ones(n, dtype=bool)
    for flag, spec, value in (("bands", bands, True), ("bad-bands", bad_bands, False)):
        if spec is None:
            continue
        try:
            numbers = parse_band_list(spec, n)
        except ValueError as exc:
            shown = spec if len(spec) <= 40 else spec[:40] + "..."
            raise SceneError(f"{flag_prefix}{flag} {shown!r}: {exc} ({scene.path})") from None
        chosen = np.zeros(n, dtype=bool)
        chosen[np.asarray(numbers) - 1] = True
        keep &= chosen if value else ~chosen
    if not keep.any() or not (keep & (scene.bands.good | scene.keep_bad_bands)).any():
        raise SceneError(f"{scene.path}: --bands and --bad-bands (with the file's bad-band "
                         "list) leave no band to read; keep at least one")
    return keep


def _override_wavelengths(scene: Scene, spec: str, unit: str | None,
                          flag: str = "--wavelengths") -> None:
    from phism_cli.errors import note
    from phism_cli.io.wavelengths import parse_wavelength_spec, wavelength_factor

    n_source = len(scene.bands.good)
    shown = spec if len(spec) <= 40 else spec[:40] + "..."
    try:
        values = parse_wavelength_spec(spec, n_source)
    except ValueError as exc:
        raise SceneError(
            f"{flag} {shown!r}: {exc}; {scene.path} has {plural(n_source, 'band')} (give "
            "START:STOP, one value per band, or a file of values, in nm or with --wavelength-unit)"
        ) from None
    try:
        factor, guessed = wavelength_factor(values, None, unit)
    except ValueError as exc:
        raise SceneError(f"{flag} {shown!r}: {exc}; give them in nm, or say their unit with "
                         "--wavelength-unit nm|um") from None
    if guessed:
        note(f"{flag} {shown}: {guessed} (give --wavelength-unit to say otherwise)")
    scene.bands = BandInfo(values * factor, scene.bands.fwhm_nm, scene.bands.good,
                           scene.bands.names)


def _override_fwhm(scene: Scene, spec: str, unit: str | None, flag: str = "--fwhm") -> None:
    """Band widths (FWHM) from a flag, in --wavelength-unit or nm: one value for every band,
    or a wavelength spec."""
    from phism_cli.io.wavelengths import parse_wavelength_spec, unit_to_nm_factor

    n_source = len(scene.bands.good)
    try:
        single = float(spec)
    except ValueError:
        single = None
    try:
        if single is not None and n_source > 1:
            widths = parse_wavelength_spec(spec, 1).repeat(n_source)
        else:
            widths = parse_wavelength_spec(spec, n_source)
    except ValueError as exc:
        shown = spec if len(spec) <= 40 else spec[:40] + "..."
        phrase = str(exc).replace("wavelengths given", "widths given")
        raise SceneError(
            f"{flag} {shown!r}: {phrase}; {scene.path} has {plural(n_source, 'band')} (give one "
            "width for every band, one value per band, START:STOP, or a file of values)"
        ) from None
    factor = unit_to_nm_factor(unit) if unit is not None else 1.0
    scene.bands = BandInfo(scene.bands.wavelength_nm, widths * (factor or 1.0),
                           scene.bands.good, scene.bands.names)
