"""Progress on stderr: a live bar on a terminal, plain lines every few seconds otherwise
(log files, cron mail, SLURM output), nothing with --quiet."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

INTERVAL_VARIABLE = "PHISM_PROGRESS_SECONDS"
DEFAULT_INTERVAL_S = 5.0


class ProgressLike(Protocol):
    def add_task(self, description: str, total: float | None = ...) -> Any: ...
    def advance(self, task: Any, advance: float = ...) -> None: ...
    def update(self, task: Any, **kwargs: Any) -> None: ...


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)


class LineProgress:
    """The subset of rich's `Progress` phism uses, printed as a line every `interval_s`."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.tasks: list[_Task] = []

    def add_task(self, description: str, total: float | None = None) -> int:
        self.tasks.append(_Task(description, total))
        return len(self.tasks) - 1

    def advance(self, task: int, advance: float = 1) -> None:
        self.tasks[task].completed += advance
        self._maybe_print(self.tasks[task])

    def update(self, task: int, completed: float | None = None,
               description: str | None = None, **_: Any) -> None:
        state = self.tasks[task]
        if completed is not None:
            state.completed = completed
        if description is not None:
            state.description = description
        self._maybe_print(state)

    def _maybe_print(self, task: _Task) -> None:
        now = time.monotonic()
        if now - task.last_line < self.interval_s:
            return
        task.last_line = now
        elapsed = now - task.started
        line = f"phism: {task.description}: {task.completed:,.0f}"
        if task.total:
            fraction = min(task.completed / task.total, 1.0)
            line += f" of {task.total:,.0f} ({100 * fraction:.0f} %)"
            if 0 < fraction < 1:
                line += f", about {elapsed * (1 - fraction) / fraction:.0f} s left"
        line += f", {elapsed:.0f} s elapsed"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _Silent:
    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        pass

    def update(self, task: int, **_: Any) -> None:
        pass


def _interval_s() -> float:
    try:
        value = float(os.environ.get(INTERVAL_VARIABLE, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value >= 0 else DEFAULT_INTERVAL_S


@contextmanager
def progress_bar(quiet: bool) -> Iterator[ProgressLike]:
    if quiet:
        yield _Silent()
        return
    if not sys.stderr.isatty():
        yield LineProgress(_interval_s())
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
        transient=True,
    )
    with progress:
        yield progress
