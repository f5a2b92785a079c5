"""Small helpers about files as a whole."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_text_file(path: Path, where: str, binary_hint: str) -> str:
    """A text file's contents (UTF-8, else Latin-1). Errors start with `where` (the file as
    the message names it) and a binary file is refused with `binary_hint` (what to give)."""
    from phism_cli.errors import PhismError

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PhismError(f"{where}: cannot read the file ({exc.strerror})") from None
    if b"\0" in raw:
        raise PhismError(f"{where}: holds binary bytes, not text; give {binary_hint}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
