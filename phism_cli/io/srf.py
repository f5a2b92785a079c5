"""Reading a multispectral sensor's spectral response curves (SRF files).

Two formats, by suffix:

* CSV (`.csv`, `.txt`; comma separated, or tab separated when the header has no comma): a
  header row whose first cell names the wavelength column (`wavelength_nm`,
  `wavelength (nm)`, `wavelength_um`, `wavelength (um)` or `wavelength`, any case; a bare
  `wavelength` below 30 is taken as micrometres), then one column per band named by its
  header; one row per wavelength.
* MATLAB `.mat`: the only (or largest) 2-D numeric variable, one row per wavelength: column 1
  the wavelength (nm; values below 30 are micrometres), every other column a band named
  `column 2`, `column 3`, ... (as in the IKONOS table `ikonos_sp`: wavelength, pan, B, G, R,
  NIR). A variable with fewer rows than columns is read transposed.

`--srf-columns` picks bands by 1-based file column (the wavelength is column 1): numbers,
ranges such as `3-6`, or header names, comma separated.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.forward.response import (
    MAX_OUTSIDE,
    OutsideRangeError,
    SpectralResponse,
    band_intervals,
    gaussian_response,
    response_from_curves,
)
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.io.scene import Scene

__all__ = ["SRF_SUFFIXES", "read_response", "response_for_scene"]

SRF_SUFFIXES = (".csv", ".txt", ".mat")
# Wavelength column headers (lower case) and their unit; None: guessed from the values.
_WAVELENGTH_HEADERS: dict[str, str | None] = {
    **dict.fromkeys(("wavelength_nm", "wavelength (nm)", "wavelength [nm]"), "nm"),
    **dict.fromkeys(("wavelength_um", "wavelength (um)", "wavelength (µm)", "wavelength_µm",
                     "wavelength [um]", "wavelength [µm]"), "um"),
    "wavelength": None,
}
_SHOWN_COLUMNS = 12


@dataclass
class CurveTable:
    """The curves of a file: wavelengths as written and one column per band."""

    wavelength: np.ndarray  # (K,) in the file's unit
    unit: str | None  # "nm", "um", or None (guessed from the values)
    values: np.ndarray  # (K, N) float64: file columns 2..N+1
    names: list[str]  # (N,) band names

    def wavelength_nm(self, path: Path, option: str) -> np.ndarray:
        """The wavelengths in nm: in the stated unit, else read from the values (and said);
        a unit the values contradict is refused."""
        from phism_cli.errors import note
        from phism_cli.io.wavelengths import wavelength_factor

        try:
            factor, guessed = wavelength_factor(self.wavelength, self.unit)
        except ValueError as exc:
            raise PhismError(f"{option} {path}: {exc}; name the column wavelength_nm or "
                             "wavelength_um to match its values") from None
        if guessed:
            note(f"{option} {path}: {guessed}")
        return self.wavelength * factor


CUT_OPTION = "--cut-srf"


def read_response(path: Path, wavelength_nm: np.ndarray, columns: str | None = None,
                  option: str = "--srf", *, hsi_name: str | None = None,
                  cut: bool = False) -> SpectralResponse:
    """The response in the SRF file `path` over the hyperspectral bands at `wavelength_nm`;
    `columns` picks bands (see the module's docstring); `option` and `hsi_name` name the
    file and the hyperspectral scene in messages. With `cut`, a band reaching outside the
    hyperspectral range is cut there and renormalised (and said) instead of refused."""
    path = Path(path)
    _check_hyperspectral(wavelength_nm, hsi_name)
    _check_readable(path, option)
    table = _read_table(path, option)
    picked = _pick_columns(table, columns, path, option)
    try:
        response = response_from_curves(
            table.wavelength_nm(path, option), table.values[:, picked].T,
            [table.names[i] for i in picked], wavelength_nm, path.name,
            max_outside=1.0 if cut else MAX_OUTSIDE)
    except OutsideRangeError as exc:
        raise PhismError(f"{option} {path}: {exc.naming(hsi_name)}; "
                         f"{_ways_out(option, cut or exc.nothing_inside)}") from None
    except ValueError as exc:
        raise PhismError(f"{option} {path}: {exc}; fix the file") from None
    _say_cut(response, f"{option} {path}")
    return response


def _ways_out(option: str, nothing_left: bool) -> str:
    if nothing_left:
        return (f"no band can be cut to nothing: keep only the bands the scene covers with "
                f"{option}-columns, or check the wavelengths")
    return (f"pass {CUT_OPTION} to cut such bands at the hyperspectral range and renormalise "
            f"them, or keep only the bands it covers with {option}-columns")


def _say_cut(response: SpectralResponse, where: str) -> None:
    """A note per band whose response was cut by more than `MAX_OUTSIDE` (said, not silent)."""
    from phism_cli.errors import note

    fractions = response.outside_fraction
    if fractions is None:
        return
    for name, fraction in zip(response.band_names, fractions, strict=True):
        if fraction > MAX_OUTSIDE:
            note(f"{where}: band {name!r} was cut at the hyperspectral range: "
                 f"{100 * fraction:.1f} % of its response lay outside it ({CUT_OPTION})")


def response_for_scene(msi: Scene, wavelength_nm: np.ndarray, srf: Path | None,
                       columns: str | None, hsi_name: str,
                       cut: bool = False) -> SpectralResponse:
    """The response of the multispectral scene `msi` over the hyperspectral bands at
    `wavelength_nm`: read from `srf`, or Gaussians at the scene's band centres and widths
    (`cut`: see `read_response`)."""
    if srf is not None:
        response = read_response(srf, wavelength_nm, columns, hsi_name=hsi_name, cut=cut)
        if response.n_bands != msi.count:
            raise PhismError(f"--srf {srf} has {plural(response.n_bands, 'band')} but MSI "
                             f"{msi.path} has "
                             f"{msi.count}; pick them with --srf-columns")
        return response
    if columns is not None:
        raise PhismError(f"--srf-columns {columns}: picks columns of an --srf file, and none "
                         "was given; give --srf too")
    centre = msi.wavelength_nm
    if centre is None:
        raise PhismError(f"MSI {msi.path}: its bands have no wavelengths, so their spectral "
                         "response is unknown; give --srf or --msi-wavelengths")
    fwhm = msi.fwhm_nm if msi.fwhm_nm is not None else _spacing_fwhm(msi, centre)
    _check_hyperspectral(wavelength_nm, hsi_name)
    try:
        response = gaussian_response(centre, fwhm, _band_names(msi), wavelength_nm,
                                     max_outside=1.0 if cut else MAX_OUTSIDE)
    except OutsideRangeError as exc:
        way = "drop the band" if cut or exc.nothing_inside else \
            f"pass {CUT_OPTION} to cut it there and renormalise"
        raise PhismError(f"MSI {msi.path}: Gaussian {exc.naming(hsi_name)}; {way}, give --srf "
                         "with the sensor's responses, or check --msi-wavelengths") from None
    except ValueError as exc:
        raise PhismError(f"MSI {msi.path}: {exc}; give --srf, or fix --msi-wavelengths and "
                         "--msi-fwhm") from None
    _say_cut(response, f"MSI {msi.path}")
    return response


def _spacing_fwhm(msi: Scene, centre: np.ndarray) -> np.ndarray:
    """Widths from the distance of each band centre to the nearest other one."""
    if centre.size < 2:
        raise PhismError(f"MSI {msi.path}: one band at {centre[0]:g} nm with no width; give "
                         "its width with --msi-fwhm, or its response with --srf")
    distance = np.abs(centre[:, None] - centre[None, :])
    np.fill_diagonal(distance, np.inf)
    return distance.min(axis=1)


def _band_names(msi: Scene) -> list[str]:
    names = msi.bands.names if len(msi.bands.names) == len(msi.bands.good) else []
    return [(names[i].strip() if names else "") or f"band {i + 1}"
            for i in msi.band_indices]


def _check_hyperspectral(wavelength_nm: np.ndarray | None, hsi_name: str | None) -> None:
    name = hsi_name or "the hyperspectral scene"
    if wavelength_nm is None:
        raise PhismError(f"{name}: its bands have no wavelengths, so a spectral response "
                         "cannot be matched to them; give them with --wavelengths")
    try:
        band_intervals(wavelength_nm)
    except ValueError as exc:
        raise PhismError(f"{name}: {exc}; fix its wavelengths (--wavelengths)") from None


# -- reading files --------------------------------------------------------------------------
def _check_readable(path: Path, option: str) -> None:
    from phism_cli.io.outputs import refuse_partial

    if not path.exists():
        raise PhismError(f"{option} {path}: no such file")
    if path.is_dir():
        raise PhismError(f"{option} {path}: is a folder; give the spectral response file")
    refuse_partial(path)
    if path.suffix.lower() not in SRF_SUFFIXES:
        raise PhismError(f"{option} {path}: unknown spectral response format "
                         f"{path.suffix or '(no suffix)'!r}; give a .csv, .txt or .mat file")


def _read_table(path: Path, option: str) -> CurveTable:
    if path.suffix.lower() == ".mat":
        return _read_mat(path, option)
    return _read_csv(path, option)


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:120] + "..."


def _read_text(path: Path, option: str) -> str:
    from phism_cli.io.files import read_text_file

    return read_text_file(path, f"{option} {path}",
                          "a CSV table (wavelength_nm,band1,...) or a .mat file")


def _read_csv(path: Path, option: str) -> CurveTable:
    where = f"{option} {path}"
    lines = _read_text(path, option).splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = "," if "," in first or "\t" not in first else "\t"
    reader = csv.reader(lines, delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise PhismError(f"{where}: line {reader.line_num} is not valid CSV ({exc}); fix "
                         "that line") from None
    if not rows:
        raise PhismError(f"{where}: the file is empty; give a header row "
                         "(wavelength_nm,band1,...) and one row per wavelength")
    _, header = rows[0]
    axis = " ".join(header[0].lower().split())
    if axis not in _WAVELENGTH_HEADERS:
        shown = header[0] if len(header[0]) <= 30 else header[0][:30] + "..."
        raise PhismError(f"{where}: the first column is named {shown!r}; name it "
                         "wavelength_nm or wavelength_um, then one column per band")
    names = header[1:]
    _check_names(names, where)
    if len(rows) < 3:
        raise PhismError(f"{where}: {len(rows) - 1} row(s) of values; a response needs at "
                         "least 2 wavelengths, one per row")
    values = np.empty((len(rows) - 1, len(header)))
    for r, (line, cells) in enumerate(rows[1:]):
        if len(cells) != len(header):
            raise PhismError(f"{where}: line {line} has {len(cells)} cells but the header has "
                             f"{len(header)}; give one value per column")
        for c, cell in enumerate(cells):
            values[r, c] = _number(cell, f"{where}: line {line}, column {header[c]!r}")
    return CurveTable(values[:, 0], _WAVELENGTH_HEADERS[axis], values[:, 1:], names)


def _check_names(names: list[str], where: str) -> None:
    if not names:
        raise PhismError(f"{where}: the header names no band; give one column per band after "
                         "the wavelength column")
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=2):
        if not name:
            raise PhismError(f"{where}: column {i} of the header has no name; name every band")
        if name in seen:
            raise PhismError(f"{where}: columns {seen[name]} and {i} are both named {name!r}; "
                             "band names must be unique")
        seen[name] = i


def _number(cell: str, where: str) -> float:
    if not cell:
        raise PhismError(f"{where} is empty; fill it (a response of 0 is written 0)")
    try:
        return float(cell)
    except ValueError:
        shown = cell if len(cell) <= 20 else cell[:20] + "..."
        raise PhismError(f"{where} is {shown!r}, not a number; fix the cell") from None


def _read_mat(path: Path, option: str) -> CurveTable:
    from scipy.io import loadmat

    where = f"{option} {path}"
    try:
        contents = loadmat(path)
    except Exception as exc:  # scipy raises many types for damaged or v7.3 files
        raise PhismError(f"{where}: not a readable MATLAB v5 file ({_reason(exc)}); save it "
                         "with MATLAB -v7 or give a CSV table") from None
    tables = [v for k, v in contents.items()
              if not k.startswith("__") and isinstance(v, np.ndarray)
              and v.dtype.kind in "biuf" and v.ndim == 2 and min(v.shape) >= 2]
    if not tables:
        raise PhismError(f"{where}: no 2-D numeric table inside (wavelength in column 1, one "
                         "column per band); give such a variable or a CSV table")
    table = max(tables, key=lambda a: a.size).astype(np.float64)
    if table.shape[0] < table.shape[1]:
        table = table.T
    names = [f"column {i}" for i in range(2, table.shape[1] + 1)]
    return CurveTable(table[:, 0], None, table[:, 1:], names)


def _pick_columns(table: CurveTable, spec: str | None, path: Path, option: str) -> list[int]:
    """0-based indices into `table.values` of the bands `spec` names (all by default)."""
    if spec is None:
        return list(range(len(table.names)))
    n_columns = len(table.names) + 1
    flag = f"{option}-columns {spec!r}"
    picked: list[int] = []
    for item in (s.strip() for s in spec.split(",")):
        for column in _columns_of(item, table.names, flag, path, n_columns):
            if column == 1:
                raise PhismError(f"{flag}: column 1 of {path} is the wavelength, not a band; "
                                 f"pick among {_listing(table.names)}")
            if not 2 <= column <= n_columns:
                raise PhismError(f"{flag}: {path} has no column {column}; pick among "
                                 f"{_listing(table.names)}")
            if column - 2 in picked:
                raise PhismError(f"{flag}: picks column {column} twice; name each band once")
            picked.append(column - 2)
    return picked


def _columns_of(item: str, names: list[str], flag: str, path: Path,
                n_columns: int) -> list[int]:
    """The 1-based file columns one item of --srf-columns names."""
    if item in names:
        return [names.index(item) + 2]
    if re.fullmatch(r"\d+", item):
        return [int(item)]
    span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
    if span is not None and int(span[1]) <= int(span[2]):
        return list(range(int(span[1]), int(span[2]) + 1))
    what = "an empty item" if not item else f"{item!r}"
    raise PhismError(f"{flag}: {what} is neither a column number, a range such as 3-{n_columns} "
                     f"nor a band of {path}; pick among {_listing(names)}")


def _listing(names: list[str]) -> str:
    shown = [f"{i} {name!r}" for i, name in enumerate(names[:_SHOWN_COLUMNS], start=2)]
    more = f", ... (columns 2-{len(names) + 1})" if len(names) > _SHOWN_COLUMNS else ""
    return ", ".join(shown) + more
