"""Helpers every command uses: messages, JSON output, scenes, outputs, encoder fitting.

Only the standard library is imported at module level; each helper imports what it needs, so
that building the command line (`phism --help`) stays fast.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phism_cli.cli.progress import progress_bar
from phism_cli.errors import PhismError, StdoutClosed

if TYPE_CHECKING:

    from phism_cli.io.outputs import OutputSet
    from phism_cli.io.scene import Scene
    from phism_cli.model.pca import Encoder

__all__ = ["progress_bar"]


def say(message: str, quiet: bool = False) -> None:
    """A status line on stderr (never stdout, which belongs to --json)."""
    if not quiet:
        sys.stderr.write(" ".join(message.split()) + "\n")
        sys.stderr.flush()


def _json_safe(value: Any) -> Any:
    import numpy as np

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(summary: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(_json_safe(summary)) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None


def outputs(overwrite: bool, inputs: Sequence[Path | None] = (),
            quiet: bool = False) -> OutputSet:
    """The command's outputs, committed together at the end (see `io.outputs`)."""
    from phism_cli.io.outputs import OutputSet

    return OutputSet(overwrite, [Path(p) for p in inputs if p is not None],
                     announce=lambda message: say(message, quiet))


def scene_files(scenes: Sequence[Scene]) -> list[Path]:
    return [f for s in scenes for f in s.source_files]


def open_scenes(paths: Sequence[Path], **options: Any) -> list[Scene]:
    """Every scene opened (each with the format options its format takes), or none."""
    from phism_cli.io.scene_formats import open_scene, options_per_scene

    opened: list[Scene] = []
    try:
        for path, own in zip(paths, options_per_scene(list(paths), options), strict=True):
            opened.append(open_scene(path, **own))
    except BaseException:
        for scene in opened:
            scene.close()
        raise
    return opened


def build_encoder(**settings: Any) -> Encoder:
    """A `PhismEncoder`, or a `PcaEncoder` for `basis="pca"`, from CLI settings (`components`
    is `n_components`); bad values exit 1."""
    from phism_cli.cli.options import ENCODER_BASES

    settings["n_components"] = settings.pop("components")
    if settings.get("hidden", ...) is None:
        del settings["hidden"]  # the library's default widths
    basis = settings.get("basis", "skewnormal")
    if basis not in ENCODER_BASES:
        raise PhismError(f"--basis {basis}: unknown; choose one of {', '.join(ENCODER_BASES)}")
    if basis == "pca":
        from phism_cli.cli.pca_options import pca_encoder

        return pca_encoder(settings)
    from phism_cli.model.estimator import PhismEncoder

    if settings.get("brightness") is False and settings.get("decoder", "basis") != "basis":
        raise PhismError(f"--no-brightness turns off a term of the spectral basis, and "
                         f"--decoder {settings['decoder']} learns its decoder; drop it")
    for name in ("lr",):
        value = settings.get(name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise PhismError(f"--{name} {value!r}: give a finite positive number")
    try:
        return PhismEncoder(**settings)
    except ValueError as exc:
        raise PhismError(str(exc)) from None


def fit_encoder_on_scenes(scenes: Sequence[Scene], encoder: Encoder, max_pixels: int,
                          tile_size: int, quiet: bool, save_to: Path) -> tuple[Encoder, int]:
    """`pipeline.encoder_fitting.fit_on_scenes` (fit, then save at `save_to`) with progress
    on stderr (none if quiet)."""
    from phism_cli.pipeline.encoder_fitting import fit_on_scenes

    return encoder, fit_on_scenes(scenes, encoder, max_pixels, tile_size, CliReporter(quiet),
                                  save_to)


def require_plotting(flag: str) -> None:
    """Refuse a plot option before any work when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise PhismError(f"{flag} needs matplotlib: pip install 'phism[plot]'")


class CliReporter:
    """Status lines and progress on stderr for the pipeline's `Reporter` (quiet: none)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, message: str) -> None:
        say(message, self.quiet)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        with progress_bar(self.quiet) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
