"""Every Zarr store phism writes opens in plain `xarray.open_zarr`: finite, monotonic
pixel-centre y/x (no fill value masks a coordinate), and, when georeferenced, the CRS and
transform that rioxarray finds without extra arguments. Checked with xarray and rioxarray
themselves on latents, renderings, abundances, fused and degraded cubes and probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from tests.cli.kit import run
from tests.conftest import smooth_cube

xr = pytest.importorskip("xarray")
rioxarray = pytest.importorskip("rioxarray")

ROWS, COLS, BANDS = 16, 12, 14
WAVELENGTHS = np.linspace(450.0, 950.0, BANDS)
CRS_UTM = CRS.from_epsg(32633)
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_800_000.0)


def _geotiff(path: Path, georeferenced: bool) -> Path:
    cube = smooth_cube(ROWS, COLS, BANDS, seed=5)
    profile = {"driver": "GTiff", "height": ROWS, "width": COLS, "count": BANDS,
               "dtype": "float32"}
    if georeferenced:
        profile |= {"crs": CRS_UTM, "transform": TRANSFORM}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
        for band, wavelength in enumerate(WAVELENGTHS, start=1):
            ds.update_tags(band, wavelength=f"{wavelength:.2f}", wavelength_units="nm")
    return path


def _srf(path: Path) -> Path:
    axis = np.arange(400.0, 1001.0, 5.0)
    bands = [np.exp(-0.5 * ((axis - c) / 30.0) ** 2) for c in (550.0, 650.0, 850.0)]
    rows = "\n".join(",".join(f"{v:.6f}" for v in (x, *b)) for x, *b in zip(axis, *bands,
                                                                             strict=True))
    path.write_text("wavelength_nm,g,r,nir\n" + rows + "\n")
    return path


def _write_every_store(folder: Path, georeferenced: bool) -> dict[str, Path]:
    """One store of each kind phism writes, from one small scene."""
    scene = _geotiff(folder / "scene.tif", georeferenced)
    stores = {kind: folder / f"{kind}.zarr" for kind in
              ("latents", "rendered", "abundances", "fused", "fused_abundances",
               "probabilities")}
    ok = [
        run("--threads", 1, "encode", scene, "-o", stores["latents"], "-k", 2,
            "--epochs", 1, "-q"),
        run("--threads", 1, "render", stores["latents"], "-o", stores["rendered"], "-q"),
        run("endmembers", scene, "-k", 3, "-o", folder / "lib.csv", "-q"),
        run("--threads", 1, "unmix", scene, "--library", folder / "lib.csv",
            "-o", stores["abundances"], "-q"),
        run("degrade", scene, "-o", folder / "pair", "--ratio", 2, "--srf",
            _srf(folder / "srf.csv"), "--format", "zarr", "-q"),
        run("--threads", 1, "fuse", folder / "pair_hsi.zarr", folder / "pair_msi.zarr",
            "-o", stores["fused"], "--srf", folder / "srf.csv", "-k", 3,
            "--abundances", stores["fused_abundances"], "-q"),
    ]
    labels = (np.arange(ROWS * COLS).reshape(ROWS, COLS) % 2 + 1).astype(np.uint8)
    profile = {"driver": "GTiff", "height": ROWS, "width": COLS, "count": 1, "dtype": "uint8",
               "nodata": 0}
    if georeferenced:
        profile |= {"crs": CRS_UTM, "transform": TRANSFORM}
    with rasterio.open(folder / "labels.tif", "w", **profile) as ds:
        ds.write(labels, 1)
    ok += [
        run("--threads", 1, "train-head", stores["latents"], "--labels", folder / "labels.tif",
            "-o", folder / "head.ubj", "--n-estimators", 3, "-q"),
        run("--threads", 1, "predict", stores["latents"], "-H", folder / "head.ubj",
            "-o", stores["probabilities"], "--proba", "-q"),
    ]
    assert ok == [0] * len(ok)
    stores |= {f"degraded_{part}": folder / f"pair_{part}.zarr"
               for part in ("hsi", "msi", "reference")}
    return stores


@pytest.fixture(scope="module", params=[True, False], ids=["georeferenced", "plain"])
def stores(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("zarr_readers")
    return request.param, _write_every_store(folder, request.param)


def _expected_centres(n: int, georeferenced: bool, axis: str, ratio: int) -> np.ndarray:
    centres = np.arange(n) + 0.5
    if not georeferenced:
        return centres
    if axis == "y":
        return TRANSFORM.f + TRANSFORM.e * ratio * centres
    return TRANSFORM.c + TRANSFORM.a * ratio * centres


def test_every_store_has_finite_monotonic_pixel_centre_coordinates(stores) -> None:
    georeferenced, paths = stores
    assert len(paths) == 9
    for kind, path in paths.items():
        ds = xr.open_zarr(path)
        ratio = 2 if kind == "degraded_hsi" else 1
        for axis, n in (("y", ROWS // ratio), ("x", COLS // ratio)):
            values = ds[axis].values
            assert np.isfinite(values).all(), f"{kind}: {axis} has NaN: {values[:3]}"
            assert values.shape == (n,), kind
            steps = np.diff(values)
            assert (steps > 0).all() or (steps < 0).all(), f"{kind}: {axis} not monotonic"
            np.testing.assert_allclose(values, _expected_centres(n, georeferenced, axis, ratio),
                                       err_msg=kind)
        assert ds.sel(y=ds.y[0], x=ds.x[0]).sizes == {"channel": ds.sizes["channel"]}, kind
        for name in ds.coords:  # wavelengths, fwhm, source bands: never masked either
            assert not ds[name].isnull().any(), f"{kind}: coordinate {name} masked"


def test_georeferenced_stores_give_rioxarray_their_crs_and_transform(stores) -> None:
    georeferenced, paths = stores
    for kind, path in paths.items():
        ds = xr.open_zarr(path)  # no decode_coords, no other arguments
        if not georeferenced:
            assert ds.rio.crs is None, kind
            continue
        assert "spatial_ref" in ds.coords, kind
        assert ds.rio.crs == CRS_UTM, kind
        ratio = 2 if kind == "degraded_hsi" else 1
        expected = TRANSFORM @ Affine.scale(ratio)
        assert ds.rio.transform().almost_equals(expected), (kind, ds.rio.transform())
        variable = next(iter(ds.data_vars))
        assert ds[variable].rio.crs == CRS_UTM, kind
