"""What makes phism's GeoTIFFs read fully in GDAL and QGIS: creation options (phism's defaults,
overridden by `--co`), Cloud-Optimized GeoTIFF conversion (`--cog`) and the GDAL PAM sidecar
(`OUTPUT.tif.aux.xml`) that carries a class map's category names and attribute table, which
the GeoTIFF format itself cannot hold."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phism_cli.errors import PhismError

if TYPE_CHECKING:
    from phism_cli.io.rasters import RasterSpec

GTIFF_DOCS = "https://gdal.org/en/stable/drivers/raster/gtiff.html"
COG_DOCS = "https://gdal.org/en/stable/drivers/raster/cog.html"
# GDAL's COG driver copies only "safe" metadata domains, and asking for more (SRC_MDD,
# COPY_SRC_MDD) drops every band's own metadata (GDAL 3.10): a COG keeps phism's metadata in
# the default domain under this key as well.
COG_METADATA_KEY = "PHISM_METADATA"
# GDAL's raster attribute table codes (gdal.h: GDALRATFieldType, GDALRATFieldUsage).
_INTEGER, _STRING = 0, 2
_USAGE = {"Value": 5, "Class": 2, "Red": 6, "Green": 7, "Blue": 8, "Alpha": 9}


def sidecar_path(path: Path) -> Path:
    """The GDAL PAM file beside a raster: `NAME.aux.xml`."""
    return path.with_name(f"{path.name}.aux.xml")


def sidecar_paths(path: str | Path) -> list[Path]:
    """Files that belong to the raster at `path` and must move (and go) with it: GDAL's PAM
    sidecar `NAME.aux.xml` (category names of a class map; statistics QGIS adds later).
    Cheap to import (no GDAL, no Zarr): `io.outputs` may use it."""
    return [sidecar_path(Path(path))]


_SMALLEST_TILE = 16  # GeoTIFF tiles are multiples of 16 pixels


def tile_edge(spec: RasterSpec) -> int:
    """The GeoTIFF tile edge: the streaming tile (a multiple of 16, at most 512), halved
    while it is larger than the image (halving keeps tiles aligned with the windows written,
    so no tile is written twice); 0 for an image under 16 pixels on a side (no tiles)."""
    edge = max(_SMALLEST_TILE, (min(spec.tile_size, 512) // _SMALLEST_TILE) * _SMALLEST_TILE)
    side = min(spec.height, spec.width)
    if side < _SMALLEST_TILE:
        return 0
    while edge > side and (edge // 2) % _SMALLEST_TILE == 0:
        edge //= 2
    return edge


# The tiled GeoTIFF written before the COG conversion. GDAL builds the overviews from it one
# band at a time: a pixel-interleaved block of a many-band image (256 x 256 x 200 float32 is
# 52 MB) then falls out of phism's 64 MB block cache band after band, and a 400 x 1000 x 200
# rendering took 15 minutes. Band-interleaved blocks are one band's (256 KB), so the cache
# holds a row of them whatever the band count; the COG itself is still pixel-interleaved.
# The file is deleted after the copy, so it is compressed for speed, not size.
COG_INTERMEDIATE_OPTIONS = {"INTERLEAVE": "BAND", "ZSTD_LEVEL": "1"}


def geotiff_creation_options(spec: RasterSpec) -> dict[str, str]:
    """phism's GeoTIFF creation options, then the user's `--co` over them. Blocks are never
    larger than the image: small images are tiled smaller, tiny ones written in strips."""
    tile = tile_edge(spec)
    layout = {"TILED": "YES", "BLOCKXSIZE": str(tile), "BLOCKYSIZE": str(tile)} if tile else \
        {"TILED": "NO", "BLOCKYSIZE": str(spec.height)}
    options = {**layout, "COMPRESS": "ZSTD", "INTERLEAVE": "PIXEL", "BIGTIFF": "IF_SAFER"}
    if np.dtype(spec.dtype).kind == "f":
        options["PREDICTOR"] = "3"
    if spec.cog:
        options.update(COG_INTERMEDIATE_OPTIONS)
    else:
        options.update(spec.creation_options)
    return options


def overview_resampling(spec: RasterSpec) -> str:
    """Averages for continuous values; the most frequent value for classes."""
    categorical = spec.category_names is not None or spec.colormap is not None or \
        np.dtype(spec.dtype).kind in "iu"
    return "MODE" if categorical else "AVERAGE"


def cog_creation_options(spec: RasterSpec) -> dict[str, str]:
    """The COG driver's options for `spec`, then the user's `--co` over them."""
    # GDAL's COG driver takes no block under 128 pixels, whatever the image's size.
    options = {"COMPRESS": "ZSTD", "BLOCKSIZE": str(max(128, tile_edge(spec))),
               "BIGTIFF": "IF_SAFER", "RESAMPLING": overview_resampling(spec)}
    if np.dtype(spec.dtype).kind == "f":
        options["PREDICTOR"] = "YES"
    options.update(spec.creation_options)
    return options


@contextlib.contextmanager
def gdal_warnings() -> Iterator[list[str]]:
    """Collect the warnings GDAL reports through rasterio's logger meanwhile."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("rasterio._env")
    handler, level = Collect(logging.WARNING), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def refuse_unknown_options(messages: list[str], user: dict[str, str], driver: str,
                           name: str) -> None:
    """One sentence for the first GDAL warning about an option the user gave with --co."""
    for message in messages:
        for key, value in user.items():
            if re.search(rf"\b{re.escape(key)}\b", message, flags=re.IGNORECASE):
                text = re.sub(r"^CPLE_\w+ in ", "", " ".join(message.split()))
                docs = COG_DOCS if driver == "COG" else GTIFF_DOCS
                raise PhismError(f"{name}: GDAL's {driver} driver does not take --co "
                                 f"{key}={value} ({text.rstrip('.')[:160]}); give one of the "
                                 f"creation options listed at {docs}")


def probe_creation_options(options: dict[str, str], cog: bool, name: str,
                           dtype: str = "float32") -> None:
    """Try --co on a tiny raster in memory (GTiff, or COG with --cog), so an option GDAL
    does not take is refused in one sentence before any work rather than at the end."""
    import rasterio
    import rasterio.shutil

    if not options:
        return
    probe = f"/vsimem/phism-probe-{os.getpid()}-{id(options)}.tif"
    base = {"driver": "GTiff", "height": 16, "width": 16, "count": 1, "dtype": dtype}
    with rasterio.Env(), gdal_warnings() as messages, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with rasterio.open(probe, "w", **base, **({} if cog else options)) as ds:
                ds.write(np.zeros((1, 16, 16), dtype=dtype))
            if cog:
                rasterio.shutil.copy(probe, probe + ".cog", driver="COG", **options)
        except Exception as exc:  # rasterio raises several error types
            messages.append(str(exc))
        finally:
            for path in (probe, probe + ".cog"):
                with contextlib.suppress(Exception):
                    rasterio.shutil.delete(path)
    refuse_unknown_options(messages, options, "COG" if cog else "GTiff", name)


def convert_to_cog(source: Path, target: Path, spec: RasterSpec) -> None:
    """Copy the finished tiled GeoTIFF `source` into a Cloud-Optimized GeoTIFF at `target`,
    with overviews; band descriptions, units, tags, colours and nodata go along."""
    import rasterio.shutil

    rasterio.shutil.copy(str(source), str(target), driver="COG", **cog_creation_options(spec))


def pam_xml(category_names: dict[int, str],
            colormap: dict[int, tuple[int, ...]] | None = None) -> str:
    """GDAL's PAM document for band 1 of a class map: its category names (the index is the
    class value; values without a class get an empty name) and a thematic raster attribute
    table (value, class name and colour), which QGIS shows as the legend."""
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    names = ET.SubElement(band, "CategoryNames")
    for value in range(max(category_names) + 1):
        ET.SubElement(names, "Category").text = category_names.get(value, "")
    table = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    columns = ["Value", "Class"] + (["Red", "Green", "Blue", "Alpha"] if colormap else [])
    for index, column in enumerate(columns):
        field = ET.SubElement(table, "FieldDefn", index=str(index))
        ET.SubElement(field, "Name").text = column
        ET.SubElement(field, "Type").text = str(_STRING if column == "Class" else _INTEGER)
        ET.SubElement(field, "Usage").text = str(_USAGE[column])
    for row_index, (value, name) in enumerate(sorted(category_names.items())):
        row = ET.SubElement(table, "Row", index=str(row_index))
        cells: list[Any] = [value, name]
        if colormap:
            colour = tuple(colormap.get(value, (0, 0, 0, 0)))
            cells += list(colour) + ([255] if len(colour) == 3 else [])
        for cell in cells:
            ET.SubElement(row, "F").text = str(cell)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def read_category_names(path: Path) -> dict[int, str] | None:
    """Band 1's category names from the PAM sidecar beside `path` (None without one)."""
    try:
        root = ET.parse(sidecar_path(path)).getroot()
    except (OSError, ET.ParseError):
        return None
    for band in root.iter("PAMRasterBand"):
        if band.get("band") == "1" and (names := band.find("CategoryNames")) is not None:
            return {i: c.text or "" for i, c in enumerate(names.iter("Category")) if c.text}
    return None
