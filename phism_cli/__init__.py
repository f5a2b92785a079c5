"""phism: physically interpretable spectral latents for hyperspectral scenes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phism")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
