"""Accepting connections so that, with several workers, an idle worker gets the next one.

All workers wait on the same listening socket and the kernel wakes any of them. A worker whose
run() slots are all taken would still accept, and queue the new request behind the running one
while another worker idles. So each worker publishes whether it is saturated in memory shared
with the others, and accepts by itself instead of through uvicorn's listener: a saturated worker
leaves new connections to the others while any of them has room, and accepts as usual once all
are busy (so that nothing, the liveness probe included, waits for a free worker).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import uvicorn

from scoreserver.http.http_protocol import accepted_protocol
from scoreserver.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from scoreserver.processes.descriptors import DescriptorBudget, WaitingConnection

__all__ = ["AnnouncingServer", "Availability", "PoliteServer"]

logger = logging.getLogger("azmlinfsrv")

FRESH_CONNECTION_S = 1.0
"""How long an accepted connection counts as a request before its first request arrives."""

MAX_HOLD_BACK_S = 1.0
"""The longest a saturated worker leaves connections to others that say they have room."""

ACCEPT_RETRY_S = 0.01
"""How soon accepting is tried again after room was made (closing takes a loop pass)."""

ACCEPT_BACKOFF_S = 0.1
"""How soon accepting is tried again after it failed and no room could be made."""

_POLL_S = 0.001


class Availability:
    """The application, wrapped to count open requests and publish whether this worker is full.

    `flags` is shared by all workers, one byte each: 1 when that worker cannot take another
    request without queueing it (or is not serving yet), 0 when it has room. A connection this
    worker accepted counts as a request from the start, before its first request has arrived.
    """

    def __init__(self, app: ASGIApp, flags: ctypes.Array[ctypes.c_byte], slot: int, limit: float):
        self.app = app
        self.flags = flags
        self.slot = slot
        self.limit = limit
        self.open = 0
        self.stopping = False
        """The worker no longer accepts: it says it is full whatever it still finishes."""
        self._fresh: dict[object, float] = {}
        """Connections accepted whose first request has not arrived yet, by peer address."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request while it is open, then serve it."""
        client = scope.get("client")
        if client is not None:
            self._fresh.pop(tuple(client[:2]), None)
        self.open += 1
        self._publish()
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self._publish()

    def accepted(self, peer: tuple[object, ...]) -> None:
        """A connection was accepted; its request will count from now."""
        # Keyed by (host, port), as the ASGI scope names the client (IPv6 adds more fields).
        self._fresh[tuple(peer[:2])] = time.monotonic()
        self._publish()

    @property
    def full(self) -> bool:
        """This worker would have to queue a new request."""
        if self._fresh:
            # A connection that never sends a request must not keep the worker "full".
            horizon = time.monotonic() - FRESH_CONNECTION_S
            for peer in [p for p, at in self._fresh.items() if at < horizon]:
                del self._fresh[peer]
        return self.open + len(self._fresh) >= self.limit

    def others_have_room(self) -> bool:
        """Some other worker says it can take a request right away."""
        return any(not flag for i, flag in enumerate(self.flags) if i != self.slot)

    def _publish(self) -> None:
        # A stopping worker (a reload drains it while others serve) must not read as having
        # room when its last requests finish, or busy workers would wait for it in vain.
        self.flags[self.slot] = self.stopping or self.full


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling `on_started` once it accepts connections.

    A worker that says it is ready before then would let a client, or another worker leaving
    connections to it, count on a listener that does not accept yet. Connections accepted for
    it while its init() ran (`kept`, see starting_probes.py) are served from then on too.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        kept: Sequence[socket.socket] = (),
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._kept = list(kept)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, take over the kept connections, then announce it."""
        await self._listen(sockets)
        if self.started:
            await self._adopt()
            self._on_started()
        else:
            for connection in self._kept:
                connection.close()

    async def _listen(self, sockets: list[socket.socket] | None) -> None:
        await super().startup(sockets=sockets)

    async def _adopt(self) -> None:
        loop = asyncio.get_running_loop()
        kept, self._kept = self._kept, []
        for connection in kept:
            try:
                self._adopting(connection)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.connect_accepted_socket(self._protocol, connection)
            except OSError:  # the client has gone meanwhile
                connection.close()

    def _adopting(self, connection: socket.socket) -> None:
        """A connection accepted for this server is about to be served."""

    def _protocol(self) -> asyncio.Protocol:
        return accepted_protocol(self.config, self.server_state, self.lifespan.state)


class PoliteServer(AnnouncingServer):
    """uvicorn's server, accepting only when no other worker is better placed to."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        sockets: list[socket.socket],
        availability: Availability,
        budget: DescriptorBudget | None = None,
        kept: Sequence[socket.socket] = (),
    ) -> None:
        super().__init__(config, on_started, kept)
        self._listening = sockets
        self._availability = availability
        self._budget = budget
        self._failing = False
        self._accepting: list[asyncio.Task[None]] = []
        self._stopping = False
        self._wakers: set[asyncio.Future[None]] = set()

    async def _listen(self, sockets: list[socket.socket] | None) -> None:
        """Start uvicorn without listeners of its own, then accept on the shared sockets."""
        await super()._listen([])
        self._accepting = [asyncio.create_task(self._accept(sock)) for sock in self._listening]
        self._availability.flags[self._availability.slot] = False

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting first, then let uvicorn drain the connections it has."""
        self._availability.stopping = True
        self._availability.flags[self._availability.slot] = True
        # Not cancelled: a task cancelled just after accept() took a connection would drop it
        # (reset or left hanging) while the port stays open to others (a reload, other workers).
        # Each accept loop finishes handing over what it took, then ends; uvicorn's shutdown
        # then finds every connection taken, and drains it.
        self._stopping = True
        for waker in self._wakers:
            if not waker.done():
                waker.set_result(None)
        await asyncio.gather(*self._accepting)
        await super().shutdown(sockets=self._listening)

    def _adopting(self, connection: socket.socket) -> None:
        self._availability.accepted(connection.getpeername())

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        listening.setblocking(False)
        while True:
            await self._hold_back()
            if self._stopping:
                return
            try:
                connection, peer = listening.accept()
            except (BlockingIOError, InterruptedError):
                # Nothing waiting (or another worker took it): wait until something is.
                await self._readable(loop, listening)
                continue
            except OSError as exc:  # out of file descriptors, and the like: retry shortly
                room_made = self._accept_failed(exc)
                await asyncio.sleep(ACCEPT_RETRY_S if room_made else ACCEPT_BACKOFF_S)
                continue
            self._failing = False
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._availability.accepted(peer)
            await loop.connect_accepted_socket(self._protocol, connection)

    async def _readable(self, loop: asyncio.AbstractEventLoop, listening: socket.socket) -> None:
        """Wait until a connection may be waiting on `listening`, or the worker stops."""
        waker: asyncio.Future[None] = loop.create_future()
        self._wakers.add(waker)
        fd = listening.fileno()
        loop.add_reader(fd, _wake, waker)
        try:
            await waker
        finally:
            loop.remove_reader(fd)
            self._wakers.discard(waker)

    def _accept_failed(self, exc: OSError) -> bool:
        """Make room when out of descriptors, saying so once, not at every retry; True if made."""
        if exc.errno in (errno.EMFILE, errno.ENFILE) and self._budget is not None:
            connections = cast("set[WaitingConnection]", self.server_state.connections)
            return self._budget.out_of_files(connections, exc) > 0
        if not self._failing:
            self._failing = True
            logger.warning("Cannot accept a connection: %s", exc)
        return False

    async def _hold_back(self) -> None:
        availability = self._availability
        waited = 0.0
        while (
            availability.full
            and availability.others_have_room()
            and waited < MAX_HOLD_BACK_S
            and not self._stopping
        ):
            await asyncio.sleep(_POLL_S)
            waited += _POLL_S


def _wake(waker: asyncio.Future[None]) -> None:
    """The listening socket is readable: wake its accept loop (once)."""
    if not waker.done():
        waker.set_result(None)
