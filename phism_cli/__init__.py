"""phism: physically interpretable spectral latents for hyperspectral scenes."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up on first use: the command line's start-up time matters in shell loops.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("phism")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'phism_cli' has no attribute {name!r}")
