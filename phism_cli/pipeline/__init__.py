"""Streaming work over scenes: pixel sampling, tile-by-tile encoding and rendering."""
