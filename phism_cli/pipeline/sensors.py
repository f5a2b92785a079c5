"""Whether scenes and models describe the same sensor: band counts and wavelengths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from phism_cli.errors import ModelMismatchError, PhismError
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.io.scene import Scene
    from phism_cli.model.pca import Encoder


def check_model_fits_scene(encoder: Encoder, scene: Scene, model_path: Path) -> None:
    """Refuse a model whose bands do not match the scene's, saying both and the fix."""
    model_wl, scene_wl = encoder.wavelength_nm_, scene.wavelength_nm

    def describe(n: int, wl: np.ndarray | None) -> str:
        return f"{plural(n, 'band')}" + ("" if wl is None else
                                         f" ({wl.min():.1f}-{wl.max():.1f} nm)")

    mismatch = encoder.n_bands_ != scene.count
    if not mismatch and model_wl is not None and scene_wl is not None:
        mismatch = not bool(np.all(np.abs(model_wl - scene_wl) <= _tolerance_nm(model_wl)))
    if mismatch:
        raise ModelMismatchError(
            f"{model_path} expects {describe(encoder.n_bands_, model_wl)} but {scene.path} "
            f"gives {describe(scene.count, scene_wl)}; "
            + band_fix(getattr(encoder, "source_bands_", None), model_wl, scene))


def _tolerance_nm(wavelength_nm: np.ndarray) -> float:
    spacing = np.median(np.abs(np.diff(np.sort(wavelength_nm)))) if len(wavelength_nm) > 1 \
        else 1.0
    return max(0.5 * float(spacing), 1.0)


def band_fix(model_bands: list[int] | None, model_wl: np.ndarray | None, scene: Scene) -> str:
    """What makes `scene` yield the bands a model was fitted on, as options to pass: by band
    number when the files have as many bands, else by wavelength; else the honest answer."""
    from phism_cli.io.band_lists import format_band_list

    n_file = len(scene.bands.good)
    used = [int(b) + 1 for b in scene.band_indices]
    wanted: list[int] | None = None
    if model_bands is not None and max(model_bands) <= n_file and (
            model_wl is None or scene.bands.wavelength_nm is None or
            np.allclose(scene.bands.wavelength_nm[np.asarray(model_bands) - 1], model_wl,
                        atol=_tolerance_nm(model_wl))):
        wanted = list(model_bands)
    elif model_wl is not None and scene.bands.wavelength_nm is not None:
        file_wl = scene.bands.wavelength_nm
        nearest = np.abs(file_wl[None, :] - model_wl[:, None]).argmin(axis=1)
        if np.all(np.abs(file_wl[nearest] - model_wl) <= _tolerance_nm(model_wl)) and \
                len(set(nearest.tolist())) == len(model_wl):
            wanted = [int(b) + 1 for b in nearest]
        else:
            missing = model_wl[np.abs(file_wl[nearest] - model_wl) > _tolerance_nm(model_wl)]
            where = f" (none near {missing[0]:.1f} nm)" if len(missing) else ""
            return (f"the scene's file has no band for every band of the model{where}; use a "
                    "model fitted on this sensor")
    if wanted is None:
        return ("use a model fitted on this sensor, or select the model's bands with --bands "
                "or --bad-bands")
    if set(wanted) <= set(used):
        extra = sorted(set(used) - set(wanted))
        return (f"the scene has {plural(len(extra), 'band')} the model was fitted without; "
                f"pass --bad-bands {format_band_list(extra)}")
    return _restore_bands(wanted, used, scene)


def _restore_bands(wanted: list[int], used: list[int], scene: Scene) -> str:
    """The fix when the read drops bands the model was fitted on: which, why, what to pass."""
    from phism_cli.io.band_lists import format_band_list

    missing = sorted(set(wanted) - set(used))
    marked = [b for b in missing if not scene.bands.good[b - 1] and not scene.keep_bad_bands]
    selected = scene.band_selection
    by_user = [b for b in missing if selected is not None and not selected[b - 1]]
    why = []
    if by_user:
        why.append(f"--bands/--bad-bands drop {format_band_list(by_user)}")
    if marked:
        why.append(f"the file's bad-band list marks {format_band_list(marked)}")
    keep = "--keep-bad-bands " if marked else ""
    return (f"the model was fitted on {plural(len(missing), 'band')} this read leaves out "
            f"({'; '.join(why) or 'not read'}); pass {keep}--bands {format_band_list(wanted)} "
            "(the model's bands) instead of other band options")


_MIXED_FIX = ("fit one encoder per sensor, or pass --resample-bands to train on every scene "
              "resampled onto the first one's bands")


def check_same_sensor(scenes: Sequence[Scene]) -> None:
    first = scenes[0]
    for other in scenes[1:]:
        if other.count != first.count:
            raise PhismError(f"{other.path} has {other.count} bands but {first.path} has "
                             f"{first.count}; {_MIXED_FIX}")
        a, b = first.wavelength_nm, other.wavelength_nm
        if (a is None) != (b is None):
            raise PhismError(f"{other.path} and {first.path}: one has wavelengths and the "
                             "other not; give both (--wavelengths) or neither "
                             "(--ignore-wavelengths)")
        if a is not None and not bool(np.all(np.abs(a - b) <= 1.0)):
            raise PhismError(f"{other.path} and {first.path} have different wavelengths; "
                             f"{_MIXED_FIX}")
