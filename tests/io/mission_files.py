"""Small mission products written with each product's published structure (see the readers'
docstrings: EMIT user guide / EMIT-Data-Resources, PRISMA Product Specification, EnMAP L2A
specification), for the readers' tests and the bad-input suite."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import rasterio
from affine import Affine

EMIT_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')


def emit_glt(downtrack: int, crosstrack: int) -> tuple[np.ndarray, np.ndarray]:
    """A GLT of a swath rotated a quarter turn on a map grid with a one-cell empty border:
    map cell (y, x) shows sensor pixel (downtrack x, crosstrack y)."""
    height, width = crosstrack + 2, downtrack + 2
    glt_x = np.zeros((height, width), dtype=np.int32)
    glt_y = np.zeros((height, width), dtype=np.int32)
    ys, xs = np.mgrid[0:crosstrack, 0:downtrack]
    glt_x[1:-1, 1:-1] = ys + 1  # crosstrack, 1-based
    glt_y[1:-1, 1:-1] = xs + 1  # downtrack, 1-based
    return glt_x, glt_y


def write_emit(path: Path, cube: np.ndarray, wavelength_nm: np.ndarray, *,
               variable: str = "reflectance", good: np.ndarray | None = None,
               glt: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """An EMIT L2A RFL (or L1B RAD with variable="radiance") NetCDF-4 granule."""
    downtrack, crosstrack, n_bands = cube.shape
    glt_x, glt_y = glt if glt is not None else emit_glt(downtrack, crosstrack)
    with h5py.File(path, "w") as f:
        f.attrs["geotransform"] = np.array([10.0, 0.0005, 0.0, 40.0, 0.0, -0.0005])
        f.attrs["spatial_ref"] = EMIT_WKT
        data = f.create_dataset(variable, data=cube.astype(np.float32),
                                chunks=(min(64, downtrack), min(64, crosstrack), n_bands))
        data.attrs["_FillValue"] = np.float32(-9999.0)
        data.attrs["units"] = "unitless" if variable == "reflectance" else "uW/cm^2/SR/nm"
        params = f.create_group("sensor_band_parameters")
        params.create_dataset("wavelengths", data=wavelength_nm.astype(np.float32))
        params["wavelengths"].attrs["units"] = "nm"
        params.create_dataset("fwhm", data=np.full(n_bands, 8.5, dtype=np.float32))
        if variable == "reflectance":
            flags = np.ones(n_bands, dtype=np.uint8) if good is None else good.astype(np.uint8)
            params.create_dataset("good_wavelengths", data=flags)
        location = f.create_group("location")
        location.create_dataset("glt_x", data=glt_x)
        location.create_dataset("glt_y", data=glt_y)
        location.create_dataset("lat", data=np.zeros((downtrack, crosstrack)))
        location.create_dataset("lon", data=np.zeros((downtrack, crosstrack)))
    return path


def prisma_bands() -> dict[str, np.ndarray]:
    """A few VNIR and SWIR bands as PRISMA lists them: VNIR from long to short, an unused band
    (centre 0) in each, and SWIR overlapping the last VNIR bands."""
    return {
        "List_Cw_Vnir": np.array([1000.0, 960.0, 0.0, 700.0, 550.0, 420.0]),
        "List_Fwhm_Vnir": np.array([12.0, 11.0, 0.0, 10.0, 9.0, 9.0]),
        "List_Cw_Vnir_Flags": np.array([1, 1, 0, 1, 1, 1], dtype=np.int8),
        "List_Cw_Swir": np.array([2400.0, 2100.0, 1600.0, 1200.0, 990.0, 0.0]),
        "List_Fwhm_Swir": np.array([10.0, 10.0, 11.0, 12.0, 13.0, 0.0]),
        "List_Cw_Swir_Flags": np.array([1, 1, 1, 1, 1, 0], dtype=np.int8),
    }


def write_prisma(path: Path, vnir: np.ndarray, swir: np.ndarray, *, level: str = "L2D",
                 attrs: dict | None = None) -> Path:
    """A PRISMA product with (lines, bands, samples) uint16 cubes and its root attributes."""
    with h5py.File(path, "w") as f:
        for key, value in prisma_bands().items():
            f.attrs[key] = value
        if level == "L1":
            f.attrs.update({"ScaleFactor_Vnir": 100.0, "Offset_Vnir": 0.0,
                            "ScaleFactor_Swir": 200.0, "Offset_Swir": 0.5})
        else:
            f.attrs.update({"L2ScaleVnirMin": 0.0, "L2ScaleVnirMax": 1.0,
                            "L2ScaleSwirMin": 0.0, "L2ScaleSwirMax": 0.8})
        if level == "L2D":
            lines, samples = vnir.shape[0], vnir.shape[2]
            # corner pixel centres of a 30 m grid whose outer corner is (500000, 4600000)
            f.attrs.update({"Epsg_Code": 32633, "Product_ULcorner_easting": 500015.0,
                            "Product_ULcorner_northing": 4599985.0,
                            "Product_LRcorner_easting": 500015.0 + 30.0 * (samples - 1),
                            "Product_LRcorner_northing": 4599985.0 - 30.0 * (lines - 1)})
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        fields = f.create_group(f"HDFEOS/SWATHS/PRS_{level}_HCO/Data Fields")
        fields.create_dataset("VNIR_Cube", data=vnir)
        fields.create_dataset("SWIR_Cube", data=swir)
    return path


ENMAP_ID = "ENMAP01-____L2A-DT0000001234_20230701T101010Z_001_V010400_20230702T000000Z"


def enmap_xml(wavelength_nm: np.ndarray, gain: float = 1e-4, *, vnir: str | None = None,
              swir: str | None = None) -> str:
    bands = "".join(
        f'<bandID number="{i + 1}"><wavelengthCenterOfBand>{w}</wavelengthCenterOfBand>'
        f"<FWHMOfBand>7.5</FWHMOfBand><GainOfBand>{gain}</GainOfBand>"
        "<OffsetOfBand>0</OffsetOfBand></bandID>" for i, w in enumerate(wavelength_nm))
    quality = ""
    if vnir is not None and swir is not None:
        quality = (f"<vnirProductQuality><expectedChannelsList>{vnir}</expectedChannelsList>"
                   f"</vnirProductQuality><swirProductQuality><expectedChannelsList>{swir}"
                   "</expectedChannelsList></swirProductQuality>")
    return (f"<?xml version='1.0'?><level_X><specific><bandCharacterisation>{bands}"
            f"</bandCharacterisation>{quality}</specific></level_X>")


def write_enmap(folder: Path, dn: np.ndarray, wavelength_nm: np.ndarray, *,
                xml: str | None = None) -> tuple[Path, Path]:
    """An EnMAP L2A product: int16 (bands, rows, cols) GeoTIFF, nodata -32768, and its XML."""
    image = folder / f"{ENMAP_ID}-SPECTRAL_IMAGE.TIF"
    metadata = folder / f"{ENMAP_ID}-METADATA.XML"
    with rasterio.open(image, "w", driver="GTiff", width=dn.shape[2], height=dn.shape[1],
                       count=dn.shape[0], dtype="int16", nodata=-32768, crs="EPSG:32633",
                       transform=Affine(30, 0, 400000, 0, -30, 5800000), tiled=True,
                       blockxsize=16, blockysize=16, interleave="pixel") as dst:
        dst.write(dn)
    metadata.write_text(xml if xml is not None else enmap_xml(wavelength_nm))
    return image, metadata
