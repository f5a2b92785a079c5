"""Every spectral basis by name, and where its class lives: a new basis is one module in
`phism_cli/forward/` and one line here. Nothing is imported until a basis is used, so the
command line lists the names without importing torch."""

from __future__ import annotations

import importlib
from typing import Any

REGISTERED: dict[str, str] = {
    "skewnormal": "phism_cli.forward.bases:SkewNormalBasis",
    "gaussian": "phism_cli.forward.bases:GaussianBasis",
    "lorentzian": "phism_cli.forward.lorentzian:LorentzianBasis",
}


def basis_class(name: str) -> Any:
    """The registered basis class called `name` (ValueError naming the choices if none)."""
    try:
        module, _, attribute = REGISTERED[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown basis {name!r}; choose one of {', '.join(REGISTERED)}"
                         ) from None
    return getattr(importlib.import_module(module), attribute)
