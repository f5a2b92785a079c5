"""Parsing wavelengths and their units from the many ways sensors write them."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

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


def nm_factor(wavelengths: Sequence[float] | np.ndarray, unit: str | None) -> float:
    """Factor from the wavelengths' unit to nm; without a known unit, < 100 is taken as µm."""
    factor = unit_to_nm_factor(unit)
    if factor is None:
        factor = 1000.0 if np.nanmax(np.asarray(wavelengths, dtype=np.float64)) < 100.0 else 1.0
    return factor


def to_nanometres(values: Sequence[float] | np.ndarray, unit: str | None) -> np.ndarray:
    """Convert wavelengths to nm (unit guessed from magnitude when unknown)."""
    arr = np.asarray(values, dtype=np.float64)
    return arr * nm_factor(arr, unit)


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
            raise ValueError("START:STOP needs two different positive numbers in nm")
        return np.linspace(ends[0], ends[1], n_bands)
    items = [v for v in re.split(r"[,\s]+", text) if v]
    values = [_positive_number(v) for v in items]
    bad = [item for item, value in zip(items, values, strict=True) if value is None]
    if bad:
        shown = bad[0] if len(bad[0]) <= 20 else bad[0][:20] + "..."
        raise ValueError(f"{shown!r} is not a positive number of nm")
    if len(values) != n_bands:
        raise ValueError(f"{len(values)} wavelengths given for {n_bands} bands")
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
