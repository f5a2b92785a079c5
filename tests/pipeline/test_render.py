"""`pipeline.render.render_file` as a library call: a latent map with known values in, the
spectra its renderer draws out, the plot hook asked first and drawing last."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio

from phism_cli.errors import PhismError
from phism_cli.io.outputs import OutputSet
from phism_cli.model.renderer import renderer_from_metadata
from phism_cli.pipeline import render as render_module
from phism_cli.pipeline.render import RenderRequest, render_file
from tests.conftest import write_envi
from tests.pipeline.latent_maps import (
    basis_names,
    basis_renderer,
    synthetic_basis_values,
    write_latent_map,
)
from tests.pipeline.recorder import Recorder


class PlotCalls:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def check(self, height: int, width: int) -> None:
        self.calls.append(("check", height, width))

    def draw(self, png: Path, latents, renderer, reference, unit, peak) -> None:
        png.write_bytes(b"\x89PNG\r\n\x1a\n")
        self.calls.append(("draw", reference, peak))


def test_render_file_draws_what_the_renderer_renders(tmp_path) -> None:
    values = synthetic_basis_values(12, 10, k=3, seed=1)
    meta = basis_renderer(3)
    latents = write_latent_map(tmp_path / "l.zarr", values, basis_names(3), meta)
    plot, recorder = PlotCalls(), Recorder()
    request = RenderRequest(latents, tmp_path / "r.tif", plot=tmp_path / "p.png",
                            tile_size=8)
    summary = render_file(request, recorder, lambda inputs: OutputSet(False, inputs), plot)
    assert summary["rendered_pixels"] == 120 and summary["bands"] == 61
    assert summary["band_response"] == "centre" and summary["plot"] == str(tmp_path / "p.png")
    assert recorder.advanced == {"rendering": 120}
    assert plot.calls == [("check", 12, 10), ("draw", None, None)]
    expected = renderer_from_metadata(meta, "l").render(values.reshape(120, -1))
    with rasterio.open(tmp_path / "r.tif") as ds:
        rendered = np.moveaxis(ds.read(), 0, -1).reshape(120, -1)
    np.testing.assert_allclose(rendered, expected, rtol=1e-6, atol=1e-6)
    assert (tmp_path / "p.png").is_file()


def test_render_file_refuses_a_map_that_is_not_phism_s_and_writes_nothing(tmp_path) -> None:
    values = synthetic_basis_values(4, 4, k=1)
    latents = write_latent_map(tmp_path / "l.zarr", values, basis_names(1), basis_renderer(1),
                               extra={"format": "someone-else"})
    with pytest.raises(PhismError, match="not a phism latent map"):
        render_file(RenderRequest(latents, tmp_path / "r.tif"), Recorder(),
                    lambda inputs: OutputSet(False, inputs))
    assert not any(p.name.startswith("r") for p in tmp_path.iterdir())


@pytest.mark.parametrize("with_reference", [False, True])
def test_overlapped_render_is_the_serial_one_bit_for_bit(tmp_path, monkeypatch,
                                                         with_reference) -> None:
    """Several tiles (8 x 8 over 21 x 19), some latents NaN, optionally a reference: the
    overlapped loop writes the same bytes and scores the same as the serial one, reports its
    speed, and leaves no thread behind."""
    values = synthetic_basis_values(21, 19, k=3, seed=4)
    values[3, 5] = np.nan
    values[9:16, 0:8] = np.nan
    meta = basis_renderer(3)
    latents = write_latent_map(tmp_path / "l.zarr", values, basis_names(3), meta)
    reference = None
    if with_reference:
        truth = renderer_from_metadata(meta, "l").render(
            np.nan_to_num(values.reshape(-1, values.shape[-1])))
        noisy = truth + np.random.default_rng(0).normal(0, 0.01, truth.shape)
        header = "wavelength = {" + ", ".join(f"{w:g}" for w in np.linspace(400, 1000, 61))
        reference = write_envi(tmp_path / "ref.img",
                               noisy.reshape(21, 19, -1).astype(np.float32),
                               extra_header=header + "}\n")
    summaries, images = {}, {}
    for overlap in (True, False):
        monkeypatch.setattr(render_module, "OVERLAP", overlap)
        out = tmp_path / f"r{overlap}.tif"
        request = RenderRequest(latents, out, reference=reference, tile_size=8)
        summaries[overlap] = render_file(request, Recorder(),
                                         lambda inputs: OutputSet(False, inputs))
        with rasterio.open(out) as ds:
            images[overlap] = ds.read()
    np.testing.assert_array_equal(images[True], images[False])
    assert np.isnan(images[True][:, 3, 5]).all() and np.isfinite(images[True][:, 0, 0]).all()
    timing = ("render_seconds", "pixels_per_second")
    for summary in summaries.values():
        assert summary["render_seconds"] > 0 and summary["pixels_per_second"] > 0
    same = [{k: v for k, v in s.items() if k not in (*timing, "output")}
            for s in summaries.values()]
    assert same[0] == same[1]
    assert ("psnr_db" in same[0]) == with_reference
    assert not [t.name for t in threading.enumerate() if t.name.startswith("phism-render")]
