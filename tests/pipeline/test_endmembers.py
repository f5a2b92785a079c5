"""`pipeline.endmembers.run` as a library call: no command line, a reporter of our own."""

from __future__ import annotations

import numpy as np

from phism_cli.io.outputs import OutputSet
from phism_cli.io.spectral_tables import read_spectral_table
from phism_cli.pipeline.endmembers import EndmemberRequest, run
from tests.conftest import write_envi
from tests.pipeline.recorder import Recorder


def test_run_finds_the_pure_pixels_of_a_mixed_scene(tmp_path) -> None:
    rng = np.random.default_rng(3)
    wavelength_nm = np.linspace(450.0, 950.0, 24)
    pure = np.stack([np.exp(-((wavelength_nm - c) / 60.0) ** 2) + 0.1 for c in (500, 700, 900)])
    abundances = rng.dirichlet(np.ones(3) * 0.5, size=(20, 20))
    abundances[0, 0], abundances[0, 1], abundances[0, 2] = np.eye(3)
    cube = (abundances @ pure).astype(np.float32)
    wl = ", ".join(str(w) for w in wavelength_nm)
    header = write_envi(tmp_path / "s.img", cube, "bip", extra_header=f"wavelength = {{{wl}}}\n")
    recorder = Recorder()
    summary = run(EndmemberRequest(header, tmp_path / "lib.csv", n_endmembers=3), recorder,
                  lambda inputs: OutputSet(False, inputs))
    assert summary["pixels_sampled"] == 400 and summary["names"] == ["em1", "em2", "em3"]
    assert recorder.advanced == {"sampling pixels": 400}
    table = read_spectral_table(tmp_path / "lib.csv")
    found = table.spectra
    # each pure spectrum is one of the endmembers found
    distance = np.abs(found[:, None, :] - pure[None, :, :]).max(axis=2)
    assert distance.min(axis=0).max() < 1e-5, distance
