"""phism's own Zarr rasters read back as scenes (a `degrade --format zarr` pair, a fused cube),
wavelengths and fwhm from their channel coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io.scene import BandInfo, OpenRequest, Scene, SceneFormat

__all__ = ["SPECTRAL_FORMATS", "ZarrScene", "is_phism_zarr"]

# phism outputs that hold spectra (latent, abundance and class maps do not)
SPECTRAL_FORMATS = ("phism-degraded", "phism-fused", "phism-rendering")


def is_phism_zarr(path: Path) -> bool:
    """A folder with phism metadata in its Zarr attributes."""
    from phism_cli.io.rasters import phism_raster_metadata

    return path.is_dir() and phism_raster_metadata(path) is not None


class ZarrScene(Scene):
    """A (channel, y, x) Zarr store phism wrote; NaN is its nodata."""

    format = "zarr"

    def __init__(self, path: Path, keep_bad_bands: bool = False) -> None:
        from phism_cli.errors import PhismError
        from phism_cli.io.rasters import RasterReader

        super().__init__(keep_bad_bands)
        self.path = path
        try:
            self._reader = RasterReader(path)
        except PhismError as exc:
            raise SceneError(str(exc)) from None
        reader = self._reader
        kind = reader.metadata.get("format")
        if kind not in SPECTRAL_FORMATS:
            reader.close()
            raise SceneError(f"{path}: a phism {kind} store, not spectra; give a scene (or "
                             "a Zarr cube written by degrade, fuse or render)")
        self.height, self.width = reader.height, reader.width
        self.source_dtype = np.dtype(reader._array.dtype)
        n_bands = len(reader.channel_names)
        self.bands = BandInfo(self._coordinate("wavelength_nm", n_bands),
                              self._coordinate("fwhm_nm", n_bands),
                              np.ones(n_bands, dtype=bool), list(reader.channel_names))
        self.nodata = None  # the store's fill value is NaN, read as NaN already
        self.scale, self.offset = 1.0, 0.0
        self.crs, self.transform = reader.crs, reader.transform
        units = reader._array.attrs.get("units")
        self.data_unit = units if isinstance(units, str) and units else None

    def _coordinate(self, name: str, n_bands: int) -> np.ndarray | None:
        import zarr

        root = zarr.open_consolidated(str(self.path), mode="r", zarr_format=2)
        if name not in root:
            return None
        values = np.asarray(root[name][:], dtype=np.float64)
        if values.shape != (n_bands,):
            raise SceneError(f"{self.path}: coordinate {name!r} has {values.size} values for "
                             f"{n_bands} channels; the store is damaged, write it again")
        return values

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        return self._reader.read(window)[:, :, band_indices]

    def close(self) -> None:
        self._reader.close()


def open_zarr(path: Path, request: OpenRequest) -> ZarrScene:
    """A folder, read only as a Zarr store phism wrote."""
    if not is_phism_zarr(path):
        raise SceneError(f"{path}: is a directory, not a scene file (folders are read "
                         "only as Zarr stores phism wrote)")
    if request.wavelength_unit is not None and request.wavelengths is None:
        raise SceneError(f"{request.flag_prefix}wavelength-unit {request.wavelength_unit}: "
                         f"{path} is a phism Zarr store, whose wavelengths are in nm; drop it")
    return ZarrScene(path, keep_bad_bands=request.keep_bad_bands)


FORMAT = SceneFormat("phism Zarr store", Path.is_dir, open_zarr)
