"""Tiled raster outputs and inputs as GeoTIFF or Zarr, written window by window.

Zarr stores follow the conventions xarray and rioxarray read: one data variable with
dimensions (channel, y, x), coordinate arrays for each, a `spatial_ref` variable carrying the
CRS (WKT) and GDAL GeoTransform, NaN as the fill value, and consolidated metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import zarr
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.io.geotiff import sidecar_paths

__all__ = ["RasterReader", "RasterSpec", "RasterWriter", "is_phism_raster", "output_kind",
           "phism_raster_metadata", "sidecar_paths", "spectral_band_metadata"]

METADATA_NAMESPACE = "PHISM"
_METADATA_KEY = "metadata"


@dataclass
class RasterSpec:
    """What a raster output looks like: size, channels and georeferencing."""

    height: int
    width: int
    channel_names: list[str]
    crs: CRS | None = None
    transform: Affine | None = None
    dtype: str = "float32"
    nodata: float | None = float("nan")
    tile_size: int = 256
    variable: str = "latent"
    channel_coords: dict[str, list[float]] = field(default_factory=dict)
    channel_units: list[str] | None = None
    band_tags: list[dict[str, str]] | None = None  # extra GeoTIFF tags per band
    colormap: dict[int, tuple[int, ...]] | None = None  # GeoTIFF colour table of band 1
    category_names: dict[int, str] | None = None  # names of band 1's values (class maps)
    metadata: dict[str, Any] = field(default_factory=dict)
    # GeoTIFF only: GDAL creation options over phism's (--co), and a Cloud-Optimized GeoTIFF
    # with overviews (--cog; then the options are the COG driver's).
    creation_options: dict[str, str] = field(default_factory=dict)
    cog: bool = False

    def with_options(self, creation_options: dict[str, str] | None = None,
                     cog: bool = False) -> RasterSpec:
        """This spec with the GeoTIFF settings of --co and --cog."""
        return replace(self, creation_options=dict(creation_options or {}), cog=cog)


def spectral_band_metadata(wavelength_nm: np.ndarray, fwhm_nm: np.ndarray | None,
                           names: list[str] | None = None,
                           source_bands: np.ndarray | list[int] | None = None,
                           ) -> tuple[list[str], list[dict[str, str]], dict[str, list[Any]]]:
    """Channel names, GeoTIFF band tags and Zarr channel coordinates of bands at
    `wavelength_nm` (names default to 'band N (W Nanometers)'); `open_scene` reads both back.
    `source_bands` are the bands' 1-based numbers in the input file (tag and coordinate
    `source_band`), which tell which bands survived when bad bands were dropped."""
    if names is None:
        names = [f"band {i + 1} ({w:.2f} Nanometers)" for i, w in enumerate(wavelength_nm)]
    tags = []
    for i, w in enumerate(wavelength_nm):
        tag = {"wavelength": f"{w:.4f}", "wavelength_units": "Nanometers"}
        if fwhm_nm is not None:
            tag["fwhm"] = f"{fwhm_nm[i]:.4f}"
        if source_bands is not None:
            tag["source_band"] = str(int(source_bands[i]))
        tags.append(tag)
    coords: dict[str, list[Any]] = {"wavelength_nm": [float(w) for w in wavelength_nm]}
    if fwhm_nm is not None:
        coords["fwhm_nm"] = [float(f) for f in fwhm_nm]
    if source_bands is not None:
        coords["source_band"] = [int(b) for b in source_bands]
    return names, tags, coords


def output_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".zarr":
        return "zarr"
    if suffix in (".tif", ".tiff"):
        return "tif"
    raise PhismError(f"{path}: unknown output format; name it *.zarr or *.tif")


class RasterWriter:
    """Write (rows, cols, channels) windows to a new GeoTIFF or Zarr store at `path`.

    The metadata says `complete: false` until the writer is closed after success, and a Zarr
    store gets its consolidated metadata only then: readers refuse anything less.
    """

    def __init__(self, path: Path, spec: RasterSpec, kind: str,
                 name: str | Path | None = None) -> None:
        self.path, self.spec, self.kind = path, spec, kind
        self.name = str(name or path)  # what messages call the output
        self._metadata = {**spec.metadata, "complete": False}
        if kind == "zarr":
            try:
                self._array = _create_zarr(path, spec, self._metadata)
            except OSError as exc:
                from phism_cli.io.outputs import describe_os_error

                raise PhismError(describe_os_error(exc, "be created", Path(self.name))
                                 ) from None
        else:
            # Inside an Env GDAL's errors become exceptions: outside one, a failed write (a
            # full disk) only prints to stderr and the file is silently incomplete.
            # A COG is converted from a tiled GeoTIFF written beside it (a partial name too,
            # so a dead run's leftover is cleared with the output's).
            self._tiled = path.with_name(f"{path.name}.tiled") if spec.cog else path
            self._resources = contextlib.ExitStack()
            self._resources.enter_context(rasterio.Env())
            self._sink = self._resources.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
            try:
                if spec.cog:
                    from phism_cli.io.geotiff import probe_creation_options

                    probe_creation_options(spec.creation_options, True, self.name, spec.dtype)
                self._dataset = self._gdal(
                    lambda: _create_geotiff(self._tiled, spec, self._metadata, self.name),
                    "create")
            except BaseException:
                self._resources.close()
                raise

    def write(self, window: Window, block: np.ndarray) -> None:
        if self.kind == "zarr":
            rows, cols = window.toslices()
            try:
                self._array[:, rows, cols] = np.moveaxis(block, -1, 0)
            except OSError as exc:
                from phism_cli.io.outputs import describe_os_error

                raise PhismError(describe_os_error(exc, "be written", Path(self.name))) from None
        else:
            data = np.moveaxis(block, -1, 0).astype(self.spec.dtype, copy=False)
            self._gdal(lambda: self._dataset.write(data, window=window), "write")

    def _gdal(self, call: Any, action: str) -> Any:
        """Run a GDAL call; its failure is one sentence, and what libtiff prints straight to
        file descriptor 2 on a failed write stays off the user's stderr."""
        try:
            with _stderr_into(self._sink):
                return call()
        except RasterioError as exc:
            cause = exc.__cause__ or exc
            reason = " ".join(str(cause).split()).replace(str(self.path), str(self.name))
            raise PhismError(f"{self.name}: GDAL could not {action} the output "
                             f"({reason[:160]}); check free space and file size limits"
                             ) from None

    def close(self, complete: bool = True) -> None:
        """Finish the output; `complete=False` (after a failure) leaves it marked unfinished.

        A finished GeoTIFF is opened again and its last tile read: a write GDAL failed
        to report would leave it without its directory or its last tiles.
        """
        metadata = {**self._metadata, "complete": complete}
        if self.kind == "zarr":
            if complete:
                root = zarr.open_group(str(self.path), mode="r+", zarr_format=2)
                root.attrs["phism"] = metadata
                zarr.consolidate_metadata(str(self.path), zarr_format=2)
            return
        try:
            if complete:
                self._gdal(lambda: _write_metadata(self._dataset, metadata, self.spec.cog),
                           "tag")
            self._gdal(self._dataset.close, "finish")
            if complete:
                if self.spec.cog:
                    from phism_cli.io.geotiff import convert_to_cog

                    self._gdal(lambda: convert_to_cog(self._tiled, self.path, self.spec),
                               "convert to a Cloud-Optimized GeoTIFF")
                self._gdal(self._verify, "read back")
                if self.spec.category_names:
                    self._write_sidecar()
        finally:
            if self.spec.cog:
                with contextlib.suppress(OSError):
                    self._tiled.unlink()
            self._resources.close()

    def _write_sidecar(self) -> None:
        """Category names and the attribute table: GDAL keeps them in `NAME.aux.xml`."""
        from phism_cli.io.geotiff import pam_xml, sidecar_path

        assert self.spec.category_names is not None
        text = pam_xml(self.spec.category_names, self.spec.colormap)
        try:
            sidecar_path(self.path).write_text(text, encoding="utf-8")
        except OSError as exc:
            from phism_cli.io.outputs import describe_os_error

            raise PhismError(describe_os_error(exc, "be written", Path(self.name))) from None

    def _verify(self) -> None:
        with rasterio.open(self.path) as ds:
            stored = json.loads(_metadata_tag(ds) or "{}")
            if not stored.get("complete") or (ds.height, ds.width) != \
                    (self.spec.height, self.spec.width):
                raise RasterioError("the file's directory was not written")
            block = ds.block_shapes[0]
            row = (self.spec.height - 1) // block[0] * block[0]
            col = (self.spec.width - 1) // block[1] * block[1]
            ds.read(window=Window(col, row, self.spec.width - col, self.spec.height - row))

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(complete=exc is None)


@contextlib.contextmanager
def _stderr_into(sink: Any) -> Any:
    """Point file descriptor 2 at `sink` for the duration (main thread, native code only);
    elsewhere (a Dask worker's task thread) fd 2 is the process's and is left alone."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _create_geotiff(path: Path, spec: RasterSpec, metadata: dict[str, Any],
                    name: str) -> rasterio.io.DatasetWriter:
    from phism_cli.io.geotiff import (
        gdal_warnings,
        geotiff_creation_options,
        refuse_unknown_options,
    )

    profile: dict[str, Any] = {
        "driver": "GTiff", "height": spec.height, "width": spec.width,
        "count": len(spec.channel_names), "dtype": spec.dtype, "nodata": spec.nodata,
        **geotiff_creation_options(spec),
    }
    if spec.crs is not None:
        profile["crs"] = spec.crs
    if spec.transform is not None:
        profile["transform"] = spec.transform
    with warnings.catch_warnings(), gdal_warnings() as messages:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = rasterio.open(path, "w", **profile)
    if not spec.cog:
        try:
            refuse_unknown_options(messages, spec.creation_options, "GTiff", name)
        except PhismError:
            ds.close()
            raise
    for i, channel in enumerate(spec.channel_names, start=1):
        ds.set_band_description(i, channel)
        tags = {key: values[i - 1] for key, values in spec.channel_coords.items()}
        if spec.channel_units:
            tags["units"] = spec.channel_units[i - 1]
        if spec.band_tags:
            tags.update(spec.band_tags[i - 1])
        if tags:
            ds.update_tags(i, **tags)
    if spec.channel_units:  # GDAL's band unit ("Unit Type" in gdalinfo, QGIS's legend)
        ds.units = tuple(spec.channel_units)
    if spec.colormap and spec.dtype in ("uint8", "uint16"):  # GeoTIFF palettes need these
        ds.write_colormap(1, spec.colormap)
    _write_metadata(ds, metadata, spec.cog)
    return ds


def _write_metadata(ds: Any, metadata: dict[str, Any], cog: bool) -> None:
    """phism's metadata as the PHISM/metadata tag; a COG-to-be keeps a copy in the default
    domain, the only one GDAL's COG driver copies along with the bands' own metadata."""
    text = json.dumps(metadata)
    ds.update_tags(ns=METADATA_NAMESPACE, **{_METADATA_KEY: text})
    if cog:
        from phism_cli.io.geotiff import COG_METADATA_KEY

        ds.update_tags(**{COG_METADATA_KEY: text})


def _metadata_tag(ds: Any) -> str | None:
    """The raw JSON of phism's metadata in an open GeoTIFF (a COG's is in the default
    domain)."""
    from phism_cli.io.geotiff import COG_METADATA_KEY

    raw = ds.tags(ns=METADATA_NAMESPACE).get(_METADATA_KEY)
    return raw if raw is not None else ds.tags().get(COG_METADATA_KEY)


def _pixel_centres(spec: RasterSpec) -> tuple[np.ndarray, np.ndarray]:
    """y and x of each row's and column's pixel centre: in the CRS, or (no georeferencing,
    or a rotated grid whose coordinates are not separable) in pixels, as GDAL and rasterio
    place pixel centres under the identity transform (0.5, 1.5, ...)."""
    rows, cols = np.arange(spec.height) + 0.5, np.arange(spec.width) + 0.5
    t = spec.transform
    if t is None or t.b != 0 or t.d != 0:
        return rows, cols
    return t.f + t.e * rows, t.c + t.a * cols


def _coordinate_attributes(name: str, spec: RasterSpec) -> dict[str, Any]:
    """CF attributes of the y/x coordinate arrays (what xarray and GIS readers show)."""
    georeferenced = spec.crs is not None and spec.transform is not None and \
        spec.transform.b == 0 and spec.transform.d == 0
    if not georeferenced:
        what = "row" if name == "y" else "column"
        return {"long_name": f"{what} of the pixel centre", "units": "pixels"}
    assert spec.crs is not None
    if spec.crs.is_geographic:
        standard = "latitude" if name == "y" else "longitude"
        return {"standard_name": standard, "long_name": standard,
                "units": "degrees_north" if name == "y" else "degrees_east"}
    unit = (spec.crs.linear_units or "").lower()
    return {"standard_name": f"projection_{name}_coordinate",
            "long_name": f"{name} coordinate of the pixel centre",
            "units": "m" if unit in ("metre", "meter", "m") else (unit or "unknown")}


def _create_zarr(path: Path, spec: RasterSpec, metadata: dict[str, Any]) -> zarr.Array:
    import numcodecs

    from phism_cli.threads import configured_threads

    numcodecs.blosc.set_nthreads(configured_threads())
    root = zarr.open_group(str(path), mode="w-", zarr_format=2)
    root.attrs.update({"phism": metadata})
    ys, xs = _pixel_centres(spec)
    # No fill value on coordinates: xarray would mask a coordinate equal to it (a 0 row).
    for name, values in (("y", ys), ("x", xs)):
        arr = root.create_array(name, shape=values.shape, dtype="float64", chunks=values.shape,
                                fill_value=None)
        arr[:] = values
        arr.attrs.update({"_ARRAY_DIMENSIONS": [name], **_coordinate_attributes(name, spec)})
    n = len(spec.channel_names)
    width = max(len(s) for s in spec.channel_names)
    channel = root.create_array("channel", shape=(n,), dtype=f"<U{width}", chunks=(n,))
    channel[:] = np.asarray(spec.channel_names)
    channel.attrs["_ARRAY_DIMENSIONS"] = ["channel"]
    for key, values in spec.channel_coords.items():
        integers = all(isinstance(v, (int, np.integer)) for v in values)
        dtype = "int32" if integers else "float64"
        coord = root.create_array(key, shape=(n,), dtype=dtype, chunks=(n,),
                                  fill_value=None)
        coord[:] = np.asarray(values, dtype=dtype)
        coord.attrs["_ARRAY_DIMENSIONS"] = ["channel"]
    data_attrs: dict[str, Any] = {"_ARRAY_DIMENSIONS": ["channel", "y", "x"]}
    coordinates = list(spec.channel_coords)
    if spec.channel_units:
        data_attrs["channel_units"] = spec.channel_units
        if len(set(spec.channel_units)) == 1:  # CF: one unit for the whole variable
            data_attrs["units"] = spec.channel_units[0]
    if spec.category_names:
        data_attrs.update(_category_attributes(spec.category_names, n))
    if spec.crs is not None and spec.transform is not None:
        ref = root.create_array("spatial_ref", shape=(), dtype="int64", fill_value=None)
        ref[...] = 0
        wkt = spec.crs.to_wkt()
        t = spec.transform
        ref.attrs.update({
            "_ARRAY_DIMENSIONS": [], "crs_wkt": wkt, "spatial_ref": wkt,
            "GeoTransform": " ".join(str(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e)),
        })
        data_attrs["grid_mapping"] = "spatial_ref"
        coordinates.append("spatial_ref")  # a coordinate: rioxarray finds it with no options
    if coordinates:
        data_attrs["coordinates"] = " ".join(coordinates)
    fill = spec.nodata if spec.nodata is not None else None
    data = root.create_array(
        spec.variable, shape=(n, spec.height, spec.width), dtype=spec.dtype,
        chunks=(n, spec.tile_size, spec.tile_size), fill_value=fill,
        # zstd level 1: on latent tiles 6x the speed of level 5 (370 against 59 MB/s on one
        # core) for 6 % larger chunks; level 5 made the Zarr write the slowest stage.
        compressors=numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.SHUFFLE),
    )
    data.attrs.update(data_attrs)
    return data


def _category_attributes(names: dict[int, str], n_channels: int) -> dict[str, Any]:
    """Class names of the first channel: `category_names` ({value: name}); a class map of
    one channel also gets CF's flag_values and flag_meanings (names with '_' for spaces)."""
    attrs: dict[str, Any] = {"category_names": {str(k): v for k, v in sorted(names.items())}}
    if n_channels == 1:
        attrs["flag_values"] = sorted(names)
        attrs["flag_meanings"] = " ".join("_".join(names[k].split()) or f"class_{k}"
                                          for k in sorted(names))
    return attrs


def _zarr_attributes(path: Path) -> dict[str, Any] | None:
    """The group attributes of a Zarr v2 store, read as plain JSON (no zarr import)."""
    try:
        attrs = json.loads((path / ".zattrs").read_text())
    except (OSError, ValueError):
        return None
    return attrs if isinstance(attrs, dict) else None


def _geotiff_metadata(path: Path) -> dict[str, Any] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with rasterio.open(path) as ds:
                raw = _metadata_tag(ds)
        except RasterioIOError:
            return None
    try:
        meta = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def phism_raster_metadata(path: str | Path) -> dict[str, Any] | None:
    """phism's metadata of a GeoTIFF or Zarr store it wrote, else None (cheap: no pixels)."""
    path = Path(path)
    if path.is_dir():
        attrs = _zarr_attributes(path)
        meta = None if attrs is None else attrs.get("phism")
        return meta if isinstance(meta, dict) else None
    if path.is_file():
        return _geotiff_metadata(path)
    return None


def is_phism_raster(path: Path) -> bool:
    """True for a raster output phism wrote (what --overwrite may replace)."""
    meta = phism_raster_metadata(path)
    return meta is not None and str(meta.get("format", "")).startswith("phism-")


class RasterReader:
    """Read windows of (rows, cols, channels) from a GeoTIFF or Zarr store phism wrote.

    Refuses outputs that a phism run did not finish (hidden partial names, `complete: false`,
    a Zarr store without consolidated metadata) and stores whose structure is damaged.
    """

    def __init__(self, path: str | Path) -> None:
        from phism_cli.io.outputs import refuse_partial

        self.path = Path(path)
        if not self.path.exists():
            raise PhismError(f"{self.path}: no such file or store")
        refuse_partial(self.path)
        self.kind = "zarr" if self.path.is_dir() or self.path.suffix == ".zarr" else "tif"
        if self.kind == "zarr":
            self._open_zarr()
        else:
            self._open_geotiff()
        if self.metadata.get("complete") is False:
            self.close()
            raise PhismError(f"{self.path}: an unfinished phism output (the run writing it was "
                             "interrupted); write it again")

    def _open_zarr(self) -> None:
        if not self.path.is_dir():
            raise PhismError(f"{self.path}: not a Zarr store (not a folder)")
        attrs = _zarr_attributes(self.path)
        meta = None if attrs is None else attrs.get("phism")
        if not isinstance(meta, dict):
            raise PhismError(f"{self.path}: not a phism Zarr store (no readable phism "
                             "metadata in .zattrs); was it written by phism?")
        if not (self.path / ".zmetadata").is_file():
            raise PhismError(f"{self.path}: an unfinished phism Zarr store (no consolidated "
                             "metadata: the run writing it was interrupted); write it again")
        self.metadata: dict[str, Any] = meta
        try:
            root = zarr.open_consolidated(str(self.path), mode="r", zarr_format=2)
            variable = str(meta.get("variable", "latent"))
            for name in (variable, "channel"):
                if not (self.path / name / ".zarray").is_file():
                    raise ValueError(f"array {name!r} is missing")
            self._array = root[variable]
            self.channel_names = [str(v) for v in root["channel"][:]]
            shape = self._array.shape
            if len(shape) != 3 or shape[0] != len(self.channel_names) or 0 in shape:
                raise ValueError(f"variable {variable!r} has shape {shape} for "
                                 f"{len(self.channel_names)} channels")
            _, self.height, self.width = shape
            self.crs, self.transform = None, None
            if "spatial_ref" in root:
                attrs = root["spatial_ref"].attrs
                self.crs = CRS.from_wkt(attrs["crs_wkt"])
                c, a, b, f, d, e = (float(v) for v in attrs["GeoTransform"].split())
                self.transform = Affine(a, b, c, d, e, f)
            self.chunk_size = int(self._array.chunks[1])
        except PhismError:
            raise
        except Exception as exc:  # zarr, JSON and CRS parsing raise many types
            raise PhismError(f"{self.path}: a damaged phism Zarr store "
                             f"({' '.join(str(exc).split())[:160]}); write it again") from None

    def _open_geotiff(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                self._dataset = rasterio.open(self.path)
            except RasterioIOError as exc:
                raise PhismError(f"{self.path}: not a readable raster "
                                 f"({' '.join(str(exc).split())[:160]})") from None
        ds = self._dataset
        raw = _metadata_tag(ds)
        if raw is None:
            ds.close()
            raise PhismError(f"{self.path}: GeoTIFF without phism metadata; "
                             "was it written by phism?")
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            ds.close()
            raise PhismError(f"{self.path}: its phism metadata (tag PHISM/metadata) is not "
                             "valid JSON; the file is damaged, write it again")
        self.metadata = meta
        self.height, self.width = ds.height, ds.width
        self.channel_names = [d or f"band_{i + 1}" for i, d in enumerate(ds.descriptions)]
        georeferenced = ds.crs is not None or not ds.transform.is_identity
        self.crs = ds.crs if georeferenced else None
        self.transform = ds.transform if georeferenced else None
        self.chunk_size = int(ds.block_shapes[0][0])

    def read(self, window: Window) -> np.ndarray:
        if self.kind == "zarr":
            rows, cols = window.toslices()
            return np.moveaxis(self._array[:, rows, cols], 0, -1)
        return np.moveaxis(self._dataset.read(window=window), 0, -1)

    def close(self) -> None:
        if self.kind == "tif" and getattr(self, "_dataset", None) is not None:
            self._dataset.close()

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
