"""Limits: the request body limit (413 in JSON), malformed HTTP that must not hurt the worker, and
slow or idle clients that must not hold up the others."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import (
    SCRIPTS,
    access_lines,
    records,
    scrubbed_environ,
    settled_access_count,
)
from tests.integration.server import RunningServer, serving

ECHO = SCRIPTS / "ops_echo.py"
LIMIT = 1000
DEFAULT_LIMIT = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One worker serving the echo script with a 1000-byte body limit."""
    env = {"SCORESERVER_MAX_REQUEST_BODY_BYTES": str(LIMIT)}
    cwd = tmp_path_factory.mktemp("limits")
    with scrubbed_environ(), serving(["--entry_script", str(ECHO)], env=env, cwd=cwd) as server:
        yield server


def _pid(server: RunningServer) -> int:
    response = server.client().post("/score", content=b"who")
    assert response.status_code == 200, response.text
    return int(response.json()["pid"])


def _init_count(server: RunningServer) -> int:
    return sum(r.text.startswith("ops init in pid ") for r in records(server.output()))


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["message"], str)


def _chunks(*sizes: int) -> Iterator[bytes]:
    """A body httpx sends with Transfer-Encoding: chunked (it has no length up front)."""
    for size in sizes:
        yield b"a" * size


# ---------------------------------------------------------------------------------------------
# The body limit


def test_body_over_the_limit_with_content_length_is_413_json(limited: RunningServer) -> None:
    response = limited.client().post("/score", content=b"a" * (LIMIT + 1))
    _assert_413(response)


def test_chunked_body_over_the_limit_is_413_json(limited: RunningServer) -> None:
    request = limited.client().build_request("POST", "/score", content=_chunks(400, 400, 201))
    assert request.headers["transfer-encoding"] == "chunked"
    response = limited.client().send(request)
    _assert_413(response)


def test_body_at_the_limit_is_scored(limited: RunningServer) -> None:
    with_length = limited.client().post("/score", content=b"a" * LIMIT)
    chunked = limited.client().post("/score", content=_chunks(500, 500))
    assert with_length.status_code == 200, with_length.text
    assert with_length.json()["length"] == LIMIT
    assert chunked.status_code == 200, chunked.text
    assert chunked.json()["length"] == LIMIT


def test_default_limit_is_100_mib_and_refused_before_upload(tmp_path: Path) -> None:
    with serving(["--entry_script", str(ECHO)], cwd=tmp_path) as server:
        one_mib = server.client().post("/score", content=b"a" * 1024 * 1024)
        started = time.monotonic()
        # Announce 101 MiB but send only the start of it: the answer must not wait for the rest.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: %d\r\n\r\n" % (101 * 1024 * 1024) + b"a" * 1000
            )
            status, headers, body = _read_one_response(sock)
        elapsed = time.monotonic() - started
    assert one_mib.status_code == 200
    assert one_mib.json()["length"] == 1024 * 1024
    assert status == 413, body
    assert headers.get("content-type", "").startswith("application/json")
    assert str(DEFAULT_LIMIT) in body.decode()
    assert elapsed < 2


def _read_one_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one Content-Length framed response from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the body"
        body += chunk
    return int(lines[0].split(" ", 2)[1]), headers, body


# ---------------------------------------------------------------------------------------------
# Malformed HTTP

MALFORMED = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "binary request line": b"\x00\x01\x02\xff\xfe\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "header without name": b"GET / HTTP/1.1\r\nHost: x\r\n: nothing\r\n\r\n",
    "unknown HTTP version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "non-numeric content length": (
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc"
    ),
    "conflicting content lengths": (
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc"
    ),
    "bad chunk size": (
        b"POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "truncated body": b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    "truncated headers": b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Le",
    "header line of 100 KB": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "URL of 100 KB": b"GET /score?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


def _send_and_hang_up(port: int, data: bytes, wait: float = 0.5) -> bytes:
    """Send raw bytes, take whatever comes back within `wait`, then close the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(data)
        sock.settimeout(wait)
        received = b""
        with contextlib.suppress(socket.timeout, ConnectionError):  # socket.timeout: Python 3.9
            while chunk := sock.recv(65536):
                received += chunk
    return received


def _json_4xx(answer: bytes) -> bool:
    """Whether a raw HTTP answer is a 4xx with a JSON {"message": ...} body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    try:
        message = json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return False
    return (
        lines[0].startswith("HTTP/1.1 4")
        and headers.get("content-type", "").startswith("application/json")
        and isinstance(message, str)
    )


@pytest.mark.parametrize("length", [9 * 1024, 100 * 1024])
def test_url_over_8_kib_gets_414(limited: RunningServer, length: int) -> None:
    """The README's limit: URLs over 8 KiB are refused with 414, however long they are."""
    answer = _send_and_hang_up(
        limited.port, b"GET /score?q=" + b"a" * length + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:300]
    assert _json_4xx(answer), answer[:300]


def test_malformed_requests_do_not_hurt_the_worker(limited: RunningServer) -> None:
    pid = _pid(limited)
    inits = _init_count(limited)
    answers = {name: _send_and_hang_up(limited.port, data) for name, data in MALFORMED.items()}
    probe = limited.client().get("/")
    score = limited.client().post("/score", content=b"still here")
    # Whatever came back was a client error in JSON (a request cut short may get no answer).
    not_json_4xx = {
        name: answer[:300] for name, answer in answers.items() if answer and not _json_4xx(answer)
    }
    assert not_json_4xx == {}
    assert probe.status_code == 200
    assert score.status_code == 200
    assert score.json()["pid"] == pid
    assert score.json()["data"] == "still here"
    assert _init_count(limited) == inits
    assert limited.process.poll() is None


def test_truncated_body_is_not_scored(limited: RunningServer) -> None:
    """A client that hangs up in the middle of its body has not sent a request to score."""
    before = settled_access_count(limited)
    _send_and_hang_up(
        limited.port,
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial",
        wait=0.2,
    )
    # run() calls are served in order: once this one is answered, an earlier one would be too.
    assert limited.client().post("/score", content=b"after").status_code == 200
    lines = access_lines(limited.output())[before : settled_access_count(limited)]
    scored = [f"{a['method']} {a['path']} {a['status']}" for a in lines]
    # Only the complete request reached run() (the other line is settled_access_count's marker).
    assert [s for s in scored if s.startswith("POST ")] == ["POST /score 200"], scored


# ---------------------------------------------------------------------------------------------
# Slow and idle clients


def test_idle_and_slow_clients_do_not_hold_up_others(limited: RunningServer) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"p" * 30 + b"\r\n\r\n"
    slow_answer: list[bytes] = []

    def slow_client() -> None:
        # One byte every 20 ms: about 1.5 s to send the headers.
        with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
            slow_answer.append(sock.recv(65536))

    with socket.create_connection(("127.0.0.1", limited.port), timeout=10):  # idle: sends nothing
        slow = threading.Thread(target=slow_client)
        slow.start()
        latencies: list[float] = []
        statuses: list[int] = []
        with limited.client() as client:
            while slow.is_alive() or not latencies:
                started = time.monotonic()
                statuses.append(client.post("/score", content=b"fast").status_code)
                latencies.append(time.monotonic() - started)
                time.sleep(0.02)
        slow.join(10)
    assert set(statuses) == {200}
    assert len(latencies) > 10  # the fast client was served all along the slow one
    assert max(latencies) < 0.5, latencies
    assert slow_answer and slow_answer[0].startswith(b"HTTP/1.1 200 ")


def test_idle_keep_alive_connection_is_closed_after_5_s(limited: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = _read_one_response(sock)
        answered = time.monotonic()
        leftover = b""
        with contextlib.suppress(ConnectionError):
            # Nothing more is sent: the server should hang up by itself.
            leftover = sock.recv(65536)
        closed_after = time.monotonic() - answered
    assert status == 200 and body == b"Healthy"
    assert leftover == b""
    assert 4 < closed_after < 8, closed_after


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(
    limited: RunningServer,
) -> None:
    """Sending the request and then shutting down the sending side is not hanging up."""
    request = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        # The server closes once it has answered: reading to the end must not time out.
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["data"] == "hello"


def test_a_client_that_half_closes_in_the_middle_of_its_body_is_not_scored(
    limited: RunningServer,
) -> None:
    before = settled_access_count(limited)
    with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf-closed")
        sock.shutdown(socket.SHUT_WR)
        # Closed without an answer, and at once: nothing waits for the rest of the body.
        assert sock.recv(65536) == b""
    assert limited.client().post("/score", content=b"after").status_code == 200
    lines = access_lines(limited.output())[before : settled_access_count(limited)]
    assert [f"{a['method']} {a['path']} {a['status']}" for a in lines] == ["POST /score 200"]
