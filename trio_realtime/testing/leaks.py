"""Detect tasks left running after a block: a reusable leak check for tests.

A Trio library that owns background tasks (a reader, a keepalive, a writer)
must not leave any of them behind when its context manager exits. This module
gives tests a way to assert that, with a `trio.abc.Instrument` that watches
tasks being spawned and exiting::

    from trio_realtime.testing.leaks import no_leaked_tasks

    async def test_connection_leaves_nothing_behind():
        with no_leaked_tasks() as tracker:
            async with open_connection(url) as conn:
                await conn.send("hi")
        # leaving the `with` raised AssertionError if a task spawned inside
        # the block (by the library, below this task) was still running.
        assert tracker.spawned  # the names of every task that was watched

Which tasks are watched: those spawned while the block runs into a nursery
that was opened *inside* the block by the task that entered it, and every
descendant of those. Tasks spawned into nurseries that already existed when
the block began (a test server started before it, say) are not the block's
business and are ignored, even when they were spawned because of something the
block did (such as a server handler for the connection the block opened).

Enter the block in the task whose work should be checked: the test function
itself, not a fixture (pytest-trio runs each fixture in a task of its own, so
a fixture's block would not see the test's nurseries).

The check is synchronous and cheap: one dictionary insertion per task spawned
while the instrument is installed. The instrument is removed when the block
exits, so it never outlives the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio
import trio.lowlevel

__all__ = ["LeakedTasksError", "TaskTracker", "no_leaked_tasks"]


class LeakedTasksError(AssertionError):
    """Tasks spawned inside a watched block were still running when it ended.

    Attributes:
        tasks: the names of the tasks still running.
    """

    def __init__(self, tasks: list[str]) -> None:
        super().__init__(
            f"{len(tasks)} task(s) spawned inside the block are still running after it: "
            + ", ".join(tasks)
        )
        self.tasks = tasks


class TaskTracker(trio.abc.Instrument):
    """A Trio instrument recording the tasks spawned below one task.

    Most tests want `no_leaked_tasks`, which installs a tracker for the length of
    a `with` block. Use the class directly to install it by hand with
    `trio.lowlevel.add_instrument` (call `start` first, from the task whose
    descendants should be watched).

    Attributes:
        spawned: names of every watched task, in spawn order.
        exited: names of the watched tasks that have exited, in exit order.
    """

    def __init__(self) -> None:
        self.spawned: list[str] = []
        self.exited: list[str] = []
        self._root: trio.lowlevel.Task | None = None
        self._preexisting: frozenset[trio.Nursery] = frozenset()
        self._live: dict[trio.lowlevel.Task, str] = {}

    def start(self) -> None:
        """Watch descendants of the current task from now on.

        Nurseries the current task already has open are remembered and their
        new children ignored.
        """
        self._root = trio.lowlevel.current_task()
        self._preexisting = frozenset(self._root.child_nurseries)

    def _watched(self, task: trio.lowlevel.Task) -> bool:
        nursery = task.parent_nursery
        while nursery is not None:
            owner = nursery.parent_task
            if owner is self._root:
                return nursery not in self._preexisting
            if owner in self._live:
                return True
            nursery = owner.parent_nursery
        return False

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        """Record `task` if it descends from the watched task (Instrument hook)."""
        if self._root is not None and self._watched(task):
            self._live[task] = task.name
            self.spawned.append(task.name)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        """Forget `task` once it has exited (Instrument hook)."""
        name = self._live.pop(task, None)
        if name is not None:
            self.exited.append(name)

    @property
    def running(self) -> list[str]:
        """Names of the watched tasks that have not exited yet."""
        return list(self._live.values())

    def check(self) -> None:
        """Raise `LeakedTasksError` if a watched task is still running."""
        if self._live:
            raise LeakedTasksError(self.running)


@contextmanager
def no_leaked_tasks() -> Iterator[TaskTracker]:
    """Fail if a task spawned inside the block outlives it.

    Must be entered from inside a Trio run. On a normal exit, raises
    `LeakedTasksError` (an `AssertionError`) naming every task still running;
    when the block raised, that exception propagates and the check is skipped
    (a leak is then the lesser problem).

    Yields:
        The `TaskTracker`, whose `spawned` list names each watched task.

    Raises:
        LeakedTasksError: a watched task was still running at the end.
    """
    tracker = TaskTracker()
    tracker.start()
    trio.lowlevel.add_instrument(tracker)
    try:
        yield tracker
    finally:
        try:
            trio.lowlevel.remove_instrument(tracker)
        except KeyError:  # pragma: no cover - removed by hand already
            pass
    tracker.check()
