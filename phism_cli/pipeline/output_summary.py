"""phism's own raster outputs (reconstructions, class and regression maps, abundances, fused
and degraded cubes) described for `phism info`: what each channel is (name, unit,
wavelength, fwhm, source band), georeferencing, layout, class names and phism's metadata.
Reads metadata only, never pixels; latent maps have their own summary (latent_summary)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from phism_cli.errors import PhismError

RASTER_SUFFIXES = (".zarr", ".tif", ".tiff")
# per-channel coordinates (Zarr) and tags (GeoTIFF) worth showing, as (key, tag) pairs
_CHANNEL_FIELDS = (("wavelength_nm", "wavelength"), ("fwhm_nm", "fwhm"),
                   ("source_band", "source_band"))


def is_phism_output(path: Path) -> bool:
    """A GeoTIFF or Zarr store phism wrote (any kind; reads its metadata only)."""
    if not (path.is_dir() or path.suffix.lower() in RASTER_SUFFIXES):
        return False
    from phism_cli.io.rasters import phism_raster_metadata

    try:
        meta = phism_raster_metadata(path)
    except Exception:  # what GDAL cannot read is left to open_scene, which says why
        return False
    return meta is not None and str(meta.get("format", "")).startswith("phism-")


def summarise_output(path: Path) -> dict[str, Any]:
    """Everything `phism info OUTPUT` shows, JSON-ready."""
    from phism_cli.io.rasters import RasterReader

    with RasterReader(path) as reader:  # refuses partial and unfinished outputs
        meta = reader.metadata
        summary: dict[str, Any] = {
            "path": str(path), "kind": "output", "format": "Zarr" if reader.kind == "zarr"
            else "GeoTIFF", "phism_format": meta.get("format"),
            "variable": meta.get("variable"), "height": reader.height, "width": reader.width,
            "crs": None if reader.crs is None else reader.crs.to_string(),
            "transform": None if reader.transform is None else list(reader.transform)[:6],
        }
        names = list(reader.channel_names)
    details = _zarr_details(path, meta, names) if summary["format"] == "Zarr" else \
        _geotiff_details(path, names)
    summary |= details
    summary["classes"] = _classes(meta, details.pop("category_names"))
    summary["metadata"] = metadata_summary(meta)
    return summary


def _channel_rows(names: list[str], units: list[str | None],
                  fields: dict[str, list[Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {"band": i + 1, "name": name, "unit": units[i] or None}
        for key, values in fields.items():
            row[key] = values[i]
        rows.append(row)
    return rows


def _number(text: str | None) -> float | int | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() and "." not in text else value


def _geotiff_details(path: Path, names: list[str]) -> dict[str, Any]:
    import rasterio

    from phism_cli.io.geotiff import read_category_names, sidecar_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as ds:
            tags = [ds.tags(i) for i in range(1, ds.count + 1)]
            fields = {key: [_number(t.get(tag)) for t in tags] for key, tag in _CHANNEL_FIELDS
                      if any(tag in t for t in tags)}
            structure = ds.tags(ns="IMAGE_STRUCTURE")
            layout = {"block": list(ds.block_shapes[0]),
                      "compression": structure.get("COMPRESSION"),
                      "cog": structure.get("LAYOUT") == "COG",
                      "overviews": list(ds.overviews(1))}
            nodata = ds.nodata
            dtype = ds.dtypes[0]
            units = [u or None for u in ds.units]
    categories = read_category_names(path)
    return {"dtype": dtype, "nodata": nodata, "layout": layout,
            "channels": _channel_rows(names, units, fields),
            "category_names": categories,
            "sidecar": str(sidecar_path(path)) if categories else None}


def _zarr_details(path: Path, meta: dict[str, Any], names: list[str]) -> dict[str, Any]:
    import numpy as np
    import zarr

    try:
        root = zarr.open_consolidated(str(path), mode="r", zarr_format=2)
        data = root[str(meta.get("variable", "latent"))]
        attrs = dict(data.attrs)
        fields = {}
        for key, _ in _CHANNEL_FIELDS:
            if key in root:
                fields[key] = [v.item() for v in np.asarray(root[key][:])]
    except Exception as exc:  # zarr raises many types
        raise PhismError(f"{path}: a damaged phism Zarr store "
                         f"({' '.join(str(exc).split())[:160]}); write it again") from None
    units = attrs.get("channel_units")
    if not (isinstance(units, list) and len(units) == len(names)):
        units = [None] * len(names)
    fill = data.fill_value
    categories = attrs.get("category_names")
    return {"dtype": str(data.dtype), "nodata": None if fill is None else fill.item(),
            "layout": {"chunks": list(data.chunks)},
            "channels": _channel_rows(names, units, fields),
            "category_names": {int(k): str(v) for k, v in categories.items()}
            if isinstance(categories, dict) else None,
            "sidecar": None}


def _classes(meta: dict[str, Any], categories: dict[int, str] | None
             ) -> list[dict[str, Any]] | None:
    """A class map's classes: phism's metadata lists them; GDAL's names are the fallback."""
    listed = meta.get("classes")
    if isinstance(listed, list) and listed:
        return [{"value": c.get("value"), "name": c.get("name")} for c in listed
                if isinstance(c, dict)]
    if categories:
        return [{"value": k, "name": v} for k, v in sorted(categories.items())]
    return None


def metadata_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """phism's metadata without its long parts: plain values as they are, a nested source's
    path, short lists; the rest (spectra, renderers, noise levels) is left to --json of the
    command that wrote it, or to reading the tag."""
    summary: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, str | int | float | bool) or value is None:
            summary[key] = value
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            summary[key] = value["path"]
        elif isinstance(value, list) and len(json.dumps(value)) <= 80 and \
                all(isinstance(v, str | int | float) for v in value):
            summary[key] = value
    return summary
