"""The latent-map summary of `phism info LATENTS`, streamed window by window, against numpy on
the whole array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phism_cli.errors import PhismError
from phism_cli.io.rasters import RasterReader
from phism_cli.pipeline.latent_summary import (
    FINE_BINS,
    PERCENTILES,
    FineHistograms,
    histogram_peaks,
    is_latent_map,
    summarise_latents,
)
from tests.pipeline.latent_maps import (
    AXIS_NM,
    PEAKS_NM,
    basis_names,
    basis_renderer,
    synthetic_basis_values,
    write_latent_map,
)

ROWS, COLS, K = 300, 40, 3  # two windows of rows at the reader's 256-pixel tiles


def summarise(path: Path, **kwargs: object) -> dict:
    with RasterReader(path) as reader:
        return summarise_latents(reader, **kwargs)


def with_nodata(values: np.ndarray) -> np.ndarray:
    """NaN pixels, and pixels with one NaN channel beside huge values, which must all be
    skipped (a pixel is valid only when every channel is finite)."""
    values = values.copy()
    values[:5, :7] = np.nan
    values[100, :, 0] = np.nan
    values[100, :, 1:] = 1e6
    return values


def valid_rows(values: np.ndarray) -> np.ndarray:
    pixels = values.reshape(-1, values.shape[-1]).astype(np.float64)
    return pixels[np.isfinite(pixels).all(axis=1)]


@pytest.fixture(params=["zarr", "tif"])
def basis_map(request, tmp_path) -> tuple[Path, np.ndarray]:
    values = with_nodata(synthetic_basis_values(ROWS, COLS, K, brightness=True))
    path = write_latent_map(tmp_path / f"latents.{request.param}", values,
                            basis_names(K, brightness=True), basis_renderer(K, brightness=True))
    return path, valid_rows(values)


def test_header_counts_only_valid_pixels(basis_map) -> None:
    path, pixels = basis_map
    s = summarise(path)
    assert s["valid_pixels"] == len(pixels) == ROWS * COLS - 35 - COLS
    assert (s["height"], s["width"], s["pixels"]) == (ROWS, COLS, ROWS * COLS)
    assert s["format"] == path.suffix[1:] and s["kind"] == "latents"
    assert (s["decoder"], s["basis"], s["n_components"]) == ("basis", "skewnormal", K)
    assert (s["axis_unit"], s["axis_min"], s["axis_max"]) == ("nm", 400.0, 1000.0)
    assert s["model_path"] == "encoder.safetensors" and s["model_sha256"] == "0" * 64


def test_centre_histogram_is_exact(basis_map) -> None:
    path, pixels = basis_map
    s = summarise(path, bins=12)
    centres = pixels[:, [4 * c for c in range(K)]]
    amps = pixels[:, [4 * c + 3 for c in range(K)]]
    edges = np.linspace(400.0, 1000.0, 13)
    expected = np.histogram(centres.ravel(), edges)[0]
    negative = np.histogram(centres.ravel()[amps.ravel() < 0], edges)[0]
    hist = s["centre_histogram"]
    assert [b["count"] for b in hist["bins"]] == expected.tolist()
    assert hist["total"] == centres.size and hist["outside_axis"] == 0
    assert [b["start"] for b in hist["bins"]] == pytest.approx(edges[:-1].tolist())
    assert [b["stop"] for b in hist["bins"]] == pytest.approx(edges[1:].tolist())
    for b, n, neg in zip(hist["bins"], expected, negative, strict=True):
        assert b["fraction"] == pytest.approx(n / centres.size)
        assert b["negative_amp_fraction"] == (pytest.approx(neg / n) if n else None)


def test_features_are_the_centre_clusters(basis_map) -> None:
    path, _ = basis_map
    features = summarise(path)["features"]
    assert len(features) == K
    found = sorted(f["centre"] for f in features)
    assert found == pytest.approx(list(PEAKS_NM), abs=15.0)  # one 30-nm bin
    assert all(f["start"] <= f["centre"] <= f["stop"] for f in features)


def test_component_percentiles_within_one_fine_bin(basis_map) -> None:
    path, pixels = basis_map
    s = summarise(path)
    median = PERCENTILES.index(50.0)
    for row in s["components"]:
        k = row["component"]
        mu, sigma, alpha, amp = (pixels[:, 4 * k + i] for i in range(4))
        exact = np.percentile(mu, PERCENTILES, method="inverted_cdf")
        step = (mu.max() - mu.min()) / FINE_BINS
        assert np.abs(np.asarray(row["centre_percentiles"]) - exact).max() <= step
        for key, values in (("width_median", sigma), ("alpha_median", alpha),
                            ("amp_median", amp)):
            exact_median = np.percentile(values, 50, method="inverted_cdf")
            assert abs(row[key] - exact_median) <= (values.max() - values.min()) / FINE_BINS
        assert row["negative_amp_fraction"] == pytest.approx(np.mean(amp < 0))
    brightness = pixels[:, -1]
    exact = np.percentile(brightness, PERCENTILES, method="inverted_cdf")
    step = (brightness.max() - brightness.min()) / FINE_BINS
    assert np.abs(np.asarray(s["brightness"]["percentiles"]) - exact).max() <= step
    assert s["brightness"]["mean"] == pytest.approx(brightness.mean())
    assert s["components"][0]["centre_percentiles"][median] == pytest.approx(PEAKS_NM[0],
                                                                            abs=5.0)


def test_gaussian_map_in_band_numbers(tmp_path) -> None:
    values = synthetic_basis_values(20, 20, 2)
    values = np.delete(values, [2, 6], axis=-1)  # no alpha
    values[..., 0] = 10.0  # every c0 centre on band 10, c1 centres in band numbers too
    values[..., 3] = 40.0
    names = basis_names(2, unit="band", skew=False)
    path = write_latent_map(tmp_path / "g.zarr", values, names,
                            basis_renderer(2, unit="band", basis="gaussian"))
    s = summarise(path, bins=len(AXIS_NM) - 1)  # one bin per band step
    assert (s["basis"], s["axis_unit"], s["axis_min"], s["axis_max"]) == \
        ("gaussian", "band", 1.0, 61.0)
    assert all(row["alpha_median"] is None for row in s["components"])
    assert s["components"][0]["centre_percentiles"] == [10.0] * len(PERCENTILES)
    assert s["brightness"] is None
    counts = {b["start"]: b["count"] for b in s["centre_histogram"]["bins"] if b["count"]}
    assert counts == {10.0: 400, 40.0: 400}
    assert [f["centre"] for f in s["features"]] == [10.0, 40.0]


def test_pca_map_channel_statistics(tmp_path) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal([0.0, 5.0, -3.0], [1.0, 0.1, 10.0], (ROWS, COLS, 3)).astype(np.float32)
    values = with_nodata(values)
    renderer = {"decoder": "pca", "n_components": 3, "axis_unit": "nm",
                "axis_positions": [float(v) for v in AXIS_NM]}
    path = write_latent_map(tmp_path / "pca.tif", values, ["pc0", "pc1", "pc2"], renderer)
    s = summarise(path)
    pixels = valid_rows(values)
    assert (s["decoder"], s["basis"], s["n_components"]) == ("pca", None, 3)
    assert "components" not in s and "centre_histogram" not in s
    for c, row in enumerate(s["channel_stats"]):
        x = pixels[:, c]
        step = (x.max() - x.min()) / FINE_BINS
        assert row["name"] == f"pc{c}"
        assert row["mean"] == pytest.approx(x.mean(), abs=1e-9)
        assert row["std"] == pytest.approx(x.std(), rel=1e-9)
        assert (row["min"], row["max"]) == (x.min(), x.max())
        assert abs(row["p5"] - np.percentile(x, 5, method="inverted_cdf")) <= step
        assert abs(row["p95"] - np.percentile(x, 95, method="inverted_cdf")) <= step


def test_mlp_map_and_no_valid_pixels(tmp_path) -> None:
    values = np.full((8, 8, 4), np.nan, dtype=np.float32)
    renderer = {"decoder": "mlp", "latent_dim": 4, "axis_unit": "nm",
                "axis_positions": [float(v) for v in AXIS_NM]}
    path = write_latent_map(tmp_path / "mlp.zarr", values, [f"z{i}" for i in range(4)],
                            renderer)
    s = summarise(path)
    assert s["valid_pixels"] == 0 and s["n_components"] == 4
    assert all(np.isnan(row["mean"]) and np.isnan(row["p5"]) for row in s["channel_stats"])


def test_is_latent_map(tmp_path, basis_map) -> None:
    path, _ = basis_map
    assert is_latent_map(path)
    plain = tmp_path / "notes.tif"
    plain.write_text("not a raster")
    assert not is_latent_map(plain)
    assert not is_latent_map(tmp_path / "missing.zarr")
    assert not is_latent_map(Path(__file__))


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: None, "'renderer' is missing"),
    (lambda r: {**r, "axis_unit": "mm"}, "'renderer.axis_unit' is 'mm'"),
    (lambda r: {**r, "axis_positions": [400.0, "x"]}, "'renderer.axis_positions'"),
    (lambda r: {**r, "n_components": 0}, "'renderer.n_components' is 0"),
    (lambda r: {**r, "n_components": 4}, "channel 'c3_mu_nm' is missing"),
    (lambda r: {**r, "basis": 3}, "'renderer.basis' is 3"),
    (lambda r: {**r, "decoder": 7}, "'renderer.decoder' is 7"),
    (lambda r: {**r, "brightness": True}, "channel 'brightness' is missing"),
])
def test_damaged_metadata_is_one_sentence(tmp_path, change, field) -> None:
    values = synthetic_basis_values(8, 8, K)
    path = write_latent_map(tmp_path / "bad.zarr", values, basis_names(K),
                            change(basis_renderer(K)))
    with pytest.raises(PhismError) as caught:
        summarise(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and field in message
    assert message.count(". ") == 0 and "\n" not in message


def test_histogram_peaks() -> None:
    counts = np.array([0, 9, 3, 3, 8, 8, 1, 0, 2, 7])
    assert histogram_peaks(counts, 5) == [1, 5, 9]  # uniform share 4.1: the 3s are not
    assert histogram_peaks(counts, 2) == [1, 5]
    assert histogram_peaks(np.zeros(4, dtype=int), 5) == []
    assert histogram_peaks(np.full(4, 3), 5) == []  # flat: nothing stands out


def test_fine_histogram_constant_channel_and_merging() -> None:
    rng = np.random.default_rng(2)
    data = np.column_stack([rng.uniform(-1, 1, 5000), np.full(5000, 2.5)])
    fine = FineHistograms(data.min(axis=0), data.max(axis=0), bins=100)
    for part in np.array_split(data, 7):
        fine.update(part)
    got = fine.percentiles(PERCENTILES)
    assert got[1].tolist() == [2.5] * len(PERCENTILES)
    exact = np.percentile(data[:, 0], PERCENTILES, method="inverted_cdf")
    assert np.abs(got[0] - exact).max() <= (data[:, 0].max() - data[:, 0].min()) / 100
