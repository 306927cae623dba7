"""Answering the requests of a worker that dies: the supervisor keeps a copy of every connection.

A worker killed in the middle of run() (a segfault, os._exit, the out-of-memory killer, or the
supervisor because its event loop stopped) takes its sockets with it, and its clients would see
a reset. So every worker hands the supervisor a duplicate of each connection it accepts, and
marks in memory shared with the supervisor which of them wait for run() to answer. When a worker
dies, the supervisor answers those with a JSON 500 and closes the rest:

    worker                                         supervisor
    connections made  ── slots + the sockets, ──►  Custodian keeps the copies
                         once per loop pass
    scoring starts       marks: slot waits, with its request's id headers
    response ready       marks: slot answered
    connection lost      shuts the socket down ──►  sweep(): lets go of copies that are shut
                                                    worker died: answer_orphans()

A socket is only closed for the peer when its last copy is closed, so the worker shuts each
connection down itself when it is done with it: the client sees the end at once, whatever copy
the supervisor still holds, and the supervisor lets go of such copies at its own pace. Reports
that find the channel full are dropped: those connections are served, just not guarded.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from scoreserver.errors import WorkerDiedError
from scoreserver.platform import hung_up, receive_waiting
from scoreserver.processes.custody_channels import BATCH, CustodyChannel
from scoreserver.processes.raw_responses import (
    ERROR_KEY_PSEUDO_HEADER,
    RUN_FAILED_HEADER,
    json_error_bytes,
)

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from multiprocessing.context import BaseContext


class SocketLike(Protocol):
    """What the reporter needs of a connection's socket (uvloop hands out a stand-in)."""

    family: int
    type: int

    def fileno(self) -> int:
        """The descriptor."""


__all__ = [
    "ID_SPACE",
    "MAX_GUARDED_CONNECTIONS",
    "ConnectionReporter",
    "Custodian",
    "ScoringMarks",
    "SocketLike",
    "orphan_response",
]

logger = logging.getLogger("azmlinfsrv")

MAX_GUARDED_CONNECTIONS = 4096
"""Connections per worker the supervisor keeps a copy of; any beyond are not guarded."""


ID_SPACE = 384
"""Bytes of shared memory per connection for the id headers of its request: the three ids, of at
most 100 characters each, always fit; a TraceId when there is room left."""

IdHeaders = list[tuple[bytes, bytes]]
"""A request's id headers (x-request-id, ...), names and values as sent."""


def orphan_response(
    exit_code: int | None, server_version: str | None, ids: Sequence[tuple[bytes, bytes]] = ()
) -> bytes:
    """The whole HTTP response a request left behind by a dead worker gets, with its ids (and
    its route's CORS headers), in its route's error format."""
    how = f"exit code {exit_code}"
    if exit_code is not None and exit_code < 0:
        with contextlib.suppress(ValueError):
            how = f"killed by {signal.Signals(-exit_code).name}"
    error = WorkerDiedError(how)
    headers = [(RUN_FAILED_HEADER.encode(), b"True")]
    if server_version is not None:
        headers.append((b"x-ms-server-version", server_version.encode()))
    key = "message"
    for name, value in ids:
        if name == ERROR_KEY_PSEUDO_HEADER:
            key = value.decode("latin-1")
        else:
            headers.append((name, value))
    return json_error_bytes(error.status_code, error.message, headers, key)


class ScoringMarks:
    """Memory the worker shares with its supervisor: which connections wait for run(), and the
    id headers of each one's request, so that a dead worker's clients get their ids back too."""

    def __init__(
        self, flags: ctypes.Array[ctypes.c_byte], ids: ctypes.Array[ctypes.c_char]
    ) -> None:
        self.flags = flags
        self.ids = ids
        self._view: memoryview | None = None
        """A byte view of ids, made where marks are written (the worker), never pickled."""

    @classmethod
    def shared(cls, context: BaseContext, slots: int) -> ScoringMarks:
        """Marks for this many connections, in memory a worker started from context shares."""
        flags = context.RawArray(ctypes.c_byte, slots)
        ids = context.RawArray(ctypes.c_char, slots * ID_SPACE)
        return cls(flags, ids)

    def __len__(self) -> int:
        return len(self.flags)

    def mark(self, slot: int, ids: IdHeaders) -> None:
        """The connection's request waits for run(); these are its id headers."""
        lines = [b"%s: %s" % pair for pair in ids]
        block = b"\r\n".join(lines)
        while len(block) > ID_SPACE - 2:
            lines.pop()
            block = b"\r\n".join(lines)
        if self._view is None:
            self._view = memoryview(self.ids).cast("B")
        start = slot * ID_SPACE
        self._view[start : start + 2 + len(block)] = len(block).to_bytes(2, "little") + block
        self.flags[slot] = 1

    def clear(self, slot: int) -> None:
        """The connection's request has its answer (or the connection is gone)."""
        self.flags[slot] = 0

    def waiting(self, slot: int) -> bool:
        """Whether the connection's request waits for run()."""
        return bool(self.flags[slot])

    def ids_of(self, slot: int) -> IdHeaders:
        """The id headers the connection's request was marked with."""
        at = ctypes.addressof(self.ids) + slot * ID_SPACE
        length = int.from_bytes(ctypes.string_at(at, 2), "little")
        block = ctypes.string_at(at + 2, length)
        pairs = (line.partition(b": ") for line in block.split(b"\r\n") if line)
        return [(name, value) for name, _, value in pairs]


class ConnectionReporter:
    """The worker's side: hands connections to the supervisor and marks those being scored."""

    def __init__(self, channel: CustodyChannel, marks: ScoringMarks) -> None:
        self._channel = channel
        self._marks = marks
        self._flags = marks.flags
        self._free = list(range(len(marks) - 1, -1, -1))
        self._slots: dict[object, int] = {}
        """Guarded connections by client address, as the protocol and the ASGI scope name them."""
        self._own: dict[int, socket.socket] = {}
        """This worker's own duplicate of each guarded connection, by slot: to shut it down."""
        self._unsent: list[int] = []
        self._broken = False

    def opened(self, client: object, sock: SocketLike) -> None:
        """A connection was accepted: its copy goes to the supervisor at the end of this pass."""
        if self._broken or not self._free or client is None:
            return
        try:
            own = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return
        slot = self._free.pop()
        self._slots[client] = slot
        self._own[slot] = own
        self._unsent.append(slot)
        if len(self._unsent) == 1:
            # Connections accepted in one pass of the event loop are handed over together.
            _running_loop().call_soon(self._hand_over)

    def closed(self, client: object) -> None:
        """A connection is gone: end it for the client too, whatever copies the supervisor holds."""
        slot = self._slots.pop(client, None)
        if slot is None:
            return
        self._marks.clear(slot)
        self._free.append(slot)
        own = self._own.pop(slot)
        # Everything written is in the kernel by now (the transport flushed before it closed),
        # so the end of the stream goes out after it.
        with contextlib.suppress(OSError):
            own.shutdown(socket.SHUT_RDWR)
        own.close()

    def scoring(self, client: object, ids: Callable[[], IdHeaders]) -> int:
        """Mark the connection as waiting for run() (ids() gives its request's id headers); the
        slot to unmark, or -1 if unguarded."""
        slot = self._slots.get(client, -1)
        if slot >= 0:
            self._marks.mark(slot, ids())
        return slot

    def answered(self, slot: int) -> None:
        """The connection has its answer: a dead worker no longer leaves it waiting."""
        if slot >= 0:
            self._flags[slot] = 0  # marks.clear(slot), without a call on every request

    def _hand_over(self) -> None:
        # Connections that closed in the same pass are gone from _own; their slots may already
        # be reused by newer ones, which are handed over under that slot in their place.
        slots = list(dict.fromkeys(s for s in self._unsent if s in self._own))
        self._unsent.clear()
        for first in range(0, len(slots), BATCH):
            batch = slots[first : first + BATCH]
            fds = [self._own[slot].fileno() for slot in batch]
            try:
                self._channel.send(batch, fds)
            except BlockingIOError:
                continue  # the supervisor is behind: these are served unguarded
            except OSError as exc:
                # The supervisor closed its end: it is stopping and needs no more copies.
                self._broken = True
                logger.debug("Connection custody ended: %s", exc)
                return


class Custodian:
    """The supervisor's side for one worker: the copies of its connections (if it can have any)."""

    def __init__(self, channel: CustodyChannel | None, marks: ScoringMarks) -> None:
        self._channel = channel
        self._marks = marks
        self._copies: dict[int, int] = {}
        """File descriptors of the copies, by slot."""

    def fileno(self) -> int:
        """The channel, for waiting on it alongside the workers' other pipes."""
        return self._channel.fileno() if self._channel is not None else -1

    def waitables(self) -> list[Custodian]:
        """This custodian, while its channel is open (none where there is no custody)."""
        return [self] if self.fileno() >= 0 else []

    def held(self) -> list[socket.socket | int]:
        """The channel and every copy (a newly forked worker must close them)."""
        if self._channel is None:
            return []
        return [self._channel.sock, *self._copies.values()]

    def receive(self) -> None:
        """Take every copy waiting on the channel."""
        while self._channel is not None:
            batch = self._channel.receive()
            if batch is None:  # nothing more waiting, or the channel is gone
                return
            slots, fds = batch
            for slot in slots:
                # A slot reported again belongs to a newer connection; the older one is over.
                self._drop(slot)
            # Descriptors the supervisor had no room for (too many open files) do not arrive:
            # those connections are not guarded.
            self._copies.update(zip(slots, fds))

    def sweep(self) -> None:
        """Let go of the copies of connections the worker has ended."""
        if not self._copies:
            return
        ended = hung_up(self._copies.values())
        for slot, fd in list(self._copies.items()):
            if fd in ended:
                del self._copies[slot]
                os.close(fd)

    def answer_orphans(self, response: Callable[[IdHeaders], bytes]) -> int:
        """Answer the connections waiting for the dead worker's run() with response(their ids);
        close every copy."""
        self.receive()
        answered = 0
        for slot, fd in self._copies.items():
            if self._marks.waiting(slot):
                with contextlib.suppress(OSError):
                    os.write(fd, response(self._marks.ids_of(slot)))
                    answered += 1
            _close_for_peer(fd)
        self._copies.clear()
        return answered

    def close(self) -> None:
        """Drop every copy and the channel (the worker's connections stay open in the worker)."""
        for fd in self._copies.values():
            os.close(fd)
        self._copies.clear()
        if self._channel is not None:
            self._channel.close()

    def _drop(self, slot: int) -> None:
        fd = self._copies.pop(slot, None)
        if fd is not None:
            os.close(fd)


def _running_loop() -> AbstractEventLoop:
    """The worker's event loop."""
    # Imported here: the supervisor imports this module too, and asyncio would cost it time
    # and memory at every start for nothing.
    import asyncio

    return asyncio.get_running_loop()


def _close_for_peer(fd: int) -> None:
    """Send what was written, then the end of the stream, and let go of the socket."""
    with socket.socket(fileno=fd) as sock:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        # Unread input at close would turn the end into a reset, discarding the answer.
        with contextlib.suppress(OSError):
            while receive_waiting(sock, 65536):
                pass
