"""Stages of a tile loop in threads of their own, results back in the calling thread in order.

`Overlapped(items, stage_1, stage_2, ...)` runs `stage_1` on each item in one background
thread, `stage_2` on its results in another, and so on, with at most `depth` results waiting
between two stages and at most `limit` items between the start of `stage_1` and the
caller taking the result (memory: each may hold a tile); iterating it yields the last
stage's results in the caller's thread, in the order of `items`. Each stage sees one item
at a time in one thread, so a stage that reads a file handle never runs concurrently with
itself. numpy, GDAL and torch release the GIL, so reading the next tile, encoding this one
and writing the last one overlap.

- An exception in a stage is raised in the caller's thread (the same object) when the
  iteration reaches the item that failed; the other stages stop.
- Leaving the `with` block early (an exception in the caller, `Interrupted` from a signal)
  tells the stages to stop and joins them before it returns: a stage stops at its next
  item, or sooner where it calls `check()` between pieces of work (`Stopped` is raised
  there). No thread outlives the block, so the caller may close the files the stages use.
- The background threads block SIGINT, SIGTERM and SIGHUP, so the kernel hands those to a
  thread that runs phism's handler (the main thread); the caller waits on its queue with a
  timeout, so a signal is handled within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from phism_cli.interrupts import HANDLED

POLL_SECONDS = 0.05

_DONE = object()


class Stopped(Exception):
    """Raised by `Overlapped.check()` inside a stage once the loop is being shut down."""


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Overlapped:
    """Run `stages` over `items` in background threads; iterate for the results in order."""

    def __init__(self, items: Iterable[Any], *stages: Callable[[Any], Any],
                 depth: int = 1, limit: int | None = None, name: str = "phism-stage") -> None:
        if not stages:
            raise ValueError("Overlapped needs at least one stage")
        self._stop = threading.Event()
        self._slots = None if limit is None else threading.Semaphore(max(1, limit))
        self._queues: list[queue.Queue] = [queue.Queue(maxsize=max(1, depth))
                                           for _ in stages]
        self._threads = []
        sources: list[Callable[[], Iterator[Any]]] = [lambda: self._admit(items)]
        sources += [self._drain(q) for q in self._queues[:-1]]
        for i, (stage, source, sink) in enumerate(zip(stages, sources, self._queues,
                                                      strict=True)):
            thread = threading.Thread(target=self._run, args=(stage, source, sink),
                                      name=f"{name}-{i + 1}", daemon=True)
            self._threads.append(thread)
        self._started = False

    # -- in the stages' threads -----------------------------------------------------------
    def check(self) -> None:
        """Raise `Stopped` if the loop is shutting down (call it between pieces of work)."""
        if self._stop.is_set():
            raise Stopped

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _put(self, sink: queue.Queue, value: Any) -> None:
        while True:
            self.check()
            try:
                sink.put(value, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _get(self, source: queue.Queue) -> Any:
        while True:
            self.check()
            try:
                return source.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue

    def _admit(self, items: Iterable[Any]) -> Iterator[Any]:
        """`items`, each once a slot is free (with `limit`)."""
        for item in items:
            while self._slots is not None and \
                    not self._slots.acquire(timeout=POLL_SECONDS):
                self.check()
            yield item

    def _drain(self, source: queue.Queue) -> Callable[[], Iterator[Any]]:
        def items() -> Iterator[Any]:
            while True:
                value = self._get(source)
                if value is _DONE:
                    return
                if isinstance(value, _Failure):
                    raise Stopped(value)  # passed on below, not raised again
                yield value
        return items

    def _run(self, stage: Callable[[Any], Any], source: Callable[[], Iterator[Any]],
             sink: queue.Queue) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            for item in source():
                self.check()
                self._put(sink, stage(item))
            self._put(sink, _DONE)
        except Stopped as stopped:
            failure = stopped.args[0] if stopped.args else None
            if failure is not None:  # an earlier stage failed: pass its error on
                with contextlib.suppress(Stopped):
                    self._put(sink, failure)
        except BaseException as error:  # every error goes on to the caller
            with contextlib.suppress(Stopped):
                self._put(sink, _Failure(error))

    # -- in the caller's thread -----------------------------------------------------------
    def __enter__(self) -> Overlapped:
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def __iter__(self) -> Iterator[Any]:
        if not self._started:
            raise RuntimeError("use Overlapped in a with block")
        last = self._queues[-1]
        while True:
            try:
                value = last.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not any(t.is_alive() for t in self._threads) and last.empty():
                    raise RuntimeError("a stage thread ended without a result") from None
                continue
            if value is _DONE:
                return
            if isinstance(value, _Failure):
                raise value.error
            if self._slots is not None:
                self._slots.release()
            yield value

    def close(self) -> None:
        """Stop the stages and wait for their threads (they stop at their next check)."""
        self._stop.set()
        for thread in self._threads:
            while thread.is_alive():
                thread.join(POLL_SECONDS)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
