"""Termination signals as an exception, so every `with` block cleans up on the way out.

SIGINT, SIGTERM and SIGHUP raise `Interrupted` in the main thread; the command's outputs
remove their partial files as it unwinds, and the entry point exits 128 + the signal number
(130, 143, 129) with one line saying what was left behind. A second signal during that
clean-up is ignored; a third ends the process at once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []


class Interrupted(BaseException):
    """A termination signal arrived; raised from the signal handler in the main thread."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


def _handler(signum: int, frame: Any) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise Interrupted(signum)
    if len(_received) >= 3:
        os._exit(128 + signum)


def install() -> dict[int, Callable | int | None]:
    """Route the termination signals to `Interrupted`; returns the previous handlers."""
    _received.clear()
    previous = {}
    for sig in HANDLED:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, _handler)
    return previous


def restore(previous: dict[int, Callable | int | None]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
