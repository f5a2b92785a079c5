"""How a long pipeline task says what it does, without knowing about terminals, and how it
opens its outputs, without knowing the command's overwrite and message settings."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from phism_cli.io.outputs import OutputSet

# inputs (never to be overwritten) -> the command's outputs, committed together
OpenOutputs = Callable[[list[Path]], OutputSet]


class Reporter(Protocol):
    """Where a long task says what it does: status lines and a progress counter."""

    def say(self, message: str) -> None: ...

    def progress(self, description: str,
                 total: int) -> AbstractContextManager[Callable[[int], None]]: ...
