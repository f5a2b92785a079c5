import numpy as np
import pytest

from phism_cli.heads.splits import block_folds, block_keys, random_split


def _grid(height: int, width: int, n_sources: int = 1):
    """Every pixel of `n_sources` rasters, labelled in vertical stripes of 4 classes."""
    source, row, col = np.meshgrid(np.arange(n_sources), np.arange(height), np.arange(width),
                                   indexing="ij")
    source, row, col = source.ravel(), row.ravel(), col.ravel()
    return source, row, col, 1 + (col * 4 // width)


def test_random_split_is_stratified_disjoint_and_reproducible() -> None:
    labels = np.repeat([1, 2, 3, 7], [100, 10, 1, 3])
    split = random_split(labels, 0.3, seed=4)
    assert not np.any(split.train & split.test) and np.all(split.train | split.test)
    train_counts = {c: int(np.sum(split.train & (labels == c))) for c in (1, 2, 3, 7)}
    assert train_counts == {1: 30, 2: 3, 3: 1, 7: 1}  # at least one per class
    assert np.sum(split.test & (labels == 7)) == 2  # a class of 3 keeps test pixels
    again = random_split(labels, 0.3, seed=4)
    np.testing.assert_array_equal(split.train, again.train)
    assert not np.array_equal(split.train, random_split(labels, 0.3, seed=5).train)


def test_random_split_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="train fraction"):
        random_split(np.ones(5), 0.0)


def test_block_folds_share_no_block_and_cover_every_pixel_once() -> None:
    source, row, col, _ = _grid(50, 70, n_sources=2)
    keys = block_keys(source, row, col, 16)
    seen = np.zeros(len(row), dtype=int)
    for fold in range(4):
        split = block_folds(source, row, col, 4, fold, block_size=16, seed=3)
        assert not np.any(split.train & split.test)
        test_blocks = {tuple(k) for k in keys[split.test].tolist()}
        train_blocks = {tuple(k) for k in keys[split.train].tolist()}
        assert test_blocks and not test_blocks & train_blocks
        assert test_blocks == {tuple(b) for b in split.settings["test_blocks"]}
        seen += split.test
    np.testing.assert_array_equal(seen, 1)


def test_block_folds_are_balanced_and_reproducible() -> None:
    source, row, col, _ = _grid(128, 128)
    sizes = [block_folds(source, row, col, 4, f, 16, seed=1).test.sum() for f in range(4)]
    assert max(sizes) == min(sizes) == 128 * 128 // 4  # 64 equal blocks dealt evenly
    a = block_folds(source, row, col, 4, 2, 16, seed=1)
    np.testing.assert_array_equal(a.test, block_folds(source, row, col, 4, 2, 16, seed=1).test)
    assert not np.array_equal(a.test, block_folds(source, row, col, 4, 2, 16, seed=2).test)


def test_buffer_keeps_training_pixels_away_from_test_blocks() -> None:
    source, row, col, _ = _grid(64, 64)
    buffer = 3
    split = block_folds(source, row, col, 4, 0, block_size=16, buffer=buffer, seed=0)
    assert split.dropped_by_buffer > 0
    test_r, test_c = row[split.test], col[split.test]
    for r, c in zip(row[split.train], col[split.train], strict=True):
        distance = np.max(np.stack([np.abs(test_r - r), np.abs(test_c - c)]), axis=0).min()
        assert distance > buffer
    # Only pixels within the buffer were dropped: every dropped pixel is near a test pixel.
    dropped = ~split.train & ~split.test
    for r, c in zip(row[dropped], col[dropped], strict=True):
        distance = np.maximum(np.abs(test_r - r), np.abs(test_c - c)).min()
        assert 1 <= distance <= buffer


def test_too_few_blocks_for_the_folds() -> None:
    source, row, col, _ = _grid(20, 20)
    with pytest.raises(ValueError, match="only 4 blocks hold labels, fewer than 5 folds"):
        block_folds(source, row, col, 5, 0, block_size=16)
