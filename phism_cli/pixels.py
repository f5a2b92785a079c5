"""Which pixels are valid, and flattening tiles into pixel rows and back."""

from __future__ import annotations

import numpy as np


def valid_mask(block: np.ndarray) -> np.ndarray:
    """(rows, cols) True where every band is finite and the spectrum is not all zeros.

    `Scene.read` has already turned nodata into NaN; all-zero spectra are fill padding.
    """
    finite = np.isfinite(block).all(axis=-1)
    nonzero = (block != 0).any(axis=-1)
    return finite & nonzero
