"""A minimal HTTP/1.1 client over raw sockets, async and blocking, for loopback servers only.

Minimal on purpose: the measuring side should cost as little as possible and add no connection
pool, retries or redirects of its own. It understands what the three servers send back: a status
line, headers, and a Content-Length body (or a body up to the close).
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status, lower-cased headers, body, and whether the server will close."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closes(self) -> bool:
        """The server ends the connection after this response (the reference's gunicorn does)."""
        return self.headers.get("connection", "").lower() == "close"


def request_bytes(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    """The bytes of one keep-alive request."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    """Read one response from a stream."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, headers = _parse_head(head[:-4])
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return Reply(status, headers, body)


async def fetch(
    port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[Reply, float]:
    """One request on a fresh connection; the reply and the seconds it took, connect included."""
    start = time.perf_counter()
    reply = await asyncio.wait_for(
        _exchange(port, request_bytes(method, path, port, body)), timeout
    )
    return reply, time.perf_counter() - start


async def _exchange(port: int, request: bytes) -> Reply:
    """Send one request on a fresh connection and read its reply."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        return await read_reply(reader)
    finally:
        if writer is not None:
            writer.close()


def fetch_blocking(
    port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> Reply:
    """One request on a fresh blocking socket; raises OSError while nobody listens."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request_bytes(method, path, port, body))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the response head")
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        status, headers = _parse_head(head)
        length = int(headers.get("content-length", -1))
        while length < 0 or len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(status, headers, rest if length < 0 else rest[:length])
