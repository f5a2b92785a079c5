"""Regenerate PhISM's sample scene from the shared EnMAP Potsdam tiles.

Mosaics the 2x2 block of 32x32 tiles whose top-left tile is ``enmap_potsdam_tile_160_96``
into one 64x64x224 scene and writes, next to this script:

* ``enmap_potsdam_64x64.bsq`` + ``.hdr``: ENVI Standard, int16, BSQ, little endian, raw DN
  (reflectance * 10000); the header is written here by hand (not by GDAL's ENVI writer).
* ``enmap_potsdam_64x64_labels.tif``: GeoTIFF uint8 land-cover labels (0 = unlabelled),
  colour table, band description "land cover".

Input: ``$PHISM_DATA/enmap_potsdam`` if ``PHISM_DATA`` is set, else
``<project root>/../shared/data/enmap_potsdam``. Run from anywhere::

    python sample_data/make_sample_data.py

The script checks what it wrote (rasterio CRS/transform, spectral round trip, bad bands) and
prints class counts and the sha256 of each output file. The output is byte-for-byte
deterministic for a given rasterio/GDAL build.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

HERE = Path(__file__).resolve().parent
STEM = "enmap_potsdam_64x64"
TILE = 32
PIXEL = 30.0
NODATA = -32768
# (row, col) position in the mosaic -> (xoff, yoff) of the tile in the full EnMAP scene
BLOCK = {(0, 0): (160, 96), (0, 1): (192, 96), (1, 0): (160, 128), (1, 1): (192, 128)}

# EPSG:32633 (WGS 84 / UTM zone 33N) in ESRI WKT1, as ENVI writes it. Hard-coded so that the
# header bytes do not depend on the PROJ version; checked against the tiles' CRS below.
ESRI_WKT_32633 = (
    'PROJCS["WGS_1984_UTM_Zone_33N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],'
    'PARAMETER["Central_Meridian",15.0],PARAMETER["Scale_Factor",0.9996],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)

# Class values of enmap_landcover_unstyled.tif (and the label tiles cut from it). The raster
# carries no names; this is the category order of EnMAP-Box's landcover_potsdam_polygon
# level_3 style (enmapbox/exampledata/landcover_potsdam_polygon.level_3.qml), which
# EnMAP-Box's "rasterize categorized vector" numbers 1..6, with that style's colours. The
# class-mean spectra agree (6 dark in NIR, 4 dark red + brightest NIR, 5 brightest SWIR).
CLASSES = {
    0: ("unlabelled", (0, 0, 0, 0)),
    1: ("roof", (230, 0, 0, 255)),
    2: ("pavement", (156, 156, 156, 255)),
    3: ("low vegetation", (152, 230, 0, 255)),
    4: ("tree", (38, 115, 0, 255)),
    5: ("soil", (168, 112, 0, 255)),
    6: ("water", (0, 100, 255, 255)),
}

DESCRIPTION = (
    "PhISM sample scene: 64x64 pixel crop (2x2 block of 32x32 tiles, top-left tile "
    "enmap_potsdam_tile_160_96, i.e. columns 160-223 and rows 96-159 of the EnMAP-Box "
    "Potsdam example scene) of EnMAP L2A surface reflectance over Potsdam, Germany, "
    "acquired 2022-07-24T10:45:26Z, scene ENMAP01-____L2A-DT0000001867_20220724T104526Z"
    "_008_V010302_20230628T165614Z. Values are reflectance * 10000 as int16; "
    "-32768 = no data (the 6 bad bands). EnMAP data (c) DLR 2022. Tiles from the "
    "EnMAP-Box repository (EnMAP-Box/enmap-box at f9e8f486, "
    "tests/testdata/external/specdeepmap/test_requierments/). "
    "Made by phism sample_data/make_sample_data.py."
)


def data_dir() -> Path:
    env = os.environ.get("PHISM_DATA")
    root = Path(env) if env else HERE.parent.parent / "shared" / "data"
    folder = root / "enmap_potsdam"
    if not folder.is_dir():
        sys.exit(f"EnMAP Potsdam tiles not found at {folder} (set PHISM_DATA)")
    return folder


def tile_path(folder: Path, kind: str, xoff: int, yoff: int) -> Path:
    return folder / kind / f"enmap_potsdam_tile_{xoff}_{yoff}.tif"


def read_block(folder: Path, kind: str) -> tuple[np.ndarray, Affine, CRS, list[dict], list]:
    """Mosaic the 2x2 block; check the tiles really are adjacent via their transforms."""
    out = None
    origin = crs = tags = descriptions = None
    for (r, c), (xoff, yoff) in BLOCK.items():
        with rasterio.open(tile_path(folder, kind, xoff, yoff)) as ds:
            assert ds.shape == (TILE, TILE), ds.shape
            t = ds.transform
            assert (t.a, t.b, t.d, t.e) == (PIXEL, 0.0, 0.0, -PIXEL), t
            if origin is None:
                origin, crs = t, ds.crs
                tags = [ds.tags(i) for i in range(1, ds.count + 1)]
                descriptions = list(ds.descriptions)
                out = np.empty((ds.count, 2 * TILE, 2 * TILE), dtype=ds.dtypes[0])
            # This tile must sit exactly (r, c) tiles from the top-left tile.
            assert t.c == origin.c + c * TILE * PIXEL, (xoff, yoff, t)
            assert t.f == origin.f - r * TILE * PIXEL, (xoff, yoff, t)
            assert ds.crs == crs
            if kind == "images":
                assert [ds.tags(i) for i in range(1, ds.count + 1)] == tags
                assert ds.nodata == NODATA and set(ds.scales) == {0.0001}
            out[:, r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE] = ds.read()
    return out, origin, crs, tags, descriptions


def envi_list(values: list[str], per_line: int = 8) -> str:
    lines = [", ".join(values[i : i + per_line]) for i in range(0, len(values), per_line)]
    return "{\n " + ",\n ".join(lines) + "}"


def write_envi(cube: np.ndarray, transform: Affine, tags: list[dict], names: list) -> None:
    bands, lines, samples = cube.shape
    units = {t["wavelength_units"] for t in tags}
    assert units == {"Nanometers"}, units
    wavelength = [t["wavelength"] for t in tags]
    fwhm = [t["fwhm"] for t in tags]
    bbl = [str(int(float(t["bbl"]))) for t in tags]
    band_names = [
        n or f"band {i + 1} ({w} Nanometers)"
        for i, (n, w) in enumerate(zip(names, wavelength, strict=True))
    ]
    header = [
        "ENVI",
        f"description = {{{DESCRIPTION}}}",
        f"samples = {samples}",
        f"lines = {lines}",
        f"bands = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        "data type = 2",
        "interleave = bsq",
        "byte order = 0",
        "sensor type = EnMAP",
        "acquisition time = 2022-07-24T10:45:26Z",
        f"map info = {{UTM, 1, 1, {transform.c:.1f}, {transform.f:.1f}, {PIXEL:g}, {PIXEL:g},"
        " 33, North, WGS-84, units=Meters}",
        f"coordinate system string = {{{ESRI_WKT_32633}}}",
        "data ignore value = -32768",
        "reflectance scale factor = 10000",
        "wavelength units = Nanometers",
        f"wavelength = {envi_list(wavelength)}",
        f"fwhm = {envi_list(fwhm)}",
        f"bbl = {envi_list(bbl, per_line=32)}",
        f"band names = {envi_list(band_names, per_line=4)}",
    ]
    (HERE / f"{STEM}.hdr").write_text("\n".join(header) + "\n", encoding="ascii", newline="\n")
    (HERE / f"{STEM}.bsq").write_bytes(cube.astype("<i2").tobytes(order="C"))


def write_labels(labels: np.ndarray, transform: Affine, crs: CRS) -> None:
    profile = {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "width": labels.shape[1],
        "height": labels.shape[0],
        "crs": crs,
        "transform": transform,
        "nodata": None,
        "compress": "deflate",
        "photometric": "palette",
    }
    with rasterio.open(HERE / f"{STEM}_labels.tif", "w", **profile) as dst:
        dst.write(labels, 1)
        dst.write_colormap(1, {k: rgba for k, (_, rgba) in CLASSES.items()})
        dst.set_band_description(1, "land cover")
        dst.update_tags(1, **{f"class_{k}": name for k, (name, _) in CLASSES.items()})
        dst.update_tags(
            source="enmap_landcover_unstyled.tif (EnMAP-Box specdeepmap test data), "
            "rasterized landcover_potsdam_polygon level_3; class names inferred, see README",
        )


def verify(cube: np.ndarray, labels: np.ndarray, transform: Affine, bad: np.ndarray) -> None:
    import spectral.io.envi as envi

    with rasterio.open(HERE / f"{STEM}.bsq") as ds:
        assert ds.driver == "ENVI", ds.driver
        assert ds.crs.to_epsg() == 32633, ds.crs
        assert tuple(ds.transform)[:6] == tuple(transform)[:6], (ds.transform, transform)
        assert ds.count == 224 and ds.shape == (64, 64) and ds.dtypes[0] == "int16"
        assert ds.nodata == NODATA, ds.nodata
        assert np.array_equal(ds.read(), cube)
    img = envi.open(str(HERE / f"{STEM}.hdr"), str(HERE / f"{STEM}.bsq"))
    mm = np.asarray(img.open_memmap())  # (lines, samples, bands)
    assert mm.shape == (64, 64, 224) and mm.dtype == np.int16, (mm.shape, mm.dtype)
    assert np.array_equal(np.moveaxis(mm, -1, 0), cube), "spectral round trip differs"
    assert len(img.bands.centers) == 224 and img.bands.band_unit == "Nanometers"
    bbl = np.array(img.metadata["bbl"], dtype=int)
    assert np.array_equal(bbl == 0, bad)
    assert np.all(mm[..., bad] == NODATA) and not np.any(mm[..., ~bad] == NODATA)
    with rasterio.open(HERE / f"{STEM}_labels.tif") as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata is None and ds.crs.to_epsg() == 32633
        assert tuple(ds.transform)[:6] == tuple(transform)[:6]
        assert ds.descriptions[0] == "land cover"
        assert np.array_equal(ds.read(1), labels)
        assert ds.colormap(1)[1] == CLASSES[1][1]
    for p in HERE.glob("*.aux.xml"):
        p.unlink()  # GDAL side files from the checks above, if any


def main() -> None:
    folder = data_dir()
    cube_f, transform, crs, tags, names = read_block(folder, "images")
    assert crs == CRS.from_wkt(ESRI_WKT_32633) and crs.to_epsg() == 32633, crs
    assert np.all(cube_f == np.round(cube_f)), "DN values are not integral"
    assert cube_f.min() >= -32768 and cube_f.max() <= 32767
    cube = cube_f.astype(np.int16)
    bad = np.array([float(t["bbl"]) == 0 for t in tags])

    lab_f, lab_transform, lab_crs, _, _ = read_block(folder, "labels")
    assert lab_transform == transform and lab_crs == crs
    assert np.all(lab_f == np.round(lab_f)) and set(np.unique(lab_f)) <= set(CLASSES)
    labels = lab_f[0].astype(np.uint8)

    HERE.mkdir(exist_ok=True)
    write_envi(cube, transform, tags, names)
    write_labels(labels, transform, crs)
    verify(cube, labels, transform, bad)

    bad_1based = [int(i) + 1 for i in np.flatnonzero(bad)]
    print(
        f"scene {cube.shape[1]}x{cube.shape[2]}x{cube.shape[0]} int16, "
        f"ul=({transform.c}, {transform.f}), bad bands (1-based): {bad_1based}"
    )
    values, counts = np.unique(labels, return_counts=True)
    for v, n in zip(values, counts, strict=True):
        print(f"class {v} {CLASSES[int(v)][0]:<15} {n:5d} px")
    for name in (f"{STEM}.bsq", f"{STEM}.hdr", f"{STEM}_labels.tif"):
        p = HERE / name
        print(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {name}  ({p.stat().st_size} B)")


if __name__ == "__main__":
    main()
