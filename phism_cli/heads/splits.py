"""Train/test splits of labelled pixels, deterministic for a given seed.

Pixels are identified by (source, row, col): `source` numbers the feature/label pairs.

- `random_split`: stratified by class; each class gives round(fraction x n) pixels to
  training, at least one, and keeps at least one for testing when it has two or more.
- `block_folds`: every source is cut into a grid of `block_size` x `block_size` pixel blocks
  (aligned to the top-left corner; edge blocks are smaller). Blocks holding labelled pixels
  are shuffled with the seed and dealt one by one to the fold with the fewest labelled pixels
  so far, so folds are about equal in size. Fold I's blocks are the test set; training takes
  the labelled pixels of all other blocks, minus those within `buffer` pixels (Chebyshev
  distance) of a test block. A test pixel and a training pixel therefore never share a block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Split:
    """Boolean masks over the labelled pixels, and how they were made."""

    train: np.ndarray
    test: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    dropped_by_buffer: int = 0
    block_fold: np.ndarray | None = None  # (B, 4): source, block row, block col, fold (0-based)


def random_split(labels: np.ndarray, train_fraction: float, seed: int = 0) -> Split:
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train fraction must be in (0, 1], got {train_fraction}")
    rng = np.random.default_rng(seed)
    train = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        n_train = max(1, round(train_fraction * len(members)))
        if train_fraction < 1.0 and len(members) > 1:
            n_train = min(n_train, len(members) - 1)
        train[members[:n_train]] = True
    return Split(train, ~train, {"method": "random", "train_fraction": train_fraction,
                                 "seed": seed})


def block_keys(source: np.ndarray, row: np.ndarray, col: np.ndarray,
               block_size: int) -> np.ndarray:
    """(N, 3) int64 rows of (source, block row, block column)."""
    return np.stack([source, row // block_size, col // block_size], axis=1).astype(np.int64)


def assign_blocks(keys: np.ndarray, n_folds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deal the distinct blocks of `keys` to folds; returns (blocks (B, 3), fold of each)."""
    blocks, counts = np.unique(keys, axis=0, return_counts=True)
    if len(blocks) < n_folds:
        raise ValueError(f"only {len(blocks)} blocks hold labels, fewer than {n_folds} folds; "
                         "use a smaller --block-size or fewer --folds")
    order = np.random.default_rng(seed).permutation(len(blocks))
    fold_of_block = np.empty(len(blocks), dtype=np.int64)
    fold_sizes = np.zeros(n_folds, dtype=np.int64)
    for b in order:
        fold = int(np.argmin(fold_sizes))  # ties go to the lowest fold number
        fold_of_block[b] = fold
        fold_sizes[fold] += counts[b]
    return blocks, fold_of_block


def block_folds(source: np.ndarray, row: np.ndarray, col: np.ndarray, n_folds: int, fold: int,
                block_size: int, buffer: int = 0, seed: int = 0) -> Split:
    """Fold `fold` (0-based) of `n_folds` spatially disjoint block folds."""
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold {fold + 1} is not one of 1..{n_folds}")
    if block_size < 1 or buffer < 0:
        raise ValueError("block size must be positive and buffer not negative")
    keys = block_keys(source, row, col, block_size)
    blocks, fold_of_block = assign_blocks(keys, n_folds, seed)
    pixel_block = np.unique(keys, axis=0, return_inverse=True)[1].reshape(-1)
    test = fold_of_block[pixel_block] == fold
    train = ~test
    near = _near_blocks(keys, row, col, blocks[fold_of_block == fold], block_size, buffer)
    dropped = int(np.sum(train & near))
    train &= ~near
    settings = {"method": "blocks", "folds": n_folds, "fold": fold + 1,
                "block_size": block_size, "buffer": buffer, "seed": seed,
                "test_blocks": blocks[fold_of_block == fold].tolist()}
    return Split(train, test, settings, dropped,
                 np.column_stack([blocks, fold_of_block]))


def _near_blocks(keys: np.ndarray, row: np.ndarray, col: np.ndarray, test_blocks: np.ndarray,
                 block_size: int, buffer: int) -> np.ndarray:
    """True for pixels within `buffer` pixels (Chebyshev) of a test block, outside it."""
    near = np.zeros(len(keys), dtype=bool)
    if buffer == 0 or len(test_blocks) == 0:
        return near
    test_set = {tuple(b) for b in test_blocks.tolist()}
    in_row, in_col = row % block_size, col % block_size
    reach = -(-buffer // block_size)  # how many blocks away a buffer can reach
    for d_row in range(-reach, reach + 1):
        for d_col in range(-reach, reach + 1):
            if d_row == d_col == 0:
                continue
            neighbour = keys + np.array([0, d_row, d_col])
            is_test = np.fromiter((tuple(k) in test_set for k in neighbour.tolist()),
                                  dtype=bool, count=len(keys))
            near |= is_test & (_gap(in_row, d_row, block_size) <= buffer) \
                & (_gap(in_col, d_col, block_size) <= buffer)
    return near


def _gap(offset: np.ndarray, d_blocks: int, block_size: int) -> np.ndarray:
    """Pixels from a pixel at `offset` inside its block to the block `d_blocks` away, along
    one axis (0 when in the same block row or column)."""
    if d_blocks < 0:
        return offset + 1 + (-d_blocks - 1) * block_size
    if d_blocks > 0:
        return block_size - offset + (d_blocks - 1) * block_size
    return np.zeros_like(offset)
