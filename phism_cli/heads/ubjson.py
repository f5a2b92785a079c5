"""A bounded reader of Universal Binary JSON (draft 12), the format of XGBoost's `.ubj` models.

It exists so phism can check a head file completely before XGBoost's native loader sees it
(a truncated file crashes that loader). Typed numeric arrays come back as read-only NumPy
arrays; every length is checked against the bytes left, and nesting is bounded, so damaged
input raises `UbjsonError` and never exhausts memory or the stack.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

_NUMERIC = {b"i": ">i1", b"U": ">u1", b"I": ">i2", b"l": ">i4", b"L": ">i8",
            b"d": ">f4", b"D": ">f8"}
_SCALAR = {m: struct.Struct({"i": ">b", "U": ">B", "I": ">h", "l": ">i", "L": ">q", "d": ">f",
                             "D": ">d"}[m.decode()]) for m in _NUMERIC}
_INTEGER_MARKERS = (b"i", b"U", b"I", b"l", b"L")
MAX_DEPTH = 64


class UbjsonError(ValueError):
    """The bytes are not complete, well-formed UBJSON."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.size = len(self.data)
        self.pos = 0

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise UbjsonError(f"needs {n} bytes at offset {self.pos} but the data ends at "
                              f"{self.size}")

    def marker(self) -> bytes:
        while True:
            self._need(1)
            m = self.data[self.pos:self.pos + 1]
            self.pos += 1
            if m != b"N":  # no-op padding
                return m

    def scalar(self, marker: bytes) -> int | float:
        unpacker = _SCALAR[marker]
        self._need(unpacker.size)
        (number,) = unpacker.unpack_from(self.data, self.pos)
        self.pos += unpacker.size
        return number

    def length(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        if marker not in _INTEGER_MARKERS:
            raise UbjsonError(f"expected a length at offset {self.pos - 1}, found {marker!r}")
        n = self.scalar(marker)
        if n < 0 or n > self.size - self.pos:
            raise UbjsonError(f"length {n} at offset {self.pos} is impossible here")
        return int(n)

    def text(self, marker: bytes | None = None) -> str:
        n = self.length(marker)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise UbjsonError(f"a string before offset {self.pos} is not UTF-8") from None

    def value(self, marker: bytes, depth: int) -> Any:
        if marker in _SCALAR:
            return self.scalar(marker)
        if marker == b"S":
            return self.text()
        if marker == b"H":
            text = self.text()
            try:
                return float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                raise UbjsonError(f"high-precision number {text!r} is not a number") from None
        if marker == b"C":
            self._need(1)
            self.pos += 1
            return self.data[self.pos - 1:self.pos].decode("latin-1")
        if marker in (b"T", b"F"):
            return marker == b"T"
        if marker == b"Z":
            return None
        if marker in (b"[", b"{"):
            if depth >= MAX_DEPTH:
                raise UbjsonError(f"containers nest deeper than {MAX_DEPTH}")
            return self.container(marker, depth + 1)
        raise UbjsonError(f"unknown marker {marker!r} at offset {self.pos - 1}")

    def container(self, opener: bytes, depth: int) -> Any:
        is_object = opener == b"{"
        closer = b"}" if is_object else b"]"
        item_type: bytes | None = None
        count: int | None = None
        pending: bytes | None = self.marker()
        if pending == b"$":
            item_type = self.marker()
            if self.marker() != b"#":
                raise UbjsonError(f"a typed container needs a count (offset {self.pos - 1})")
            pending = b"#"
        if pending == b"#":
            count = self.length()
            pending = None
        if not is_object and item_type in _NUMERIC and count is not None:
            dtype = np.dtype(_NUMERIC[item_type])
            self._need(count * dtype.itemsize)
            array = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
            self.pos += count * dtype.itemsize
            return array
        items: Any = {} if is_object else []
        index = 0
        while count is None or index < count:
            marker = pending if pending is not None else self.marker()
            pending = None
            if count is None and marker == closer:
                break
            if is_object:
                key = self.text(marker)  # keys are length-prefixed, without an 'S'
                if key in items:
                    raise UbjsonError(f"key {key!r} appears twice in one object")
                items[key] = self.value(item_type or self.marker(), depth)
            else:
                items.append(self.value(item_type or marker, depth))
            index += 1
        return items


def loads(data: bytes) -> Any:
    """Decode one UBJSON value that fills `data` exactly."""
    reader = _Reader(data)
    value = reader.value(reader.marker(), 0)
    if reader.pos != reader.size:
        raise UbjsonError(f"{reader.size - reader.pos} stray bytes after the value")
    return value
