"""A latent map from `phism encode` in numbers: what `phism info LATENTS` reports.

The map is read window by window, twice, so memory stays flat whatever its size (one window
plus a few thousand counters per channel):

1. per channel: the count of valid pixels, mean and variance (merged window by window),
   minimum, maximum and the count of negative values; for basis maps also the exact
   histogram of every component centre, pooled over components and pixels, over the spectral
   axis (`np.histogram` with fixed edges, accumulated window by window).
2. per channel: a fine histogram of `FINE_BINS` bins between the channel's minimum and
   maximum from pass 1.

Percentiles (and medians) are not exact: they are read off the fine histograms instead of
sorted values. Each is the inverted-CDF percentile (the smallest value with at least q % of
the values at or below it) located to within one fine bin, (maximum - minimum) / FINE_BINS.
A pixel is valid when every channel is finite: NaN (nodata) pixels are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from phism_cli.errors import PhismError, check_file_format
from phism_cli.io.latent_format import LATENT_FORMAT, LATENT_FORMAT_VERSION
from phism_cli.io.scene import iter_windows

if TYPE_CHECKING:  # io.rasters imports Zarr: `phism info SCENE` never needs it
    from phism_cli.io.rasters import RasterReader

PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
FINE_BINS = 1000
DEFAULT_BINS = 20
DEFAULT_FEATURES = 5
BRIGHTNESS_CHANNEL = "brightness"

__all__ = ["DEFAULT_BINS", "DEFAULT_FEATURES", "FINE_BINS", "PERCENTILES", "CentreHistogram",
           "ChannelMoments", "FineHistograms", "LatentLayout", "histogram_peaks",
           "is_latent_map", "read_layout", "summarise_latents"]


def is_latent_map(path: Path) -> bool:
    """True for a Zarr store or GeoTIFF that `phism encode` wrote (reads its metadata only).

    Only folders and .zarr/.tif/.tiff paths are looked at: anything else is a scene.
    """
    if not (path.is_dir() or path.suffix.lower() in (".zarr", ".tif", ".tiff")):
        return False
    from phism_cli.io.rasters import phism_raster_metadata

    try:
        meta = phism_raster_metadata(path)
    except Exception:  # what GDAL cannot read is left to open_scene, which says why
        return False
    return meta is not None and meta.get("format") == LATENT_FORMAT


# --- what the metadata says ---------------------------------------------------------------


@dataclass(frozen=True)
class BasisChannels:
    """Channel indices of each component's parameters (slot k at position k)."""

    centre: list[int]
    width: list[int]
    skew: list[int] | None  # a Gaussian basis has no alpha
    amplitude: list[int]


@dataclass(frozen=True)
class LatentLayout:
    """What a latent map holds: its decoder, spectral axis and which channel is which."""

    decoder: str
    basis: str | None
    n_components: int
    axis_unit: str
    axis_min: float
    axis_max: float
    components: BasisChannels | None  # None for pca / mlp maps
    brightness: int | None


def _damaged(where: object, field: str, found: str) -> PhismError:
    return PhismError(f"{where}: latent metadata field '{field}' {found}; the latent map is "
                      "damaged, encode the scene again")


def _axis_range(renderer: dict[str, Any], where: object) -> tuple[str, float, float]:
    unit = renderer.get("axis_unit")
    if unit not in ("nm", "band"):
        raise _damaged(where, "renderer.axis_unit", f"is {unit!r}, not 'nm' or 'band'")
    positions = renderer.get("axis_positions")
    ok = isinstance(positions, list) and len(positions) > 0 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in positions)
    if not ok:
        raise _damaged(where, "renderer.axis_positions", "is not a list of finite numbers")
    return unit, float(min(positions)), float(max(positions))


def _count(renderer: dict[str, Any], key: str, where: object) -> int:
    value = renderer.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
        raise _damaged(where, f"renderer.{key}", f"is {value!r}, not a whole number from 1 "
                       "to 4096")
    return value


def _basis_channels(names: Sequence[str], k: int, unit: str, where: object) -> BasisChannels:
    index = {name: i for i, name in enumerate(names)}

    def columns(param: str) -> list[int]:
        for component in range(k):
            if f"c{component}_{param}" not in index:
                raise PhismError(f"{where}: channel 'c{component}_{param}' is missing, though "
                                 f"latent metadata field 'renderer.n_components' is {k}; the "
                                 "latent map is damaged, encode the scene again")
        return [index[f"c{component}_{param}"] for component in range(k)]

    has_skew = all(f"c{component}_alpha" in index for component in range(k))
    return BasisChannels(centre=columns(f"mu_{unit}"), width=columns(f"sigma_{unit}"),
                         skew=columns("alpha") if has_skew else None,
                         amplitude=columns("amp"))


def read_layout(meta: dict[str, Any], channel_names: Sequence[str],
                where: object) -> LatentLayout:
    """The layout of a latent map from its phism metadata; damaged metadata is refused in one
    sentence naming `where` and the field."""
    renderer = meta.get("renderer")
    if not isinstance(renderer, dict):
        raise _damaged(where, "renderer", "is missing or not an object")
    decoder = renderer.get("decoder", "basis")
    if not isinstance(decoder, str) or not decoder:
        raise _damaged(where, "renderer.decoder", f"is {decoder!r}, not a name")
    unit, low, high = _axis_range(renderer, where)
    brightness = (channel_names.index(BRIGHTNESS_CHANNEL)
                  if BRIGHTNESS_CHANNEL in channel_names else None)
    if decoder != "basis":
        size = renderer.get("latent_dim", renderer.get("n_components", len(channel_names)))
        k = size if isinstance(size, int) and not isinstance(size, bool) else len(channel_names)
        return LatentLayout(decoder, None, k, unit, low, high, None, brightness)
    basis = renderer.get("basis")
    if not isinstance(basis, str) or not basis:
        raise _damaged(where, "renderer.basis", f"is {basis!r}, not a basis name")
    k = _count(renderer, "n_components", where)
    if renderer.get("brightness") is True and brightness is None:
        raise PhismError(f"{where}: channel '{BRIGHTNESS_CHANNEL}' is missing, though latent "
                         "metadata field 'renderer.brightness' is true; the latent map is "
                         "damaged, encode the scene again")
    return LatentLayout(decoder, basis, k, unit, low, high,
                        _basis_channels(channel_names, k, unit, where), brightness)


# --- streaming accumulators ---------------------------------------------------------------


class ChannelMoments:
    """Count, mean, variance, extremes and negatives per channel, merged window by window
    (Chan et al.'s pairwise update, so the variance stays accurate on large maps)."""

    def __init__(self, n_channels: int) -> None:
        self.count = 0
        self.mean = np.full(n_channels, np.nan)  # NaN until a value arrives
        self.m2 = np.full(n_channels, np.nan)
        self.minimum = np.full(n_channels, np.inf)
        self.maximum = np.full(n_channels, -np.inf)
        self.negative = np.zeros(n_channels, dtype=np.int64)

    def update(self, values: np.ndarray) -> None:
        """Add (N, C) finite values."""
        n = values.shape[0]
        if n == 0:
            return
        mean = values.mean(axis=0)
        m2 = ((values - mean) ** 2).sum(axis=0)
        if self.count == 0:
            self.mean, self.m2 = mean, m2
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count += n
        self.minimum = np.minimum(self.minimum, values.min(axis=0))
        self.maximum = np.maximum(self.maximum, values.max(axis=0))
        self.negative += (values < 0).sum(axis=0)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.count) if self.count else self.m2


class FineHistograms:
    """Per channel, `bins` equal bins between fixed limits; values outside go to the end bins.

    A channel whose limits are equal (a constant channel) counts everything in its first bin.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, bins: int = FINE_BINS) -> None:
        self.low, self.high, self.bins = low, high, bins
        self.width = np.where(high > low, (high - low) / bins, 1.0)
        self.counts = np.zeros((len(low), bins), dtype=np.int64)

    def update(self, values: np.ndarray) -> None:
        """Add (N, C) finite values."""
        index = np.floor((values - self.low) / self.width).astype(np.int64)
        np.clip(index, 0, self.bins - 1, out=index)
        index += np.arange(values.shape[1]) * self.bins
        flat = np.bincount(index.ravel(), minlength=self.counts.size)
        self.counts += flat.reshape(self.counts.shape)

    def percentiles(self, qs: Sequence[float]) -> np.ndarray:
        """(C, len(qs)): the inverted-CDF percentiles, each within one bin of the exact one."""
        out = np.full((self.counts.shape[0], len(qs)), np.nan)
        for c, counts in enumerate(self.counts):
            cumulative = np.cumsum(counts)
            n = int(cumulative[-1])
            if n == 0:
                continue
            for j, q in enumerate(qs):
                rank = max(1, math.ceil(round(q * n / 100.0, 9)))
                i = int(np.searchsorted(cumulative, rank))
                inside = (rank - (cumulative[i] - counts[i]) - 0.5) / counts[i]
                out[c, j] = self.low[c] + self.width[c] * (i + inside)
        return np.clip(out, self.low[:, None], self.high[:, None])


class CentreHistogram:
    """Component centres pooled over components and pixels, in fixed bins over the axis: the
    count, the count with negative amplitude and the sum of centres per bin (exact)."""

    def __init__(self, low: float, high: float, bins: int) -> None:
        if high <= low:  # a one-band axis
            low, high = low - 0.5, high + 0.5
        self.edges = np.linspace(low, high, bins + 1)
        self.count = np.zeros(bins, dtype=np.int64)
        self.negative = np.zeros(bins, dtype=np.int64)
        self.centre_sum = np.zeros(bins)
        self.total = 0

    def update(self, centres: np.ndarray, amplitudes: np.ndarray) -> None:
        """Add (N, K) centres and their amplitudes."""
        mu = centres.ravel()
        self.count += np.histogram(mu, self.edges)[0]
        self.negative += np.histogram(mu[amplitudes.ravel() < 0], self.edges)[0]
        self.centre_sum += np.histogram(mu, self.edges, weights=mu)[0]
        self.total += mu.size


# --- the two passes -----------------------------------------------------------------------


def _valid_pixels(reader: RasterReader, window: Any) -> np.ndarray:
    """(N, C) float64 values of the window's valid pixels (every channel finite)."""
    block = reader.read(window)
    pixels = block.reshape(-1, block.shape[-1])
    return pixels[np.isfinite(pixels).all(axis=1)].astype(np.float64)


def _tile(reader: RasterReader) -> int:
    """A window edge that is a whole number of the map's chunks, about 256 pixels."""
    chunk = max(1, reader.chunk_size)
    return chunk * max(1, 256 // chunk)


def _first_pass(reader: RasterReader, layout: LatentLayout, bins: int,
                on_pixels: Callable[[int], None] | None
                ) -> tuple[ChannelMoments, CentreHistogram | None]:
    moments = ChannelMoments(len(reader.channel_names))
    parts = layout.components
    centres = None if parts is None else CentreHistogram(layout.axis_min, layout.axis_max, bins)
    for window in iter_windows(reader.height, reader.width, _tile(reader)):
        values = _valid_pixels(reader, window)
        moments.update(values)
        if centres is not None and parts is not None:
            centres.update(values[:, parts.centre], values[:, parts.amplitude])
        if on_pixels is not None:
            on_pixels(window.height * window.width)
    return moments, centres


def _second_pass(reader: RasterReader, moments: ChannelMoments,
                 on_pixels: Callable[[int], None] | None) -> FineHistograms:
    fine = FineHistograms(moments.minimum, moments.maximum)
    for window in iter_windows(reader.height, reader.width, _tile(reader)):
        values = _valid_pixels(reader, window)
        if values.size:
            fine.update(values)
        if on_pixels is not None:
            on_pixels(window.height * window.width)
    return fine


# --- the report ---------------------------------------------------------------------------


def _optional_str(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


def _header(reader: RasterReader, layout: LatentLayout, valid: int) -> dict[str, Any]:
    meta = reader.metadata
    return {
        "path": str(reader.path), "kind": "latents", "format": reader.kind,
        "height": reader.height, "width": reader.width,
        "crs": None if reader.crs is None else reader.crs.to_string(),
        "channels": list(reader.channel_names), "pixels": reader.height * reader.width,
        "valid_pixels": valid, "model_path": _optional_str(meta, "model_path"),
        "model_sha256": _optional_str(meta, "model_sha256"), "decoder": layout.decoder,
        "basis": layout.basis, "n_components": layout.n_components,
        "axis_unit": layout.axis_unit, "axis_min": layout.axis_min,
        "axis_max": layout.axis_max, "percentiles": list(PERCENTILES),
        "fine_bins": FINE_BINS,
        "sorted_by_centre": bool((meta.get("renderer") or {}).get("sorted_by_centre")),
    }


def _fraction(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _component_rows(parts: BasisChannels, moments: ChannelMoments,
                    quantiles: np.ndarray) -> list[dict[str, Any]]:
    median = PERCENTILES.index(50.0)
    rows = []
    for k, (mu, sigma, amp) in enumerate(zip(parts.centre, parts.width, parts.amplitude,
                                             strict=True)):
        rows.append({
            "component": k, "centre_percentiles": [float(v) for v in quantiles[mu]],
            "width_median": float(quantiles[sigma, median]),
            "alpha_median": None if parts.skew is None else
            float(quantiles[parts.skew[k], median]),
            "amp_median": float(quantiles[amp, median]),
            "negative_amp_fraction": _fraction(float(moments.negative[amp]), moments.count),
        })
    return rows


def _brightness(index: int | None, moments: ChannelMoments,
                quantiles: np.ndarray) -> dict[str, Any] | None:
    if index is None:
        return None
    return {"mean": float(moments.mean[index]),
            "percentiles": [float(v) for v in quantiles[index]]}


def _centre_bins(hist: CentreHistogram) -> list[dict[str, Any]]:
    return [{
        "start": float(hist.edges[i]), "stop": float(hist.edges[i + 1]),
        "count": int(hist.count[i]), "fraction": _fraction(float(hist.count[i]), hist.total),
        "negative_amp_fraction": _fraction(float(hist.negative[i]), float(hist.count[i])),
        "mean_centre": None if not hist.count[i] else float(hist.centre_sum[i] / hist.count[i]),
    } for i in range(len(hist.count))]


def histogram_peaks(counts: np.ndarray, limit: int) -> list[int]:
    """Bins that are local maxima of `counts` holding more than a uniform share (total /
    bins), largest first, at most `limit`; a plateau counts once (its last bin)."""
    n = len(counts)
    uniform = counts.sum() / max(n, 1)
    peaks = [i for i in range(n)
             if counts[i] > uniform
             and (i == 0 or counts[i] >= counts[i - 1])
             and (i == n - 1 or counts[i] > counts[i + 1])]
    return sorted(peaks, key=lambda i: (-int(counts[i]), i))[:limit]


def _centre_report(hist: CentreHistogram, features: int) -> dict[str, Any]:
    bins = _centre_bins(hist)
    return {
        "centre_histogram": {"total": hist.total,
                             "outside_axis": hist.total - int(hist.count.sum()),
                             "bins": bins},
        "features": [{"centre": bins[i]["mean_centre"], **{key: bins[i][key] for key in (
            "start", "stop", "count", "fraction", "negative_amp_fraction")}}
            for i in histogram_peaks(hist.count, features)],
    }


def _channel_rows(names: Sequence[str], moments: ChannelMoments,
                  quantiles: np.ndarray) -> list[dict[str, Any]]:
    low, high = PERCENTILES.index(5.0), PERCENTILES.index(95.0)
    return [{"name": name, "mean": float(moments.mean[c]), "std": float(moments.std[c]),
             "min": float(moments.minimum[c]), "max": float(moments.maximum[c]),
             "p5": float(quantiles[c, low]), "p95": float(quantiles[c, high])}
            for c, name in enumerate(names)]


def _statistics(layout: LatentLayout, names: Sequence[str], moments: ChannelMoments,
                fine: FineHistograms | None, centres: CentreHistogram | None,
                features: int) -> dict[str, Any]:
    quantiles = (np.full((len(names), len(PERCENTILES)), np.nan) if fine is None
                 else fine.percentiles(PERCENTILES))
    if layout.components is None:
        return {"channel_stats": _channel_rows(names, moments, quantiles)}
    assert centres is not None
    return {"components": _component_rows(layout.components, moments, quantiles),
            "brightness": _brightness(layout.brightness, moments, quantiles),
            **_centre_report(centres, features)}


def summarise_latents(reader: RasterReader, bins: int = DEFAULT_BINS,
                      features: int = DEFAULT_FEATURES,
                      on_pixels: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The summary of the latent map `reader` reads, as one JSON-ready dictionary (see the
    module docstring).

    Basis maps get per-component statistics (`components`), the brightness channel's
    (`brightness`, or None), the pooled histogram of centres in `bins` bins over the axis
    (`centre_histogram`) and its highest peaks (`features`, at most `features`); other maps
    (pca, mlp) get per-channel statistics (`channel_stats`). `on_pixels` is called with the
    pixels of each window read; each pass reads the map once, 2 x rows x cols in all.
    """
    meta = reader.metadata
    if meta.get("format") != LATENT_FORMAT:
        raise PhismError(f"{reader.path}: not a phism latent map (format "
                         f"{meta.get('format')!r}); give the output of 'phism encode'")
    check_file_format(meta, reader.path, LATENT_FORMAT, LATENT_FORMAT_VERSION, "latent map")
    layout = read_layout(meta, reader.channel_names, reader.path)
    moments, centres = _first_pass(reader, layout, bins, on_pixels)
    fine = _second_pass(reader, moments, on_pixels) if moments.count else None
    header = _header(reader, layout, moments.count)
    return {**header, **_statistics(layout, header["channels"], moments, fine, centres,
                                    features)}
