"""`phism info SCENE` as text: what `Scene.describe()` says, one aligned line per field.
Standard library only."""

from __future__ import annotations

from typing import Any

from phism_cli.io.band_lists import format_band_list
from phism_cli.text import plural


def _short(value: object) -> str:
    """A per-band list is summarised; a single value is shown as it is."""
    if isinstance(value, list):
        return f"per band ({min(value)}..{max(value)})"
    return str(value)


def _spread(values: list[float] | None, unit: str = "nm") -> str:
    if not values:
        return "none"
    low, high = min(values), max(values)
    return f"{low:.2f} {unit}" if low == high else f"{low:.2f}-{high:.2f} {unit}"


def scene_summary_text(s: dict[str, Any]) -> str:
    """The text `phism info SCENE` prints."""
    wl = s["wavelength_nm"]
    lines = [f"path:        {s['path']} ({s['format']})"]
    if s.get("variable") is not None or s.get("layout_text"):
        name = s.get("variable")
        lines.append(f"array:       {name + ': ' if name else ''}{s['layout_text']}")
        if s.get("other_arrays"):
            lines.append(f"also holds:  {', '.join(s['other_arrays'])}")
    if s.get("product"):
        lines.append(f"product:     {s['product']}")
    lines += [
        f"size:        {s['height']} rows x {s['width']} cols x {plural(s['bands'], 'band')} "
        f"({s['source_bands']} in file), {s['dtype']}",
        "wavelengths: " + ("none (band numbers are used)" if wl is None else _spread(wl)),
        f"fwhm:        {_spread(s['fwhm_nm'])}",
        f"bad bands:   {format_band_list(s['bad_bands']) or 'none'}"
        + (" (dropped)" if s["bad_bands_dropped"] else ""),
    ]
    marked = set(s["bad_bands"]) if s["bad_bands_dropped"] else set()
    if set(s.get("dropped_bands") or ()) - marked:  # the band options dropped more
        lines.append(f"bands read:  all but {format_band_list(s['dropped_bands'])}")
    lines += [
        f"nodata:      {_short(s['nodata'])}",
        f"scale:       {_short(s['scale'])} offset {_short(s['offset'])}",
        f"crs:         {s['crs']}",
        f"transform:   {s['transform']}",
    ]
    lines += [f"note:        {note}" for note in s.get("notes", [])]
    return "\n".join(lines)
