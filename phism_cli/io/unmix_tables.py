"""CSV outputs of `phism unmix`: abundances per spectrum and fitted physical parameters."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["PARAMS_COLUMNS", "is_unmix_csv", "write_abundance_csv", "write_params_csv"]

PARAMS_COLUMNS = ("spectrum", "endmember", "group", "parameter", "unit", "value",
                  "library_value", "lower", "upper")


def write_abundance_csv(path: Path, spectrum_names: Sequence[str],
                        endmember_names: Sequence[str], abundances: np.ndarray,
                        rms: np.ndarray) -> None:
    """Columns: spectrum, one per endmember (library order), rms."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["spectrum", *endmember_names, "rms"])
        for name, row, error in zip(spectrum_names, abundances, rms, strict=True):
            writer.writerow([name, *(f"{v:.9g}" for v in row), f"{error:.9g}"])


def write_params_csv(path: Path, rows: Iterable[Sequence[object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PARAMS_COLUMNS)
        for row in rows:
            writer.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in row])


def is_unmix_csv(path: Path) -> bool:
    """A CSV phism unmix wrote: its header starts with 'spectrum' (for --overwrite)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            first = handle.readline(65536)
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith("spectrum,")
