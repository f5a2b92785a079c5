"""The encoder file's container, checked without torch: a safetensors file whose header must
describe exactly the bytes on disk, carrying phism's metadata as JSON.

Everything here runs before any native loader sees the file, so a truncated, padded or
damaged encoder is refused with one sentence instead of crashing deep inside a library.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from phism_cli.errors import PhismError, check_file_format

FORMAT = "phism-encoder"
# 2: config may name an MLP decoder (conventional autoencoder); 3: amplitudes solved per pixel,
# a brightness channel, PCA models (a phism that reads 2 would misread these)
FORMAT_VERSION = 3
META_KEY = "phism"
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
                "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8,
                "F64": 8}


def _damaged(path: Path, what: str) -> PhismError:
    return PhismError(f"{path}: not a complete phism encoder ({what}); the file is damaged or "
                      "was not written by 'phism fit-encoder': fit or copy it again")


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The header of a safetensors file, checked against the file's size: every tensor's
    bytes inside the data, the data covered exactly once, nothing missing or left over."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise _damaged(path, f"{size} bytes, too short for a safetensors file")
            (header_bytes,) = struct.unpack("<Q", prefix)
            if header_bytes > min(_MAX_HEADER_BYTES, size - 8):
                raise _damaged(path, "its header length runs past the end of the file")
            raw = fh.read(header_bytes)
    except OSError as exc:
        raise PhismError(f"{path}: cannot read the model ({exc.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _damaged(path, "its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise _damaged(path, "its header is not a JSON object")
    data_bytes = size - 8 - header_bytes
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or \
                    not all(isinstance(v, str) for v in entry.values()):
                raise _damaged(path, "its metadata is not a table of strings")
            continue
        spans.append(_tensor_span(path, name, entry))
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise _damaged(path, f"tensor {name!r} does not start where the previous one ends")
        position = end
    if position != data_bytes:
        raise _damaged(path, f"the header describes {position} bytes of tensors but the file "
                             f"holds {data_bytes}")
    return header


def _tensor_span(path: Path, name: str, entry: Any) -> tuple[int, int, str]:
    try:
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPE_BYTES or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise _damaged(path, f"tensor {name!r} is described wrongly") from None
    if end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]:
        raise _damaged(path, f"tensor {name!r} has {end - begin} bytes for shape {shape}")
    return begin, end, name


def read_encoder_metadata(path: str | Path) -> dict[str, Any]:
    """phism's metadata of an encoder file, after checking the container is whole."""
    path = Path(path)
    if not path.is_file():
        raise PhismError(f"{path}: no such model file")
    header = read_safetensors_header(path)
    raw = header.get("__metadata__", {}).get(META_KEY)
    if raw is None:
        raise PhismError(f"{path}: safetensors file without phism metadata; "
                         "was it written by 'phism fit-encoder'?")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise _damaged(path, "its phism metadata is not valid JSON") from None
    check_file_format(meta, path, FORMAT, FORMAT_VERSION, "encoder")
    meta["tensors"] = {name: entry for name, entry in header.items() if name != "__metadata__"}
    return meta


def is_phism_encoder(path: Path) -> bool:
    """True for an encoder file phism wrote (what --overwrite may replace)."""
    try:
        read_encoder_metadata(path)
    except PhismError:
        return False
    return True


def fitted_source_bands(meta: dict[str, Any], n_bands: int | None) -> list[int] | None:
    """The 1-based numbers, in its training file, of the bands a model was fitted on: listed
    (`bands_used`), or worked out from the file's bad-band mask; None when not recorded."""
    listed = meta.get("bands_used")
    if isinstance(listed, list) and len(listed) == n_bands and \
            all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in listed):
        return listed
    mask = meta.get("good_band_mask")
    if not isinstance(mask, list) or not all(m in (0, 1) for m in mask):
        return None
    used = [i + 1 for i, good in enumerate(mask) if good or not meta.get("bad_bands_dropped")]
    return used if len(used) == n_bands else None
