"""Whether scenes and models describe the same sensor: band counts and wavelengths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phism_cli.errors import ModelMismatchError, PhismError

if TYPE_CHECKING:
    from phism_cli.io.scene import Scene
    from phism_cli.model.pca import Encoder


def check_model_fits_scene(encoder: Encoder, scene: Scene, model_path: Path) -> None:
    """Refuse a model whose bands do not match the scene's, saying both."""
    model_wl, scene_wl = encoder.wavelength_nm_, scene.wavelength_nm

    def describe(n: int, wl: np.ndarray | None) -> str:
        return f"{n} bands" + ("" if wl is None else f" ({wl.min():.1f}-{wl.max():.1f} nm)")

    mismatch = encoder.n_bands_ != scene.count
    if not mismatch and model_wl is not None and scene_wl is not None:
        spacing = np.median(np.abs(np.diff(np.sort(model_wl)))) if len(model_wl) > 1 else 1.0
        tolerance = max(0.5 * spacing, 1.0)
        mismatch = not bool(np.all(np.abs(model_wl - scene_wl) <= tolerance))
    if mismatch:
        raise ModelMismatchError(
            f"{model_path} expects {describe(encoder.n_bands_, model_wl)} but {scene.path} "
            f"gives {describe(scene.count, scene_wl)}; use a model fitted on this sensor "
            "(check --keep-bad-bands)")


def check_same_sensor(scenes: Sequence[Scene]) -> None:
    first = scenes[0]
    for other in scenes[1:]:
        if other.count != first.count:
            raise PhismError(f"{other.path} has {other.count} bands but {first.path} has "
                             f"{first.count}; fit one encoder per sensor")
        a, b = first.wavelength_nm, other.wavelength_nm
        if (a is None) != (b is None):
            raise PhismError(f"{other.path} and {first.path}: one has wavelengths and the "
                             "other not; give both (--wavelengths) or neither "
                             "(--ignore-wavelengths)")
        if a is not None and not bool(np.all(np.abs(a - b) <= 1.0)):
            raise PhismError(f"{other.path} and {first.path} have different wavelengths; "
                             "fit one encoder per sensor")
