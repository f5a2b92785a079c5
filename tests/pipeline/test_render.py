"""`pipeline.render.render_file` as a library call: a latent map with known values in, the
spectra its renderer draws out, the plot hook asked first and drawing last."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from phism_cli.errors import PhismError
from phism_cli.io.outputs import OutputSet
from phism_cli.model.renderer import renderer_from_metadata
from phism_cli.pipeline.render import RenderRequest, render_file
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
