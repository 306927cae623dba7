"""listener: the availability flag a worker publishes for the others."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing

from scoreserver.listener import Availability
from scoreserver.types import Receive, Scope, Send


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    """An application that answers at once."""


def _serve_one(availability: Availability) -> None:
    asyncio.run(availability({"type": "http"}, _answer, _answer))  # type: ignore[arg-type]


def test_a_worker_with_room_says_so_after_a_request() -> None:
    flags = multiprocessing.get_context("fork").RawArray(ctypes.c_byte, [1, 1])
    availability = Availability(_answer, flags, slot=0, limit=1)
    _serve_one(availability)
    assert list(flags) == [0, 1]
    assert availability.others_have_room() is False


def test_a_stopping_worker_stays_full_when_its_last_requests_finish() -> None:
    flags = multiprocessing.get_context("fork").RawArray(ctypes.c_byte, [1, 0])
    availability = Availability(_answer, flags, slot=0, limit=1)
    availability.stopping = True
    _serve_one(availability)
    assert list(flags) == [1, 0]
