"""Recognising the PNG pictures phism draws (they carry `Software: phism ...` in a tEXt chunk),
so --overwrite replaces only those."""

from __future__ import annotations

import struct
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
SOFTWARE = "phism"


def png_text(path: Path, limit: int = 1 << 20) -> dict[str, str]:
    """The tEXt entries of a PNG file (read from its first `limit` bytes); {} if not a PNG."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
    except OSError:
        return {}
    if not data.startswith(SIGNATURE):
        return {}
    text: dict[str, str] = {}
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and b"\0" in body:
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return text


def is_phism_png(path: Path) -> bool:
    return png_text(path).get("Software", "").startswith(SOFTWARE)
