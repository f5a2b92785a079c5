"""`phism info OUTPUT` as text: the summary of `pipeline.output_summary` (a phism raster
output other than a latent map). Standard library only."""

from __future__ import annotations

from typing import Any

from phism_cli.text import plural

MAX_ROWS = 16  # channels listed in full up to this many; else the first and last few


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "-" if value is None else str(value)


def header_lines(s: dict[str, Any]) -> list[str]:
    n = len(s["channels"])
    lines = [
        f"path:        {s['path']} ({s['format']}, {s['phism_format']})",
        f"variable:    {s['variable']}",
        f"size:        {s['height']} rows x {s['width']} cols x {plural(n, 'channel')}, "
        f"{s['dtype']}, "
        f"nodata {s['nodata']}",
        f"crs:         {s['crs']}",
        f"transform:   {s['transform']}",
    ]
    layout = s["layout"]
    if "block" in layout:
        text = f"tiled {layout['block'][0]} x {layout['block'][1]}, " \
               f"{(layout['compression'] or 'no').lower()} compression"
        if layout["cog"]:
            text += f", Cloud-Optimized GeoTIFF with {len(layout['overviews'])} overviews"
        elif layout["overviews"]:
            text += f", {len(layout['overviews'])} overviews"
        lines.append(f"layout:      {text}")
    else:
        lines.append(f"layout:      Zarr chunks {' x '.join(str(c) for c in layout['chunks'])}")
    if s["classes"]:
        names = ", ".join(f"{c['value']} {c['name']}" for c in s["classes"])
        where = f" (GDAL category names in {s['sidecar']})" if s.get("sidecar") else ""
        lines.append(f"classes:     {names}{where}")
    return lines


def channel_lines(s: dict[str, Any]) -> list[str]:
    rows = s["channels"]
    extra = [key for key in ("wavelength_nm", "fwhm_nm", "source_band") if key in rows[0]]
    width = max(len(r["name"]) for r in rows) + 2
    unit = max([4, *(len(_value(r["unit"])) for r in rows)]) + 2
    titles = {"wavelength_nm": "wavelength nm", "fwhm_nm": "fwhm nm",
              "source_band": "source band"}
    lines = [f"{'band':>6}  {'name':<{width}}{'unit':<{unit}}"
             + "".join(f"{titles[k]:>15}" for k in extra)]
    shown = rows if len(rows) <= MAX_ROWS else [*rows[:MAX_ROWS // 2], None,
                                                *rows[-(MAX_ROWS // 4):]]
    for row in shown:
        if row is None:
            lines.append(f"{'...':>6}  ({len(rows) - MAX_ROWS // 2 - MAX_ROWS // 4} more; "
                         "all with --json)")
            continue
        lines.append(f"{row['band']:>6}  {row['name']:<{width}}{_value(row['unit']):<{unit}}"
                     + "".join(f"{_value(row[k]):>15}" for k in extra))
    return lines


def metadata_lines(s: dict[str, Any]) -> list[str]:
    meta = s["metadata"]
    width = max([len(k) for k in meta] + [8]) + 2
    return ["phism metadata:"] + [f"  {key + ':':<{width}}{value}"
                                  for key, value in meta.items()]


def output_summary_text(summary: dict[str, Any]) -> str:
    """The text `phism info OUTPUT` prints."""
    sections = [header_lines(summary), channel_lines(summary), metadata_lines(summary)]
    return "\n\n".join("\n".join(lines) for lines in sections)
