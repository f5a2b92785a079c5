"""Termination signals as an exception, so every `with` block cleans up on the way out.

With `install()` (the command line does it first thing), SIGINT, SIGTERM and SIGHUP raise
`Interrupted` in the main thread; outputs remove their partial files as the command unwinds,
and the entry point exits 128 + the signal number (130, 143, 129) with one line saying what
was left behind. A second signal during that clean-up is ignored; a third ends the process
at once. Inside `held()` (the renames that commit a command's outputs) a signal is kept
until the block ends.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []
_held = [0]  # depth of nested held() blocks
_kept: list[int] = []
_installed = [False]  # between install() and restore()


class Interrupted(BaseException):
    """A termination signal arrived; raised from the signal handler in the main thread."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


def _handler(signum: int, frame: Any) -> None:
    if _held[0]:
        _kept.append(signum)
        return
    _received.append(signum)
    if len(_received) == 1:
        raise Interrupted(signum)
    if len(_received) >= 3:
        os._exit(128 + signum)


@contextmanager
def held() -> Iterator[None]:
    """Keep termination signals back inside the block; one that came is raised after it.

    The handler runs in the main thread but the kernel may hand a signal to any thread, so
    this is a flag the handler reads, not only a signal mask."""
    _held[0] += 1
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        _held[0] -= 1
    if not _held[0] and _kept:
        signum = _kept[0]
        _kept.clear()
        if signal.getsignal(signum) is _handler:
            _handler(signum, None)


def check_pending() -> None:
    """Raise a signal whose `Interrupted` was swallowed: raised inside code that ignores
    exceptions (a weakref callback of the import machinery, a destructor), the exception
    only reaches `sys.unraisablehook`. Called where a command would otherwise go on as if
    nothing came: before outputs are committed and when the command returns."""
    if _installed[0] and _received and _received[0]:
        raise Interrupted(_received[0])


def _unraisable(unraisable: Any) -> None:
    """Keep a swallowed `Interrupted` off stderr (`check_pending` raises it again)."""
    if isinstance(unraisable.exc_value, Interrupted):
        return
    _default_unraisable(unraisable)


_default_unraisable = sys.unraisablehook


def install() -> dict[int, Callable | int | None]:
    """Route the termination signals to `Interrupted`; returns the previous handlers.

    A signal the parent set to be ignored stays ignored: `nohup` ignores SIGHUP, and a shell
    without job control ignores SIGINT in background jobs."""
    _received.clear()
    _kept.clear()
    sys.unraisablehook = _unraisable
    _installed[0] = True
    previous = {}
    for sig in HANDLED:
        current = signal.getsignal(sig)
        if current == signal.SIG_IGN:
            continue
        previous[sig] = current
        signal.signal(sig, _handler)
    return previous


def finishing() -> None:
    """The command is over and only exiting remains: a signal now is not raised (a second
    and third still end the process as usual)."""
    _received.append(0)


def restore(previous: dict[int, Callable | int | None]) -> None:
    _installed[0] = False
    sys.unraisablehook = _default_unraisable
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
