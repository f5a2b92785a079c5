"""Resuming a tile-by-tile Zarr write that was interrupted.

A Zarr output written with `--resume` carries a progress record, `.phism-tiles` inside the
partial store: one line per tile whose chunks are on disk ("ROW COL VALID NONFINITE"),
appended only after the tile's write returned, so a line never names a tile that is not
there (a line torn by a kill is ignored and that tile done again). A later run with
`--resume` takes over the partial store when its metadata matches what it would write,
skips the recorded tiles, and removes the record before the store is finished, so the
result is byte for byte what an uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zarr
from rasterio.windows import Window

from phism_cli.io.rasters import RasterSpec, RasterWriter

PROGRESS_NAME = ".phism-tiles"
# Metadata that may differ between the interrupted run and the one resuming it.
_MAY_DIFFER = ("model_path",)


@dataclass
class TileProgress:
    """The tiles of a partial Zarr store already written, with their pixel counts."""

    path: Path  # the progress record
    done: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    torn: bool = False  # the record ends in a line a kill cut short

    @classmethod
    def read(cls, store: Path) -> TileProgress:
        progress = cls(store / PROGRESS_NAME)
        try:
            text = progress.path.read_text()
        except FileNotFoundError:
            return progress
        progress.torn = bool(text) and not text.endswith("\n")
        for line in text.splitlines():
            words = line.split()
            if len(words) == 4 and all(w.isdigit() for w in words):
                row, col, valid, nonfinite = (int(w) for w in words)
                progress.done[(row, col)] = (valid, nonfinite)
        return progress

    def create(self) -> None:
        """Start an empty record in a new store whose metadata is written: from now on the
        store can be resumed, even if no tile gets finished."""
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644))

    def is_done(self, window: Window) -> bool:
        return (int(window.row_off), int(window.col_off)) in self.done

    def record(self, window: Window, valid: int, nonfinite: int) -> None:
        """Note a tile whose write has returned (one short append: atomic on local disks)."""
        line = f"{int(window.row_off)} {int(window.col_off)} {valid} {nonfinite}\n"
        if self.torn:  # end the cut line first, so it never joins this one
            line, self.torn = "\n" + line, False
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self.done[(int(window.row_off), int(window.col_off))] = (valid, nonfinite)

    def counts(self, windows: list[Window]) -> dict[str, int]:
        """Pixel counts of the recorded tiles among `windows` (as `encode_scene` returns)."""
        valid = nonfinite = pixels = 0
        for w in windows:
            if self.is_done(w):
                v, n = self.done[(int(w.row_off), int(w.col_off))]
                valid, nonfinite, pixels = valid + v, nonfinite + n, pixels + w.height * w.width
        return {"pixels": pixels, "valid_pixels": valid, "nonfinite_pixels": nonfinite}

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _comparable(metadata: dict[str, Any]) -> Any:
    plain = json.loads(json.dumps(metadata, default=str))
    return {k: v for k, v in plain.items() if k not in _MAY_DIFFER}


def can_resume(partial: Path, spec: RasterSpec) -> bool:
    """True when `partial` is an unfinished Zarr store of exactly the output `spec` describes
    (same model, source, channels, size and tiles) with a progress record."""
    if not (partial.is_dir() and (partial / PROGRESS_NAME).is_file()):
        return False
    try:
        stored = json.loads((partial / ".zattrs").read_text()).get("phism")
        array = json.loads((partial / spec.variable / ".zarray").read_text())
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(stored, dict) or stored.get("complete") is not False:
        return False
    expected_shape = [len(spec.channel_names), spec.height, spec.width]
    expected_chunks = [len(spec.channel_names), spec.tile_size, spec.tile_size]
    return (_comparable(stored) == _comparable({**spec.metadata, "complete": False})
            and array.get("shape") == expected_shape and array.get("chunks") == expected_chunks)


# Zarr's local store writes each chunk to `CHUNK.<32 hex>.partial` and renames it into place;
# a process killed in between leaves that file behind.
_CHUNK_WRITE = re.compile(r"\.[0-9a-f]{32}\.partial$")


def discard_interrupted_chunk_writes(store: Path) -> int:
    """Remove the half-written chunk files a killed writer left in `store` (an adopted
    partial store no one else writes to); returns how many. The chunks themselves are whole
    or absent, and the progress record names only tiles whose chunks were written."""
    removed = 0
    for path in store.rglob("*.partial"):
        if path.is_file() and _CHUNK_WRITE.search(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class ZarrTileWriter(RasterWriter):
    """A `RasterWriter` onto a Zarr store that exists already: a resumed partial store, or
    one that another process created (a Dask worker writing its block of tiles)."""

    def __init__(self, path: Path, spec: RasterSpec, name: str | Path | None = None) -> None:
        import numcodecs

        from phism_cli.threads import configured_threads

        self.path, self.spec, self.kind = path, spec, "zarr"
        self.name = str(name or path)
        self._metadata = {**spec.metadata, "complete": False}
        numcodecs.blosc.set_nthreads(configured_threads())
        self._array = zarr.open_array(str(path / spec.variable), mode="r+", zarr_format=2)
