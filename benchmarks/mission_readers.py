"""Read rate of the EMIT, PRISMA and EnMAP readers against the raw read of the same files.

Writes one synthetic product of each kind with its published structure (the builders of
`tests/io/mission_files.py`, at full spectral size: EMIT 285 bands float32, PRISMA 66 VNIR +
173 SWIR uint16, EnMAP 224 int16 GeoTIFF tiled 128 x 128 pixel-interleaved) in a temporary
folder, then times (best of --repeats) with the files dropped from the page cache before
each read (cold: the disk is the bound) and read from memory (warm: the CPU is):

- raw: the file's own library reading everything in its natural order, no conversion:
  h5py slabs of 256 lines (EMIT `reflectance`, PRISMA both cubes), rasterio windows of 256
  rows (EnMAP, all bands);
- phism: `Scene.read` over the 256 x 256 tiles every command streams (values converted to
  float32 in physical units, nodata to NaN): EMIT orthorectified through a GLT rotated 20
  degrees (so each map tile gathers from a slanted strip of sensor rows) and with
  --no-ortho, PRISMA L2D joined VNIR + SWIR, EnMAP L2A.

The rate is MB of the file's cube data per second in both columns, so the ratio is the
share of the raw read rate the reader keeps.

    python benchmarks/mission_readers.py                 # ~1 min, ~1 GB of temporary files
    python benchmarks/mission_readers.py --scale 2       # twice the lines
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import HERE, finish_report, fmt, machine, machine_line
from phism_cli.io import open_scene
from tests.io import mission_files

TILE = 256


def rotated_glt(downtrack: int, crosstrack: int, degrees: float) -> tuple[np.ndarray, ...]:
    """A nearest-neighbour GLT of the swath rotated by `degrees` on a map grid that holds it."""
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    corners = np.array([[0, 0], [0, crosstrack], [downtrack, 0], [downtrack, crosstrack]])
    ys = corners[:, 0] * cos - corners[:, 1] * sin
    xs = corners[:, 0] * sin + corners[:, 1] * cos
    height, width = int(np.ceil(np.ptp(ys))) + 1, int(np.ceil(np.ptp(xs))) + 1
    my, mx = np.mgrid[0:height, 0:width].astype(np.float64)
    my += ys.min()
    mx += xs.min()
    row = np.rint(my * cos + mx * sin).astype(np.int64)  # inverse rotation
    col = np.rint(-my * sin + mx * cos).astype(np.int64)
    inside = (row >= 0) & (row < downtrack) & (col >= 0) & (col < crosstrack)
    glt_x = np.where(inside, col + 1, 0).astype(np.int32)
    glt_y = np.where(inside, row + 1, 0).astype(np.int32)
    return glt_x, glt_y


def _best(function: Callable[[], None], repeats: int, evict: list[Path] | None = None
          ) -> float:
    """Best time of `repeats` runs: warm (after one run to fill the page cache), or cold with
    the files in `evict` dropped from the page cache before each run."""
    if evict is None:
        function()
    times = []
    for _ in range(repeats):
        for path in evict or ():
            _drop_from_page_cache(path)
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _scene_reader(path: Path, **options: object) -> Callable[[], None]:
    def read() -> None:
        with open_scene(path, keep_bad_bands=True, **options) as scene:
            for window in scene.windows(TILE):
                scene.read(window)
    return read


def _h5_reader(path: Path, keys: list[str]) -> Callable[[], None]:
    import h5py

    def read() -> None:
        with h5py.File(path, "r") as f:
            for key in keys:
                data = f[key]
                for start in range(0, data.shape[0], TILE):
                    data[start:start + TILE]
    return read


def _rasterio_reader(path: Path) -> Callable[[], None]:
    import rasterio
    from rasterio.windows import Window

    def read() -> None:
        with rasterio.open(path) as ds:
            for start in range(0, ds.height, TILE):
                ds.read(window=Window(0, start, ds.width, min(TILE, ds.height - start)))
    return read


def build(folder: Path, scale: float) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    lines = int(512 * scale)
    emit_cube = rng.random((lines, 620, 285), dtype=np.float32)
    emit_path = mission_files.write_emit(
        folder / "EMIT_L2A_RFL_001_bench.nc", emit_cube, np.linspace(381.0, 2493.0, 285),
        glt=rotated_glt(lines, 620, 20.0))
    vnir = rng.integers(0, 65535, size=(lines, 66, 500), dtype=np.uint16)
    swir = rng.integers(0, 65535, size=(lines, 173, 500), dtype=np.uint16)
    prisma_path = _write_full_prisma(folder / "PRS_L2D_STD_bench.he5", vnir, swir)
    dn = rng.integers(0, 10000, size=(224, lines, 500), dtype=np.int16)
    enmap_image, enmap_xml = mission_files.write_enmap(folder, dn,
                                                       np.linspace(418.0, 2445.0, 224))
    os.sync()  # written pages must reach the disk before they can be dropped from the cache
    emit = {"path": emit_path, "files": [emit_path], "bytes": emit_cube.nbytes,
            "raw": _h5_reader(emit_path, ["reflectance"])}
    prisma_cubes = [f"HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/{c}_Cube" for c in ("VNIR", "SWIR")]
    return {
        "EMIT L2A (GLT)": {**emit, "phism": _scene_reader(emit_path)},
        "EMIT L2A (--no-ortho)": {**emit, "phism": _scene_reader(emit_path, no_ortho=True)},
        "PRISMA L2D": {"path": prisma_path, "files": [prisma_path],
                       "bytes": vnir.nbytes + swir.nbytes,
                       "raw": _h5_reader(prisma_path, prisma_cubes),
                       "phism": _scene_reader(prisma_path)},
        "EnMAP L2A": {"path": enmap_xml, "files": [enmap_image, enmap_xml], "bytes": dn.nbytes,
                      "raw": _rasterio_reader(enmap_image), "phism": _scene_reader(enmap_xml)},
    }


def _write_full_prisma(path: Path, vnir: np.ndarray, swir: np.ndarray) -> Path:
    """PRISMA's real band lists are 66 VNIR and 173 SWIR entries; the test builder's short
    lists are replaced by evenly spread ones of that length."""
    import h5py

    mission_files.write_prisma(path, vnir[:, :6], swir[:, :6])
    with h5py.File(path, "a") as f:
        f.attrs["List_Cw_Vnir"] = np.linspace(1010.0, 402.0, 66)
        f.attrs["List_Fwhm_Vnir"] = np.full(66, 10.0)
        f.attrs["List_Cw_Vnir_Flags"] = np.ones(66, dtype=np.int8)
        f.attrs["List_Cw_Swir"] = np.linspace(2497.0, 920.0, 173)
        f.attrs["List_Fwhm_Swir"] = np.full(173, 11.0)
        f.attrs["List_Cw_Swir_Flags"] = np.ones(173, dtype=np.int8)
        fields = f["HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields"]
        for name, cube in (("VNIR_Cube", vnir), ("SWIR_Cube", swir)):
            del fields[name]
            fields.create_dataset(name, data=cube)
    return path


def markdown(report: dict) -> str:
    rows = "\n".join(
        f"| {name} | {cache} | {r['shape']} | {fmt(r['mb'], 0)} | "
        f"{fmt(r[cache]['raw_mb_s'], 0)} | {fmt(r[cache]['phism_mb_s'], 0)} | "
        f"{fmt(100 * r[cache]['ratio'], 0)} % |"
        for name, r in report["rows"].items() for cache in ("cold", "warm"))
    return (f"# Mission readers against the raw read of their files\n\n"
            f"- Date: {report['date']}; best of {report['repeats']} reads, tiles of "
            f"{TILE} x {TILE}; cold: the files dropped from the page cache "
            "(posix_fadvise DONTNEED) before each read, so the disk is the bound; warm: read "
            f"from memory, so the CPU is\n{machine_line(report, 1)}\n\n"
            "| product | cache | scene (rows x cols x bands read) | cube MB | raw MB/s | "
            "phism MB/s | phism / raw |\n|---|---|---|---|---|---|---|\n" + rows + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="lines x 512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "mission_readers.md")
    args = parser.parse_args()
    started = time.perf_counter()
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), "repeats": args.repeats, "scale": args.scale, "rows": {}}
    with tempfile.TemporaryDirectory(prefix="phism-readers-") as tmp:
        for name, case in build(Path(tmp), args.scale).items():
            options = {"no_ortho": True} if "no-ortho" in name else {}
            with open_scene(case["path"], keep_bad_bands=True, **options) as scene:
                shape = f"{scene.height} x {scene.width} x {scene.count}"
            mb = case["bytes"] / 1e6
            row = report["rows"][name] = {"shape": shape, "mb": mb}
            for cache, evict in (("warm", None), ("cold", case["files"])):
                raw = _best(case["raw"], args.repeats, evict)
                phism = _best(case["phism"], args.repeats, evict)
                row[cache] = {"raw_seconds": raw, "phism_seconds": phism, "raw_mb_s": mb / raw,
                              "phism_mb_s": mb / phism, "ratio": raw / phism}
                print(f"{name} ({cache}): raw {mb / raw:.0f} MB/s, phism {mb / phism:.0f} "
                      "MB/s", flush=True)
    finish_report(report, started, markdown, args.out)


if __name__ == "__main__":
    main()
