"""A scene from another sensor seen through a model's bands (`--resample-bands`).

The scene's spectra are resampled onto the bands the model was fitted on (see
`forward.resampling`: the linear interpolant of the scene's band values integrated against
each model band's Gaussian response), tile by tile, so one encoder serves every sensor whose
range overlaps its own. Pairs that overlap less than `MIN_OVERLAP` of the model's range are
refused with the share found.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phism_cli.errors import ModelMismatchError
from phism_cli.forward.resampling import BandResampling, band_resampling, usable_fwhm
from phism_cli.io.scene import BandInfo, Scene, Window
from phism_cli.pipeline.sensors import check_model_fits_scene

if TYPE_CHECKING:
    from phism_cli.model.pca import Encoder

MIN_OVERLAP = 0.9  # the share of the model's range (first to last band centre) a scene spans


class ResampledScene(Scene):
    """`scene` read at other bands: `resampling` maps its bands onto `bands`."""

    def __init__(self, scene: Scene, resampling: BandResampling,
                 fwhm_nm: np.ndarray | None) -> None:
        super().__init__(keep_bad_bands=False)
        self.inner = scene
        self.resampling = resampling
        self.path = scene.path
        self.format = f"{scene.format}, resampled"
        self.height, self.width = scene.height, scene.width
        self.source_dtype = np.dtype(np.float32)
        self.bands = BandInfo(resampling.target_nm.copy(), fwhm_nm,
                              np.ones(resampling.target_nm.size, dtype=bool))
        self.nodata, self.scale, self.offset = None, 1.0, 0.0
        self.crs, self.transform = scene.crs, scene.transform
        self.data_unit = scene.data_unit
        self.notes = list(scene.notes)

    @property
    def source_files(self) -> list[Path]:
        return self.inner.source_files

    def read(self, window: Window | None = None) -> np.ndarray:
        return self.resampling.apply(self.inner.read(window))

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        return self.read(window)[..., band_indices]

    def provenance(self) -> dict[str, Any]:
        """What the latent map records of the bands the scene really has."""
        inner = self.inner
        wl, fw = inner.wavelength_nm, inner.fwhm_nm
        return {"resampled_from": {
            "format": inner.format, "bands": inner.count,
            "source_bands": [int(b) + 1 for b in inner.band_indices],
            "wavelength_nm": [round(float(v), 4) for v in wl],
            "fwhm_nm": None if fw is None else [round(float(v), 4) for v in fw],
            "coverage": round(self.resampling.coverage, 4),
            "held_bands": [int(b) + 1 for b in self.resampling.outside]}}

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), **self.provenance()}

    def close(self) -> None:
        self.inner.close()


def scene_for_model(encoder: Encoder, scene: Scene, model_path: Path,
                    resample: bool) -> Scene:
    """`scene` as the model reads it: itself when the bands match; resampled onto the model's
    bands with `resample` when they do not (else refused, naming the fix)."""
    try:
        check_model_fits_scene(encoder, scene, model_path)
        return scene
    except ModelMismatchError as exc:
        if not resample:
            message = str(exc).replace("use a model fitted on this sensor", "use a model "
                                       "fitted on this sensor or pass --resample-bands")
            raise ModelMismatchError(message) from None
    return resampled_onto(scene, encoder.wavelength_nm_, encoder.fwhm_nm_,
                          f"the model {model_path}")


def resampled_onto(scene: Scene, target_nm: np.ndarray | None, target_fwhm_nm: np.ndarray | None,
                   what: str) -> ResampledScene:
    """`scene` resampled onto bands `target_nm` (of `target_fwhm_nm`, None: unknown); refused
    when either has no wavelengths or the scene spans less than MIN_OVERLAP of their range.
    Where the scene gives its bands' FWHM, only the width they lack is integrated."""
    source_nm = scene.wavelength_nm
    if target_nm is None or source_nm is None:
        whose = what if target_nm is None else str(scene.path)
        raise ModelMismatchError(f"--resample-bands: {whose} has no wavelengths, so its "
                                 "bands cannot be matched to the other's; give them with "
                                 "--wavelengths")
    resampling = band_resampling(source_nm, np.asarray(target_nm, dtype=np.float64),
                                 target_fwhm_nm, usable_fwhm(scene.fwhm_nm))
    if resampling.coverage < MIN_OVERLAP:
        raise ModelMismatchError(
            f"{scene.path} spans {source_nm.min():.0f}-{source_nm.max():.0f} nm, "
            f"{100 * resampling.coverage:.0f} % of the {np.min(target_nm):.0f}-"
            f"{np.max(target_nm):.0f} nm of {what} (--resample-bands needs "
            f"{100 * MIN_OVERLAP:.0f} %); use a model fitted on a sensor that overlaps it")
    return ResampledScene(scene, resampling, target_fwhm_nm)


def on_common_bands(scenes: list[Scene], resample: bool) -> list[Scene]:
    """`scenes` as one encoder trains on them: with `resample`, each scene whose bands differ
    from the first scene's is resampled onto them (refused below MIN_OVERLAP); without, as
    they are (`check_same_sensor` then refuses a mix, naming --resample-bands)."""
    if not resample or len(scenes) < 2:
        return scenes
    first = scenes[0]
    return [first, *(scene if same_bands(scene, first) else
                     resampled_onto(scene, first.wavelength_nm, first.fwhm_nm,
                                    f"the first scene, {first.path}")
                     for scene in scenes[1:])]


def same_bands(scene: Scene, other: Scene) -> bool:
    """The same band count at the same centres (within 1 nm), or neither has wavelengths."""
    a, b = scene.wavelength_nm, other.wavelength_nm
    if scene.count != other.count or (a is None) != (b is None):
        return False
    return a is None or bool(np.all(np.abs(a - b) <= 1.0))
