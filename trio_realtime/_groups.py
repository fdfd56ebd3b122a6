"""Turning the exception groups of our internal nurseries back into one exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import trio

__all__ = ["one_exception", "reraise", "single_exception"]


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception `group` stands for, or `None` when it holds several real errors.

    `trio.Cancelled` leaves are ignored when a real error is present; a group
    of nothing but cancellations stands for its first one.
    """
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    real = [exc for exc in leaves if not isinstance(exc, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real and leaves:
        return leaves[0]
    return None


def reraise(exc: BaseException) -> NoReturn:
    """Raise `exc` again without making the group it came from its context."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@contextmanager
def one_exception() -> Iterator[None]:
    """Around a nursery: a group that stands for one exception leaves as that exception.

    A group of several real errors leaves unchanged.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = single_exception(group)
        if leaf is None:
            raise
        reraise(leaf)
