import math

import numpy as np
import pytest

from phism_cli.io import open_scene
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.pipeline.sampling import sample_pixels
from tests.conftest import smooth_cube, write_envi


def test_sampling_skips_nodata_and_caps(tmp_path) -> None:
    cube = smooth_cube(40, 30, 6)
    cube[:10] = -1  # nodata rows
    cube[10:12] = 0  # zero padding
    header = write_envi(tmp_path / "c.img", cube, extra_header="data ignore value = -1\n")
    scenes = [open_scene(header)]
    everything = sample_pixels(scenes, max_pixels=10_000, tile_size=16)
    assert everything.shape == (28 * 30, 6)
    some = sample_pixels(scenes, max_pixels=100, tile_size=16, seed=3)
    assert some.shape == (100, 6) and np.isfinite(some).all()
    np.testing.assert_array_equal(some, sample_pixels(scenes, 100, tile_size=16, seed=3))


def test_streaming_metrics_match_whole_array() -> None:
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 1, (500, 8))
    est = ref + rng.normal(0, 0.01, ref.shape)
    metrics = ReconstructionMetrics()
    for chunk in range(0, 500, 128):
        metrics.update(ref[chunk:chunk + 128], est[chunk:chunk + 128])
    mse = np.mean((ref - est) ** 2)
    peak = ref.max() - ref.min()
    assert metrics.psnr_db == pytest.approx(10 * math.log10(peak**2 / mse))
    cos = (ref * est).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(est, axis=1)
    assert metrics.sam_deg == pytest.approx(np.degrees(np.arccos(cos)).mean())
