"""Reading scenes and writing rasters and latent stores. No array maths lives here."""

from phism_cli.io.scene import Scene, Window, open_scene

__all__ = ["Scene", "Window", "open_scene"]
