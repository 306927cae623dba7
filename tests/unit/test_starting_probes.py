"""starting_probes: the probes answered while init() runs, every other connection kept unread."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from scoreserver.http.app import probe_routes
from scoreserver.processes.starting_probes import FINISH_WAIT_S, StartingProbes
from scoreserver.protocols.core import Readiness
from scoreserver.settings import Settings

READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
SCORE = b'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{"data": 1}'


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def _routes() -> dict[str, object]:
    return probe_routes(Settings(), Readiness(starting=True))  # type: ignore[return-value]


def _start(listening: socket.socket, **kwargs: object) -> StartingProbes:
    return StartingProbes(_routes(), [listening], lambda: False, **kwargs).start()  # type: ignore[arg-type]


def _connect(listening: socket.socket) -> socket.socket:
    return socket.create_connection(listening.getsockname(), timeout=5)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _body(response: bytes) -> object:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def test_a_probe_is_answered_not_ready_and_its_connection_closed(
    listening: socket.socket,
) -> None:
    probes = _start(listening)
    try:
        with _connect(listening) as client:
            client.sendall(READY)
            response = _read_all(client)
        assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"\r\nconnection: close\r\n" in response.lower()
        assert _body(response) == {"ready": False}
        with _connect(listening) as client:
            client.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _body(_read_all(client)) == {"live": True}
    finally:
        assert probes.finish() == []


def test_every_other_request_is_kept_unread_for_the_server(listening: socket.socket) -> None:
    probes = _start(listening)
    client = _connect(listening)
    try:
        client.sendall(SCORE)
        time.sleep(0.3)
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(1)  # no answer: it waits for the server
        kept = probes.finish()
        assert len(kept) == 1
        kept[0].setblocking(True)
        assert kept[0].recv(65536) == SCORE  # every byte still there, for the server to read
        kept[0].close()
    finally:
        client.close()


def test_a_head_in_pieces_is_answered_once_it_has_all_arrived(listening: socket.socket) -> None:
    probes = _start(listening)
    try:
        with _connect(listening) as client:
            client.sendall(READY[:10])
            time.sleep(0.1)
            client.sendall(READY[10:])
            assert _read_all(client).startswith(b"HTTP/1.1 400 ")
    finally:
        assert probes.finish() == []


def test_connections_without_a_whole_head_when_init_ends_are_kept_as_they_are(
    listening: socket.socket,
) -> None:
    probes = _start(listening)
    silent, partial = _connect(listening), _connect(listening)
    try:
        partial.sendall(READY[:10])
        time.sleep(0.3)
        kept = probes.finish()
        assert len(kept) == 2
        by_bytes = {}
        for connection in kept:
            connection.setblocking(False)
            try:
                by_bytes[connection.recv(100)] = connection
            except BlockingIOError:
                by_bytes[b""] = connection
        assert set(by_bytes) == {b"", READY[:10]}
        for connection in kept:
            connection.close()
    finally:
        silent.close()
        partial.close()


def test_what_the_parser_cannot_read_is_left_to_the_server(listening: socket.socket) -> None:
    probes = _start(listening)
    with _connect(listening) as client:
        client.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        time.sleep(0.3)
        kept = probes.finish()
    assert len(kept) == 1
    kept[0].close()


def test_a_connection_closed_before_its_request_is_not_kept(listening: socket.socket) -> None:
    probes = _start(listening)
    _connect(listening).close()
    time.sleep(0.3)
    assert probes.finish() == []


def test_past_the_limit_connections_wait_in_the_listen_queue(listening: socket.socket) -> None:
    probes = _start(listening, kept_limit=1)
    first, second = _connect(listening), _connect(listening)
    try:
        first.sendall(SCORE)
        second.sendall(READY)
        time.sleep(0.3)
        kept = probes.finish()
        assert len(kept) == 1
        listening.setblocking(True)
        waiting, _ = listening.accept()  # the second one, never accepted by the probes
        assert waiting.recv(65536) == READY
        waiting.close()
        kept[0].close()
    finally:
        first.close()
        second.close()


def test_nothing_is_accepted_once_another_worker_serves(listening: socket.socket) -> None:
    serving = threading.Event()
    probes = StartingProbes(_routes(), [listening], serving.is_set).start()  # type: ignore[arg-type]
    serving.set()
    time.sleep(0.2)  # the accept loop looks again
    with _connect(listening) as client:
        client.sendall(READY)
        time.sleep(0.2)
        assert probes.finish() == []
        listening.setblocking(True)
        waiting, _ = listening.accept()  # left to the serving worker
        waiting.close()


def test_the_probe_routes_follow_the_served_protocols() -> None:
    starting = Readiness(starting=True)
    plain = probe_routes(Settings(model_name="m"), starting)
    assert set(plain) == {
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/m/ready",
        "/v2/models/m/versions/1/ready",
        "/v1/models/m",
        "/ping",
    }
    # Vertex AI's health route takes the place of any other route at its path.
    vertex = Settings(vertex_health_route="/ping", vertex_predict_route="/p")
    routes = probe_routes(vertex, starting)
    assert routes["/ping"].handler.__qualname__ == "VertexProbes.health"  # type: ignore[attr-defined]
    assert "/p" not in routes  # prediction waits for init()


def test_readiness_says_why_it_is_not_ready() -> None:
    assert Readiness(starting=True).ready is False
    assert Readiness(starting=True).why_not == "init() has not completed."
    assert Readiness().ready is True
    draining, started = ctypes.c_byte(0), ctypes.c_byte(0)
    readiness = Readiness(draining, started)
    assert (readiness.ready, readiness.why_not) == (False, "init() has not completed.")
    started.value = 1  # every worker of the start is ready
    assert readiness.ready is True
    draining.value = 1
    assert (readiness.ready, readiness.why_not) == (False, "the server is stopping.")


@pytest.mark.posix  # fork
# Python 3.12+ warns of fork() in a process with threads: that is the case tested (as it is a
# worker's during init(), whose other thread answers the probes).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_process_init_forks_does_not_keep_the_connections_open(
    listening: socket.socket,
) -> None:
    probes = _start(listening)
    client = _connect(listening)
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(10,))
    try:
        client.sendall(SCORE)
        time.sleep(0.3)
        child.start()  # as an init() that starts a process pool would
        kept = probes.finish()
        assert len(kept) == 1
        kept[0].setblocking(True)
        assert kept[0].recv(65536) == SCORE
        kept[0].close()  # the server is done with it: the client must see the end
        client.settimeout(5)
        assert client.recv(1) == b""
    finally:
        child.kill()
        child.join()
        client.close()


def test_finishing_while_connections_arrive_does_not_hang(listening: socket.socket) -> None:
    # Stopping races with the loops' waits for connections and their bytes: every round must
    # stop, and every connection be kept, answered, or left in the listen queue, none lost.
    arriving = threading.Event()
    clients: list[socket.socket] = []

    def connect_on() -> None:
        while arriving.is_set():
            client = _connect(listening)
            client.sendall(READY if len(clients) % 2 else SCORE[:20])
            clients.append(client)
            time.sleep(0.002)

    for _ in range(10):
        probes = _start(listening)
        arriving.set()
        thread = threading.Thread(target=connect_on)
        thread.start()
        time.sleep(0.05)
        started = time.monotonic()
        kept = probes.finish()
        assert time.monotonic() - started < FINISH_WAIT_S
        arriving.clear()
        thread.join()
        for connection in kept:
            connection.close()
        listening.setblocking(False)
        while True:  # what the probes did not accept waits in the listen queue
            try:
                listening.accept()[0].close()
            except BlockingIOError:
                break
    for client in clients:
        client.close()
