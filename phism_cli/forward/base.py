"""The two interfaces every forward model implements.

A `ForwardModel` renders one spectrum per row of parameters, (N, P) -> (N, C). An
`EndmemberGenerator` renders a library of E named spectra, each from its own parameter row, so
an inversion can move one endmember of one spectrum without rendering the others:
`render(params (Q, P), which (Q,)) -> (Q, C)`. Both carry named, bounded parameters in physical
units; neither holds trained weights, so they compose with any inversion.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from torch import Tensor

__all__ = ["EndmemberGenerator", "ForwardModel", "Parameter"]


@dataclass(frozen=True)
class Parameter:
    """One named parameter; `unit` is a physical unit ("nm", "cm-1") or "1" for none."""

    name: str
    unit: str


class ForwardModel(abc.ABC):
    """Parameters (N, P) in physical units -> spectra (N, C) at fixed band positions."""

    @property
    @abc.abstractmethod
    def parameters(self) -> list[Parameter]:
        """The P parameters of one spectrum, in the column order `render` expects."""

    @abc.abstractmethod
    def bounds(self) -> tuple[Tensor, Tensor]:
        """Lower and upper bounds, each (P,) or broadcastable to the parameters."""

    @abc.abstractmethod
    def render(self, params: Tensor) -> Tensor:
        """Differentiable (N, P) -> (N, C)."""


class EndmemberGenerator(abc.ABC):
    """A library of E named spectra generated from physical parameters, one row each."""

    names: list[str]

    @property
    def n_endmembers(self) -> int:
        return len(self.names)

    @abc.abstractmethod
    def initial(self) -> Tensor:
        """(E, P) the library's own parameter values."""

    @abc.abstractmethod
    def bounds(self) -> tuple[Tensor, Tensor]:
        """(E, P) lower and upper bounds."""

    @abc.abstractmethod
    def render(self, params: Tensor, which: Tensor) -> Tensor:
        """Differentiable: row q of `params` (Q, P) rendered as endmember `which[q]` -> (Q, C)."""

    @abc.abstractmethod
    def parameters(self, endmember: int) -> list[tuple[int, Parameter]]:
        """The meaningful columns of endmember `endmember`'s row, with names and units."""
