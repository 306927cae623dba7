"""custody: the supervisor's copies of a worker's connections, over a real channel and real TCP."""

from __future__ import annotations

import asyncio
import ctypes
import json
import socket
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from scoreserver.processes.custody import (
    ID_SPACE,
    ConnectionReporter,
    Custodian,
    ScoringMarks,
    orphan_response,
)
from scoreserver.processes.custody_channels import channel_pair

# Connection custody passes descriptors: Windows has none of it.
pytestmark = pytest.mark.posix


@pytest.fixture
def kind(custody_kind: str) -> str:
    """Every test runs over Linux's SOCK_SEQPACKET channel and macOS's framed stream."""
    return custody_kind


@pytest.fixture
def custody(kind: str) -> Iterator[tuple[ConnectionReporter, Custodian]]:
    """A reporter and a custodian joined by a channel, with room for four connections."""
    supervisor_end, worker_end = channel_pair(kind)
    marks = _marks(4)
    custodian = Custodian(supervisor_end, marks)
    yield ConnectionReporter(worker_end, marks), custodian
    custodian.close()
    worker_end.close()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected client socket and the server's accepted socket for it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
    yield client, accepted
    client.close()
    accepted.close()


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _marks(slots: int) -> ScoringMarks:
    """Marks for this many connections, in this process's memory."""
    return ScoringMarks((ctypes.c_byte * slots)(), (ctypes.c_char * (slots * ID_SPACE))())


def _ids() -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", b"req-1"), (b"x-ms-request-id", b"req-1")]


def test_orphan_response_names_the_signal_and_is_a_whole_json_response() -> None:
    raw = orphan_response(-9, "azmlinfsrv/1.5.1")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 500 Internal Server Error"
    assert "content-type: application/json" in lines
    assert f"content-length: {len(body)}" in lines
    assert "x-ms-run-function-failed: True" in lines
    assert "x-ms-server-version: azmlinfsrv/1.5.1" in lines
    assert "connection: close" in lines
    assert json.loads(body) == {
        "message": "The worker process scoring this request ended unexpectedly (killed by "
        "SIGKILL) and is being replaced. Check the logs for more info."
    }
    assert body.startswith(b'{"message": ')


def test_orphan_response_with_an_exit_code_and_no_version_header() -> None:
    raw = orphan_response(3, None)
    assert b"(exit code 3)" in raw
    assert b"x-ms-server-version" not in raw


def test_orphan_response_carries_the_requests_ids_after_the_servers_headers() -> None:
    raw = orphan_response(-9, "azmlinfsrv/1.5.1", _ids())
    lines = raw.partition(b"\r\n\r\n")[0].decode().split("\r\n")
    version = lines.index("x-ms-server-version: azmlinfsrv/1.5.1")
    assert lines[version + 1 : version + 3] == ["x-request-id: req-1", "x-ms-request-id: req-1"]


def test_marks_keep_each_connections_ids_and_the_ids_that_fit() -> None:
    marks = _marks(3)
    longest = [
        (b"x-request-id", b"r" * 100),
        (b"x-ms-request-id", b"m" * 100),
        (b"x-ms-client-request-id", b"c" * 100),
    ]
    marks.mark(0, _ids())
    marks.mark(2, [*longest, (b"TraceId", b"t" * 40)])
    assert marks.waiting(0) and not marks.waiting(1) and marks.waiting(2)
    assert marks.ids_of(0) == _ids()
    assert marks.ids_of(2) == longest  # the TraceId had no room left; the three ids always do
    marks.mark(0, [(b"x-request-id", b"short")])
    assert marks.ids_of(0) == [(b"x-request-id", b"short")]
    marks.clear(0)
    assert not marks.waiting(0)


def _in_one_pass(*steps: Callable[[], object]) -> None:
    """Run the steps in one pass of an event loop, then let the reporter hand over its copies."""

    async def run() -> None:
        for step in steps:
            step()
        await asyncio.sleep(0)

    asyncio.run(run())


Guarded = tuple[ConnectionReporter, Custodian, socket.socket, socket.socket]


@pytest.fixture
def guarded(
    custody: tuple[ConnectionReporter, Custodian], tcp_pair: tuple[socket.socket, socket.socket]
) -> Guarded:
    """A TCP connection the worker reported: reporter, custodian, client side, accepted side."""
    reporter, custodian = custody
    client, accepted = tcp_pair
    _in_one_pass(lambda: reporter.opened(("127.0.0.1", 1), accepted))
    return reporter, custodian, client, accepted


def test_a_connection_waiting_for_run_is_answered_when_the_worker_dies(
    guarded: Guarded,
) -> None:
    reporter, custodian, client, accepted = guarded
    reporter.scoring(("127.0.0.1", 1), _ids)
    custodian.receive()
    accepted.close()  # the worker is gone (killed: it shut nothing down); the copy is left
    answered = custodian.answer_orphans(partial(orphan_response, -9, None))
    assert answered == 1
    assert _read_all(client) == orphan_response(-9, None, _ids())


def test_a_connection_whose_run_answered_is_only_closed_when_the_worker_dies(
    guarded: Guarded,
) -> None:
    reporter, custodian, client, accepted = guarded
    reporter.answered(reporter.scoring(("127.0.0.1", 1), _ids))
    accepted.close()
    assert custodian.answer_orphans(lambda ids: b"unexpected") == 0
    assert _read_all(client) == b""


def test_a_connection_the_worker_closes_ends_for_the_client_while_a_copy_is_held(
    guarded: Guarded,
) -> None:
    reporter, custodian, client, accepted = guarded
    custodian.receive()
    assert len(custodian.held()) == 2  # the channel and the copy
    accepted.close()
    reporter.closed(("127.0.0.1", 1))
    client.settimeout(2)
    assert client.recv(100) == b""  # the end, although the supervisor still holds a copy
    assert len(custodian.held()) == 2
    custodian.sweep()
    assert len(custodian.held()) == 1


def test_a_sweep_keeps_the_copies_of_open_connections(
    guarded: Guarded,
) -> None:
    _reporter, custodian, _client, _accepted = guarded
    custodian.receive()
    custodian.sweep()
    assert len(custodian.held()) == 2


def test_connections_beyond_the_slots_are_served_unguarded(
    custody: tuple[ConnectionReporter, Custodian],
) -> None:
    reporter, custodian = custody
    with socket.socket() as sock:
        _in_one_pass(*(partial(reporter.opened, ("127.0.0.1", port), sock) for port in range(6)))
        custodian.receive()
        assert len(custodian.held()) == 1 + 4
        assert reporter.scoring(("127.0.0.1", 5), _ids) == -1
        reporter.answered(-1)  # an unguarded connection is a no-op, not an error


def test_many_connections_of_one_pass_are_all_handed_over(kind: str) -> None:
    supervisor_end, worker_end = channel_pair(kind)
    count = 450  # more than one message carries
    marks = _marks(count)
    reporter = ConnectionReporter(worker_end, marks)
    custodian = Custodian(supervisor_end, marks)
    with socket.socket() as sock:
        _in_one_pass(
            *(partial(reporter.opened, ("127.0.0.1", port), sock) for port in range(count))
        )
    custodian.receive()
    assert len(custodian.held()) == 1 + count
    custodian.close()
    worker_end.close()


def test_a_slot_reused_in_the_same_pass_hands_over_the_newer_connection(
    custody: tuple[ConnectionReporter, Custodian],
) -> None:
    reporter, custodian = custody
    with socket.create_server(("127.0.0.1", 0)) as listener:
        old_client = socket.create_connection(listener.getsockname())
        old, _ = listener.accept()
        new_client = socket.create_connection(listener.getsockname())
        new, _ = listener.accept()
    _in_one_pass(
        lambda: reporter.opened(("127.0.0.1", 1), old),
        lambda: reporter.closed(("127.0.0.1", 1)),
        lambda: reporter.opened(("127.0.0.1", 2), new),
    )
    reporter.scoring(("127.0.0.1", 2), _ids)
    custodian.receive()
    for sock in (old, new):
        sock.close()
    assert custodian.answer_orphans(lambda ids: b"answer") == 1
    assert _read_all(new_client) == b"answer"
    assert _read_all(old_client) == b""
    old_client.close()
    new_client.close()


def test_a_reporter_whose_supervisor_is_gone_keeps_serving(kind: str) -> None:
    supervisor_end, worker_end = channel_pair(kind)
    marks = _marks(4)
    reporter = ConnectionReporter(worker_end, marks)
    supervisor_end.close()
    with socket.socket() as sock:
        _in_one_pass(lambda: reporter.opened(("127.0.0.1", 1), sock))
        # Custody has ended: later connections are served unguarded.
        _in_one_pass(lambda: reporter.opened(("127.0.0.1", 2), sock))
        reporter.closed(("127.0.0.1", 1))
    assert reporter.scoring(("127.0.0.1", 2), _ids) == -1
    worker_end.close()
