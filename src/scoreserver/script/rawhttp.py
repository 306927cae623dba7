"""The @rawhttp decorator and its check, kept apart from werkzeug so that loading it costs nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["RAWHTTP_MARK", "is_rawhttp", "rawhttp"]

RAWHTTP_MARK = "__scoreserver_rawhttp__"

F = TypeVar("F", bound=Callable[..., Any])


def rawhttp(func: F) -> F:
    """Mark run() to receive the whole HTTP request instead of the decoded body."""
    # The function itself carries the mark; nothing process-wide changes.
    setattr(func, RAWHTTP_MARK, True)
    return func


def is_rawhttp(func: object) -> bool:
    """Whether run() (or anything it wraps) was marked with @rawhttp."""
    seen: set[int] = set()
    current: object | None = func
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, RAWHTTP_MARK, False) is True:
            return True
        current = getattr(current, "__wrapped__", None)
    return False
