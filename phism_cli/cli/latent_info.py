"""`phism info LATENTS` as text: the summary of `pipeline.latent_summary`, a few aligned lines
per section. Standard library only (the summary is a plain dictionary)."""

from __future__ import annotations

import math
from typing import Any

from phism_cli.text import plural

BAR_WIDTH = 24


def _num(value: float | None, spec: str, width: int) -> str:
    """`value` right-aligned in `width` characters; '-' where there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"


def _percent(value: float | None, width: int = 8) -> str:
    """A fraction as a percentage in `width` characters; '-' where there is none."""
    if value is None:
        return f"{'-':>{width}}"
    return _num(100 * value, ".1f", width - 2) + " %"


def header_lines(s: dict[str, Any]) -> list[str]:
    valid, pixels = s["valid_pixels"], s["pixels"]
    model = s["model_path"] or "unknown"
    if s["model_sha256"]:
        model += f" (sha256 {s['model_sha256'][:12]})"
    values = {"pca": "principal-component scores in the input's units",
              "mlp": "unitless values"}.get(s["decoder"], "values")
    decoder = (f"basis ({s['basis']}), K = {s['n_components']}" if s["decoder"] == "basis"
               else f"{s['decoder']}, {len(s['channels'])} {values}")
    return [
        f"path:        {s['path']} ({s['format']}, phism latent map)",
        f"size:        {s['height']} rows x {s['width']} cols x "
        f"{plural(len(s['channels']), 'channel')}",
        f"valid:       {valid} of {pixels} pixels ({100 * valid / max(pixels, 1):.1f} %)",
        f"model:       {model}",
        f"decoder:     {decoder}",
        f"axis:        {s['axis_min']:.2f}-{s['axis_max']:.2f} {s['axis_unit']}",
        f"crs:         {s.get('crs')}",
    ]


def component_lines(s: dict[str, Any]) -> list[str]:
    unit, qs = s["axis_unit"], s["percentiles"]
    order = ("c0 has the shortest centre in each pixel" if s.get("sorted_by_centre")
             else "slots in the network's order")
    lines = [f"per component slot ({order}; {unit}):",
             f"{'':<5}{'centre p' + format(qs[0], 'g'):>12}"
             + "".join(f"{'p' + format(q, 'g'):>9}" for q in qs[1:])
             + f"{'width':>9}{'alpha':>8}{'amp':>9}{'amp<0':>9}"]
    for row in s["components"]:
        p = row["centre_percentiles"]
        lines.append(
            f"{'c' + str(row['component']):<5}" + _num(p[0], ".1f", 12)
            + "".join(_num(v, ".1f", 9) for v in p[1:]) + _num(row["width_median"], ".1f", 9)
            + _num(row["alpha_median"], ".2f", 8) + _num(row["amp_median"], ".3g", 9)
            + _percent(row["negative_amp_fraction"], 9))
    lines.append("(width, alpha, amp: medians; amp<0: share of pixels where the component "
                 "is a dip below the mean spectrum)")
    brightness = s.get("brightness")
    if brightness is not None:
        lines.append("brightness:  " + "  ".join(
            f"p{q:g} {_num(v, '.3f', 0)}"
            for q, v in zip(qs, brightness["percentiles"], strict=True))
            + "  (1 = the model's reference spectrum)")
    return lines


def centre_lines(s: dict[str, Any]) -> list[str]:
    hist, unit = s["centre_histogram"], s["axis_unit"]
    bins = hist["bins"]
    most = max((b["count"] for b in bins), default=0)
    lines = [f"centres of {hist['total']} components (every pixel, every component) in "
             f"{len(bins)} bins:",
             f"  {'range ' + unit:<19}{'count':>10}{'share':>9}{'amp<0':>9}"]
    for b in bins:
        bar = "#" * (round(BAR_WIDTH * b["count"] / most) if most else 0)
        lines.append(f"  {b['start']:>8.1f}-{b['stop']:<10.1f}{b['count']:>10}"
                     f"{_percent(b['fraction'], 9)}{_percent(b['negative_amp_fraction'], 9)}"
                     f"  {bar}")
    if hist["outside_axis"]:
        lines.append(f"  ({hist['outside_axis']} centres lie outside the axis)")
    features = ", ".join(f"{f['centre']:.0f} {unit} ({100 * f['fraction']:.1f} %)"
                         for f in s["features"])
    lines.append(f"features near: {features or 'none (no bin stands out)'}")
    return lines


def channel_lines(s: dict[str, Any]) -> list[str]:
    width = max([7, *(len(r["name"]) for r in s["channel_stats"])]) + 2
    lines = [f"{'channel':<{width}}{'mean':>11}{'std':>11}{'p5':>11}{'p95':>11}"]
    for row in s["channel_stats"]:
        lines.append(f"{row['name']:<{width}}" + "".join(
            _num(row[key], ".4g", 11) for key in ("mean", "std", "p5", "p95")))
    return lines


def latent_summary_text(summary: dict[str, Any]) -> str:
    """The text `phism info LATENTS` prints."""
    sections = [header_lines(summary)]
    if summary["valid_pixels"] == 0:
        sections.append(["no valid pixels: every pixel is nodata"])
    elif "components" in summary:
        sections += [component_lines(summary), centre_lines(summary)]
    else:
        sections.append(channel_lines(summary))
    return "\n\n".join("\n".join(lines) for lines in sections)
