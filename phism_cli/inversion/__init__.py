"""Inversions: from spectra back to a forward model's parameters."""
