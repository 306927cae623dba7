"""custody: the supervisor's copies of a worker's connections, over a real channel and real TCP."""

from __future__ import annotations

import asyncio
import ctypes
import json
import socket
from collections.abc import Iterator

import pytest

from scoreserver.custody import ConnectionReporter, Custodian, custody_channel, orphan_response


@pytest.fixture
def custody() -> Iterator[tuple[ConnectionReporter, Custodian]]:
    """A reporter and a custodian joined by a channel, with room for four connections."""
    supervisor_end, worker_end = custody_channel()
    marks = (ctypes.c_byte * 4)()
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


def test_a_connection_waiting_for_run_is_answered_when_the_worker_dies(
    custody: tuple[ConnectionReporter, Custodian], tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    reporter, custodian = custody
    client, accepted = tcp_pair
    reporter.opened(("127.0.0.1", 1), accepted.fileno())
    reporter.scoring(("127.0.0.1", 1))
    custodian.receive()
    accepted.close()  # the worker is gone; only the supervisor's copy is left
    answered = custodian.answer_orphans(b"HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n")
    assert answered == 1
    assert _read_all(client) == b"HTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n"


def test_a_connection_whose_run_answered_is_only_closed_when_the_worker_dies(
    custody: tuple[ConnectionReporter, Custodian], tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    reporter, custodian = custody
    client, accepted = tcp_pair
    reporter.opened(("127.0.0.1", 1), accepted.fileno())
    reporter.answered(reporter.scoring(("127.0.0.1", 1)))
    accepted.close()
    assert custodian.answer_orphans(b"unexpected") == 0
    assert _read_all(client) == b""


def test_a_connection_the_worker_closes_is_let_go_so_the_client_sees_the_end(
    custody: tuple[ConnectionReporter, Custodian], tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    reporter, custodian = custody
    client, accepted = tcp_pair
    reporter.opened(("127.0.0.1", 1), accepted.fileno())
    custodian.receive()
    assert len(custodian.held()) == 2  # the channel and the copy
    accepted.close()

    async def worker_closes() -> None:
        reporter.closed(("127.0.0.1", 1))

    asyncio.run(worker_closes())
    custodian.receive()
    assert len(custodian.held()) == 1
    assert _read_all(client) == b""


def test_connections_beyond_the_slots_are_served_unguarded(
    custody: tuple[ConnectionReporter, Custodian],
) -> None:
    reporter, custodian = custody
    with socket.socket() as sock:
        for port in range(6):
            reporter.opened(("127.0.0.1", port), sock.fileno())
        custodian.receive()
        assert len(custodian.held()) == 1 + 4
        assert reporter.scoring(("127.0.0.1", 5)) == -1
        reporter.answered(-1)  # an unguarded connection is a no-op, not an error


def test_closes_that_find_the_channel_full_wait_and_are_all_delivered() -> None:
    supervisor_end, worker_end = custody_channel()
    count = 2000
    marks = (ctypes.c_byte * count)()
    reporter = ConnectionReporter(worker_end, marks)
    custodian = Custodian(supervisor_end, marks)
    clients = [("127.0.0.1", port) for port in range(count)]
    with socket.socket() as sock:
        for client in clients:
            reporter.opened(client, sock.fileno())
            custodian.receive()  # keep the channel empty while the copies are handed over
        assert len(custodian.held()) == 1 + count

        async def close_all_while_the_supervisor_is_slow() -> None:
            for client in clients:
                reporter.closed(client)
            # More closes than the channel holds: some wait in the worker until it drains.
            for _ in range(500):
                custodian.receive()
                await asyncio.sleep(0.001)
                if len(custodian.held()) == 1:
                    break

        asyncio.run(close_all_while_the_supervisor_is_slow())
    assert len(custodian.held()) == 1
    custodian.close()
    worker_end.close()


def test_a_reporter_whose_supervisor_is_gone_keeps_serving() -> None:
    supervisor_end, worker_end = custody_channel()
    marks = (ctypes.c_byte * 2)()
    reporter = ConnectionReporter(worker_end, marks)
    supervisor_end.close()
    with socket.socket() as sock:
        reporter.opened(("127.0.0.1", 1), sock.fileno())
    assert reporter.scoring(("127.0.0.1", 1)) == -1
    worker_end.close()
