"""Small latent maps with known values, written through phism's own RasterWriter the way
`phism encode` writes them (for the latent-summary tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from phism_cli.io.rasters import RasterSpec, RasterWriter

AXIS_NM = np.linspace(400.0, 1000.0, 61)  # 400..1000 nm every 10 nm
PEAKS_NM = (520.0, 690.0, 870.0)  # where the synthetic centres cluster


def basis_names(k: int, unit: str = "nm", skew: bool = True,
                brightness: bool = False) -> list[str]:
    params = ["mu_" + unit, "sigma_" + unit, *(["alpha"] if skew else []), "amp"]
    names = [f"c{c}_{p}" for c in range(k) for p in params]
    return [*names, "brightness"] if brightness else names


def basis_renderer(k: int, unit: str = "nm", basis: str = "skewnormal",
                   brightness: bool = False) -> dict[str, Any]:
    axis = AXIS_NM if unit == "nm" else np.arange(1.0, len(AXIS_NM) + 1)
    return {"decoder": "basis", "basis": basis, "basis_config": {}, "n_components": k,
            "axis_unit": unit, "axis_positions": [float(v) for v in axis],
            "band_mean": [0.0] * len(axis), "band_scale": [1.0] * len(axis),
            "brightness": brightness}


def synthetic_basis_values(rows: int, cols: int, k: int = 3, seed: int = 0,
                           brightness: bool = False) -> np.ndarray:
    """(rows, cols, k*4 [+1]) skew-normal latents: component c's centre near PEAKS_NM[c]
    (sorted per pixel), widths 20-60 nm, amplitudes of both signs."""
    rng = np.random.default_rng(seed)
    columns = []
    for c in range(k):
        columns += [PEAKS_NM[c % len(PEAKS_NM)] + rng.normal(0.0, 15.0, (rows, cols)),
                    rng.uniform(20.0, 60.0, (rows, cols)), rng.normal(0.5, 1.0, (rows, cols)),
                    rng.normal(0.3, 1.0, (rows, cols))]
    if brightness:
        columns.append(rng.normal(1.0, 0.2, (rows, cols)))
    return np.stack(columns, axis=-1).astype(np.float32)


def write_latent_map(path: Path, values: np.ndarray, names: list[str],
                     renderer: dict[str, Any], tile_size: int = 16,
                     extra: dict[str, Any] | None = None) -> Path:
    """Write (rows, cols, channels) `values` as a phism latent map (.zarr or .tif)."""
    rows, cols, _ = values.shape
    metadata = {"format": "phism-latents", "format_version": 1, "variable": "latent",
                "renderer": renderer, "model_sha256": "0" * 64,
                "model_path": "encoder.safetensors", **(extra or {})}
    spec = RasterSpec(rows, cols, names, tile_size=tile_size, metadata=metadata)
    kind = "zarr" if path.suffix == ".zarr" else "tif"
    with RasterWriter(path, spec, kind) as writer:
        writer.write(Window(0, 0, cols, rows), values)
    return path
