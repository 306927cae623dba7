"""custody_channels: batches of slots and sockets, whole, over SOCK_SEQPACKET and a framed stream."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from scoreserver.platform import CUSTODY_STREAM
from scoreserver.processes.custody_channels import CustodyChannel, StreamChannel, channel_pair

# Connection custody passes descriptors: Windows has none of it.
pytestmark = pytest.mark.posix


@pytest.fixture
def channel(custody_kind: str) -> Iterator[tuple[CustodyChannel, CustodyChannel]]:
    """The supervisor's and the worker's ends of a channel of each kind."""
    ends = channel_pair(custody_kind)
    yield ends
    for end in ends:
        end.close()


def _same_file(first: int, second: int) -> bool:
    a, b = os.fstat(first), os.fstat(second)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def test_batches_arrive_one_at_a_time_each_with_its_own_sockets(
    channel: tuple[CustodyChannel, CustodyChannel],
) -> None:
    supervisor, worker = channel
    first, second, third = socket.socketpair()[0], socket.socket(), socket.socket()
    worker.send([3, 7], [first.fileno(), second.fileno()])
    worker.send([9], [third.fileno()])
    batches = [supervisor.receive(), supervisor.receive()]
    assert supervisor.receive() is None  # nothing more waiting
    assert [slots for slots, _fds in batches] == [[3, 7], [9]]
    received = [fd for _slots, fds in batches for fd in fds]
    assert [_same_file(fd, s.fileno()) for fd, s in zip(received, [first, second, third])] == [
        True,
        True,
        True,
    ]
    for fd in received:
        os.close(fd)
    for sock in (first, second, third):
        sock.close()


def test_a_closed_worker_end_reads_as_nothing_more(
    channel: tuple[CustodyChannel, CustodyChannel],
) -> None:
    supervisor, worker = channel
    worker.close()
    assert supervisor.receive() is None


def test_a_frame_arriving_in_pieces_is_taken_once_whole() -> None:
    raw_supervisor, raw_worker = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    raw_supervisor.setblocking(False)
    supervisor = StreamChannel(raw_supervisor)
    with socket.socket() as carried:
        # The count's first byte with the socket, the rest of the frame later.
        socket.send_fds(raw_worker, [b"\x00"], [carried.fileno()])
        assert supervisor.receive() is None
        raw_worker.send(b"\x02\x00\x05")
        assert supervisor.receive() is None
        raw_worker.send(b"\x00\x06")
        batch = supervisor.receive()
        assert batch is not None
        slots, fds = batch
        assert slots == [5, 6]
        assert len(fds) == 1 and _same_file(fds[0], carried.fileno())
        os.close(fds[0])
    supervisor.close()
    raw_worker.close()


def test_a_full_stream_refuses_batches_and_sends_the_cut_frame_first_once_read() -> None:
    supervisor, worker = channel_pair(CUSTODY_STREAM)
    slots = list(range(200))
    accepted = 0
    with socket.socket() as carried:
        with pytest.raises(BlockingIOError):
            for _ in range(10_000):  # bounded: the socket buffer fills long before
                worker.send(slots, [carried.fileno()])
                accepted += 1  # the last one accepted may have gone out only in part
        arrived = []
        while (batch := supervisor.receive()) is not None:
            arrived.append(batch)
        worker.send([1], [carried.fileno()])
        while (batch := supervisor.receive()) is not None:
            arrived.append(batch)
    assert [s for s, _fds in arrived] == [slots] * accepted + [[1]]
    for _slots, fds in arrived:
        for fd in fds:
            os.close(fd)
    supervisor.close()
    worker.close()
