"""Outputs that appear complete or not at all: write beside the target, then rename."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from phism_cli.errors import OutputExistsError, PhismError


def check_output(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing output unless `overwrite`; refuse a missing parent folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass --overwrite to replace it")
    if not path.parent.exists():
        raise PhismError(f"{path.parent}: output folder does not exist")
    return path


def _apply_umask(path: Path) -> None:
    """Give a finished file the permissions a plain open() would have (some writers use 0600)."""
    if path.is_file():
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(path: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces `path`.

    On any error (or Ctrl-C) the temporary output is removed and `path` is untouched.
    Works for files and for directory stores such as Zarr.
    """
    path = check_output(path, overwrite)
    tmp = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    _apply_umask(tmp)
    if path.exists() and not overwrite:  # appeared while we worked
        _remove(tmp)
        raise OutputExistsError(f"{path}: appeared while writing; pass --overwrite to replace it")
    if path.is_dir() and not path.is_symlink():
        trash = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(path, trash)
        os.replace(tmp, path)
        _remove(trash)
    else:
        os.replace(tmp, path)
