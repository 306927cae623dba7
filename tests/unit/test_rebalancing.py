"""Rebalancing: a worker clearly above its share of clients asks some of them to reconnect."""

from __future__ import annotations

import ctypes

from scoreserver.processes.messages import NOT_SERVING
from scoreserver.processes.rebalancing import Rebalancer


class Connection:
    """A connection as the rebalancer sees it."""

    def __init__(self, requests: bool = True, waiting: bool = True) -> None:
        self.requests = requests
        self.waiting = waiting
        self.told_to_close = False

    def has_requests(self) -> bool:
        return self.requests

    def close_after_response(self) -> bool:
        if not self.requests or not self.waiting or self.told_to_close:
            return False
        self.told_to_close = True
        return True


def loads(*values: int) -> ctypes.Array[ctypes.c_int]:
    return (ctypes.c_int * len(values))(*values)


def test_a_worker_with_all_the_clients_sheds_part_of_its_excess() -> None:
    connections = [Connection() for _ in range(8)]
    shared = loads(0, 0)
    shed = Rebalancer(shared, 0, connections).check()
    assert shared[0] == 8  # published for the others
    assert shed == 2  # half of the excess over its share of 4: the rest after another look
    assert sum(c.told_to_close for c in connections) == 2


def test_near_its_share_a_worker_keeps_its_clients() -> None:
    connections = [Connection() for _ in range(5)]
    assert Rebalancer(loads(0, 3), 0, connections).check() == 0
    assert not any(c.told_to_close for c in connections)


def test_a_worker_not_serving_has_no_share() -> None:
    connections = [Connection() for _ in range(8)]
    assert Rebalancer(loads(0, NOT_SERVING), 0, connections).check() == 0


def test_connections_without_requests_are_no_load_and_busy_answers_are_not_cut() -> None:
    idle = [Connection(requests=False) for _ in range(100)]
    answering = [Connection(waiting=False) for _ in range(6)]
    waiting = [Connection() for _ in range(2)]
    shed = Rebalancer(loads(0, 0), 0, idle + answering + waiting).check()
    assert shed == 2
    assert all(c.told_to_close for c in waiting)
    assert not any(c.told_to_close for c in idle + answering)
