"""Spectral tables: named 1-D spectra on one spectral axis (endmember and mineral libraries).

Three formats, chosen by the file's suffix:

* CSV (`.csv`): a header row whose first cell names the axis and its unit (one of
  `AXIS_UNITS`) and whose other cells name the spectra; one row per axis position. A CSV has
  no missing values: empty cells, NaN and infinities are refused.
* ENVI spectral library (`.sli`, with its `.hdr` beside it, or the `.hdr` itself): `samples`
  = axis positions, `lines` = spectra, `spectra names`, `wavelength`, `wavelength units`.
  NaN values are kept as missing.
* ASU text tables (any other suffix; Feely & Christensen 1999): whitespace-separated
  numbers, no header; the first column is the axis (wavenumber in cm-1 unless told
  otherwise), every other column a spectrum. A value of exactly 0 marks a missing band and
  is read as NaN. Names come from a separate names file (a CSV with a `sample_name` or
  `name` column, or a text file of one name per line); repeated names there are told apart
  as 'name (2)', 'name (3)'. Without a names file the spectra are named column_1..column_N
  (N counts spectrum columns, not the axis column) and the caller decides whether that will
  do.

Every axis must hold at least two finite, positive values in strictly increasing or strictly
decreasing order, and names must be unique and non-empty; what breaks a rule is refused with
one sentence naming the file and the row, column or field.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.io.envi_header import EnviHeader, parse_number, read_envi_header

AXIS_UNITS = ("wavelength_nm", "wavelength_um", "wavenumber_cm-1")
TABLE_FORMATS = ("csv", "sli", "txt")
NAME_COLUMNS = ("sample_name", "name")
DEFAULT_TEXT_AXIS_UNIT = "wavenumber_cm-1"
LIBRARY_FILE_TYPE = "ENVI Spectral Library"

_LIBRARY_SUFFIXES = (".sli", ".esl", ".hdr")
_LIBRARY_DATA_SUFFIXES = (".sli", ".esl", ".dat", ".img", "")
_ENVI_DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8",
                15: "u8"}
# ENVI 'wavelength units' values (lower case) and the axis unit each means.
_HEADER_UNITS = {
    **dict.fromkeys(("nanometers", "nanometer", "nanometres", "nanometre", "nm"),
                    "wavelength_nm"),
    **dict.fromkeys(("micrometers", "micrometer", "micrometres", "micrometre", "microns",
                     "micron", "um", "µm"), "wavelength_um"),
    **dict.fromkeys(("wavenumber", "wavenumbers", "wavenumber (cm-1)", "cm-1", "cm^-1",
                     "1/cm", "inverse centimeters"), "wavenumber_cm-1"),
}
_HEADER_UNIT_NAMES = {"wavelength_nm": "Nanometers", "wavelength_um": "Micrometers",
                      "wavenumber_cm-1": "Wavenumber"}
_RECOGNISE_BYTES = 64 * 1024

Label = Callable[[int], str]


# -- units and validation ------------------------------------------------------------------
def check_axis_unit(axis_unit: str, where: str = "axis unit") -> str:
    if axis_unit not in AXIS_UNITS:
        raise PhismError(f"{where} {axis_unit!r} is not an axis unit phism knows; use one of "
                         f"{', '.join(AXIS_UNITS)}")
    return axis_unit


def axis_to_nm(axis: np.ndarray | Sequence[float], axis_unit: str) -> np.ndarray:
    """Axis values in `axis_unit` as wavelengths in nm (um x 1000, 1e7 / cm-1)."""
    values = np.asarray(axis, dtype=np.float64)
    unit = check_axis_unit(axis_unit)
    if unit == "wavelength_nm":
        return values.copy()
    if unit == "wavelength_um":
        return values * 1000.0
    with np.errstate(divide="ignore"):
        return 1e7 / values


def check_axis(axis: np.ndarray, where: str, label: Label | None = None) -> None:
    """Refuse an axis of fewer than 2 values, non-finite or non-positive values, or values
    not in strictly increasing or strictly decreasing order; `label(i)` names value i."""
    label = label or (lambda i: f"axis value {i + 1}")
    if axis.ndim != 1 or len(axis) < 2:
        raise PhismError(f"{where}: the axis has {axis.size} value(s); a spectral table needs "
                         "at least 2 positions")
    bad = np.flatnonzero(~np.isfinite(axis) | (axis <= 0))
    if len(bad):
        raise PhismError(f"{where}: {label(int(bad[0]))} of the axis is {axis[bad[0]]!r}; axis "
                         "values must be finite and positive")
    steps = np.diff(axis)
    direction = 1.0 if steps[0] > 0 else -1.0
    broken = np.flatnonzero(steps * direction <= 0)
    if len(broken):
        i = int(broken[0]) + 1
        order = "increasing" if direction > 0 else "decreasing"
        what = "repeats the previous value" if steps[i - 1] == 0 else f"breaks the {order} order"
        raise PhismError(f"{where}: {label(i)} of the axis ({axis[i]:.10g}) {what}; axis "
                         "values must be strictly increasing or strictly decreasing")


def check_names(names: Sequence[str], where: str, label: Label | None = None) -> None:
    """Refuse empty or repeated spectrum names; `label(i)` names name i."""
    label = label or (lambda i: f"name {i + 1}")
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name.strip():
            raise PhismError(f"{where}: {label(i)} is empty; every spectrum needs a name")
        if name in first:
            raise PhismError(f"{where}: {label(i)} repeats the name {name!r} of "
                             f"{label(first[name])}; spectrum names must be unique")
        first[name] = i


def _check_target_axis(axis: np.ndarray, where: str) -> None:
    if axis.ndim != 1 or axis.size == 0:
        raise PhismError(f"{where}: the target axis is empty or not 1-D (shape {axis.shape})")
    if not (np.isfinite(axis) & (axis > 0)).all():
        raise PhismError(f"{where}: the target axis holds non-finite or non-positive values; "
                         "give finite positive positions")


# -- the table ------------------------------------------------------------------------------
@dataclass(eq=False)
class SpectralTable:
    """S named spectra on one axis of C positions (values as in the file, in `axis_unit`)."""

    axis: np.ndarray  # (C,) float64
    axis_unit: str  # one of AXIS_UNITS
    names: list[str]  # (S,) unique, non-empty
    spectra: np.ndarray  # (S, C) float64; NaN marks a missing band
    path: Path | None = None

    def __post_init__(self) -> None:
        self.axis = np.asarray(self.axis, dtype=np.float64)
        self.spectra = np.asarray(self.spectra, dtype=np.float64)
        self.names = [str(n) for n in self.names]
        check_axis_unit(self.axis_unit, f"{self.source}: axis unit")
        expected = (len(self.names), self.axis.size)
        if self.axis.ndim != 1 or self.spectra.shape != expected:
            raise PhismError(f"{self.source}: spectra of shape {self.spectra.shape} do not fit "
                             f"{len(self.names)} names and an axis of shape {self.axis.shape}; "
                             "give one row of values per name and one column per axis value")

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "spectral table"

    def wavelength_nm(self) -> np.ndarray:
        return axis_to_nm(self.axis, self.axis_unit)

    def same_axis(self, axis: np.ndarray | Sequence[float], axis_unit: str) -> bool:
        """True when `axis` (in `axis_unit`) has this table's positions to 1e-6 relative."""
        other = axis_to_nm(axis, axis_unit)
        mine = self.wavelength_nm()
        return other.shape == mine.shape and bool(np.allclose(mine, other, rtol=1e-6, atol=0))

    def in_axis_order(self) -> SpectralTable:
        """This table with its positions increasing: a scene's bands in band order may turn
        back where two detectors overlap (EnMAP's VNIR ends above where its SWIR starts), which
        a table's axis may not. A position given twice keeps the mean of its values."""
        positions, inverse = np.unique(self.axis, return_inverse=True)
        if len(positions) == len(self.axis) and np.all(np.diff(self.axis) > 0):
            return self
        counts = np.bincount(inverse, minlength=len(positions))
        sums = np.zeros((len(self.names), len(positions)))
        np.add.at(sums, (slice(None), inverse), self.spectra)
        return SpectralTable(positions, self.axis_unit, list(self.names), sums / counts,
                             self.path)

    def resampled(self, axis: np.ndarray | Sequence[float], axis_unit: str,
                  what: str = "the target axis") -> SpectralTable:
        """Every spectrum linearly interpolated (in nm) onto `axis`, given in `axis_unit`.

        Positions outside this table's range get NaN, as do positions in an interval that
        touches a missing value. Axes that do not overlap at all are refused, naming both
        ranges (`what` names the target in the message).
        """
        target = np.array(axis, dtype=np.float64)
        _check_target_axis(target, f"{self.source}: resampling onto {what}")
        target_nm = axis_to_nm(target, axis_unit)
        source_nm = self.wavelength_nm()
        order = np.argsort(source_nm)
        low, high = source_nm[order[0]], source_nm[order[-1]]
        inside = (target_nm >= low * (1 - 1e-9)) & (target_nm <= high * (1 + 1e-9))
        if not inside.any():
            raise PhismError(
                f"{self.source}: its axis ({low:.6g}-{high:.6g} nm) and {what} "
                f"({target_nm.min():.6g}-{target_nm.max():.6g} nm) do not overlap; give a "
                "table that covers the target's wavelengths")
        values = interpolate_missing_aware(source_nm[order], self.spectra[:, order],
                                           np.clip(target_nm, low, high))
        values[:, ~inside] = np.nan
        return SpectralTable(target, axis_unit, list(self.names), values, self.path)


def interpolate_missing_aware(x: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row of `values` (S, C), known at increasing `x` (C,), at
    `t` (M,) within [x[0], x[-1]]. A NaN only spoils the two intervals either side of it: a
    position that falls exactly on a known value takes it whatever its neighbours hold."""
    right = np.clip(np.searchsorted(x, t, side="right"), 1, len(x) - 1)
    left = right - 1
    weight = (t - x[left]) / (x[right] - x[left])
    lower, upper = values[:, left], values[:, right]
    with np.errstate(invalid="ignore"):
        blended = lower * (1.0 - weight) + upper * weight
    blended = np.where(weight == 0.0, lower, blended)
    return np.where(weight == 1.0, upper, blended)


# -- reading ------------------------------------------------------------------------------------
def read_spectral_table(path: Path, names_path: Path | None = None,
                        axis_unit: str | None = None, what: str = "table") -> SpectralTable:
    """Read a spectral table in the format its suffix says (see the module's docstring).

    `names_path` names the spectra of a text table (refused for other formats, whose names
    are in the file); `axis_unit` is the axis unit of a text table (default wavenumber_cm-1)
    or of an ENVI library whose header has none, and must agree with the file otherwise;
    `what` says in messages what the table is for ('endmember library').
    """
    path = Path(path)
    _check_readable(path, what)
    if axis_unit is not None:
        check_axis_unit(axis_unit, f"{path}: {what} axis unit")
    fmt = table_format(path)
    if names_path is not None and fmt != "txt":
        raise PhismError(f"{path}: a names file ({names_path}) only applies to text tables; "
                         f"this {what}'s spectrum names are in the file itself")
    if fmt == "csv":
        table = _read_csv(path, axis_unit, what)
    elif fmt == "sli":
        table = _read_library(path, axis_unit, what)
    else:
        table = _read_text_table(path, names_path, axis_unit, what)
    table.path = path
    _check_unit_fits_values(table, what)
    return table


def _check_unit_fits_values(table: SpectralTable, what: str) -> None:
    """A wavelength axis whose values its unit cannot describe (micrometre values said to
    be nm, or the reverse) is refused, as for scenes (`io.wavelengths.wavelength_factor`)."""
    from phism_cli.io.wavelengths import wavelength_factor

    if table.axis_unit not in ("wavelength_nm", "wavelength_um"):
        return
    try:
        wavelength_factor(table.axis, table.axis_unit.removeprefix("wavelength_"))
    except ValueError as exc:
        other = "wavelength_um" if table.axis_unit == "wavelength_nm" else "wavelength_nm"
        raise PhismError(f"{table.source}: the {what}'s axis: {exc}; say {other} (the CSV "
                         "header's first cell, the library's 'wavelength units', or the axis "
                         "unit option)") from None


def table_format(path: Path) -> str:
    """'csv', 'sli' (ENVI spectral library) or 'txt' (ASU text table), by suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    return "sli" if suffix in _LIBRARY_SUFFIXES else "txt"


def _check_readable(path: Path, what: str) -> None:
    from phism_cli.io.outputs import refuse_partial

    if not path.exists():
        raise PhismError(f"{path}: no such file (the {what})")
    if path.is_dir():
        raise PhismError(f"{path}: is a folder; give the {what} file")
    refuse_partial(path)


def _read_text(path: Path, what: str) -> str:
    from phism_cli.io.files import read_text_file

    return read_text_file(path, f"{path} (the {what})",
                          "a text table (or an ENVI library as .sli with its .hdr)")


def _csv_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row."""
    text = _read_text(path, what)
    reader = csv.reader(text.splitlines())
    rows = []
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise PhismError(f"{path}: line {reader.line_num} of the {what} is not valid CSV "
                         f"({exc}); fix that line") from None
    return rows


def _parse_cell(cell: str, where: str) -> float:
    text = cell.strip()
    if not text:
        raise PhismError(f"{where} is empty; a CSV table has no missing values, so fill it "
                         "or remove the spectrum")
    try:
        value = float(text)
    except ValueError:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise PhismError(f"{where} is {shown!r}, not a number; fix the cell") from None
    if not math.isfinite(value):
        raise PhismError(f"{where} is {text!r}; NaN and infinite values are not allowed in a "
                         "CSV table (it has no missing values): fix the cell or write .sli")
    return value


def _read_csv(path: Path, axis_unit: str | None, what: str) -> SpectralTable:
    rows = _csv_rows(path, what)
    if not rows:
        raise PhismError(f"{path}: the {what} is empty; give a header row "
                         f"({AXIS_UNITS[0]},name1,...) and one row per axis value")
    header_line, header = rows[0]
    unit = header[0].strip()
    if unit not in AXIS_UNITS:
        raise PhismError(f"{path}: the {what}'s first header cell (line {header_line}) is "
                         f"{unit!r}; it must name the axis unit: one of {', '.join(AXIS_UNITS)}")
    _check_unit_agrees(path, unit, axis_unit, what)
    names = [c.strip() for c in header[1:]]
    if not names:
        raise PhismError(f"{path}: the {what}'s header (line {header_line}) names no spectrum "
                         "column after the axis; add one column per spectrum")
    check_names(names, f"{path}: {what} header (line {header_line})",
                lambda i: f"column {i + 2}")
    data = rows[1:]
    if len(data) < 2:
        raise PhismError(f"{path}: the {what} has {len(data)} data row(s); a spectral table "
                         "needs at least 2 axis positions")
    values = np.empty((len(data), len(header)))
    for r, (line, cells) in enumerate(data):
        if len(cells) != len(header):
            raise PhismError(f"{path}: line {line} of the {what} has {len(cells)} cells but the "
                             f"header has {len(header)}; every row needs one value per column")
        for c, cell in enumerate(cells):
            column = header[c].strip()
            values[r, c] = _parse_cell(cell, f"{path}: line {line}, column {c + 1} "
                                             f"({column!r}) of the {what}")
    lines = [line for line, _ in data]
    check_axis(values[:, 0], f"{path}: {what}", lambda i: f"line {lines[i]}")
    return SpectralTable(values[:, 0], unit, names, values[:, 1:].T.copy(), path)


def _check_unit_agrees(path: Path, unit: str, axis_unit: str | None, what: str) -> None:
    if axis_unit is not None and axis_unit != unit:
        raise PhismError(f"{path}: the {what}'s axis is in {unit} but {axis_unit} was asked "
                         "for; fix the file or drop the axis unit option")


# ENVI spectral libraries -----------------------------------------------------------------------
def library_header_path(data_path: Path) -> Path:
    """Where the header of a library written to `data_path` goes: NAME.hdr beside NAME.sli."""
    return data_path.with_suffix(".hdr")


def find_library_pair(path: Path, what: str = "spectral library") -> tuple[Path, Path]:
    """(header, data) of an ENVI spectral library given either file."""
    if path.suffix.lower() == ".hdr":
        for suffix in _LIBRARY_DATA_SUFFIXES:
            candidate = path.with_suffix(suffix)
            if candidate != path and candidate.is_file():
                return path, candidate
        raise PhismError(f"{path}: ENVI header of a {what} without its data file (looked for "
                         f"{path.with_suffix('.sli').name} and others); put the .sli beside it")
    for header in (library_header_path(path), Path(f"{path}.hdr")):
        if header.is_file():
            return header, path
    raise PhismError(f"{path}: no ENVI header beside this {what} (looked for "
                     f"{library_header_path(path).name} and {path.name}.hdr); put the .hdr "
                     "beside it")


def _library_axis_unit(header: EnviHeader, axis_unit: str | None, what: str) -> str:
    text = (header.text("wavelength units") or "").strip()
    unit = _HEADER_UNITS.get(text.lower())
    if unit is None:
        if axis_unit is not None and text.lower() in ("", "unknown", "none"):
            return axis_unit
        found = f"is {text!r}" if text else "is missing"
        raise PhismError(f"{header.path}: the {what}'s 'wavelength units' {found}; write "
                         "Nanometers, Micrometers or Wavenumber there (or give the axis unit)")
    _check_unit_agrees(header.path, unit, axis_unit, what)
    return unit


def _library_axis(header: EnviHeader, samples: int, what: str) -> np.ndarray:
    if "wavelength" not in header:
        raise PhismError(f"{header.path}: the {what} has no 'wavelength' field; add the axis "
                         f"values ({samples}, one per sample)")
    items = header.strings("wavelength")
    if len(items) != samples:
        raise PhismError(f"{header.where('wavelength')} has {len(items)} values but 'samples' "
                         f"is {samples}; give one axis value per sample")
    values = [parse_number(item) for item in items]
    for i, value in enumerate(values):
        if value is None:
            raise PhismError(f"{header.where('wavelength')}: value {i + 1} is {items[i]!r}, not "
                             "a number; fix the header")
    axis = np.asarray(values, dtype=np.float64)
    check_axis(axis, f"{header.where('wavelength')}", lambda i: f"value {i + 1}")
    return axis


def _library_names(header: EnviHeader, lines: int, what: str) -> list[str]:
    if "spectra names" not in header:
        raise PhismError(f"{header.path}: the {what} has no 'spectra names' field; add one "
                         f"name per spectrum ({lines})")
    names = header.strings("spectra names")
    if len(names) != lines:
        raise PhismError(f"{header.where('spectra names')} has {len(names)} names but 'lines' "
                         f"is {lines}; give one name per spectrum")
    check_names(names, header.where("spectra names"))
    return names


def _library_values(header: EnviHeader, data_path: Path, lines: int, samples: int,
                    what: str) -> np.ndarray:
    data_type = header.integer("data type", 1)
    if data_type not in _ENVI_DTYPES:
        raise PhismError(f"{header.where('data type')} is {data_type}; a {what} must hold "
                         f"real numbers (data type {', '.join(map(str, _ENVI_DTYPES))})")
    byte_order = header.integer("byte order", 0, default=0, allowed=(0, 1))
    dtype = np.dtype(_ENVI_DTYPES[data_type]).newbyteorder(">" if byte_order else "<")
    offset = header.integer("header offset", 0, default=0)
    needed = offset + lines * samples * dtype.itemsize
    size = data_path.stat().st_size
    if size != needed:
        short = "is truncated: " if size < needed else ""
        raise PhismError(f"{data_path}: {short}{size} bytes on disk but the header "
                         f"({lines} spectra x {samples} samples of {dtype.name} after a "
                         f"{offset}-byte offset) needs {needed}; the file or its header is "
                         "wrong")
    raw = np.fromfile(data_path, dtype=dtype, count=lines * samples, offset=offset)
    values = raw.reshape(lines, samples).astype(np.float64)
    factor = header.number("reflectance scale factor")
    if factor is not None:
        if factor <= 0:
            raise PhismError(f"{header.where('reflectance scale factor')} is {factor}; it must "
                             "be positive")
        values /= factor
    if np.isinf(values).any():
        line, sample = np.argwhere(np.isinf(values))[0]
        raise PhismError(f"{data_path}: spectrum {line + 1}, sample {sample + 1} of the {what} "
                         "is infinite; fix the data (NaN marks a missing value)")
    return values


def _read_library(path: Path, axis_unit: str | None, what: str) -> SpectralTable:
    if path.suffix.lower() == ".hdr" and path.is_file():
        _check_library_type(read_envi_header(path), path, what)
    header_path, data_path = find_library_pair(path, what)
    header = read_envi_header(header_path)
    _check_library_type(header, header_path, what)
    samples = header.integer("samples", 1)
    lines = header.integer("lines", 1)
    bands = header.integer("bands", 1, default=1)
    if bands != 1:
        raise PhismError(f"{header.where('bands')} is {bands}; a spectral library has 1 band "
                         "(samples = axis positions, lines = spectra): fix the header")
    unit = _library_axis_unit(header, axis_unit, what)
    axis = _library_axis(header, samples, what)
    names = _library_names(header, lines, what)
    values = _library_values(header, data_path, lines, samples, what)
    return SpectralTable(axis, unit, names, values, path)


def _check_library_type(header: EnviHeader, header_path: Path, what: str) -> None:
    file_type = (header.text("file type") or "").strip()
    if file_type.lower() != LIBRARY_FILE_TYPE.lower():
        found = repr(file_type) if file_type else "missing"
        raise PhismError(f"{header_path}: 'file type' is {found}, so this is not an "
                         f"{LIBRARY_FILE_TYPE}; give a library (or a .csv table) as the {what}")


# ASU text tables -----------------------------------------------------------------------------
def _text_rows(path: Path, what: str) -> tuple[list[int], np.ndarray]:
    """Line numbers and values of a whitespace-separated table (blank and # lines skipped)."""
    numbers: list[int] = []
    rows: list[list[float]] = []
    width = 0
    for line_number, line in enumerate(_read_text(path, what).splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        width = width or len(parts)
        if len(parts) != width:
            raise PhismError(f"{path}: line {line_number} of the {what} has {len(parts)} "
                             f"values but line {numbers[0]} has {width}; every row needs the "
                             "same columns")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            column = next(i for i, p in enumerate(parts) if not _is_number(p))
            shown = parts[column] if len(parts[column]) <= 20 else parts[column][:20] + "..."
            raise PhismError(f"{path}: line {line_number}, column {column + 1} of the {what} "
                             f"is {shown!r}, not a number; fix the value") from None
        numbers.append(line_number)
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), width)
    return numbers, values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text_table(path: Path, names_path: Path | None, axis_unit: str | None,
                     what: str) -> SpectralTable:
    lines, values = _text_rows(path, what)
    if len(lines) < 2 or values.shape[1] < 2:
        raise PhismError(f"{path}: the {what} has {len(lines)} row(s) of {values.shape[1]} "
                         "value(s); a text table needs at least 2 rows of an axis value and "
                         "one value per spectrum")
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, column = bad[0]
        raise PhismError(f"{path}: line {lines[row]}, column {column + 1} of the {what} is "
                         f"{values[row, column]!r}; write 0 for a missing value")
    check_axis(values[:, 0], f"{path}: {what}", lambda i: f"line {lines[i]}")
    n_spectra = values.shape[1] - 1
    if names_path is None:
        names = [f"column_{i + 1}" for i in range(n_spectra)]
    else:
        names = read_names(Path(names_path), what=f"names of the {what}")
        if len(names) != n_spectra:
            raise PhismError(f"{names_path}: {len(names)} names for the {n_spectra} spectrum "
                             f"columns of {path}; give one name per spectrum column")
    spectra = values[:, 1:].T.copy()
    spectra[spectra == 0.0] = np.nan  # ASU tables write 0 for a missing band
    return SpectralTable(values[:, 0], axis_unit or DEFAULT_TEXT_AXIS_UNIT, names, spectra,
                         path)


def read_names(path: Path, what: str = "names", keep_repeats: bool = False) -> list[str]:
    """Spectrum names from a CSV with a `sample_name` (or `name`) column, or from a text file
    of one name per line (blank lines skipped). Repeated names become 'name (2)', ...
    unless `keep_repeats`."""
    _check_readable(path, what)
    if path.suffix.lower() == ".csv":
        names = _names_from_csv(path, what)
    else:
        names = [line.strip() for line in _read_text(path, what).splitlines() if line.strip()]
    if not names:
        raise PhismError(f"{path}: the {what} file holds no names; give one name per spectrum")
    return names if keep_repeats else unique_names(names)


def _names_from_csv(path: Path, what: str) -> list[str]:
    rows = _csv_rows(path, what)
    if not rows:
        return []
    header_line, header = rows[0]
    columns = [c.strip().lower() for c in header]
    wanted = next((c for c in NAME_COLUMNS if c in columns), None)
    if wanted is None:
        raise PhismError(f"{path}: the {what} header (line {header_line}) has no "
                         f"{' or '.join(repr(c) for c in NAME_COLUMNS)} column (found "
                         f"{', '.join(repr(c) for c in header[:8])}); name the column of "
                         "spectrum names so")
    index = columns.index(wanted)
    names = []
    for line, cells in rows[1:]:
        if index >= len(cells) or not cells[index].strip():
            raise PhismError(f"{path}: line {line} of the {what} has no {wanted!r} value; give "
                             "every spectrum a name")
        names.append(cells[index].strip())
    return names


def unique_names(names: Sequence[str]) -> list[str]:
    """`names` with repeats told apart: the first keeps its name, later ones get ' (2)', ..."""
    taken = set(names)
    seen: set[str] = set()
    result = []
    for name in names:
        if name in seen:
            n = 2
            while f"{name} ({n})" in taken:
                n += 1
            name = f"{name} ({n})"
            taken.add(name)
        seen.add(name)
        result.append(name)
    return result


# -- writing ------------------------------------------------------------------------------------
def output_table_format(path: Path) -> str:
    """The format a table written to `path` gets: .csv, .sli or .txt."""
    fmt = {".csv": "csv", ".sli": "sli", ".txt": "txt"}.get(Path(path).suffix.lower())
    if fmt is None:
        raise PhismError(f"{path}: a spectral table is written as .csv, .sli (ENVI spectral "
                         "library) or .txt (ASU text table); give one of those suffixes")
    return fmt


def write_spectral_table(path: Path, table: SpectralTable, fmt: str | None = None) -> None:
    """Write `table` to `path` as `fmt` (csv, sli or txt; default: from the suffix). An ENVI
    library's header goes beside it (NAME.hdr); a text table keeps no names."""
    path = Path(path)
    fmt = fmt or output_table_format(path)
    if fmt not in TABLE_FORMATS:
        raise PhismError(f"{path}: table format {fmt!r} is unknown; use "
                         f"{', '.join(TABLE_FORMATS)}")
    if fmt == "csv":
        write_table_csv(path, table)
    elif fmt == "sli":
        write_spectral_library(path, library_header_path(path), table)
    else:
        write_text_table(path, table)


def _check_writable(path: Path, table: SpectralTable, missing_allowed: bool, fmt: str) -> None:
    check_axis(table.axis, f"{path}: the table to write")
    check_names(table.names, f"{path}: the table to write")
    if not missing_allowed and np.isnan(table.spectra).any():
        name = table.names[int(np.argwhere(np.isnan(table.spectra))[0][0])]
        raise PhismError(f"{path}: spectrum {name!r} has missing (NaN) values, which a {fmt} "
                         "table cannot hold; write it as .sli")
    if np.isinf(table.spectra).any():
        name = table.names[int(np.argwhere(np.isinf(table.spectra))[0][0])]
        raise PhismError(f"{path}: spectrum {name!r} has infinite values; nothing was written")


def _write_text(path: Path, text: str | bytes) -> None:
    from phism_cli.io.outputs import describe_os_error

    try:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise PhismError(describe_os_error(exc, "write", path)) from None


def _formatter(values: np.ndarray) -> Callable[[float], str]:
    """Shortest text for each value: float32 precision when every value is a float32 (exact
    round trip as float32), else full float64 precision (exact round trip)."""
    finite = values[np.isfinite(values)]
    if np.array_equal(finite.astype(np.float32).astype(np.float64), finite):
        return lambda v: str(np.float32(v))
    return lambda v: repr(float(v))


def write_table_csv(path: Path, table: SpectralTable) -> None:
    import io

    _check_writable(path, table, missing_allowed=False, fmt="CSV")
    axis_text, value_text = _formatter(table.axis), _formatter(table.spectra)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([table.axis_unit, *table.names])
    for c, position in enumerate(table.axis):
        writer.writerow([axis_text(position), *(value_text(v) for v in table.spectra[:, c])])
    _write_text(path, buffer.getvalue())


def write_spectral_library(data_path: Path, header_path: Path, table: SpectralTable) -> None:
    """Write `table` as an ENVI spectral library: float32 little-endian data, its header."""
    _check_writable(data_path, table, missing_allowed=True, fmt="library")
    for name in table.names:
        if any(ch in name for ch in ",{}\n\r"):
            raise PhismError(f"{data_path}: spectrum name {name!r} holds a comma, brace or line "
                             "break, which an ENVI header cannot hold; rename it or write .csv")
    data = table.spectra.astype("<f4")
    if np.isinf(data).any() and not np.isinf(table.spectra).any():
        raise PhismError(f"{data_path}: values beyond the float32 range cannot be written to "
                         "an ENVI library; write .csv")
    samples, lines = table.axis.size, len(table.names)
    header = (
        "ENVI\n"
        "description = {phism spectral library}\n"
        f"samples = {samples}\nlines = {lines}\nbands = 1\nheader offset = 0\n"
        f"file type = {LIBRARY_FILE_TYPE}\ndata type = 4\ninterleave = bsq\nbyte order = 0\n"
        f"wavelength units = {_HEADER_UNIT_NAMES[table.axis_unit]}\n"
        f"wavelength = {{{', '.join(repr(float(v)) for v in table.axis)}}}\n"
        f"spectra names = {{{', '.join(table.names)}}}\n"
    )
    _write_text(data_path, np.ascontiguousarray(data).tobytes())
    _write_text(header_path, header)


def write_text_table(path: Path, table: SpectralTable) -> None:
    """Write the ASU layout: axis then one column per spectrum, tab-separated, 0 = missing."""
    _check_writable(path, table, missing_allowed=True, fmt="text")
    if (table.spectra == 0).any():
        name = table.names[int(np.argwhere(table.spectra == 0)[0][0])]
        raise PhismError(f"{path}: spectrum {name!r} holds the value 0, which a text table "
                         "reads back as a missing band; write .csv or .sli")
    axis_text, value_text = _formatter(table.axis), _formatter(table.spectra)
    spectra = np.nan_to_num(table.spectra, nan=0.0)
    lines = ["\t".join([axis_text(position), *(value_text(v) for v in spectra[:, c])])
             for c, position in enumerate(table.axis)]
    _write_text(path, "\n".join(lines) + "\n")


# -- recognisers for --overwrite ---------------------------------------------------------------
def is_spectral_table_csv(path: Path) -> bool:
    """A CSV whose header's first cell is an axis unit or 'spectrum' (tables phism writes)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_RECOGNISE_BYTES)
        first_line = head.decode("utf-8-sig").splitlines()[0]
        first = next(csv.reader([first_line]))
    except (OSError, UnicodeDecodeError, IndexError, StopIteration, csv.Error):
        return False
    return bool(first) and first[0].strip() in (*AXIS_UNITS, "spectrum")


def is_spectral_library(path: Path) -> bool:
    """An ENVI spectral library: `path` is its header, or its data with the header beside."""
    path = Path(path)
    header = path if path.suffix.lower() == ".hdr" else library_header_path(path)
    try:
        file_type = read_envi_header(header).text("file type") or ""
    except PhismError:
        return False
    return file_type.strip().lower() == LIBRARY_FILE_TYPE.lower()
