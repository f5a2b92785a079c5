"""Mission products stored as HDF5 (PRISMA .he5, EMIT NetCDF-4): recognising them, opening
them, and reading their attributes and datasets with messages that name the file and the
field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import SceneError

HDF5_SUFFIXES = (".nc", ".nc4", ".he5", ".h5", ".hdf5", ".hdf")
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SIGNATURE_SEARCH_LIMIT = 1 << 20  # a user block (HDF-EOS puts none) is at most this long


def is_hdf5(path: Path) -> bool:
    """A file with an HDF5 suffix and the HDF5 signature at 0, 512, 1024, ... bytes."""
    if path.suffix.lower() not in HDF5_SUFFIXES or not path.is_file():
        return False
    with open(path, "rb") as handle:
        offset = 0
        while offset <= _SIGNATURE_SEARCH_LIMIT:
            handle.seek(offset)
            head = handle.read(len(_SIGNATURE))
            if head == _SIGNATURE:
                return True
            if len(head) < len(_SIGNATURE):
                return False
            offset = 512 if offset == 0 else offset * 2
    return False


def open_hdf5(path: Path, product: str) -> Any:
    """`path` opened read-only with h5py; a damaged file is refused naming the product."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = " ".join(str(exc).split())[:160]
        raise SceneError(f"{path}: not a readable {product} file ({reason}); the file is "
                         "damaged or incomplete, download it again") from None


def has_path(handle: Any, key: str) -> bool:
    try:
        return key in handle
    except (KeyError, ValueError, OSError):
        return False


def dataset(path: Path, handle: Any, key: str, *, ndim: int, what: str) -> Any:
    """The dataset `key` of `ndim` dimensions and a real number type."""
    import h5py

    node = handle.get(key) if has_path(handle, key) else None
    if not isinstance(node, h5py.Dataset):
        raise SceneError(f"{path}: no dataset '{key}' ({what}); the file is not a complete "
                         "product")
    if node.ndim != ndim:
        raise SceneError(f"{path}: dataset '{key}' has {node.ndim} dimensions "
                         f"{tuple(node.shape)}, not {ndim}; the file is not a complete product")
    if np.dtype(node.dtype).kind not in "biuf":
        raise SceneError(f"{path}: dataset '{key}' holds {node.dtype}, not numbers; the file "
                         "is not a product phism reads")
    return node


def numbers(path: Path, values: Any, where: str, count: int | None = None) -> np.ndarray:
    """A 1-D float64 array of finite numbers (an attribute's or a small dataset's values)."""
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise SceneError(f"{path}: {where} is not a list of numbers; the file's metadata is "
                         "damaged") from None
    if count is not None and array.size != count:
        raise SceneError(f"{path}: {where} has {array.size} values for {count} bands; the "
                         "file's metadata is damaged")
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise SceneError(f"{path}: {where} value {bad[0] + 1} is {array[bad[0]]}, not a "
                         "finite number; the file's metadata is damaged")
    return array


def attribute(path: Path, attrs: Any, name: str, where: str) -> Any:
    """An attribute that must be there."""
    if name not in attrs:
        raise SceneError(f"{path}: {where} has no attribute '{name}'; the file is not a "
                         "complete product")
    return attrs[name]


def text(value: Any) -> str:
    """An attribute as text (HDF5 strings come back as bytes or 1-element arrays)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
