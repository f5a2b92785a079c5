"""Reading scenes and writing rasters and latent stores. No array maths lives here."""

from __future__ import annotations

from typing import Any

__all__ = ["Scene", "Window", "open_scene"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that light modules of this package (outputs, png, files,
    # envi_header) do not pull numpy, rasterio and GDAL in with them.
    if name == "open_scene":
        from phism_cli.io.scene_formats import open_scene

        return open_scene
    if name in __all__:
        from phism_cli.io import scene

        return getattr(scene, name)
    raise AttributeError(f"module 'phism_cli.io' has no attribute {name!r}")
