"""A small, complete set of phism inputs and outputs for the bad-input and fuzz suites: an ENVI
scene with nodata and a scale factor, a GeoTIFF scene, a tiny encoder, latents and heads.

Built once per test session through the real library and command line; each test copies
what it needs into its own folder and damages the copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from phism_cli.cli.main import main
from tests.conftest import smooth_cube, write_envi

ROWS, COLS, BANDS = 8, 8, 12
WAVELENGTHS = np.linspace(420.0, 980.0, BANDS)
NODATA = -9999.0
SCALE_FACTOR = 10000.0


def header_text() -> str:
    """The kit scene's header: semantic optional fields first, the layout fields last."""
    wavelengths = ", ".join(f"{w:.2f}" for w in WAVELENGTHS)
    fwhm = ", ".join("10.00" for _ in WAVELENGTHS)
    bbl = ", ".join("1" for _ in WAVELENGTHS)
    return (
        "ENVI\n"
        "description = {phism test kit scene}\n"
        "wavelength units = Nanometers\n"
        f"wavelength = {{{wavelengths}}}\n"
        f"fwhm = {{{fwhm}}}\n"
        f"bbl = {{{bbl}}}\n"
        f"data ignore value = {NODATA:g}\n"
        f"reflectance scale factor = {SCALE_FACTOR:g}\n"
        f"band names = {{{', '.join(f'band {i + 1}' for i in range(BANDS))}}}\n"
        "file type = ENVI Standard\n"
        f"samples = {COLS}\n"
        f"lines = {ROWS}\n"
        f"bands = {BANDS}\n"
        "data type = 4\n"
        "interleave = bsq\n"
        "byte order = 0\n"
        "header offset = 0\n"
    )


def scene_cube(seed: int = 0) -> np.ndarray:
    """Raw values (reflectance x 10000) with two nodata pixels."""
    cube = smooth_cube(ROWS, COLS, BANDS, seed=seed) * SCALE_FACTOR / 4
    cube[0, 0] = NODATA
    cube[3, 5] = NODATA
    return cube.astype(np.float32)


def run(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@dataclass
class Kit:
    root: Path

    @property
    def header(self) -> Path:
        return self.root / "scene.hdr"

    @property
    def data(self) -> Path:
        return self.root / "scene.img"

    @property
    def model(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def latents(self) -> Path:
        return self.root / "latents.zarr"

    @property
    def latents_tif(self) -> Path:
        return self.root / "latents.tif"

    @property
    def labels(self) -> Path:
        return self.root / "labels.tif"

    @property
    def head(self) -> Path:
        return self.root / "head.ubj"

    @property
    def head_json(self) -> Path:
        return self.root / "head.json"

    @property
    def geotiff(self) -> Path:
        return self.root / "scene.tif"

    def copy(self, name: str, folder: Path, new_name: str | None = None) -> Path:
        source = self.root / name
        target = folder / (new_name or name)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return target

    def scene(self, folder: Path, header: str | None = None, data: bytes | None = None,
              stem: str = "scene") -> Path:
        """A copy of the ENVI scene with `header` text and/or `data` bytes replaced."""
        target = folder / f"{stem}.hdr"
        if header is None:
            shutil.copy2(self.header, target)
        else:
            target.write_text(header)
        data_path = folder / f"{stem}.img"
        if data is None:
            shutil.copy2(self.data, data_path)
        else:
            data_path.write_bytes(data)
        return target


def build_kit(root: Path) -> Kit:
    import torch

    from phism_cli.model.checkpoint import save_encoder
    from phism_cli.model.estimator import PhismEncoder

    kit = Kit(root)
    cube = scene_cube()
    write_envi(kit.data, cube)
    kit.header.write_text(header_text())
    pixels = cube.reshape(-1, BANDS)
    pixels = pixels[(pixels != NODATA).all(axis=1)] / SCALE_FACTOR
    torch.manual_seed(0)
    encoder = PhismEncoder(n_components=2, hidden=(16,), epochs=2, batch_size=16,
                           device="cpu").fit(pixels, wavelength_nm=WAVELENGTHS)
    save_encoder(encoder, kit.model, extra={"scenes": [str(kit.header)]})
    assert run("encode", kit.header, "-o", kit.latents, "-m", kit.model, "-q") == 0
    assert run("encode", kit.header, "-o", kit.latents_tif, "-m", kit.model, "-q") == 0
    labels = (np.arange(ROWS * COLS).reshape(ROWS, COLS) % 3 + 1).astype(np.uint8)
    with rasterio.open(kit.labels, "w", driver="GTiff", height=ROWS, width=COLS, count=1,
                       dtype="uint8", nodata=0) as ds:
        ds.write(labels, 1)
    for head in (kit.head, kit.head_json):
        assert run("train-head", kit.latents, "--labels", kit.labels, "-o", head,
                   "--n-estimators", "3", "-q") == 0
    with rasterio.open(kit.geotiff, "w", driver="GTiff", height=ROWS, width=COLS,
                       count=BANDS, dtype="float32", nodata=NODATA) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
        for band, wavelength in enumerate(WAVELENGTHS, start=1):
            ds.update_tags(band, wavelength=f"{wavelength:.2f}", wavelength_units="nm")
        ds.scales = [1 / SCALE_FACTOR] * BANDS
    return kit
