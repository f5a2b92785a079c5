"""Per-pixel features for the heads: a latent map from `encode`, or a scene's raw spectra.

Both read windows of (rows, cols, features) float32 with a validity mask, and describe
themselves (`descriptor`) so a head can record what it was trained on and refuse anything
else at predict time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from phism_cli.errors import ModelMismatchError
from phism_cli.io.latent_format import LATENT_FORMAT
from phism_cli.io.rasters import RasterReader, phism_raster_metadata
from phism_cli.io.scene import Scene, iter_windows
from phism_cli.io.scene_formats import open_scene
from phism_cli.pixels import valid_mask


def is_latent_map(path: Path) -> bool:
    """True for a Zarr store, or a GeoTIFF that `phism encode` wrote."""
    if path.suffix.lower() == ".zarr" or path.is_dir():
        return True
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    meta = phism_raster_metadata(path)
    return meta is not None and meta.get("format") == LATENT_FORMAT


class FeatureSource:
    """Features of every pixel of one raster; `kind` is "latent" or "spectra"."""

    kind: str
    path: Path
    height: int
    width: int
    crs: CRS | None
    transform: Affine | None
    names: list[str]
    descriptor: dict[str, Any]
    files: list[Path]  # every file read (to refuse writing over an input)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols, features) float32 and the (rows, cols) mask of valid pixels."""
        raise NotImplementedError

    def windows(self, tile_size: int) -> Iterator[Window]:
        return iter_windows(self.height, self.width, tile_size)

    def close(self) -> None:
        pass

    def __enter__(self) -> FeatureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LatentFeatures(FeatureSource):
    kind = "latent"

    def __init__(self, path: Path) -> None:
        self._reader = RasterReader(path)
        meta = self._reader.metadata
        if meta.get("format") != LATENT_FORMAT:
            self._reader.close()
            raise ModelMismatchError(f"{path}: not a phism latent map")
        self.path = path
        self.files = [path]
        self.height, self.width = self._reader.height, self._reader.width
        self.crs, self.transform = self._reader.crs, self._reader.transform
        self.names = list(self._reader.channel_names)
        self.descriptor = {
            "kind": self.kind, "model_sha256": meta.get("model_sha256"),
            "model_path": meta.get("model_path"), "channels": self.names,
        }

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        block = self._reader.read(window).astype(np.float32, copy=False)
        return block, np.isfinite(block).all(axis=-1)

    def close(self) -> None:
        self._reader.close()


class SpectraFeatures(FeatureSource):
    """A scene's spectra as features (the paper's "Raw" baseline)."""

    kind = "spectra"

    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        self.path = scene.path
        self.files = scene.source_files
        self.height, self.width = scene.height, scene.width
        self.crs, self.transform = scene.crs, scene.transform
        wl = scene.wavelength_nm
        self.names = ([f"band_{b + 1}" for b in scene.band_indices] if wl is None
                      else [f"{w:.2f}_nm" for w in wl])
        self.descriptor = {
            "kind": self.kind, "bands": scene.count,
            "wavelength_nm": None if wl is None else [float(w) for w in wl],
            "keep_bad_bands": scene.keep_bad_bands,
            "source_bands": [int(b) + 1 for b in scene.band_indices],
        }

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        block = self._scene.read(window)
        return block, valid_mask(block)

    def close(self) -> None:
        self._scene.close()


def open_features(path: str | Path, **scene_options: Any) -> FeatureSource:
    """A latent map from `encode`, or any scene `encode` reads (its spectra are the features),
    opened with `scene_options` (those of `open_scene`)."""
    path = Path(path)
    if path.exists() and is_latent_map(path):
        return LatentFeatures(path)
    return SpectraFeatures(open_scene(path, **scene_options))


def trained_band_selection(trained_on: dict[str, Any],
                           scene_options: dict[str, Any]) -> dict[str, Any]:
    """Scene options that read raw-spectra features with the bands a head was trained on:
    the user's, with the head's band selection where the user chose none."""
    from phism_cli.io.band_lists import format_band_list

    options = dict(scene_options)
    chose = options.get("bands") or options.get("bad_bands") or options.get("keep_bad_bands")
    if trained_on.get("kind") != "spectra" or chose:
        return options
    source_bands = trained_on.get("source_bands")
    if isinstance(source_bands, list) and source_bands and \
            all(isinstance(b, int) and b >= 1 for b in source_bands):
        return options | {"bands": format_band_list(source_bands), "keep_bad_bands": True}
    return options | {"keep_bad_bands": bool(trained_on.get("keep_bad_bands"))}


def check_features_match(trained_on: dict[str, Any], source: FeatureSource,
                         head_path: Path) -> None:
    """Refuse features other than those a head was trained on, saying how they differ."""
    kind = trained_on.get("kind")
    if kind != source.kind:
        what = {"latent": "latent maps from phism encode", "spectra": "raw scene spectra"}
        raise ModelMismatchError(
            f"{head_path} was trained on {what.get(kind, kind)} but {source.path} holds "
            f"{what[source.kind]}")
    if kind == "latent":
        want, got = trained_on.get("model_sha256"), source.descriptor.get("model_sha256")
        if want != got:
            raise ModelMismatchError(
                f"{source.path} was made by encoder sha256 {str(got)[:12]}... but {head_path} "
                f"was trained on latents of encoder {str(want)[:12]}... "
                f"({trained_on.get('model_path')}); encode the scene with that encoder")
        if trained_on.get("channels") != source.names:
            raise ModelMismatchError(f"{source.path} has channels {source.names} but "
                                     f"{head_path} expects {trained_on.get('channels')}")
        return
    if trained_on.get("bands") != source.descriptor["bands"]:
        from phism_cli.io.band_lists import format_band_list

        listed = trained_on.get("source_bands")
        fix = (f"read the head's bands with --keep-bad-bands --bands "
               f"{format_band_list(listed)}" if isinstance(listed, list) and listed else
               "select the head's bands with --bands, --bad-bands or --keep-bad-bands")
        raise ModelMismatchError(
            f"{head_path} expects {trained_on.get('bands')} bands but {source.path} gives "
            f"{source.descriptor['bands']}; {fix}, or use a head trained on this sensor")
    want_wl, got_wl = trained_on.get("wavelength_nm"), source.descriptor["wavelength_nm"]
    if want_wl is not None and got_wl is not None and \
            not np.all(np.abs(np.subtract(want_wl, got_wl)) <= 1.0):
        raise ModelMismatchError(f"{source.path} has other wavelengths than the scenes "
                                 f"{head_path} was trained on; use a head for this sensor")
