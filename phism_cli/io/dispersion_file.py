"""Dispersion parameter files (HDF5, as InfraRender writes them) and matching them to a library.

One group per mineral; in it one group per mode (`mode0`, `mode1`, ...) holding `freqs`,
`gammas`, `rhos` (4*pi*rho), `epsilon`, `mode_weight` and each of those with `_min` and `_max`.
Group names may be cut short (InfraRender cut names at the first '.'), so a library endmember is
matched to the group of the same name, else to the one group whose name starts its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.forward.dispersion import Mineral, Mode

__all__ = ["match_groups", "read_dispersion_file"]

FIELDS = {"freq": "freqs", "gamma": "gammas", "rho": "rhos", "eps_inf": "epsilon",
          "weight": "mode_weight"}


def read_dispersion_file(path: Path) -> dict[str, Mineral]:
    """Every mineral group of `path`, validated; refuse anything that cannot render."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except FileNotFoundError:
        raise PhismError(f"{path}: no such dispersion parameter file") from None
    except OSError as exc:
        raise PhismError(f"{path}: not a readable HDF5 dispersion parameter file ({exc}); "
                         "pass the .hdf file InfraRender writes") from None
    with handle:
        minerals = {}
        for name, group in handle.items():
            if not isinstance(group, h5py.Group):
                raise PhismError(f"{path}: '{name}' is a dataset, not a mineral group of "
                                 "modes; the file is not a dispersion parameter file")
            minerals[name] = _read_mineral(path, name, group)
    if not minerals:
        raise PhismError(f"{path}: holds no mineral groups; nothing to render")
    return minerals


def _read_mineral(path: Path, name: str, group: object) -> Mineral:
    mode_names = sorted((k for k in group if k.startswith("mode")),  # type: ignore[attr-defined]
                        key=lambda k: (len(k), k))
    if not mode_names:
        raise PhismError(f"{path}: mineral '{name}' has no mode groups (mode0, mode1, ...); "
                         "the file is not a dispersion parameter file")
    modes = [_read_mode(path, f"{name}/{m}", group[m]) for m in mode_names]  # type: ignore[index]
    return Mineral(name, modes)


def _dataset(path: Path, where: str, group: object, key: str) -> np.ndarray:
    if key not in group:  # type: ignore[operator]
        raise PhismError(f"{path}: '{where}' has no field '{key}'; every mode needs "
                         f"{', '.join(FIELDS.values())} and their _min/_max bounds")
    values = np.asarray(group[key][()], dtype=np.float64).ravel()  # type: ignore[index]
    if values.size == 0 or not np.isfinite(values).all():
        raise PhismError(f"{path}: '{where}/{key}' is empty or not finite; fix or refit the "
                         "parameters")
    return values


def _read_mode(path: Path, where: str, group: object) -> Mode:
    value, lower, upper = {}, {}, {}
    for field, key in FIELDS.items():
        value[field] = _dataset(path, where, group, key)
        lower[field] = _dataset(path, where, group, f"{key}_min")
        upper[field] = _dataset(path, where, group, f"{key}_max")
        expected = 1 if field in ("eps_inf", "weight") else len(value["freq"])
        for label, array in ((key, value[field]), (f"{key}_min", lower[field]),
                             (f"{key}_max", upper[field])):
            if array.size != expected:
                raise PhismError(f"{path}: '{where}/{label}' has {array.size} values where "
                                 f"{expected} were expected (one per oscillator of 'freqs')")
        if (lower[field] > value[field]).any() or (value[field] > upper[field]).any():
            raise PhismError(f"{path}: '{where}/{key}' lies outside its bounds {key}_min.."
                             f"{key}_max; fix the bounds")
    if (lower["freq"] <= 0).any():
        raise PhismError(f"{path}: '{where}/freqs_min' has oscillator centres at or below "
                         "0 cm-1; centres must be positive")
    if (lower["gamma"] < 0).any() or (lower["rho"] < 0).any() or (lower["weight"] < 0).any():
        raise PhismError(f"{path}: '{where}' has negative gammas, rhos or mode_weight bounds; "
                         "they must be 0 or more")
    if lower["eps_inf"][0] <= 0:
        raise PhismError(f"{path}: '{where}/epsilon_min' is {lower['eps_inf'][0]:g}; the "
                         "high-frequency dielectric constant must be above 0")
    return Mode(value["freq"], value["gamma"], value["rho"], float(value["eps_inf"][0]),
                float(value["weight"][0]), lower, upper)


def match_groups(endmember_names: Sequence[str], group_names: Sequence[str],
                 path: Path | None = None) -> dict[int, str]:
    """Endmember index -> its group: the same name, else the one group name that starts it.

    Endmembers without a group are left out (they stay fixed spectra); two groups that both
    start an endmember's name are refused, because either choice could be wrong.
    """
    groups = set(group_names)
    matches: dict[int, str] = {}
    for i, name in enumerate(endmember_names):
        if name in groups:
            matches[i] = name
            continue
        prefixes = sorted(g for g in groups if g and name.startswith(g))
        if len(prefixes) > 1:
            where = f"{path}: " if path is not None else ""
            raise PhismError(f"{where}endmember '{name}' matches {len(prefixes)} dispersion "
                             f"groups by prefix ({', '.join(repr(p) for p in prefixes)}); "
                             "rename the groups or the endmember so one matches")
        if prefixes:
            matches[i] = prefixes[0]
    return matches
