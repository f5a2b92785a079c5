"""Helpers every command uses: progress, JSON output, scene opening, encoder fitting."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from phism_cli.errors import ModelMismatchError, PhismError
from phism_cli.io.scene import Scene, open_scene
from phism_cli.model.estimator import PhismEncoder
from phism_cli.pipeline.sampling import sample_pixels


def stderr_console() -> Console:
    return Console(stderr=True)


def say(message: str, quiet: bool = False) -> None:
    """A status line on stderr (never stdout, which belongs to --json)."""
    if not quiet:
        stderr_console().print(message, highlight=False, soft_wrap=True, markup=False)


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Progress]:
    console = stderr_console()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
        disable=quiet or not console.is_terminal,
    )
    with progress:
        yield progress


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(summary: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_json_safe(summary)) + "\n")
    sys.stdout.flush()


def open_scenes(paths: Sequence[Path], keep_bad_bands: bool, wavelengths: str | None,
                variable: str | None) -> list[Scene]:
    return [open_scene(p, keep_bad_bands=keep_bad_bands, wavelengths=wavelengths,
                       variable=variable) for p in paths]


def check_model_fits_scene(encoder: PhismEncoder, scene: Scene, model_path: Path) -> None:
    """Refuse a model whose bands do not match the scene's, saying both."""
    model_wl, scene_wl = encoder.wavelength_nm_, scene.wavelength_nm

    def describe(n: int, wl: np.ndarray | None) -> str:
        return f"{n} bands" + ("" if wl is None else f" ({wl.min():.1f}-{wl.max():.1f} nm)")

    mismatch = encoder.n_bands_ != scene.count
    if not mismatch and model_wl is not None and scene_wl is not None:
        spacing = np.median(np.abs(np.diff(np.sort(model_wl)))) if len(model_wl) > 1 else 1.0
        mismatch = bool(np.max(np.abs(model_wl - scene_wl)) > max(0.5 * spacing, 1.0))
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
        if a is not None and b is not None and np.max(np.abs(a - b)) > 1.0:
            raise PhismError(f"{other.path} and {first.path} have different wavelengths; "
                             "fit one encoder per sensor")


def training_provenance(scenes: Sequence[Scene]) -> dict[str, Any]:
    """What a checkpoint records about the scenes it was fitted on."""
    first = scenes[0]
    return {
        "scenes": [str(s.path) for s in scenes],
        "source_bands": len(first.bands.good),
        "good_band_mask": [int(g) for g in first.bands.good],
        "bad_bands_dropped": not first.keep_bad_bands,
    }


def build_encoder(**settings: Any) -> PhismEncoder:
    """A `PhismEncoder` from CLI settings (`components` is `n_components`); bad values exit 1."""
    settings["n_components"] = settings.pop("components")
    try:
        return PhismEncoder(**settings)
    except ValueError as exc:
        raise PhismError(str(exc)) from None


def fit_encoder_on_scenes(scenes: Sequence[Scene], encoder: PhismEncoder, max_pixels: int,
                          tile_size: int, quiet: bool) -> tuple[PhismEncoder, int]:
    """Sample valid pixels from `scenes` and fit `encoder`; returns it and the pixel count."""
    check_same_sensor(scenes)
    total = sum(s.height * s.width for s in scenes)
    with progress_bar(quiet) as progress:
        task = progress.add_task("sampling pixels", total=total)
        pixels = sample_pixels(scenes, max_pixels, seed=encoder.seed, tile_size=tile_size,
                               on_tile=lambda n: progress.advance(task, n))
    if len(pixels) < 20:
        raise PhismError(f"only {len(pixels)} valid pixels in "
                         f"{', '.join(str(s.path) for s in scenes)}; need at least 20 "
                         "(is everything nodata? try --keep-bad-bands off)")
    with progress_bar(quiet) as progress:
        task = progress.add_task("training", total=encoder.epochs)

        def on_epoch(epoch: int, train_loss: float, val_loss: float) -> None:
            progress.update(task, completed=epoch,
                            description=f"training (val loss {val_loss:.4g})")

        try:
            encoder.fit(pixels, wavelength_nm=scenes[0].wavelength_nm, on_epoch=on_epoch)
        except ValueError as exc:
            raise PhismError(str(exc)) from None
    return encoder, len(pixels)
