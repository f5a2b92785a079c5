"""Termination signals as an exception, so every `with` block cleans up on the way out.

With `install()` (the command line does it first thing), SIGINT, SIGTERM and SIGHUP raise
`Interrupted` in the main thread; outputs remove their partial files as the command unwinds,
and the entry point exits 128 + the signal number (130, 143, 129) with one line saying what
was left behind. A second signal during that clean-up is ignored; a third ends the process
at once. Inside `held()` (the renames that commit a command's outputs) a signal is kept
until the block ends, and so it is while torch or XGBoost is being imported: an exception
raised by the handler inside their C++ start-up (pybind11 calling back into Python) is not
an exception but `std::terminate`, an abort with a core dump.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import sys
import threading
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


# Top-level packages whose import runs native start-up code that calls back into Python.
NATIVE_PACKAGES = frozenset({"torch", "xgboost"})


class _HeldLoader(importlib.abc.Loader):
    """Runs a package's import inside `held()`: its own loader does the work."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            self._loader.exec_module(module)  # the handler runs in the main thread anyway
            return
        with held():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _HeldImports(importlib.abc.MetaPathFinder):
    """Finds `NATIVE_PACKAGES` as the path finder does, with loaders that hold signals."""

    def find_spec(self, name: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in NATIVE_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _HeldLoader(spec.loader)
        return spec


_HELD_IMPORTS = _HeldImports()


def install() -> dict[int, Callable | int | None]:
    """Route the termination signals to `Interrupted`; returns the previous handlers.

    A signal the parent set to be ignored stays ignored: `nohup` ignores SIGHUP, and a shell
    without job control ignores SIGINT in background jobs."""
    _received.clear()
    _kept.clear()
    sys.unraisablehook = _unraisable
    _installed[0] = True
    if _HELD_IMPORTS not in sys.meta_path:
        sys.meta_path.insert(0, _HELD_IMPORTS)
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
    if _HELD_IMPORTS in sys.meta_path:
        sys.meta_path.remove(_HELD_IMPORTS)
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
