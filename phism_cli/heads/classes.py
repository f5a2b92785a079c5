"""Class names and colours that travel from label rasters through a head into class maps."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence
from typing import Any

from phism_cli.io.labels import Colour, LabelRaster


def default_colour(index: int) -> Colour:
    """Distinct colours by walking the hue circle in golden-ratio steps."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.75, 0.9)
    return (round(r * 255), round(g * 255), round(b * 255), 255)


def class_table(values: Iterable[int], rasters: Sequence[LabelRaster]) -> list[dict[str, Any]]:
    """One entry per class value: its name and colour from the first label raster that has
    them, else `class_<value>` and a generated colour."""
    table = []
    for index, value in enumerate(sorted(int(v) for v in values)):
        name = next((r.class_names[value] for r in rasters if value in r.class_names),
                    f"class_{value}")
        colour = next((r.colours[value] for r in rasters if value in r.colours),
                      default_colour(index))
        table.append({"value": value, "name": name, "colour": list(colour)})
    return table
