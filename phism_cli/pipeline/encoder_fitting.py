"""Fitting an encoder on pixels sampled from scenes: the checks before the work, the
sampling, the training, and what the saved model records of its scenes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phism_cli.errors import PhismError
from phism_cli.forward.resampling import usable_fwhm
from phism_cli.io.scene import Scene
from phism_cli.pipeline.cross_sensor import ResampledScene
from phism_cli.pipeline.reporter import Reporter
from phism_cli.pipeline.sampling import sample_pixels
from phism_cli.pipeline.sensors import check_same_sensor

if TYPE_CHECKING:
    from phism_cli.model.pca import Encoder


def training_provenance(scenes: Sequence[Scene]) -> dict[str, Any]:
    """What a checkpoint records about the scenes it was fitted on."""
    first = scenes[0]
    resampled = [str(s.path) for s in scenes if isinstance(s, ResampledScene)]
    return {
        "scenes": [str(s.path) for s in scenes],
        **({"resampled_onto_first_scene": resampled} if resampled else {}),
        "source_bands": len(first.bands.good),
        "good_band_mask": [int(g) for g in first.bands.good],
        "bad_bands_dropped": not first.keep_bad_bands,
        "bands_used": [int(b) + 1 for b in first.band_indices],  # 1-based, in the file
    }


def fit_on_scenes(scenes: Sequence[Scene], encoder: Encoder, max_pixels: int, tile_size: int,
                  reporter: Reporter, save_to: Path) -> int:
    """Sample up to `max_pixels` valid pixels from `scenes` (of one sensor, or seen through
    the first one's bands: `cross_sensor.on_common_bands`), fit `encoder` on them at the
    first scene's wavelengths and FWHM and save it at `save_to` with what it records of its
    scenes; returns the number of pixels."""
    from phism_cli.model.checkpoint import save_encoder

    check_same_sensor(scenes)
    _check_bands_for_terms(encoder, scenes[0])
    total = sum(s.height * s.width for s in scenes)
    with reporter.progress("sampling pixels", total) as advance:
        pixels = sample_pixels(scenes, max_pixels, seed=encoder.seed, tile_size=tile_size,
                               on_tile=advance)
    if len(pixels) < 20:
        raise PhismError(f"only {len(pixels)} valid pixels in "
                         f"{', '.join(str(s.path) for s in scenes)}; need at least 20 "
                         "(is every pixel nodata, NaN or all zero?)")
    with reporter.progress("training", encoder.epochs or 0) as advance:

        def on_epoch(epoch: int, train_loss: float, val_loss: float) -> None:
            if not math.isfinite(train_loss) or not math.isfinite(val_loss):
                raise PhismError(f"training diverged (loss {train_loss} at epoch {epoch}); "
                                 "try a smaller --learning-rate")
            advance(1)

        try:
            encoder.fit(pixels, wavelength_nm=scenes[0].wavelength_nm, on_epoch=on_epoch,
                        fwhm_nm=usable_fwhm(scenes[0].fwhm_nm))
        except ValueError as exc:
            raise PhismError(str(exc)) from None
    save_encoder(encoder, save_to, extra=training_provenance(scenes))
    return len(pixels)


def _check_bands_for_terms(encoder: Encoder, scene: Scene) -> None:
    """Each component (and the brightness) needs a band of its own."""
    if encoder.linear_terms <= scene.count:
        return
    brightness = encoder.linear_terms > encoder.n_components
    spare = scene.count - (encoder.linear_terms - encoder.n_components)
    raise PhismError(f"--components {encoder.n_components}: each component"
                     + (" and the brightness" if brightness else "")
                     + f" needs a band of its own and {scene.path} has {scene.count} bands; "
                     f"give -k {max(spare, 1)} or fewer"
                     + (" or --no-brightness" if brightness else ""))
