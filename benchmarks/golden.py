"""The golden set: every command's outputs on the sample scene, hashed, so that a refactor
can show it changed no byte.

    python benchmarks/golden.py                  # record benchmarks/results/golden.json
    python benchmarks/golden.py --check          # run again and compare with the record

Each command runs in a fresh process with one thread and fixed seeds, in a temporary folder;
every output file (every file inside a Zarr store) is hashed with sha256 after the folder's
and the repository's absolute paths are replaced by placeholders (outputs record where their
inputs were). The record holds for one machine and one set of library versions (torch,
GDAL, XGBoost): it is a before/after check for code changes, not a portable reference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCENE = REPO / "sample_data" / "enmap_potsdam_64x64.hdr"
LABELS = REPO / "sample_data" / "enmap_potsdam_64x64_labels.tif"
SRF = REPO / "sample_data" / "sentinel2_gaussian_srf.csv"
RECORD = HERE / "results" / "golden.json"

# (name, arguments, outputs): run in order, in one folder, so later steps use earlier outputs
STEPS: list[tuple[str, list[str], list[str]]] = [
    ("fit-encoder", ["fit-encoder", str(SCENE), "-o", "enc.safetensors", "--epochs", "5",
                     "--seed", "0"], ["enc.safetensors"]),
    ("fit-encoder pca", ["fit-encoder", str(SCENE), "-o", "pca.safetensors", "--basis", "pca",
                         "-k", "4"], ["pca.safetensors"]),
    ("encode", ["encode", str(SCENE), "-o", "lat.zarr", "-m", "enc.safetensors"], ["lat.zarr"]),
    ("encode pca", ["encode", str(SCENE), "-o", "pca.zarr", "-m", "pca.safetensors"],
     ["pca.zarr"]),
    ("render tif", ["render", "lat.zarr", "-o", "recon.tif", "--reference", str(SCENE)],
     ["recon.tif"]),
    ("render zarr", ["render", "lat.zarr", "-o", "recon.zarr"], ["recon.zarr"]),
    ("render pca", ["render", "pca.zarr", "-o", "pca_recon.tif"], ["pca_recon.tif"]),
    ("train-head", ["train-head", "lat.zarr", "--labels", str(LABELS), "-o", "head.ubj",
                    "--seed", "0"], ["head.ubj"]),
    ("predict", ["predict", "lat.zarr", "-H", "head.ubj", "-o", "classes.tif"],
     ["classes.tif", "classes.tif.aux.xml"]),
    ("predict proba", ["predict", "lat.zarr", "-H", "head.ubj", "-o", "proba.zarr", "--proba"],
     ["proba.zarr"]),
    ("endmembers", ["endmembers", str(SCENE), "-k", "4", "-o", "lib.csv", "--seed", "0"],
     ["lib.csv"]),
    ("unmix", ["unmix", str(SCENE), "--library", "lib.csv", "-o", "abund.tif"], ["abund.tif"]),
    ("unmix zarr", ["unmix", str(SCENE), "--library", "lib.csv", "-o", "abund.zarr"],
     ["abund.zarr"]),
    ("degrade", ["degrade", str(SCENE), "-o", "pair", "--ratio", "4", "--srf", str(SRF),
                 "--snr-db", "35", "--seed", "0"],
     ["pair_hsi.tif", "pair_msi.tif", "pair_reference.tif"]),
    ("fuse", ["fuse", "pair_hsi.tif", "pair_msi.tif", "-o", "fused.tif", "--srf", str(SRF),
              "--seed", "0"], ["fused.tif"]),
]


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _digest(path: Path, root: Path, folder: Path) -> str:
    data = path.read_bytes()
    for real, placeholder in ((str(folder), b"<OUT>"), (str(REPO), b"<REPO>")):
        data = data.replace(real.encode(), placeholder)
    return hashlib.sha256(data).hexdigest()


def run_steps(folder: Path) -> dict[str, dict[str, str]]:
    """Every step's outputs, as {step: {relative file: sha256}}."""
    env = {**os.environ, "PHISM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    hashes: dict[str, dict[str, str]] = {}
    for name, args, outputs in STEPS:
        proc = subprocess.run([sys.executable, "-m", "phism_cli", *args, "--quiet"], cwd=folder,
                              env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"golden step {name!r} failed ({proc.returncode}): {proc.stderr}")
        hashes[name] = {str(f.relative_to(folder)): _digest(f, folder, folder)
                        for out in outputs for f in _files(folder / out)}
        print(f"{name:16s} {sum(len(v) for v in [hashes[name]])} files", file=sys.stderr)
    return hashes


def compare(recorded: dict, now: dict) -> list[str]:
    """One line per file that differs, is new or is gone."""
    lines = []
    for step in sorted(set(recorded) | set(now)):
        old, new = recorded.get(step, {}), now.get(step, {})
        for f in sorted(set(old) | set(new)):
            if old.get(f) != new.get(f):
                what = "new" if f not in old else "gone" if f not in new else "differs"
                lines.append(f"{step}: {f} {what}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the record")
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phism-golden-") as tmp:
        hashes = run_steps(Path(tmp))
    if not args.check:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in hashes.values())} files in {args.record}")
        return
    diffs = compare(json.loads(args.record.read_text()), hashes)
    total = sum(len(v) for v in hashes.values())
    print(f"{total - len(diffs)} of {total} files identical to {args.record}")
    for line in diffs:
        print(line)
    raise SystemExit(1 if diffs else 0)


if __name__ == "__main__":
    main()
