"""A worker's room for connections under its limit of open files, and making room when it runs out.

Every connection costs the worker a descriptor, and one more while the supervisor guards it
(custody.py). Connections that never send a request (17,000 of them, or 800 under a limit of
1024) would otherwise fill the table: from then on every new client is reset by the kernel, and
nothing says why. So a worker keeps a budget of connections, below its limit by a reserve for
everything else (run() opening files, the log, the event loop); past the budget it ends the
connections that have not sent a whole request head, oldest first, and says so once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Protocol

from scoreserver.platform import files_limit

__all__ = ["DescriptorBudget", "WaitingConnection", "guarded_per_worker", "open_descriptors"]

logger = logging.getLogger("azmlinfsrv")

MIN_CONNECTIONS = 16
"""The budget never goes below this, however little room the limit leaves."""


class WaitingConnection(Protocol):
    """What the budget needs of a connection."""

    opened_at: float

    def waiting_for_first_head(self) -> bool:
        """Open, and no whole request head received yet."""

    def closing(self) -> bool:
        """Already being closed."""

    def give_up(self) -> None:
        """End the connection, telling the client why when it sent anything."""


def open_descriptors() -> int:
    """How many descriptors this process has open (0 where the system does not tell)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return max(0, len(os.listdir(folder)) - 1)  # the listing's own descriptor
        except OSError:
            continue
    return 0


def reserve(files_limit: int) -> int:
    """Descriptors kept out of every budget, for what is not a connection."""
    return max(64, files_limit // 16)


def guarded_per_worker(workers: int, most: int) -> int:
    """How many connections of each worker the supervisor can hold a copy of (at most `most`).

    The supervisor holds a copy of every guarded connection of every worker: its own limit,
    less a reserve for starting workers and the rest, is shared among them.
    """
    limit = files_limit()
    if limit is None:
        return most
    room = (limit - open_descriptors() - reserve(limit)) // workers
    return max(MIN_CONNECTIONS, min(most, room))


class DescriptorBudget:
    """How many connections this worker keeps open; past that, the oldest waiting ones go."""

    def __init__(self, connections: int, files_limit: int) -> None:
        self.connections = max(connections, MIN_CONNECTIONS)
        self.files_limit = files_limit
        self._batch = max(1, self.connections // 32)
        """Ended beyond the excess, so that room is not made again at every new connection."""
        self._short = False
        """In an episode of running short: warned once, until connections are down again."""

    @classmethod
    def measure(cls, guarded: int) -> DescriptorBudget | None:
        """The budget of this process, whose first `guarded` connections cost two descriptors."""
        soft = files_limit()
        if soft is None:
            return None
        available = soft - open_descriptors() - reserve(soft)
        return cls(available - min(guarded, (available + 1) // 2), soft)

    def admit(
        self, newcomer: WaitingConnection, connections: Collection[WaitingConnection]
    ) -> None:
        """A connection was made: past the budget, end the oldest that owe a head to make room."""
        if len(connections) <= self.connections:
            if self._short and len(connections) < self.connections * 3 // 4:
                self._short = False
                logger.info("Open connections are back under %s.", self.connections * 3 // 4)
            return
        live = [c for c in connections if not c.closing()]
        excess = len(live) - self.connections
        if excess > 0:
            self._make_room(newcomer, live, excess + self._batch)

    def out_of_files(self, connections: Collection[WaitingConnection], exc: OSError) -> int:
        """Accepting failed for want of descriptors: make room all the same; how many ended."""
        live = [c for c in connections if not c.closing()]
        return self._make_room(None, live, self._batch, exc)

    def _make_room(
        self,
        newcomer: WaitingConnection | None,
        live: list[WaitingConnection],
        count: int,
        exc: OSError | None = None,
    ) -> int:
        waiting = [c for c in live if c is not newcomer and c.waiting_for_first_head()]
        waiting.sort(key=lambda c: c.opened_at)
        ending = waiting[:count]
        for connection in ending:
            connection.give_up()
        if not self._short:
            self._short = True
            self._warn(len(live), exc)
        return len(ending)

    def _warn(self, open_connections: int, exc: OSError | None) -> None:
        reason = f" ({exc.strerror})" if exc is not None else ""
        logger.warning(
            "This worker is running out of open files%s: %s connections open, room for %s "
            "under its limit of %s. Closing the connections that have not sent a whole request "
            "head, oldest first, to make room for new clients.",
            reason,
            open_connections,
            self.connections,
            self.files_limit,
        )
