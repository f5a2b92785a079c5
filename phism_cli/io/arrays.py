"""Cubes shipped as MATLAB .mat or NumPy .npy files (classic benchmark scenes).

Two layouts are read:
- a 3-D array, (rows, cols, bands) unless `layout` names another order of the axes, e.g.
  "bands,rows,cols";
- a 2-D matrix of one spectrum per row or per column, as Jasper Ridge, Samson, Urban and
  Moffett ship (`Y`, bands x pixels), made an image by `shape` (lines, samples), or by the
  file's own `nRow` and `nCol` variables. Which axis holds the bands follows from the shape
  (the other holds lines x samples pixels), else from the band count of --wavelengths, else
  `layout` ("bands,pixels" or "pixels,bands") says. Pixels run in MATLAB's column-major
  order in a .mat file (down each column first) and in row-major order in a .npy file,
  unless `pixel_order` says otherwise.

Nothing is guessed silently: a .mat file with more than one array that could be the image
is refused with the list (`variable` picks one), and what was read is said in
`ArrayScene.describe()`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io.scene import OpenRequest, Scene, SceneFormat, default_band_info

_ARRAY_SUFFIXES = (".mat", ".npy")
PIXEL_ORDERS = ("column-major", "row-major")
CUBE_AXES = ("rows", "cols", "bands")
MATRIX_AXES = ("bands", "pixels")
# Scalar variables that give a 2-D matrix's image shape in the benchmark files (Zhu's
# hyperspectral unmixing data: Jasper Ridge, Samson, Urban).
_SHAPE_VARIABLES = ("nrow", "ncol")


def is_array_path(path: Path) -> bool:
    return path.suffix.lower() in _ARRAY_SUFFIXES


@dataclass(frozen=True)
class ArrayLayout:
    """How a stored array becomes (rows, cols, bands), for messages and `phism info`."""

    variable: str | None  # None for a .npy file
    stored_shape: tuple[int, ...]
    axes: tuple[str, ...]  # the stored axes in order, e.g. ("bands", "pixels")
    image_shape: tuple[int, int] | None = None  # (lines, samples) of a 2-D matrix
    shape_from: str | None = None  # "--shape" or "nRow and nCol in the file"
    pixel_order: str | None = None  # of a 2-D matrix

    def describe(self) -> str:
        stored = " x ".join(str(n) for n in self.stored_shape)
        text = f"{stored} ({' x '.join(self.axes)})"
        if self.image_shape is not None:
            lines, samples = self.image_shape
            text += (f", {lines} lines x {samples} samples from {self.shape_from}, pixels in "
                     f"{self.pixel_order} order")
        return text

    def to_json(self) -> dict[str, Any]:
        return {"variable": self.variable, "stored_shape": list(self.stored_shape),
                "axes": list(self.axes), "image_shape": None if self.image_shape is None
                else list(self.image_shape), "shape_from": self.shape_from,
                "pixel_order": self.pixel_order}


@dataclass(frozen=True)
class ArrayRequest:
    """What the user said about an array file (all optional)."""

    variable: str | None = None
    shape: tuple[int, int] | None = None  # --shape LINES,SAMPLES
    layout: tuple[str, ...] | None = None  # --layout, e.g. ("bands", "pixels")
    pixel_order: str | None = None  # --pixel-order
    n_bands: int | None = None  # the band count --wavelengths gives, when it lists values


def parse_shape(spec: str) -> tuple[int, int]:
    """`LINES,SAMPLES` (or LINESxSAMPLES) as two whole numbers of at least 1; ValueError."""
    parts = [p.strip() for p in spec.replace("x", ",").split(",")]
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(f"{spec!r} is not LINES,SAMPLES (two whole numbers of at least 1, "
                         "e.g. 100,100)")
    return int(parts[0]), int(parts[1])


def parse_layout(spec: str) -> tuple[str, ...]:
    """`rows,cols,bands` (any order) or `bands,pixels` / `pixels,bands`; ValueError."""
    axes = tuple(p.strip().lower() for p in spec.split(","))
    if sorted(axes) in (sorted(CUBE_AXES), sorted(MATRIX_AXES)):
        return axes
    raise ValueError(f"{spec!r} names no layout; give the stored axes in order: rows, cols and "
                     "bands for a 3-D array (e.g. bands,rows,cols), bands and pixels for a "
                     "2-D matrix (e.g. bands,pixels)")


def load_cube(path: Path, request: ArrayRequest | None = None
              ) -> tuple[np.ndarray, ArrayLayout, list[str]]:
    """The (rows, cols, bands) cube of a .npy or .mat file, how it was laid out, and the other
    arrays of a .mat file (`name (shape)`, for `phism info`)."""
    request = request or ArrayRequest()
    if path.suffix.lower() == ".npy":
        if request.variable is not None:
            raise SceneError(f"--variable {request.variable}: {path} is a .npy file, which "
                             "holds one array; drop --variable")
        array = _load_npy(path)
        return (*_as_cube(path, array, None, request, None, "row-major"), [])
    contents = _read_mat(path)
    arrays = _numeric_arrays(contents)
    shape, shape_from = _mat_shape(path, contents, request)
    name = _pick_image(path, arrays, request, shape)
    others = [f"{k} ({_shown(v.shape)})" for k, v in contents.items()
              if not k.startswith("__") and k != name and isinstance(v, np.ndarray)]
    cube, layout = _as_cube(path, arrays[name], name, request, (shape, shape_from),
                            "column-major")
    return cube, layout, others


def load_array(path: Path, variable: str | None = None, ndim: int = 3) -> np.ndarray:
    """A numeric `ndim`-D array from .npy or .mat; for .mat the only one there or `variable`
    (more than one is refused with the list: no silent guess)."""
    if path.suffix.lower() == ".npy":
        array = _load_npy(path)
    else:
        candidates = {k: v for k, v in _numeric_arrays(_read_mat(path)).items()
                      if v.ndim == ndim and min(v.shape) > 1}
        array = _pick_variable(path, candidates, variable, ndim)
    return _checked(path, array, ndim)


def _shown(shape: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in shape)


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


def _numeric_arrays(contents: dict[str, object]) -> dict[str, np.ndarray]:
    return {k: v for k, v in contents.items()
            if not k.startswith("__") and isinstance(v, np.ndarray)
            and v.dtype.kind in "biuf" and v.size > 0}


def _mat_shape(path: Path, contents: dict[str, object], request: ArrayRequest
               ) -> tuple[tuple[int, int] | None, str | None]:
    """The image shape of a 2-D matrix: --shape, else the file's nRow and nCol."""
    if request.shape is not None:
        return request.shape, "--shape"
    found = {k.lower(): v for k, v in contents.items()
             if k.lower() in _SHAPE_VARIABLES and isinstance(v, np.ndarray)}
    if len(found) != len(_SHAPE_VARIABLES):
        return None, None
    values = []
    for key in _SHAPE_VARIABLES:
        value = found[key]
        if value.size != 1 or value.dtype.kind not in "iuf" or not \
                float(value.item()).is_integer() or value.item() < 1:
            raise SceneError(f"{path}: variable {key} is {value.ravel()[:3].tolist()}, not a "
                             "whole number of lines or samples; fix it or give --shape")
        values.append(int(value.item()))
    return (values[0], values[1]), "nRow and nCol in the file"


def _pick_image(path: Path, arrays: dict[str, np.ndarray], request: ArrayRequest,
                shape: tuple[int, int] | None) -> str:
    """The name of the image variable: `request.variable`, else the only candidate."""
    if request.variable is not None:
        if request.variable not in arrays:
            listed = ", ".join(f"{k} ({_shown(v.shape)})" for k, v in arrays.items()) or "none"
            raise SceneError(f"--variable {request.variable}: {path} has no numeric array of "
                             f"that name; its numeric arrays: {listed}")
        return request.variable
    pixels = None if shape is None else shape[0] * shape[1]
    candidates = {k: v for k, v in arrays.items()
                  if v.ndim == 3 or (v.ndim == 2 and pixels is not None and pixels in v.shape
                                     and min(v.shape) > 1)}
    if len(candidates) == 1:
        return next(iter(candidates))
    if candidates:
        listed = ", ".join(f"{k} ({_shown(v.shape)})" for k, v in
                           sorted(candidates.items(), key=lambda kv: -kv[1].size))
        raise SceneError(f"{path}: {len(candidates)} arrays could be the image: {listed}; "
                         "name one with --variable")
    matrices = {k: v for k, v in arrays.items() if v.ndim == 2 and min(v.shape) > 1}
    if matrices:
        listed = ", ".join(f"{k} ({_shown(v.shape)})" for k, v in matrices.items())
        raise SceneError(f"{path}: no 3-D array inside, only 2-D ones ({listed}); for a "
                         "matrix of one spectrum per column or row give --shape LINES,SAMPLES "
                         "(and --variable), or name a single-band image with --variable")
    raise SceneError(f"{path}: no numeric array that could be an image inside")


def _as_cube(path: Path, array: np.ndarray, name: str | None, request: ArrayRequest,
             shape_info: tuple[tuple[int, int] | None, str | None] | None,
             default_order: str) -> tuple[np.ndarray, ArrayLayout]:
    where = f"{path}" if name is None else f"{path}: variable {name}"
    if array.dtype.kind not in "biuf":
        raise SceneError(f"{where}: a {array.dtype} array cannot be read as spectra; save "
                         "real numbers")
    if array.size == 0:
        raise SceneError(f"{where}: the array is empty (shape {array.shape})")
    shape, shape_from = shape_info if shape_info is not None else (request.shape, "--shape")
    if array.ndim == 3:
        return _cube_from_3d(where, array, name, request, shape)
    if array.ndim == 2:
        if shape is None:
            if request.variable is None or request.layout is not None:
                raise SceneError(f"{where}: a 2-D array ({_shown(array.shape)}); give its image "
                                 "shape with --shape LINES,SAMPLES")
            return array[:, :, None], ArrayLayout(name, array.shape, ("rows", "cols"))
        order = request.pixel_order or default_order
        return _cube_from_matrix(where, array, name, request, shape, shape_from, order)
    raise SceneError(f"{where}: expected a 3-D cube or a 2-D matrix, found shape "
                     f"{_shown(array.shape)}")


def _cube_from_3d(where: str, array: np.ndarray, name: str | None, request: ArrayRequest,
                  shape: tuple[int, int] | None) -> tuple[np.ndarray, ArrayLayout]:
    axes = request.layout or CUBE_AXES
    if sorted(axes) != sorted(CUBE_AXES):
        raise SceneError(f"--layout {','.join(axes)}: {where} is a 3-D array "
                         f"({_shown(array.shape)}); give rows, cols and bands in stored order")
    cube = np.transpose(array, [axes.index(a) for a in CUBE_AXES])
    if shape is not None and request.shape is not None and tuple(cube.shape[:2]) != shape:
        raise SceneError(f"--shape {shape[0]},{shape[1]}: {where} is already an image of "
                         f"{cube.shape[0]} x {cube.shape[1]} pixels; drop --shape")
    if request.pixel_order is not None:
        raise SceneError(f"--pixel-order: {where} is a 3-D array, whose pixels have their "
                         "place already; drop --pixel-order")
    return cube, ArrayLayout(name, array.shape, axes)


def _cube_from_matrix(where: str, matrix: np.ndarray, name: str | None,
                      request: ArrayRequest, shape: tuple[int, int], shape_from: str | None,
                      order: str) -> tuple[np.ndarray, ArrayLayout]:
    lines, samples = shape
    pixels = lines * samples
    axes = request.layout or _matrix_axes(where, matrix.shape, pixels, request, shape_from)
    if sorted(axes) != sorted(MATRIX_AXES):
        raise SceneError(f"--layout {','.join(axes)}: {where} is a 2-D matrix "
                         f"({_shown(matrix.shape)}); give bands,pixels or pixels,bands")
    if matrix.shape[axes.index("pixels")] != pixels:
        raise SceneError(f"{where}: {_shown(matrix.shape)} with {axes[0]} along the first axis "
                         f"holds {matrix.shape[axes.index('pixels')]} pixels, but {shape_from} "
                         f"gives {lines} x {samples} = {pixels}; check --shape and --layout")
    spectra = matrix if axes == ("pixels", "bands") else matrix.T  # (pixels, bands)
    if order == "column-major":  # pixel p at row p % lines, column p // lines
        cube = np.reshape(spectra, (samples, lines, spectra.shape[1])).transpose(1, 0, 2)
    else:
        cube = np.reshape(spectra, (lines, samples, spectra.shape[1]))
    return (np.ascontiguousarray(cube),
            ArrayLayout(name, matrix.shape, axes, shape, shape_from, order))


def _matrix_axes(where: str, stored: tuple[int, ...], pixels: int, request: ArrayRequest,
                 shape_from: str | None) -> tuple[str, ...]:
    first, second = stored[0] == pixels, stored[1] == pixels
    if first != second:
        return ("pixels", "bands") if first else ("bands", "pixels")
    if first and request.n_bands is not None:  # square: the band count from --wavelengths
        return ("pixels", "bands") if stored[1] == request.n_bands else ("bands", "pixels")
    if first:
        raise SceneError(f"{where}: both axes of the {_shown(stored)} matrix could hold the "
                         f"{pixels} pixels; say which holds the bands with --layout "
                         "bands,pixels or --layout pixels,bands")
    raise SceneError(f"{where}: neither axis of the {_shown(stored)} matrix holds the "
                     f"{pixels} pixels {shape_from} gives; check --shape (and --variable)")


def _pick_variable(path: Path, candidates: dict[str, np.ndarray], variable: str | None,
                   ndim: int) -> np.ndarray:
    if variable is not None:
        if variable not in candidates:
            raise SceneError(f"{path}: no {ndim}-D numeric variable {variable!r}; "
                             f"found {sorted(candidates) or 'none'}")
        return candidates[variable]
    if not candidates:
        raise SceneError(f"{path}: no {ndim}-D numeric variable inside")
    if len(candidates) > 1:
        listed = ", ".join(f"{k} ({_shown(v.shape)})" for k, v in candidates.items())
        raise SceneError(f"{path}: {len(candidates)} {ndim}-D arrays inside ({listed}); name "
                         "one with --variable")
    return next(iter(candidates.values()))


class ArrayScene(Scene):
    """A (rows, cols, bands) cube held in memory; no georeferencing."""

    format = "array"

    def __init__(self, path: Path, variable: str | None = None,
                 keep_bad_bands: bool = False, request: ArrayRequest | None = None) -> None:
        super().__init__(keep_bad_bands)
        self.path = path
        request = request or ArrayRequest()
        if variable is not None:
            request = replace(request, variable=variable)
        self._array, self.layout, self.other_arrays = load_cube(path, request)
        self.height, self.width, n_bands = self._array.shape
        self.source_dtype = self._array.dtype
        self.bands = default_band_info(n_bands)
        self.nodata = None
        self.scale, self.offset = 1.0, 0.0
        self.crs, self.transform = None, None

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        rows, cols = window.toslices()
        return np.asarray(self._array[rows, cols][:, :, band_indices])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "variable": self.layout.variable,
                "layout": self.layout.to_json(), "layout_text": self.layout.describe(),
                "other_arrays": self.other_arrays}


ARRAY_OPTIONS = ("variable", "shape", "layout", "pixel_order")


def _listed_count(spec: str | None) -> int | None:
    """How many values a --wavelengths list gives (None for START:STOP or a file)."""
    if spec is None or ":" in spec or "," not in spec:
        return None
    return len([v for v in spec.split(",") if v.strip()])


def open_array(path: Path, request: OpenRequest) -> ArrayScene:
    """An array scene as --variable, --shape, --layout and --pixel-order say."""
    options = {key: request.format_options.get(key) for key in ARRAY_OPTIONS}
    parsed: dict[str, object] = {"variable": options["variable"],
                                 "pixel_order": options["pixel_order"]}
    for key, parse in (("shape", parse_shape), ("layout", parse_layout)):
        if options[key] is not None:
            try:
                parsed[key] = parse(str(options[key]))
            except ValueError as exc:
                raise SceneError(f"{request.flag_prefix}{key} {exc}") from None
    return ArrayScene(path, keep_bad_bands=request.keep_bad_bands,
                      request=ArrayRequest(n_bands=_listed_count(request.wavelengths), **parsed))


FORMAT = SceneFormat("MATLAB or NumPy array", is_array_path, open_array, options=ARRAY_OPTIONS,
                     files=".mat and .npy arrays")
