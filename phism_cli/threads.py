"""How many threads phism's native libraries use: torch, XGBoost, GDAL, Blosc and BLAS.

`--threads N` (or `PHISM_THREADS`, else `OMP_NUM_THREADS`) sets them all; the default is the
CPUs this process may use (its affinity mask and cgroup CPU quota), less one core on machines
with four or more, left to the I/O threads and to neighbours. OpenMP threads wait passively
unless the user chose otherwise: busy-waiting threads of two jobs sharing cores slowed both
about 5x in our measurements (`benchmarks/threads.py`), passive ones did not.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

ENV_VARIABLE = "PHISM_THREADS"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                     "GDAL_NUM_THREADS", "BLOSC_NTHREADS")

_configured: int | None = None


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"),
                     membership: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 `cpu.max`, v1 cfs), if any."""
    candidates = [root / "cpu.max"]
    try:
        for line in membership.read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and parts[0] == "0":
                candidates.insert(0, root / parts[2].lstrip("/") / "cpu.max")
    except OSError:
        pass
    for path in candidates:
        try:
            quota, period = path.read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and float(period) > 0:
            return float(quota) / float(period)
        return None
    try:
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by the cgroup quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, max(1, math.floor(limit)))
    return max(1, count)


def default_threads() -> int:
    cpus = usable_cpus()
    return cpus - 1 if cpus >= 4 else cpus


def parse_threads(value: str, source: str) -> int:
    """A positive thread count from the command line or the environment."""
    try:
        threads = int(value.strip())
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{source}={value!r} is not a positive whole number of threads; "
                         f"give e.g. {source}=2")
    return threads


def resolve_threads(option: int | None) -> int:
    """--threads, else $PHISM_THREADS, else $OMP_NUM_THREADS, else the default."""
    if option is not None:
        return option
    for name in (ENV_VARIABLE, "OMP_NUM_THREADS"):
        env = os.environ.get(name)
        if env is not None and env.strip():
            return parse_threads(env, name)
    return default_threads()


def configure_threads(threads: int) -> None:
    """Set every library's thread count; before they load (environment) and after (calls)."""
    global _configured
    _configured = threads
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    if "numcodecs" in sys.modules:
        from numcodecs import blosc

        blosc.set_nthreads(threads)


def configured_threads() -> int:
    """The count set by `configure_threads`, else the default (library use)."""
    return _configured if _configured is not None else default_threads()
