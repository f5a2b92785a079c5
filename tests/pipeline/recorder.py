"""A `pipeline.reporter.Reporter` that keeps what it is told, for library-call tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.advanced: dict[str, int] = {}

    def say(self, message: str) -> None:
        self.lines.append(message)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        self.advanced.setdefault(description, 0)

        def advance(n: int) -> None:
            self.advanced[description] += n
        yield advance
