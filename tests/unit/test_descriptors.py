"""The descriptor budget: the oldest connections that owe a head go first, with one warning."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from scoreserver.processes.descriptors import (
    DescriptorBudget,
    guarded_per_worker,
    open_descriptors,
    reserve,
)

if sys.platform != "win32":  # files limits are POSIX's
    import resource


class Connection:
    """A connection as the budget sees it."""

    def __init__(self, opened_at: float, waiting: bool = True) -> None:
        self.opened_at = opened_at
        self.waiting = waiting
        self.ended = False

    def waiting_for_first_head(self) -> bool:
        return self.waiting and not self.ended

    def closing(self) -> bool:
        return self.ended

    def give_up(self) -> None:
        self.ended = True


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_past_the_budget_the_oldest_waiting_connections_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = DescriptorBudget(connections=32, files_limit=1024)
    busy = [Connection(opened_at=i, waiting=False) for i in range(10)]
    waiting = [Connection(opened_at=100 + i) for i in range(22)]
    connections = busy + waiting
    newcomer = Connection(opened_at=1000)
    connections.append(newcomer)
    budget.admit(newcomer, connections)
    ended = [c for c in connections if c.ended]
    # The excess (1) and a batch (32 // 32) go, the oldest of those waiting for a head.
    assert ended == waiting[:2]
    assert not newcomer.ended
    assert not any(c.ended for c in busy)
    assert len(warnings(caplog)) == 1
    assert "1024" in warnings(caplog)[0]


def test_one_warning_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    budget = DescriptorBudget(connections=16, files_limit=100)
    connections = [Connection(opened_at=i) for i in range(40)]
    for newcomer in connections[20:]:
        budget.admit(newcomer, connections)
    assert len(warnings(caplog)) == 1
    # Back well under the budget ends the episode; running short again warns again.
    budget.admit(connections[0], connections[:2])
    budget.admit(connections[-1], [Connection(opened_at=i) for i in range(40)])
    assert len(warnings(caplog)) == 2


def test_under_the_budget_nothing_ends(caplog: pytest.LogCaptureFixture) -> None:
    budget = DescriptorBudget(connections=32, files_limit=1024)
    connections = [Connection(opened_at=i) for i in range(32)]
    budget.admit(connections[-1], connections)
    assert not any(c.ended for c in connections)
    assert warnings(caplog) == []


def test_accepting_out_of_files_makes_room_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    budget = DescriptorBudget(connections=64, files_limit=1024)
    connections = [Connection(opened_at=i) for i in range(10)]
    assert budget.out_of_files(connections, OSError(24, "Too many open files")) == 2
    assert [c.ended for c in connections[:3]] == [True, True, False]
    assert "Too many open files" in warnings(caplog)[0]


@pytest.fixture
def files_limit_1024() -> Iterator[int]:
    """This process's soft limit of open files lowered to 1024 for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    yield 1024
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.posix
def test_the_budget_fits_connections_and_their_guard_copies_under_the_limit(
    files_limit_1024: int,
) -> None:
    room = files_limit_1024 - open_descriptors() - reserve(files_limit_1024)
    all_guarded = DescriptorBudget.measure(guarded=4096)
    none_guarded = DescriptorBudget.measure(guarded=0)
    assert all_guarded is not None and none_guarded is not None
    assert 2 * all_guarded.connections <= room  # each costs its own and the guard's copy
    assert none_guarded.connections <= room
    assert none_guarded.connections > all_guarded.connections


@pytest.mark.posix
def test_the_supervisor_shares_its_files_out_among_the_workers(files_limit_1024: int) -> None:
    one, two = guarded_per_worker(1, 4096), guarded_per_worker(2, 4096)
    assert one + open_descriptors() + reserve(files_limit_1024) <= files_limit_1024
    assert two <= one // 2
    assert guarded_per_worker(1, 100) == 100
