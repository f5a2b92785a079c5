"""A forward model seen by a sensor: the model draws spectra on its own wavelength grid and
the sensor's spectral response integrates them into its bands.

The two know nothing of each other, as a rasteriser and a shader compose into pytorch3d's
`MeshRenderer`: any `ForwardModel` or `EndmemberGenerator` composes with any
`SpectralResponse` (Gaussian bands from centres and FWHM, or measured curves), and the result
is again a `ForwardModel` or `EndmemberGenerator`, so every inversion written against those
interfaces (`inversion.optimise.fit_forward_model`, `inversion.synthesis`) inverts it.
"""

from __future__ import annotations

from torch import Tensor

from phism_cli.forward.base import EndmemberGenerator, ForwardModel, Parameter
from phism_cli.forward.response import SpectralResponse

__all__ = ["ObservedGenerator", "ObservedModel"]


def _check_grid(response: SpectralResponse, n_drawn: int, what: str) -> None:
    if response.n_input != n_drawn:
        raise ValueError(f"{what} draws {n_drawn} wavelengths and the response maps from "
                         f"{response.n_input}; build the response on the model's grid")


class ObservedModel(ForwardModel):
    """`model` (N, P) -> (N, G) on its grid, then `response` (G -> M bands): (N, P) -> (N, M).

    `n_grid` is the number of wavelengths `model` draws (checked against the response)."""

    def __init__(self, model: ForwardModel, response: SpectralResponse, n_grid: int) -> None:
        _check_grid(response, n_grid, type(model).__name__)
        self.model = model
        self.response = response

    @property
    def parameters(self) -> list[Parameter]:
        return self.model.parameters

    def bounds(self) -> tuple[Tensor, Tensor]:
        return self.model.bounds()

    def render(self, params: Tensor) -> Tensor:
        return self.response.apply(self.model.render(params))


class ObservedGenerator(EndmemberGenerator):
    """An endmember library generated on a grid of `n_grid` wavelengths, seen in the bands
    of `response`."""

    def __init__(self, generator: EndmemberGenerator, response: SpectralResponse,
                 n_grid: int) -> None:
        _check_grid(response, n_grid, type(generator).__name__)
        self.generator = generator
        self.response = response
        self.names = list(generator.names)
        dtype = getattr(generator, "dtype", None)
        if dtype is not None:
            self.dtype = dtype

    def initial(self) -> Tensor:
        return self.generator.initial()

    def bounds(self) -> tuple[Tensor, Tensor]:
        return self.generator.bounds()

    def parameters(self, endmember: int) -> list[tuple[int, Parameter]]:
        return self.generator.parameters(endmember)

    def render(self, params: Tensor, which: Tensor) -> Tensor:
        return self.response.apply(self.generator.render(params, which))
