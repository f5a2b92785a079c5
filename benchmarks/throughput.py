"""Encode throughput and peak memory of `phism encode` on synthetic ENVI scenes.

Builds ENVI BSQ float32 scenes of several sizes (smooth random spectra, wavelengths
400-2500 nm in the header) in a temporary folder, fits one encoder once with
`phism fit-encoder` on the smallest scene, then runs `phism encode SCENE -o OUT.zarr -m MODEL`
on every scene, each in a fresh child process. For each run it records the encoder's own
timing (`encode_seconds`, `pixels_per_second` from `--json`), the wall time of the process,
and memory: the child's peak RSS from GNU time (`/usr/bin/time -f %M`, i.e. ru_maxrss, which
counts file-backed pages of the memory-mapped input as well as anonymous memory) and the peaks
of RssAnon / RssFile sampled from /proc/PID/status every 20 ms. Each scene is encoded
`--repeats` times; the table shows the fastest run and the largest peak. The scenes are
deleted afterwards.

    python benchmarks/throughput.py                       # 256x320, 640x512, 1280x1024
    python benchmarks/throughput.py --sizes 128x128 256x256 --bands 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import machine

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "throughput.md"


def parse_size(text: str) -> tuple[int, int]:
    """'ROWSxCOLS' -> (rows, cols)."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: use ROWSxCOLS, e.g. 1280x1024") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}: rows and cols must be positive")
    return rows, cols


def phism_command() -> list[str]:
    """The `phism` console script of this interpreter's environment."""
    exe = Path(sys.executable).with_name("phism")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from phism_cli.cli.app import main; main()"]


# -- synthetic scenes -----------------------------------------------------------------------
def endmembers(wavelengths: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, bands) smooth positive spectra: a sloped baseline plus a few Gaussian bumps."""
    x = (wavelengths - wavelengths.min()) / np.ptp(wavelengths)
    spectra = np.empty((n, len(x)))
    for i in range(n):
        s = 0.1 + 0.2 * rng.random() + 0.2 * (rng.random() - 0.5) * x
        for _ in range(rng.integers(2, 6)):
            mu, sigma = rng.random(), 0.03 + 0.2 * rng.random()
            s = s + (rng.random() - 0.3) * 0.3 * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
        spectra[i] = np.clip(s, 0.01, None)
    return spectra


def write_scene(folder: Path, rows: int, cols: int, bands: int, seed: int) -> Path:
    """Write an ENVI BSQ float32 scene of linear mixtures of smooth spectra; return the .hdr."""
    rng = np.random.default_rng(seed)
    wavelengths = np.linspace(400.0, 2500.0, bands)
    ends = endmembers(wavelengths, 8, rng).astype(np.float32)  # (8, bands)
    # Abundances vary smoothly in space (coarse random field, upsampled) plus per-pixel jitter.
    coarse = rng.gamma(1.0, size=(rows // 32 + 2, cols // 32 + 2, len(ends)))
    ry = np.linspace(0, coarse.shape[0] - 1.001, rows)
    rx = np.linspace(0, coarse.shape[1] - 1.001, cols)
    iy, fy = ry.astype(int), (ry % 1)[:, None, None]
    ix, fx = rx.astype(int), (rx % 1)[None, :, None]
    top = coarse[iy][:, ix] * (1 - fx) + coarse[iy][:, ix + 1] * fx
    bottom = coarse[iy + 1][:, ix] * (1 - fx) + coarse[iy + 1][:, ix + 1] * fx
    abundance = (top * (1 - fy) + bottom * fy) * rng.uniform(0.8, 1.2, (rows, cols, 1))
    abundance = (abundance / abundance.sum(axis=-1, keepdims=True)).astype(np.float32)

    name = f"synthetic_{rows}x{cols}x{bands}"
    data_path = folder / f"{name}.img"
    cube = np.memmap(data_path, dtype="<f4", mode="w+", shape=(bands, rows, cols))
    for b in range(bands):  # BSQ: one band image at a time
        band = abundance @ ends[:, b]
        band += rng.normal(0.0, 0.002, band.shape).astype(np.float32)
        cube[b] = band
    cube.flush()
    del cube
    header = folder / f"{name}.hdr"
    header.write_text(
        "ENVI\n"
        "description = {phism synthetic benchmark scene}\n"
        f"samples = {cols}\nlines = {rows}\nbands = {bands}\n"
        "header offset = 0\nfile type = ENVI Standard\ndata type = 4\n"
        "interleave = bsq\nbyte order = 0\n"
        "map info = {UTM, 1.000, 1.000, 500000.000, 5800000.000, 30.000, 30.000, 33, North, "
        "WGS-84, units=Meters}\n"
        "wavelength units = Nanometers\n"
        "wavelength = {" + ", ".join(f"{w:.3f}" for w in wavelengths) + "}\n"
    )
    return header


# -- measuring a child ----------------------------------------------------------------------
def find_child(pid: int) -> int | None:
    """The pid of a process whose parent is `pid` (the command /usr/bin/time started)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            return int(stat.parent.name)
    return None


def run_measured(cmd: list[str], log_dir: Path, tag: str) -> dict:
    """Run `cmd` in a fresh child; return its exit code, stdout, wall time and memory peaks.

    Peak RSS comes from GNU time (`%M`, the child's ru_maxrss). Calling `os.wait4` on a child
    forked straight from this script would not do: Linux carries the forking process's RSS
    high-water mark into the child's ru_maxrss, and this script has just written the scenes.
    """
    stdout_path, stderr_path = log_dir / f"{tag}.out", log_dir / f"{tag}.err"
    rss_path = log_dir / f"{tag}.maxrss"
    peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    timer = shutil.which("time") or "/usr/bin/time"
    if not Path(timer).is_file():
        raise SystemExit("GNU time (/usr/bin/time) is needed to measure peak memory")
    start = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen([timer, "-f", "%M", "-o", str(rss_path), *cmd],
                                stdout=out, stderr=err)
        done = threading.Event()

        def sample() -> None:
            child = None
            while not done.is_set():
                child = child or find_child(proc.pid)
                if child is not None:
                    try:
                        for line in Path(f"/proc/{child}/status").read_text().splitlines():
                            key, _, value = line.partition(":")
                            if key in peaks:
                                peaks[key] = max(peaks[key], int(value.split()[0]))
                    except (OSError, ValueError, IndexError):
                        pass
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    maxrss_kib = int(rss_path.read_text().split()[-1])
    return {
        "returncode": proc.returncode,
        "stdout": stdout_path.read_text(),
        "stderr": stderr_path.read_text(),
        "wall_seconds": wall,
        "maxrss_mb": maxrss_kib / 1024.0,  # GNU time reports KiB
        "peak_rss_anon_mb": peaks["RssAnon"] / 1024.0,
        "peak_rss_file_mb": peaks["RssFile"] / 1024.0,
        "vmhwm_sampled_mb": peaks["VmHWM"] / 1024.0,
    }


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())




# -- report ---------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    fit = report["fit"]
    lines = [
        "# `phism encode` throughput and peak memory",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['nproc']} CPU cores, GPU: {'yes' if m['gpu'] else 'none'}; "
        f"torch {m['torch']} ({m['torch_threads']} threads), numpy {m['numpy']}, "
        f"Python {m['python']}, {m['platform']}; load average at start "
        f"{', '.join(str(v) for v in m['loadavg_at_start'])}",
        f"- Scenes: synthetic ENVI BSQ float32, {s['bands']} bands, wavelengths 400-2500 nm "
        "in the header, linear mixtures of 8 smooth spectra plus Gaussian noise; written "
        "just before encoding (so the input was in the OS page cache: disk speed is not "
        "measured).",
        f"- Encoder: `phism fit-encoder` on the smallest scene, {s['components']} skew-normal "
        f"components, {s['epochs']} epochs, --max-pixels {s['max_pixels']}, device cpu "
        f"({fit['seconds']:.1f} s for the fit command; {fit['channels']} latent channels).",
        "- Encode: `phism encode SCENE -o OUT.zarr -m MODEL --json -q --device cpu` with the "
        "default tile size (256) and batch size (16384), one fresh process per scene, run "
        "one after another.",
        "- seconds / pixels/s: `encode_seconds` and `pixels_per_second` from the command's "
        "JSON (reading, encoding and writing; excludes start-up and model loading). "
        "Process s: wall time of the whole process.",
        f"- Each scene was encoded {s['repeats']} time(s); seconds and pixels/s are from the "
        "fastest run, memory columns are the largest over the runs.",
        "- Peak RSS: the encode process's maximum resident set size from GNU time "
        "(`/usr/bin/time -f %M`). It includes file-backed pages of the memory-mapped input "
        "that stay resident; the anon and file-backed columns are the peaks of `RssAnon` and "
        "`RssFile` in /proc/PID/status sampled every 20 ms (they need not peak together).",
        "",
        "- The machine is shared (other jobs may run at the same time; see the load "
        "average), so runs of the same scene can differ; every run's pixels/s is listed.",
        "",
        "| scene (rows x cols x bands) | pixels | file MB | seconds | pixels/s | all runs "
        "pixels/s | process s | peak RSS MB | peak anon MB | peak file-backed MB | latent MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['rows']} x {r['cols']} x {r['bands']} | {r['pixels']:,} | "
            f"{r['file_mb']:.0f} | {r['encode_seconds']:.1f} | {r['pixels_per_second']:,.0f} | "
            f"{', '.join(format(x['pixels_per_second'], ',.0f') for x in r['runs'])} | "
            f"{r['wall_seconds']:.1f} | {r['maxrss_mb']:.0f} | {r['peak_rss_anon_mb']:.0f} | "
            f"{r['peak_rss_file_mb']:.0f} | {r['latent_mb']:.1f} |"
        )
    lines.append("")
    lines.append(f"Total benchmark wall time: {report['total_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[(256, 320), (640, 512), (1280, 1024)],
                        help="scene sizes ROWSxCOLS (default: 256x320 640x512 1280x1024)")
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3, help="epochs for fit-encoder")
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--max-pixels", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=2, help="encode runs per scene")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="folder for the temporary scenes (default: system temp)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown results file; a .json is written beside it")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    phism = phism_command()
    sizes = sorted(args.sizes, key=lambda rc: rc[0] * rc[1])
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"sizes": [f"{r}x{c}" for r, c in sizes], "bands": args.bands,
                     "epochs": args.epochs, "components": args.components,
                     "max_pixels": args.max_pixels, "repeats": args.repeats},
        "runs": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="phism_throughput_", dir=args.tmp))
    try:
        scenes = []
        for i, (rows, cols) in enumerate(sizes):
            t = time.perf_counter()
            scenes.append(write_scene(tmp, rows, cols, args.bands, seed=i))
            print(f"wrote {scenes[-1].name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        model = tmp / "encoder.safetensors"
        fit = run_measured(
            [*phism, "fit-encoder", str(scenes[0]), "-o", str(model), "--epochs",
             str(args.epochs), "--max-pixels", str(args.max_pixels), "--components",
             str(args.components), "--device", "cpu", "--json", "-q"], tmp, "fit")
        if fit["returncode"] != 0:
            sys.stderr.write(fit["stderr"])
            raise SystemExit(f"phism fit-encoder failed with exit code {fit['returncode']}")
        fit_json = json.loads(fit["stdout"].strip().splitlines()[-1])
        report["fit"] = {"seconds": fit["wall_seconds"], "summary": fit_json,
                         "maxrss_mb": fit["maxrss_mb"]}

        for header in scenes:
            rows, cols = (int(v) for v in header.stem.split("_")[1].split("x")[:2])
            out = tmp / f"{header.stem}.zarr"
            runs = []
            for i in range(args.repeats):
                print(f"encoding {header.name} (run {i + 1}) ...", file=sys.stderr)
                run = run_measured([*phism, "encode", str(header), "-o", str(out), "-m",
                                    str(model), "--device", "cpu", "--json", "-q"],
                                   tmp, f"{header.stem}_{i}")
                if run["returncode"] != 0:
                    sys.stderr.write(run["stderr"])
                    raise SystemExit(f"phism encode failed on {header.name} "
                                     f"with exit code {run['returncode']}")
                summary = json.loads(run["stdout"].strip().splitlines()[-1])
                run.update(encode_seconds=summary["encode_seconds"],
                           pixels_per_second=summary["pixels_per_second"],
                           valid_pixels=summary["valid_pixels"],
                           latent_mb=dir_size(out) / 1e6)
                del run["stdout"], run["stderr"]
                runs.append(run)
                report["fit"]["channels"] = len(summary["channels"])
                print(f"  {run['pixels_per_second']:,.0f} pixels/s, peak RSS "
                      f"{run['maxrss_mb']:.0f} MB", file=sys.stderr)
                shutil.rmtree(out)
            best = max(runs, key=lambda r: r["pixels_per_second"])
            row = {
                "rows": rows, "cols": cols, "bands": args.bands, "pixels": rows * cols,
                "file_mb": header.with_suffix(".img").stat().st_size / 1e6,
                **best,
                **{k: max(r[k] for r in runs) for k in
                   ("maxrss_mb", "peak_rss_anon_mb", "peak_rss_file_mb", "vmhwm_sampled_mb")},
                "runs": runs,
            }
            report["runs"].append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    report["total_seconds"] = time.perf_counter() - t0
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
