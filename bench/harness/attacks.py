"""Attacks on a running scoreserver, as a hostile or broken client would make them.

Each attack is bounded in time and in count, talks to 127.0.0.1 only, cleans up its sockets,
and returns an Outcome: whether the server held, and what was seen. The server under attack
serves workloads/pid_echo.py (run() answers its pid and exactly what it received) with the
settings of SERVER_ARGS and SERVER_ENV, under a limit of FILES_LIMIT open files. Both
bench/adversarial.py (a table) and tests/integration/test_adversarial.py (assertions) use them.

Only the standard library: this module is imported from the benchmark and from the tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ATTACKS",
    "FILES_LIMIT",
    "HEADER_TIMEOUT_S",
    "PID_ECHO",
    "SERVER_ARGS",
    "SERVER_ENV",
    "Outcome",
    "Target",
    "server_command",
]

PID_ECHO = Path(__file__).resolve().parents[1] / "workloads" / "pid_echo.py"
FILES_LIMIT = 1024
HEADER_TIMEOUT_S = 2.0
WORKERS = 2
SERVER_ARGS = ("--entry_script", str(PID_ECHO), "--worker_count", str(WORKERS))
SERVER_ENV = {"SCORESERVER_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S)}
WARNING = "running out of open files"
ENDLESS_BYTES = 16 * 1024 * 1024
READY = re.compile(r"Worker with pid (\d+) ready for serving traffic")


def server_command(python: str) -> list[str]:
    """The command that starts scoreserver under the attacks' limit of open files."""
    return ["prlimit", f"--nofile={FILES_LIMIT}", python, "-m", "scoreserver"]


@dataclass(frozen=True)
class Outcome:
    """What one attack found."""

    attack: str
    defended: bool
    detail: str


@dataclass(frozen=True)
class Target:
    """The server under attack."""

    port: int
    supervisor_pid: int
    output: Callable[[], str]
    """Everything the server has logged so far."""

    def worker_pids(self) -> list[int]:
        """The supervisor's worker processes now."""
        path = Path(f"/proc/{self.supervisor_pid}/task/{self.supervisor_pid}/children")
        return [int(pid) for pid in path.read_text().split()]


# ---------------------------------------------------------------------------------------------
# Talking to the server


def _connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_to_end(sock: socket.socket, wait: float) -> tuple[bytes, bool]:
    """What arrives until the server closes (True) or `wait` seconds pass (False)."""
    received = b""
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:  # TimeoutError from Python 3.10 on, not before
            break
        except ConnectionError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def exchange(port: int, *parts: bytes, wait: float = 1.0) -> tuple[bytes, bool]:
    """Send the parts as separate packets (a pause between them); read until close or `wait`."""
    with _connect(port) as sock:
        for index, part in enumerate(parts):
            if index:
                time.sleep(0.2)
            sock.sendall(part)
        return _read_to_end(sock, wait)


def responses(data: bytes) -> list[tuple[int, bytes]]:
    """The (status, body) of each Content-Length framed response in data, in order."""
    found = []
    while data.startswith(b"HTTP/1.1 "):
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head)[1])  # type: ignore[index]
        found.append((int(head[9:12]), rest[:length]))
        data = rest[length:]
    return found


def _score(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, float]:
    """A well-behaved client's POST /score on a new connection: its status and latency."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/score", body=body)
        status = connection.getresponse().status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, time.monotonic() - started


def _raise_own_files_limit(wanted: int) -> None:
    import resource  # POSIX's: imported here so that the module loads anywhere

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------
# Upgrade headers


def _upgrade_head(length: int, upgrade: bytes = b"h2c") -> bytes:
    return (
        b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: " + upgrade + b"\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def _echoed(body: bytes) -> bytes:
    return json.dumps(body.decode()).encode()


def upgrade_h2c(target: Target) -> Outcome:
    """`curl --http2 -d ...`: a POST with `Upgrade: h2c` and its body in the same packet."""
    body = b'{"input": [1, 2, 3]}'
    answers = responses(exchange(target.port, _upgrade_head(len(body)) + body)[0])
    whole = len(answers) == 1 and answers[0][0] == 200 and _echoed(body) in answers[0][1]
    seen = [(status, _echoed(body) in answer) for status, answer in answers]
    return Outcome("Upgrade: h2c POST", whole, f"(status, body reached run() whole): {seen}")


def upgrade_split_and_pipelined(target: Target) -> Outcome:
    """The body of an upgrade request in later packets, and a request pipelined behind it."""
    body = b"x" * 3000
    probe = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    data, _ = exchange(
        target.port, _upgrade_head(len(body), b"websocket"), body[:1000], body[1000:] + probe
    )
    answers = responses(data)
    held = (
        [status for status, _ in answers] == [200, 200]
        and _echoed(body) in answers[0][1]
        and answers[1][1] == b"Healthy"
    )
    seen = [(status, len(body)) for status, body in answers]
    return Outcome("Upgrade, body split, one pipelined", held, f"(status, length): {seen}")


def upgrade_smuggling(target: Target) -> Outcome:
    """An upgrade request whose body is itself a request: it must stay a body."""
    inner = b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nsmuggled"
    data, _ = exchange(target.port, _upgrade_head(len(inner)), inner)
    answers = responses(data)
    held = len(answers) == 1 and _echoed(inner) in answers[0][1]
    return Outcome("Request smuggled in an upgrade body", held, f"{len(answers)} answer(s)")


# ---------------------------------------------------------------------------------------------
# Heads that never end, or never come


def _endless(target: Target, start: bytes, expected: int) -> tuple[bool, str]:
    """Send start, then bytes without a line end (at most 16 MiB) until the server answers.

    How much is sent before the answer shows depends on how fast the server reads (loopback
    buffers hold megabytes); what matters is the answer, the close, and the worker's memory.
    """
    pid = max(target.worker_pids(), key=_rss_kib)
    before = _rss_kib(pid)
    sent = 0
    with _connect(target.port) as sock:
        sock.sendall(start)
        with contextlib.suppress(OSError):
            while sent < ENDLESS_BYTES:
                sock.sendall(b"a" * 4096)
                sent += 4096
                if select.select([sock], [], [], 0)[0]:
                    break
        data, closed = _read_to_end(sock, 2.0)
    grown = (max(_rss_kib(p) for p in target.worker_pids()) - before) // 1024
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    held = status == expected and closed and grown < 20
    return held, f"{status} after {sent // 1024} KiB sent, worker RSS +{grown} MiB"


def endless_request_line(target: Target) -> Outcome:
    """A URL that never ends."""
    return Outcome("Endless request line", *_endless(target, b"GET /score?q=", 414))


def endless_header(target: Target) -> Outcome:
    """A header value that never ends."""
    start = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "
    return Outcome("Endless header line", *_endless(target, start, 431))


def endless_trailer(target: Target) -> Outcome:
    """A trailer (a header after a chunked body) that never ends."""
    start = (
        b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Endless: "
    )
    return Outcome("Endless trailer", *_endless(target, start, 431))


def silent_connection(target: Target) -> Outcome:
    """A connection that never sends a byte."""
    started = time.monotonic()
    data, closed = exchange(target.port, b"", wait=HEADER_TIMEOUT_S + 3)
    after = time.monotonic() - started
    held = closed and data == b"" and after < HEADER_TIMEOUT_S + 2
    return Outcome("Silent connection", held, f"closed after {after:.1f} s, {len(data)} bytes")


def trickled_head(target: Target) -> Outcome:
    """A head sent a byte every half second (the header timeout counts the whole head)."""
    started = time.monotonic()
    data = b""
    with _connect(target.port) as sock:
        with contextlib.suppress(OSError):
            for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 40:
                sock.sendall(bytes([byte]))
                if select.select([sock], [], [], 0.5)[0]:
                    break
        data, closed = _read_to_end(sock, 2.0)
    after = time.monotonic() - started
    held = data.startswith(b"HTTP/1.1 408 ") and closed and after < HEADER_TIMEOUT_S + 2
    return Outcome("Head trickled byte by byte", held, f"{data[:12]!r} after {after:.1f} s")


def slowloris(target: Target, count: int = 300) -> Outcome:
    """Many connections trickling heads; well-behaved clients must be served meanwhile."""
    sockets = []
    try:
        for _ in range(count):
            sock = _connect(target.port)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)
        latencies: list[float] = []
        statuses: set[int] = set()
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 1.5
        open_ones = list(sockets)
        while time.monotonic() < deadline and open_ones:
            for sock in list(open_ones):
                try:
                    sock.sendall(b"X-a: b\r\n")
                except OSError:
                    open_ones.remove(sock)
            status, latency = _score(target.port, b"well-behaved")
            statuses.add(status)
            latencies.append(latency)
            time.sleep(0.2)
        still_open = sum(not _closed_by_server(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    held = statuses == {200} and max(latencies) < 1.0 and still_open == 0
    detail = (
        f"{count} slow heads: {still_open} left open after the header timeout; others served "
        f"{sorted(statuses)} in at most {max(latencies) * 1000:.0f} ms"
    )
    return Outcome("Slowloris", held, detail)


def _closed_by_server(sock: socket.socket) -> bool:
    _data, closed = _read_to_end(sock, 0.5)
    return closed


# ---------------------------------------------------------------------------------------------
# Descriptor exhaustion


def descriptor_pressure(target: Target, count: int = 3000) -> Outcome:
    """Idle connections beyond the limit of open files; a client, and a crash, still handled."""
    _raise_own_files_limit(count + 256)
    warnings_before = target.output().count(WARNING)
    idle = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", target.port))
            idle.append(sock)
        time.sleep(1.0)
        status, latency = _score(target.port, b"well-behaved", timeout=10)
        # While the idle connections are still there: the supervisor replaces a killed worker.
        replaced = _await_replacement(target, _kill_a_worker(target), timeout=20)
        after = _score(target.port, b"after the crash", timeout=10)[0]
    finally:
        for sock in idle:
            sock.close()
    warnings = target.output().count(WARNING) - warnings_before
    held = status == 200 and replaced is not None and after == 200 and 1 <= warnings <= WORKERS + 1
    detail = (
        f"{count} idle connections, limit {FILES_LIMIT}: a client got {status} in "
        f"{latency * 1000:.0f} ms; {warnings} warning(s); a killed worker "
        f"{'was replaced' if replaced else 'was NOT replaced'}, then {after}"
    )
    return Outcome("Descriptor exhaustion", held, detail)


def _kill_a_worker(target: Target) -> set[int]:
    """SIGKILL one worker; return the pids of the workers that were ready before."""
    known = _ready_workers(target)
    os.kill(target.worker_pids()[0], signal.SIGKILL)
    return known


def _ready_workers(target: Target) -> set[int]:
    return {int(pid) for pid in READY.findall(target.output())}


def _await_replacement(target: Target, known: set[int], timeout: float) -> int | None:
    """The pid of a worker not in `known`, once it says it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = _ready_workers(target) - known
        if fresh:
            return fresh.pop()
        time.sleep(0.05)
    return None


# ---------------------------------------------------------------------------------------------
# Crash under keep-alive load


def crash_under_keep_alive(target: Target, clients: int = 8) -> Outcome:
    """Kill a worker under keep-alive load: the replacement must get its share back in 10 s."""
    served: list[tuple[float, int]] = []
    stop = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        while not stop.is_set():
            try:
                connection.request("POST", "/score", body=b"load")
                response = connection.getresponse()
                body = response.read()
                if response.status == 200:
                    served.append((time.monotonic(), json.loads(body)["pid"]))
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                connection.close()
                time.sleep(0.01)
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        replacement = _await_replacement(target, _kill_a_worker(target), timeout=20)
        ready_at = time.monotonic()
        share, took = 0.0, None
        while replacement is not None and time.monotonic() - ready_at < 10:
            time.sleep(0.5)
            window = [pid for at, pid in served if at > time.monotonic() - 1.0]
            share = window.count(replacement) / max(1, len(window))
            if share >= 1 / (WORKERS + 1):
                took = time.monotonic() - ready_at
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    held = took is not None
    detail = (
        f"{clients} keep-alive clients, {WORKERS} workers, one killed: the replacement served "
        f"{share:.0%} of requests"
        + (f" {took:.1f} s after it was ready" if took is not None else " within 10 s")
    )
    return Outcome("Crash under keep-alive load", held, detail)


# ---------------------------------------------------------------------------------------------
# Leaks


def leak_check(target: Target, rounds: int = 400) -> Outcome:
    """Many requests, good and bad: the workers' descriptors and memory come back."""
    pids = target.worker_pids()
    fds_before = {pid: _open_descriptors(pid) for pid in pids}
    rss_before = {pid: _rss_kib(pid) for pid in pids}
    bad = [
        _upgrade_head(4) + b"abcd",
        b"GET /score?" + b"q" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"POST /score HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
    ]
    for index in range(rounds):
        exchange(target.port, bad[index % len(bad)], wait=0.05)
        _score(target.port, b"good")
    time.sleep(1.5)  # closed connections' copies are let go of once a second
    fds_after = {pid: _open_descriptors(pid) for pid in pids}
    rss_after = {pid: _rss_kib(pid) for pid in pids}
    fds_grown = max(fds_after[pid] - fds_before[pid] for pid in pids)
    rss_grown = max(rss_after[pid] - rss_before[pid] for pid in pids) // 1024
    held = fds_grown <= 4 and rss_grown < 20
    detail = f"{rounds * 2} requests: descriptors +{fds_grown}, RSS +{rss_grown} MiB per worker"
    return Outcome("Leak check", held, detail)


ATTACKS: dict[str, Callable[[Target], Outcome]] = {
    "upgrade-h2c": upgrade_h2c,
    "upgrade-split": upgrade_split_and_pipelined,
    "upgrade-smuggling": upgrade_smuggling,
    "endless-request-line": endless_request_line,
    "endless-header": endless_header,
    "endless-trailer": endless_trailer,
    "silent": silent_connection,
    "trickle": trickled_head,
    "slowloris": slowloris,
    "leaks": leak_check,
    "descriptors": descriptor_pressure,
    "crash": crash_under_keep_alive,
}
"""Every attack by name, in the order they run (those that kill a worker last)."""
