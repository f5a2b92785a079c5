"""Words in messages: counts with the right plural."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 band`, `2 bands` (`nouns` for irregular plurals: `plural(n, "matrix", "matrices")`)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
