"""Cubes shipped as MATLAB .mat or NumPy .npy files (classic benchmark scenes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io.scene import Scene, default_band_info

_ARRAY_SUFFIXES = (".mat", ".npy")


def is_array_path(path: Path) -> bool:
    return path.suffix.lower() in _ARRAY_SUFFIXES


def load_cube(path: Path, variable: str | None = None) -> np.ndarray:
    """A (rows, cols, bands) cube from .npy or .mat. A 2-D .mat variable is read as one band
    (a panchromatic image) when `variable` names it: a 2-D array found by default is as
    likely a label map or a (pixels, bands) table."""
    if path.suffix.lower() == ".npy":
        return _checked(path, _load_npy(path), 3)
    contents = _read_mat(path)
    cubes, images = _numeric_variables(contents, 3), _numeric_variables(contents, 2)
    if variable is not None and variable in images and variable not in cubes:
        return _checked(path, images[variable][:, :, None], 3)
    if variable is None and not cubes and images:
        raise SceneError(f"{path}: no 3-D numeric variable inside, only 2-D ones "
                         f"({', '.join(sorted(images))}); name one with --variable (fuse: "
                         "--msi-variable) to read it as a single band")
    return _checked(path, _pick_variable(path, cubes, variable, 3), 3)


def load_array(path: Path, variable: str | None = None, ndim: int = 3) -> np.ndarray:
    """Load a numeric array from .npy or .mat; for .mat pick `variable` or the largest one."""
    if path.suffix.lower() == ".npy":
        array = _load_npy(path)
    else:
        array = _pick_variable(path, _numeric_variables(_read_mat(path), ndim), variable, ndim)
    return _checked(path, array, ndim)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy raises several types for damaged files
        raise SceneError(f"{path}: not a readable .npy array ({_reason(exc)}); write it "
                         "again with numpy.save") from None


def _checked(path: Path, array: np.ndarray, ndim: int) -> np.ndarray:
    if array.ndim != ndim:
        raise SceneError(f"{path}: expected a {ndim}-D array, found shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise SceneError(f"{path}: a {array.dtype} array cannot be read as spectra; save "
                         "real numbers")
    if array.size == 0:
        raise SceneError(f"{path}: the array is empty (shape {array.shape})")
    return array


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:120] + "..."


def _read_mat(path: Path) -> dict[str, object]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        return loadmat(path)
    except MatReadError as exc:
        raise SceneError(f"{path}: not a readable MATLAB v5 file ({_reason(exc)}); v7.3 files "
                         "must be converted to .npy first") from None
    except Exception as exc:  # scipy raises many types for damaged files
        raise SceneError(f"{path}: not a readable MATLAB file, it looks damaged "
                         f"({_reason(exc)})") from None


def _numeric_variables(contents: dict[str, object], ndim: int) -> dict[str, np.ndarray]:
    return {k: v for k, v in contents.items()
            if not k.startswith("__") and isinstance(v, np.ndarray)
            and v.dtype.kind in "biuf" and v.ndim == ndim}


def _pick_variable(path: Path, candidates: dict[str, np.ndarray], variable: str | None,
                   ndim: int) -> np.ndarray:
    if variable is not None:
        if variable not in candidates:
            raise SceneError(f"{path}: no {ndim}-D numeric variable {variable!r}; "
                             f"found {sorted(candidates) or 'none'}")
        return candidates[variable]
    if not candidates:
        raise SceneError(f"{path}: no {ndim}-D numeric variable inside")
    return max(candidates.values(), key=lambda a: a.size)


class ArrayScene(Scene):
    """A (rows, cols, bands) cube held in memory; no georeferencing."""

    format = "array"

    def __init__(self, path: Path, variable: str | None = None,
                 keep_bad_bands: bool = False) -> None:
        super().__init__(keep_bad_bands)
        self.path = path
        self._array = load_cube(path, variable)
        self.height, self.width, n_bands = self._array.shape
        self.source_dtype = self._array.dtype
        self.bands = default_band_info(n_bands)
        self.nodata = None
        self.scale, self.offset = 1.0, 0.0
        self.crs, self.transform = None, None

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        rows, cols = window.toslices()
        return np.asarray(self._array[rows, cols][:, :, band_indices])
