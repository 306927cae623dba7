"""The channel custody's connection copies travel on: one batch at a time, with their sockets.

A batch is a list of slot numbers and one socket per slot. Linux has AF_UNIX SOCK_SEQPACKET,
whose messages arrive whole, each with its sockets. macOS has only SOCK_STREAM, which keeps no
message boundaries, so there each batch is framed:

    count (2 bytes) | slot (2 bytes) x count          the sockets ride on the frame's first byte

The reader takes the count alone first, which brings the frame's sockets and nothing of the
next frame's, then exactly the slots the count announces.
"""

from __future__ import annotations

import socket
import struct
from typing import Union

from scoreserver.platform import CUSTODY_PACKETS, receive_fds, send_fds, unix_socket_pair

__all__ = ["BATCH", "CustodyChannel", "PacketChannel", "StreamChannel", "channel_pair"]

BATCH = 200
"""Copies handed over in one message (the kernel takes at most 253 descriptors in one)."""

_SLOT = struct.Struct("!H")

Batch = tuple[list[int], list[int]]
"""Slots and the descriptors that arrived for them (fewer when the receiver ran out of room)."""


class PacketChannel:
    """One end of a SOCK_SEQPACKET pair: a message per batch, kept whole by the kernel."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        """The socket, for waiting on it."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close this end."""
        self.sock.close()

    def send(self, slots: list[int], fds: list[int]) -> None:
        """Hand a batch over; BlockingIOError when the other end is behind."""
        send_fds(self.sock, b"".join(_SLOT.pack(s) for s in slots), fds)

    def receive(self) -> Batch | None:
        """The next batch; None when nothing more is waiting or the other end is gone."""
        try:
            message, fds = receive_fds(self.sock, BATCH * _SLOT.size, BATCH)
        except OSError:
            return None
        if not message:
            return None
        return [slot for (slot,) in _SLOT.iter_unpack(message)], fds


class StreamChannel:
    """One end of a SOCK_STREAM pair, each batch framed by its count."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._unsent = b""
        """The end of a frame a full socket took only part of: it goes out before the next."""
        self._head = b""
        self._fds: list[int] = []
        self._wanted: int | None = None
        """Bytes of slots the frame being read still has to bring; None while reading a count."""
        self._body = b""

    def fileno(self) -> int:
        """The socket, for waiting on it."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close this end."""
        self.sock.close()

    def send(self, slots: list[int], fds: list[int]) -> None:
        """Hand a batch over; BlockingIOError when the other end is behind."""
        if self._unsent:
            self._unsent = self._unsent[self.sock.send(self._unsent) :]
            if self._unsent:
                raise BlockingIOError
        frame = _SLOT.pack(len(slots)) + b"".join(_SLOT.pack(s) for s in slots)
        sent = send_fds(self.sock, frame, fds)
        self._unsent = frame[sent:]

    def receive(self) -> Batch | None:
        """The next whole batch; None when no whole one is waiting or the other end is gone."""
        try:
            while self._wanted is None:
                data, fds = receive_fds(self.sock, _SLOT.size - len(self._head), BATCH)
                if not data:
                    return None
                self._head += data
                self._fds += fds
                if len(self._head) == _SLOT.size:
                    (count,) = _SLOT.unpack(self._head)
                    self._head, self._wanted = b"", count * _SLOT.size
            while len(self._body) < self._wanted:
                data = self.sock.recv(self._wanted - len(self._body))
                if not data:
                    return None
                self._body += data
        except OSError:
            return None
        slots = [slot for (slot,) in _SLOT.iter_unpack(self._body)]
        fds, self._fds, self._body, self._wanted = self._fds, [], b"", None
        return slots, fds


CustodyChannel = Union[PacketChannel, StreamChannel]


def channel_pair(kind: str) -> tuple[CustodyChannel, CustodyChannel]:
    """The supervisor's and the worker's ends of a new channel of that kind, both non-blocking."""
    packets = kind == CUSTODY_PACKETS
    sock_type = socket.SOCK_SEQPACKET if packets else socket.SOCK_STREAM
    ends = unix_socket_pair(sock_type)
    for end in ends:
        end.setblocking(False)
    wrap = PacketChannel if packets else StreamChannel
    return wrap(ends[0]), wrap(ends[1])
