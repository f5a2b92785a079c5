"""--threads applied to the environment before numpy or torch load (they read it once).

Import this first in a benchmark script: `from early_threads import apply_from_argv`, then
call it before any other import.
"""

from __future__ import annotations

import os


def apply_from_argv(argv: list[str], default: int = 2) -> int:
    threads = default
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
        elif arg.startswith("--threads="):
            threads = int(arg.split("=", 1)[1])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "PHISM_THREADS"):
        os.environ[name] = str(threads)
    return threads
