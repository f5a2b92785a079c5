"""How a long pipeline task says what it does, without knowing about terminals."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


class Reporter(Protocol):
    """Where a long task says what it does: status lines and a progress counter."""

    def say(self, message: str) -> None: ...

    def progress(self, description: str,
                 total: int) -> AbstractContextManager[Callable[[int], None]]: ...
