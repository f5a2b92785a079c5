"""`phism info MODEL` and `phism info HEAD` as text: what `pipeline.model_summary` says, one
aligned line per field. Standard library only."""

from __future__ import annotations

from typing import Any

from phism_cli.io.band_lists import format_band_list
from phism_cli.text import plural

_SHOWN_NAMES = 8


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    return shown + (f", ... {names[-1]}" if len(names) > _SHOWN_NAMES else "")


def _span(values: list[float] | None, unit: str | None) -> str:
    if not values:
        return "no wavelengths (band numbers)"
    low, high = values
    return f"{low:.2f} {unit}" if low == high else f"{low:.2f}-{high:.2f} {unit}"


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n} bytes)"
    return plural(n, "byte")


def _number(value: Any, digits: int = 3) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def _root(value: Any) -> float | None:
    return value ** 0.5 if isinstance(value, int | float) and value >= 0 else None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _file_lines(s: dict[str, Any]) -> list[str]:
    return [f"sha256:      {s['sha256']}", f"size:        {_size(s['size_bytes'])}"]


def encoder_summary_text(s: dict[str, Any]) -> str:
    """The text `phism info MODEL` prints."""
    k = s["components"]
    what = s["model"] + (f", {plural(k, 'component')}" if k is not None else "")
    if s["decoder"] == "basis":
        what += f", brightness {'on' if s['brightness'] else 'off'}"
    if s.get("amplitudes") and s["decoder"] == "basis":
        what += f", amplitudes {s['amplitudes']}"
    unit = s["axis_unit"] or "nm"
    lines = [
        f"path:        {s['path']} (phism encoder, format {s['format_version']}, "
        f"phism {s['phism_version']})",
        f"model:       {what}",
        f"channels:    {plural(len(s['channels']), 'channel')}: {_names(s['channels'])}",
        f"bands:       {plural(s['bands'] or 0, 'band')}, {_span(s['axis_range'], unit)}"
        + (f", fwhm {_span(s['fwhm_range_nm'], 'nm')}" if s["fwhm_range_nm"] else ""),
    ]
    if s["bands_used"] is not None:
        used = format_band_list(s["bands_used"])
        of = f" of {s['source_bands']} in the file" if s["source_bands"] else ""
        dropped = format_band_list(s["bands_dropped"] or []) or "none"
        lines.append(f"bands used:  {used}{of} (dropped: {dropped})")
    t = s["training"]
    if t["pixels"] is not None:
        lines.append(f"training:    {plural(t['pixels'], 'pixel')} ({t['train_pixels']} "
                     f"train, {t['val_pixels']} validation)")
    if t["epochs"]:
        stop = ", stopped early" if t["stopped_early"] else ""
        lines.append(f"epochs:      {t['epochs']} of {t['max_epochs']} (best {t['best_epoch']}"
                     f"{stop})")
    elif s["decoder"] == "pca":
        lines.append("epochs:      none (closed form)")
    lines.append(f"validation:  PSNR {_number(t['val_psnr_db'], 2)} dB, loss "
                 f"{_number(t['val_loss'], 4)}")
    if t["seconds"] is not None:
        lines.append(f"seconds:     {t['seconds']:.1f}")
    if t["scenes"]:
        lines.append(f"scenes:      {', '.join(t['scenes'])}")
    return "\n".join(lines + _file_lines(s))


def _metrics(task: str, m: dict[str, Any]) -> str:
    if not m:
        return "none (trained on every label)"
    if task == "classification":
        text = ", ".join(f"{key.upper() if key != 'kappa' else key} {_number(m[key])}"
                         for key in ("oa", "aa", "kappa") if key in m)
        unit = "pixel"
    else:
        parts = [f"score {_number(m['score'], 4)}"] if "score" in m else []
        parts += [f"R2 {t} {_number(v)}" for t, v in _table(m.get("r2")).items()]
        parts += [f"RMSE {t} {_number(_root(v), 4)}" for t, v in _table(m.get("mse")).items()]
        text, unit = ", ".join(parts), "field"
    return text + (f" on {plural(m['n_test'], unit)}" if m.get("n_test") is not None else "")


def head_summary_text(s: dict[str, Any]) -> str:
    """The text `phism info HEAD` prints."""
    task, f = s["task"], s["features"]
    rounds = s["n_estimators"]
    if task == "classification":
        growth = f"{plural(rounds, 'boosting round')}, " if rounds is not None else ""
    else:
        growth = f"{plural(rounds, 'tree')} per target, " if rounds is not None else ""
    lines = [
        f"path:        {s['path']} (phism head, {s['file_format'].upper()}, format "
        f"{s['format_version']}, phism {s['phism_version']})",
        f"task:        {task}: {s['model']}, {growth}{plural(s['trees'], 'tree')} in all",
    ]
    if s["classes"] is not None:
        lines.append(f"classes:     {plural(len(s['classes']), 'class', 'classes')}: "
                     + ", ".join(f"{c['value']} {c['name']}" for c in s["classes"]))
    else:
        lines.append(f"targets:     {_names(s['targets'])}")
    if f["kind"] == "latent":
        lines.append(f"features:    {plural(f['count'], 'latent channel')}: {_names(f['names'])}")
        lines.append(f"encoder:     {f['encoder_sha256'] or 'not recorded'}"
                     + (f" ({f['encoder_path']})" if f.get("encoder_path") else ""))
    elif f["kind"] == "spectra":
        bands = format_band_list(f["source_bands"] or [])
        lines.append(f"features:    {plural(f['count'], 'raw band')}, "
                     f"{_span(f['wavelength_range_nm'], 'nm')}"
                     + (f" (bands {bands} of the file)" if bands else ""))
    else:
        lines.append(f"features:    {plural(f['count'], 'feature')}")
    lines.append(f"held out:    {_metrics(task, s['metrics'])}")
    split = s["split"]
    if split:
        lines.append("split:       " + ", ".join(
            [str(split.get("method"))] + [f"{k.replace('_', ' ')} {v}" for k, v in
                                          split.items() if k != "method"]))
    t = s["training"]
    if t["n_train"] is not None:
        per_class = t["n_train_per_class"] or {}
        unit = "pixel" if task == "classification" else "field"
        lines.append(f"training:    {plural(t['n_train'], unit)}" + (
            " (" + ", ".join(f"{k}: {v}" for k, v in per_class.items()) + ")"
            if per_class else ""))
    return "\n".join(lines + _file_lines(s))
