"""Sharing keep-alive clients out again when one worker holds more than its share.

Keep-alive clients (every load balancer) stay on the worker they are connected to. When a worker
dies its clients reconnect to the workers left, and its replacement, once ready, gets none of
them: the server serves at the speed of one worker fewer for good. The same happens when one
worker starts accepting before the others. So each worker publishes how many of its connections
carry requests, in memory shared with the others, and a worker holding clearly more than its
share answers some requests with `Connection: close`: those clients open a new connection, and
a worker with room takes it (a busy worker leaves new connections to idle ones, listener.py).
Only requests still waiting for their response are marked, so no client loses a request.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
from collections.abc import Collection
from typing import Protocol

from scoreserver.processes.messages import NOT_SERVING

__all__ = ["Rebalancer", "SheddableConnection"]

CHECK_INTERVAL_S = 0.5
"""How often a worker compares its connections with the others'."""


class SheddableConnection(Protocol):
    """What the rebalancer needs of a connection."""

    def has_requests(self) -> bool:
        """The connection has sent a request (a connection that never does is no load)."""

    def close_after_response(self) -> bool:
        """Close after the response to the request in progress; False when there is none."""


class Rebalancer:
    """One worker's side: publish its load, and shed clients while it has more than its share."""

    def __init__(
        self,
        loads: ctypes.Array[ctypes.c_int],
        slot: int,
        connections: Collection[SheddableConnection],
    ) -> None:
        self.loads = loads
        self.slot = slot
        self.connections = connections

    async def run(self) -> None:
        """Check now and then, for as long as the worker serves."""
        while True:
            self.check()
            await asyncio.sleep(CHECK_INTERVAL_S)

    def check(self) -> int:
        """Publish this worker's load; shed part of any clear excess; return how many were shed."""
        own = sum(1 for connection in self.connections if connection.has_requests())
        self.loads[self.slot] = own
        serving = [load for load in self.loads if load != NOT_SERVING]
        share = sum(serving) / len(serving)
        excess = own - math.ceil(share)
        if excess < max(2.0, share / 4):
            return 0  # near enough: moving clients costs them a new connection
        # Half at a time: the clients shed come back somewhere, maybe here, before the next look.
        wanted = (excess + 1) // 2
        shed = 0
        for connection in list(self.connections):
            if shed >= wanted:
                break
            shed += connection.close_after_response()
        return shed
