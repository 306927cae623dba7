"""Answering the requests of a worker that dies: the supervisor keeps a copy of every connection.

A worker killed in the middle of run() (a segfault, os._exit, the out-of-memory killer, or the
supervisor because its event loop stopped) takes its sockets with it, and its clients would see
a reset. So every worker hands the supervisor a duplicate of each connection it accepts, and
marks in memory shared with the supervisor which of them wait for run() to answer. When a worker
dies, the supervisor answers those with a JSON 500 and closes the rest:

    worker                                        supervisor
    connection made   ── OPEN slot + the socket ─►  Custodian keeps the duplicate
    scoring starts       marks[slot] = 1
    response ready       marks[slot] = 0
    connection lost   ── CLOSE slot ────────────►  Custodian closes its duplicate
                                                    worker died: answer_orphans()

While the supervisor holds a duplicate, a socket the worker closes is not closed for the peer, so
a CLOSE is never dropped: one that cannot be sent at once waits in a backlog until it can. An
OPEN that cannot be sent at once is skipped, and that connection is simply not guarded.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING

from scoreserver.errors import WorkerDiedError
from scoreserver.raw_responses import RUN_FAILED_HEADER, json_error_bytes

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

__all__ = [
    "MAX_GUARDED_CONNECTIONS",
    "ConnectionReporter",
    "Custodian",
    "custody_channel",
    "orphan_response",
]

logger = logging.getLogger("azmlinfsrv")

MAX_GUARDED_CONNECTIONS = 4096
"""Connections per worker the supervisor keeps a copy of; any beyond are not guarded."""

_MESSAGE = struct.Struct("!cH")
_OPEN = b"o"
_CLOSE = b"c"


def custody_channel() -> tuple[socket.socket, socket.socket]:
    """The supervisor's and the worker's ends of a new channel, both non-blocking."""
    # SOCK_SEQPACKET keeps each message, and the socket it carries, whole and in order.
    supervisor_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    supervisor_end.setblocking(False)
    worker_end.setblocking(False)
    return supervisor_end, worker_end


def orphan_response(exit_code: int | None, server_version: str | None) -> bytes:
    """The whole HTTP response a request left behind by a dead worker gets."""
    how = f"exit code {exit_code}"
    if exit_code is not None and exit_code < 0:
        with contextlib.suppress(ValueError):
            how = f"killed by {signal.Signals(-exit_code).name}"
    error = WorkerDiedError(how)
    headers = [(RUN_FAILED_HEADER.encode(), b"True")]
    if server_version is not None:
        headers.append((b"x-ms-server-version", server_version.encode()))
    return json_error_bytes(error.status_code, error.message, headers)


class ConnectionReporter:
    """The worker's side: reports connections to the supervisor and marks those being scored."""

    def __init__(self, channel: socket.socket, marks: ctypes.Array[ctypes.c_byte]) -> None:
        self._channel = channel
        self._marks = marks
        self._free = list(range(len(marks) - 1, -1, -1))
        self._slots: dict[object, int] = {}
        """Guarded connections by client address, as the protocol and the ASGI scope name them."""
        self._backlog: deque[bytes] = deque()
        self._broken = False

    def opened(self, client: object, fd: int) -> None:
        """A connection was accepted: give the supervisor its copy."""
        if self._broken or self._backlog or not self._free or client is None:
            return
        slot = self._free.pop()
        try:
            socket.send_fds(self._channel, [_MESSAGE.pack(_OPEN, slot)], [fd])
        except OSError as exc:
            self._free.append(slot)
            if not isinstance(exc, BlockingIOError):
                self._give_up(exc)
            return
        self._slots[client] = slot

    def closed(self, client: object) -> None:
        """A connection is gone: the supervisor must drop its copy, or the peer never sees it close."""
        slot = self._slots.pop(client, None)
        if slot is None:
            return
        self._marks[slot] = 0
        self._free.append(slot)
        self._backlog.append(_MESSAGE.pack(_CLOSE, slot))
        if len(self._backlog) == 1:
            self._flush()

    def scoring(self, client: object) -> int:
        """Mark the connection as waiting for run(); the slot to unmark, or -1 if unguarded."""
        slot = self._slots.get(client, -1)
        if slot >= 0:
            self._marks[slot] = 1
        return slot

    def answered(self, slot: int) -> None:
        """The connection has its answer: a dead worker no longer leaves it waiting."""
        if slot >= 0:
            self._marks[slot] = 0

    def _flush(self) -> None:
        while self._backlog and not self._broken:
            try:
                self._channel.send(self._backlog[0])
            except BlockingIOError:
                _running_loop().add_writer(self._channel, self._resume)
                return
            except OSError as exc:
                self._give_up(exc)
                return
            self._backlog.popleft()

    def _resume(self) -> None:
        _running_loop().remove_writer(self._channel)
        self._flush()

    def _give_up(self, exc: OSError) -> None:
        # The supervisor closed its end: it is stopping and has dropped its copies already.
        self._broken = True
        self._backlog.clear()
        logger.debug("Connection custody ended: %s", exc)


class Custodian:
    """The supervisor's side for one worker: the copies of its connections."""

    def __init__(self, channel: socket.socket, marks: ctypes.Array[ctypes.c_byte]) -> None:
        self._channel = channel
        self._marks = marks
        self._copies: dict[int, int] = {}
        """File descriptors of the copies, by slot."""

    def fileno(self) -> int:
        """The channel, for waiting on it alongside the workers' other pipes."""
        return self._channel.fileno()

    def held(self) -> list[socket.socket | int]:
        """The channel and every copy (a newly forked worker must close them)."""
        return [self._channel, *self._copies.values()]

    def receive(self) -> None:
        """Take every report waiting on the channel."""
        while True:
            try:
                message, fds, _flags, _addr = socket.recv_fds(self._channel, _MESSAGE.size, 1)
            except OSError:  # nothing more waiting (BlockingIOError), or the channel is gone
                return
            if not message:
                return  # the worker's end is closed
            kind, slot = _MESSAGE.unpack(message)
            self._drop(slot)
            if kind == _OPEN and fds:
                self._copies[slot] = fds[0]

    def answer_orphans(self, response: bytes) -> int:
        """Answer the connections waiting for the dead worker's run(); close every copy."""
        self.receive()
        answered = 0
        for slot, fd in self._copies.items():
            if self._marks[slot]:
                with contextlib.suppress(OSError):
                    os.write(fd, response)
                    answered += 1
            _close_for_peer(fd)
        self._copies.clear()
        return answered

    def close(self) -> None:
        """Drop every copy and the channel (the worker's connections stay open in the worker)."""
        for fd in self._copies.values():
            os.close(fd)
        self._copies.clear()
        self._channel.close()

    def _drop(self, slot: int) -> None:
        fd = self._copies.pop(slot, None)
        if fd is not None:
            os.close(fd)


def _running_loop() -> AbstractEventLoop:
    """The worker's event loop, for the rare backlog of reports."""
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
            while sock.recv(65536, socket.MSG_DONTWAIT):
                pass
