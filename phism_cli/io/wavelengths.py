"""Parsing wavelengths and their units from the many ways sensors write them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from phism_cli.text import plural

# Factor that turns a value in the given unit into nanometres.
_UNIT_TO_NM: dict[str, float] = {
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometers": 1.0,
    "nanometre": 1.0,
    "nanometres": 1.0,
    "um": 1000.0,
    "µm": 1000.0,
    "micron": 1000.0,
    "microns": 1000.0,
    "micrometer": 1000.0,
    "micrometers": 1000.0,
    "micrometre": 1000.0,
    "micrometres": 1000.0,
    "mm": 1e6,
    "millimeter": 1e6,
    "millimeters": 1e6,
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# "376.44 Nanometers", "band 1 (418.24 Nanometers)", "B5 0.865 um", "450nm"
_UNITS = "|".join(sorted(_UNIT_TO_NM, key=len, reverse=True))
_NAME_WITH_UNIT = re.compile(rf"({_NUMBER})\s*({_UNITS})\b", re.IGNORECASE)


def unit_to_nm_factor(unit: str | None) -> float | None:
    """Return the factor from `unit` to nm, or None if the unit is unknown or not a length."""
    if unit is None:
        return None
    key = unit.strip().lower()
    return _UNIT_TO_NM.get(key)


# Band centres without a stated unit: below this every value can only be micrometres (no
# sensor has bands under 30 nm; thermal sensors reach 14 µm), from `_NANOMETRES_FROM` on only
# nanometres; in between the numbers fit neither and the unit must be given.
MICROMETRES_BELOW = 30.0
_NANOMETRES_FROM = 100.0
WAVELENGTH_UNITS = ("nm", "um")  # what --wavelength-unit takes (and the spellings above)


def wavelength_factor(values: Sequence[float] | np.ndarray, unit: str | None,
                      override: str | None = None) -> tuple[float, str | None]:
    """nm per unit of wavelengths `values` stated in `unit` (None: not stated), or in
    `override` (the user's --wavelength-unit, which wins over the file's unit).

    Returns the factor and, when the unit was read from the values, a phrase saying so.
    Raises ValueError with a phrase when a stated unit cannot be right (values below 30
    "nanometres" can only be micrometres, values of 100 or more "micrometres" only
    nanometres) or when unstated values fit neither unit."""
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr) & (arr > 0)]  # the others are refused by name later
    if finite.size == 0:
        return 1.0, None
    low, high = float(finite.min()), float(finite.max())
    stated = override if override is not None else unit
    factor = unit_to_nm_factor(stated)
    shown = f"{low:g}-{high:g}" if low != high else f"{low:g}"
    if factor is None:
        if high < MICROMETRES_BELOW:
            return 1000.0, (f"wavelengths {shown} have no unit and are all below "
                            f"{MICROMETRES_BELOW:g}, so they were read as micrometres")
        if low >= MICROMETRES_BELOW and high >= _NANOMETRES_FROM:
            return 1.0, None
        if low < MICROMETRES_BELOW:
            raise ValueError(f"wavelengths {shown} have no unit and mix values below "
                             f"{MICROMETRES_BELOW:g} (micrometres?) with larger ones "
                             "(nanometres?)")
        raise ValueError(f"wavelengths {shown} have no unit, and numbers up to {high:g} are "
                         "neither plausible nanometres nor micrometres")
    if factor == 1.0 and low < MICROMETRES_BELOW:
        what = "these can only be micrometres" if high < MICROMETRES_BELOW else \
            f"a band at {low:g} nm cannot be"
        raise ValueError(f"wavelengths {shown} are said to be in {stated}, but no imaging-"
                         f"spectrometer band lies below {MICROMETRES_BELOW:g} nm: {what}")
    if factor == 1000.0 and high >= _NANOMETRES_FROM:
        what = "these can only be nanometres" if low >= _NANOMETRES_FROM else \
            f"a band at {high:g} µm cannot be"
        raise ValueError(f"wavelengths {shown} are said to be in {stated}, but no imaging-"
                         f"spectrometer band lies at {_NANOMETRES_FROM:g} µm or more: {what}")
    return factor, None


def check_wavelength_unit(unit: str) -> str:
    """A --wavelength-unit value, refused (ValueError) unless it names nm or µm."""
    factor = unit_to_nm_factor(unit)
    if factor not in (1.0, 1000.0):
        raise ValueError(f"{unit!r} is not a wavelength unit phism reads; give nm or um")
    return unit


def wavelength_from_name(name: str) -> float | None:
    """Extract a wavelength in nm from a band name such as 'band 1 (418.24 Nanometers)'."""
    matches = _NAME_WITH_UNIT.findall(name)
    if not matches:
        return None
    value, unit = matches[-1]
    factor = unit_to_nm_factor(unit)
    return None if factor is None else float(value) * factor


def wavelengths_from_names(names: Sequence[str]) -> np.ndarray | None:
    """Wavelengths in nm parsed from every band name, or None unless every name yields one."""
    if not names:
        return None
    parsed = [wavelength_from_name(n) for n in names]
    if any(p is None for p in parsed):
        return None
    return np.asarray(parsed, dtype=np.float64)


def parse_wavelength_spec(spec: str, n_bands: int) -> np.ndarray:
    """Parse a user's wavelength flag: 'START:STOP' (nm, evenly spaced) or comma-separated values.

    A path to a text file with one value per line (or comma separated) is also accepted.
    Raises ValueError with a phrase saying what is wrong.
    """
    from pathlib import Path

    text = spec.strip()
    if _names_a_file(text):
        try:
            text = Path(text).read_text(errors="replace").replace("\n", ",")
        except OSError as exc:
            raise ValueError(f"cannot read the file ({exc.strerror})") from None
    if ":" in text and "," not in text:
        parts = text.split(":")
        ends = [_positive_number(p) for p in parts]
        if len(parts) != 2 or None in ends or ends[0] == ends[1]:
            raise ValueError("START:STOP needs two different positive numbers")
        return np.linspace(ends[0], ends[1], n_bands)
    items = [v for v in re.split(r"[,\s]+", text) if v]
    values = [_positive_number(v) for v in items]
    bad = [item for item, value in zip(items, values, strict=True) if value is None]
    if bad:
        shown = bad[0] if len(bad[0]) <= 20 else bad[0][:20] + "..."
        raise ValueError(f"{shown!r} is not a positive number")
    if len(values) != n_bands:
        raise ValueError(f"{plural(len(values), 'wavelength')} given for {plural(n_bands, 'band')}")
    return np.asarray(values, dtype=np.float64)


def _positive_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) and value > 0 else None


def _names_a_file(text: str) -> bool:
    """True when `text` is the path of an existing file (a long list of values is not: the OS
    refuses such names with 'File name too long')."""
    from pathlib import Path

    try:
        return Path(text).is_file()
    except OSError:
        return False
