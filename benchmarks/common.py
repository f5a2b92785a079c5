"""What every benchmark script shares: where the data is, the machine, result files."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def data_root() -> Path:
    env = os.environ.get("PHISM_DATA")
    return Path(env) if env else HERE.parent.parent / "shared" / "data"


def machine() -> dict:
    import torch

    return {
        "cpu_cores": os.cpu_count(),
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.is_available(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def write_results(text: str, report: dict, out: Path) -> str:
    """The markdown `text` to `out` and every number in `report` to `out` with .json."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    return text


def finish_report(report: dict, started: float, markdown: Callable[[dict], str],
                  out: Path) -> None:
    """Mark `report` complete with its wall time and the load at the end, write and print it
    (`started`: the run's time.perf_counter() at its start)."""
    report["complete"] = True
    report["total_seconds"] = time.perf_counter() - started
    report["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(write_results(markdown(report), report, out))


def machine_line(report: dict, threads: int) -> str:
    """The '- Machine: ...' line of a report, with the load before and after the run."""
    m = report["machine"]
    end = report.get("loadavg_at_end")
    return (f"- Machine: {m['cpu_cores']} CPU cores, GPU: {'yes' if m['gpu'] else 'none'}; "
            f"torch {m['torch']} ({m['torch_threads']} threads; --threads {threads}, "
            f"OMP_NUM_THREADS={threads}), numpy {m['numpy']}, Python {m['python']}, "
            f"{m['platform']}; load average at start "
            f"{', '.join(str(v) for v in m['loadavg_at_start'])}"
            + (f", at end {', '.join(str(v) for v in end)}" if end else "")
            + " (above the thread count another process was running: timings are then "
            "pessimistic).")
