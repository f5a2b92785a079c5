"""Lists of band numbers as users write them: 1-based numbers and ranges, `108-112,154-167,224`
(AVIRIS's water-absorption bands). Standard library only: the command line checks the
syntax before anything heavy is imported."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["format_band_list", "parse_band_list"]

_ITEM = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def parse_band_list(spec: str, n_bands: int | None = None) -> list[int]:
    """The 1-based band numbers `spec` names, ascending and without repeats. Raises
    ValueError with a phrase for a malformed item, a range that runs backwards, band 0, or
    (given `n_bands`) a band beyond the last."""
    numbers: set[int] = set()
    items = spec.split(",")
    if not spec.strip():
        raise ValueError("no band is named; give numbers and ranges such as 108-112,224")
    for item in items:
        match = _ITEM.fullmatch(item)
        if match is None:
            shown = item.strip() if len(item.strip()) <= 20 else item.strip()[:20] + "..."
            raise ValueError(f"{shown or 'an empty item'!r} is neither a band number nor a "
                             "range such as 108-112")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        if first > last:
            raise ValueError(f"the range {first}-{last} runs backwards; write {last}-{first}")
        if first < 1:
            raise ValueError("bands are numbered from 1, so band 0 does not exist")
        if n_bands is not None and last > n_bands:
            raise ValueError(f"band {last} does not exist: the file has {n_bands} "
                             f"band{'s' if n_bands != 1 else ''}")
        numbers.update(range(first, last + 1))
    return sorted(numbers)


def format_band_list(numbers: Iterable[int]) -> str:
    """1-based band numbers written as `parse_band_list` reads them: 108-112,154-167,224."""
    ordered = sorted(set(int(n) for n in numbers))
    pieces: list[str] = []
    start = previous = None
    for n in ordered:
        if start is None:
            start = previous = n
        elif n == previous + 1:
            previous = n
        else:
            pieces.append(_piece(start, previous))
            start = previous = n
    if start is not None:
        pieces.append(_piece(start, previous))
    return ",".join(pieces)


def _piece(first: int, last: int | None) -> str:
    return str(first) if last is None or last == first else f"{first}-{last}"
