"""listener: the availability flag a worker publishes for the others."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import socket
import threading
import time

import pytest
import uvicorn

from scoreserver.http.http_protocol import JsonErrorsHttpToolsProtocol
from scoreserver.processes.listener import Availability, PoliteServer
from scoreserver.types import ASGIApp, Receive, Scope, Send


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    """An application that answers at once."""


def _serve_one(availability: Availability) -> None:
    asyncio.run(availability({"type": "http"}, _answer, _answer))  # type: ignore[arg-type]


def test_a_worker_with_room_says_so_after_a_request() -> None:
    flags = multiprocessing.RawArray(ctypes.c_byte, [1, 1])
    availability = Availability(_answer, flags, slot=0, limit=1)
    _serve_one(availability)
    assert list(flags) == [0, 1]
    assert availability.others_have_room() is False


def test_a_stopping_worker_stays_full_when_its_last_requests_finish() -> None:
    flags = multiprocessing.RawArray(ctypes.c_byte, [1, 0])
    availability = Availability(_answer, flags, slot=0, limit=1)
    availability.stopping = True
    _serve_one(availability)
    assert list(flags) == [1, 0]


def _hello_app() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _exchange(port: int) -> str | None:
    """One request on a new connection; None when answered, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = client.recv(4096)
                if not chunk:
                    return f"closed without an answer after {received!r}"
                received += chunk
            return None if received.startswith(b"HTTP/1.1 200") else repr(received)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def _take_over(listening: socket.socket, stop: threading.Event) -> None:
    """The next worker: answers whatever the stopped one left on the shared socket."""
    listening.settimeout(0.05)
    while not stop.is_set():
        try:
            connection, _ = listening.accept()
        except (socket.timeout, BlockingIOError):
            continue
        with connection:
            connection.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received += chunk
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


@pytest.mark.parametrize("loop", [pytest.param("uvloop", marks=pytest.mark.posix), "asyncio"])
def test_a_stopping_worker_drops_no_connection_it_accepted(loop: str) -> None:
    """Stopped while new connections keep arriving, a worker answers every one it took; the
    rest stay queued on the shared socket for the next worker (here, the test)."""
    failures: list[str] = []
    with socket.create_server(("127.0.0.1", 0), backlog=512) as listening:
        port = listening.getsockname()[1]
        for _round in range(6):
            stop_clients = threading.Event()

            def clients(stop: threading.Event = stop_clients) -> None:
                while not stop.is_set():
                    problem = _exchange(port)
                    if problem is not None:
                        failures.append(problem)

            flags = multiprocessing.RawArray(ctypes.c_byte, [1, 1])
            availability = Availability(_hello_app(), flags, slot=0, limit=4)
            config = uvicorn.Config(
                availability,
                loop=loop,
                http=JsonErrorsHttpToolsProtocol,
                lifespan="off",
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=10,
            )
            started = threading.Event()
            # The worker's own copy of the shared socket, as each worker has (it closes it).
            own = listening.dup()
            server = PoliteServer(config, started.set, [own], availability)
            serving = threading.Thread(target=_run, args=(server, own, loop))
            serving.start()
            assert started.wait(10)
            senders = [threading.Thread(target=clients) for _ in range(6)]
            for sender in senders:
                sender.start()
            time.sleep(0.2)
            server.should_exit = True
            serving.join(20)
            assert not serving.is_alive()
            stop_taking_over = threading.Event()
            taking_over = threading.Thread(target=_take_over, args=(listening, stop_taking_over))
            taking_over.start()
            stop_clients.set()
            for sender in senders:
                sender.join(20)
            stop_taking_over.set()
            taking_over.join(10)
            listening.setblocking(True)
    assert failures == []


def _run(server: PoliteServer, listening: socket.socket, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(server.serve(sockets=[listening]))
    else:
        # The selector loop, as workers run it (Windows' default proactor cannot watch a socket).
        selector = asyncio.SelectorEventLoop()
        try:
            selector.run_until_complete(server.serve(sockets=[listening]))
        finally:
            selector.close()
