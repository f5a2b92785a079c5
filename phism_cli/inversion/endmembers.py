"""Endmember extraction: the purest pixels of a sample, by VCA or N-FINDR.

Both methods take a pixel sample (N, C) and return K of its rows, the pixels at the vertices
of the simplex that linear mixtures of K materials fill, with their indices. Both are seeded
and deterministic for a seed.

* VCA (Nascimento & Bioucas-Dias, IEEE TGRS 43(4), 2005): the pixels are projected onto the
  K-dimensional signal subspace (a projective projection when the estimated SNR is high, a
  PCA to K-1 dimensions plus a constant one when it is low); then, K times, the pixel most
  extreme along a random direction orthogonal to the vertices found so far is the next one.
* N-FINDR (Winter, SPIE 3753, 1999): the pixels are reduced to K-1 dimensions by PCA and K
  of them, chosen at random, are improved slot by slot: each slot takes the pixel that makes
  the simplex's volume largest, until a sweep over every slot changes nothing (or `max_iter`
  sweeps). A simplex's volume is linear in any one vertex (a determinant expanded along that
  vertex's column), so every candidate pixel is scored at once by one matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from phism_cli.errors import PhismError

EndmemberMethod = Callable[..., tuple[np.ndarray, np.ndarray]]


def distinct_pixel_count(pixels: np.ndarray) -> int:
    """How many different spectra `pixels` (N, C) holds."""
    rows = np.ascontiguousarray(pixels, dtype=np.float64) + 0.0  # -0.0 and 0.0 alike
    return int(np.unique(rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))))
               .size)


def check_endmember_request(pixels: np.ndarray, n_endmembers: int) -> np.ndarray:
    """`pixels` as float64 (N, C), after refusing what no method can do with it."""
    values = np.asarray(pixels, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise PhismError(f"endmember extraction needs a non-empty (pixels, bands) array; got "
                         f"shape {values.shape}")
    if not np.isfinite(values).all():
        raise PhismError("the pixels hold NaN or infinite values; give valid pixels only")
    if n_endmembers < 2:
        raise PhismError(f"{n_endmembers} endmembers asked for; ask for at least 2")
    bands = values.shape[1]
    if n_endmembers > bands:
        raise PhismError(f"{n_endmembers} endmembers asked for but the pixels have only "
                         f"{bands} bands; ask for at most {bands}")
    distinct = distinct_pixel_count(values)
    if n_endmembers > distinct:
        raise PhismError(f"{n_endmembers} endmembers asked for but the pixels hold only "
                         f"{distinct} different spectra; ask for at most {distinct}")
    return values


def _top_eigenvectors(matrix: np.ndarray, count: int) -> np.ndarray:
    """(C, count) eigenvectors of the symmetric `matrix` with the largest eigenvalues."""
    _, vectors = np.linalg.eigh(matrix)
    return vectors[:, ::-1][:, :count]


# -- VCA ------------------------------------------------------------------------------------------
def estimate_snr_db(pixels: np.ndarray, mean: np.ndarray, projected: np.ndarray) -> float:
    """VCA's SNR estimate from the pixels and their zero-mean projection onto K PCA axes:
    10 log10((P_x - K/C P_y) / (P_y - P_x)), +inf for noiseless data."""
    n, bands = pixels.shape
    k = projected.shape[1]
    power_y = float(np.sum(pixels**2)) / n
    power_x = float(np.sum(projected**2)) / n + float(np.sum(mean**2))
    signal, noise = power_x - k / bands * power_y, power_y - power_x
    if noise <= 0:
        return math.inf
    if signal <= 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def vca_projection(pixels: np.ndarray, n_endmembers: int) -> np.ndarray:
    """(N, K) pixels in VCA's K-dimensional signal subspace, chosen by the estimated SNR."""
    n = len(pixels)
    k = n_endmembers
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    projected = centred @ _top_eigenvectors(centred.T @ centred / n, k)
    if estimate_snr_db(pixels, mean, projected) >= 15.0 + 10.0 * math.log10(k):
        scores = pixels @ _top_eigenvectors(pixels.T @ pixels / n, k)
        scale = scores @ scores.mean(axis=0)
        if (scale > 1e-12 * np.abs(scale).max()).all():
            return scores / scale[:, None]  # projective projection onto a hyperplane
    low = projected[:, :k - 1]
    lift = np.sqrt((low**2).sum(axis=1)).max()
    return np.column_stack([low, np.full(n, lift)])


def vca_vertices(projected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of K vertices: each the pixel most extreme along a random direction
    orthogonal to the vertices found before it."""
    k = projected.shape[1]
    vertices = np.zeros((k, k))
    vertices[-1, 0] = 1.0
    indices: list[int] = []
    for i in range(k):
        direction = rng.standard_normal(k)
        direction -= vertices @ (np.linalg.pinv(vertices) @ direction)
        direction /= np.linalg.norm(direction)
        extremity = np.abs(projected @ direction)
        extremity[indices] = -1.0
        chosen = int(np.argmax(extremity))
        vertices[:, i] = projected[chosen]
        indices.append(chosen)
    return np.asarray(indices, dtype=np.int64)


def vca(pixels: np.ndarray, n_endmembers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(K, C) endmember spectra (rows of `pixels`) and their (K,) indices, by VCA."""
    values = check_endmember_request(pixels, n_endmembers)
    indices = vca_vertices(vca_projection(values, n_endmembers), np.random.default_rng(seed))
    return values[indices].copy(), indices


# -- N-FINDR --------------------------------------------------------------------------------------
def pca_scores(pixels: np.ndarray, dimensions: int) -> np.ndarray:
    """(N, dimensions) principal-component scores, scaled to a largest magnitude of 1."""
    centred = pixels - pixels.mean(axis=0)
    scores = centred @ _top_eigenvectors(centred.T @ centred / len(pixels), dimensions)
    largest = np.abs(scores).max()
    return scores / largest if largest > 0 else scores


def column_cofactors(matrix: np.ndarray, column: int) -> np.ndarray:
    """Cofactors of `matrix` (K, K) along `column`: det(matrix with that column set to v)
    is v @ cofactors."""
    k = len(matrix)
    rest = np.delete(matrix, column, axis=1)
    minors = np.stack([np.delete(rest, row, axis=0) for row in range(k)])
    signs = (-1.0) ** (np.arange(k) + column)
    return signs * np.linalg.det(minors)


def nfindr_sweep(lifted: np.ndarray, indices: np.ndarray) -> bool:
    """Give each slot the pixel that maximises the simplex volume; True if any changed.

    `lifted` (N, K) holds 1 then the K-1 PCA scores of each pixel, so the simplex's volume
    is proportional to |det(lifted[indices])|.
    """
    changed = False
    for slot in range(len(indices)):
        volumes = np.abs(lifted @ column_cofactors(lifted[indices].T, slot))
        current = volumes[indices[slot]]
        volumes[np.delete(indices, slot)] = -1.0
        best = int(np.argmax(volumes))
        if volumes[best] > current * (1.0 + 1e-9):
            indices[slot] = best
            changed = True
    return changed


def nfindr(pixels: np.ndarray, n_endmembers: int, seed: int = 0,
           max_iter: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(K, C) endmember spectra (rows of `pixels`) and their (K,) indices, by N-FINDR."""
    values = check_endmember_request(pixels, n_endmembers)
    if max_iter < 1:
        raise PhismError(f"N-FINDR max_iter {max_iter}: give at least 1 sweep")
    scores = pca_scores(values, n_endmembers - 1)
    lifted = np.column_stack([np.ones(len(values)), scores])
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(values), size=n_endmembers, replace=False))
    for _ in range(max_iter):
        if not nfindr_sweep(lifted, indices):
            break
    return values[indices].copy(), indices


ENDMEMBER_METHODS: dict[str, EndmemberMethod] = {"vca": vca, "nfindr": nfindr}
