"""Shared fixtures: the real scenes in ../shared/data (or $PHISM_DATA) and small synthetic cubes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SCENE = REPO / "sample_data" / "enmap_potsdam_64x64.hdr"

# A shell that starts pytest in the background (`cmd &`) hands it SIGINT ignored, and the
# interrupt tests would then never see their Ctrl-C: give them Python's default handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_data_dir() -> Path | None:
    env = os.environ.get("PHISM_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real scenes not found: set PHISM_DATA or place shared/data beside the repo")
    return path


def real_file(shared_data: Path, relative: str) -> Path:
    path = shared_data / relative
    if not path.exists():
        pytest.skip(f"{relative} is missing from {shared_data}")
    return path


def smooth_cube(rows: int, cols: int, bands: int, seed: int = 0) -> np.ndarray:
    """A seeded (rows, cols, bands) float32 cube of smooth positive spectra."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    centres = rng.uniform(0.1, 0.9, size=(rows, cols, 3, 1))
    widths = rng.uniform(0.05, 0.3, size=(rows, cols, 3, 1))
    heights = rng.uniform(0.1, 1.0, size=(rows, cols, 3, 1))
    bumps = heights * np.exp(-0.5 * ((x - centres) / widths) ** 2)
    return (0.2 + bumps.sum(axis=2)).astype(np.float32)


def write_envi(path: Path, cube: np.ndarray, interleave: str = "bsq", byte_order: int = 0,
               header_offset: int = 0, extra_header: str = "",
               dtype: np.dtype | str | None = None) -> Path:
    """Write (rows, cols, bands) `cube` as ENVI; returns the header path."""
    from spectral.io.envi import dtype_to_envi

    dtype = np.dtype(dtype or cube.dtype)
    rows, cols, bands = cube.shape
    order = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    data = np.ascontiguousarray(cube.astype(dtype).transpose(order))
    data = data.astype(dtype.newbyteorder(">" if byte_order else "<"))
    with open(path, "wb") as fh:
        fh.write(b"\0" * header_offset)
        fh.write(data.tobytes())
    header = path.with_suffix(".hdr")
    file_type = "" if "file type" in extra_header else "file type = ENVI Standard\n"
    header.write_text(
        "ENVI\n"
        f"samples = {cols}\nlines = {rows}\nbands = {bands}\n"
        f"header offset = {header_offset}\n{file_type}"
        f"data type = {dtype_to_envi[dtype.char]}\ninterleave = {interleave}\n"
        f"byte order = {byte_order}\n{extra_header}"
    )
    return header


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """Valid inputs and outputs of every kind (tests/cli/kit.py), for tests that damage
    copies of them."""
    from tests.cli.kit import build_kit

    return build_kit(tmp_path_factory.mktemp("kit"))
