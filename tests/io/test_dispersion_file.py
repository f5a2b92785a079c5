"""Dispersion parameter files: reading, refusing damaged ones, matching groups to names."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from phism_cli.errors import PhismError
from phism_cli.io.dispersion_file import match_groups, read_dispersion_file

FIELDS = {"freqs": [800.0, 1100.0], "gammas": [0.03, 0.05], "rhos": [0.6, 0.4],
          "epsilon": [2.0], "mode_weight": [1.0]}


def write_params(path: Path, groups: dict[str, dict[str, list[float]]],
                 drop: str | None = None) -> Path:
    with h5py.File(path, "w") as handle:
        for name, fields in groups.items():
            mode = handle.create_group(name).create_group("mode0")
            for key, values in fields.items():
                values = np.asarray(values)
                for suffix, factor in (("", 1.0), ("_min", 0.99), ("_max", 1.01)):
                    if key + suffix != drop:
                        mode[key + suffix] = values * factor
            mode["wavenumbers"] = np.linspace(400, 2000, 10)
    return path


def test_reads_modes_with_bounds(tmp_path) -> None:
    minerals = read_dispersion_file(write_params(tmp_path / "p.hdf", {"Quartz [A.1]": FIELDS}))
    (mode,) = minerals["Quartz [A.1]"].modes
    np.testing.assert_allclose(mode.freq_cm1, [800.0, 1100.0])
    np.testing.assert_allclose(mode.lower["rho"], [0.594, 0.396])
    assert mode.eps_inf == 2.0 and mode.weight == 1.0


@pytest.mark.parametrize("drop", ["rhos", "gammas_max", "epsilon_min", "mode_weight"])
def test_missing_field_is_named(tmp_path, drop) -> None:
    path = write_params(tmp_path / "p.hdf", {"Quartz": FIELDS}, drop=drop)
    with pytest.raises(PhismError, match=rf"Quartz/mode0' has no field '{drop}'"):
        read_dispersion_file(path)


def test_wrong_length_and_out_of_bounds_refused(tmp_path) -> None:
    path = write_params(tmp_path / "p.hdf", {"Q": {**FIELDS, "rhos": [0.6]}})
    with pytest.raises(PhismError, match="'Q/mode0/rhos' has 1 values where 2"):
        read_dispersion_file(path)
    path = write_params(tmp_path / "n.hdf", {"Q": {**FIELDS, "gammas": [-0.1, 0.05]}})
    with pytest.raises(PhismError, match="gammas"):
        read_dispersion_file(path)


def test_not_hdf5_refused(tmp_path) -> None:
    path = tmp_path / "p.hdf"
    path.write_text("not hdf5")
    with pytest.raises(PhismError, match="not a readable HDF5"):
        read_dispersion_file(path)


def test_match_exact_then_unique_prefix() -> None:
    names = ["Quartz [BUR-4120]", "Serpentine [HS-8.4B]", "Blackbody", "Calcite"]
    groups = ["Quartz [BUR-4120]", "Serpentine [HS-8", "Serpentine (200%) [HS-8", "Blackbody"]
    assert match_groups(names, groups) == {0: "Quartz [BUR-4120]", 1: "Serpentine [HS-8",
                                           2: "Blackbody"}


def test_ambiguous_prefix_refused() -> None:
    with pytest.raises(PhismError, match="matches 2 dispersion groups"):
        match_groups(["Olivine-Fo [x]"], ["Olivine", "Olivine-Fo"])


def test_real_feely_file_matches_every_library_endmember(shared_data) -> None:
    from phism_cli.io.spectral_tables import read_names
    from tests.conftest import real_file

    params = real_file(shared_data, "feely_tir/feely_params.hdf")
    names = read_names(real_file(shared_data, "feely_tir/kim_library_meta_full.csv"))
    minerals = read_dispersion_file(params)
    matches = match_groups(names, list(minerals))
    assert len(minerals) == 38 and len(matches) == 38
    assert matches[names.index("Actinolite [HS-116.4B]")] == "Actinolite [HS-116"
