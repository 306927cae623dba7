"""The smallest ASGI app that answers like the servers: GET / is "Healthy", POST /score scores.

This is the physical limit the benchmark compares against: no framework, no middleware, no
headers beyond the required ones, the body read once, the reply written once.
"""

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

_HEALTHY = b"Healthy"
_HTML = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"7")]
_NOT_FOUND = [(b"content-type", b"text/plain"), (b"content-length", b"0")]

# As many threads as the largest connection count the benchmark uses, so a run() that releases
# the GIL is limited by the work, not by the pool.
POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="run")


async def _read_body(receive):
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send(send, status, headers, body):
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def score_app(score: Callable[[bytes], Awaitable[bytes]]):
    """An ASGI app whose /score answers with the JSON bytes score(body) returns."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path = scope["path"]
        if path == "/score":
            reply = await score(body)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(reply)).encode()),
            ]
            await _send(send, 200, headers, reply)
        elif path == "/":
            await _send(send, 200, _HTML, _HEALTHY)
        else:
            await _send(send, 404, _NOT_FOUND, b"")

    return app


def in_thread(function: Callable[[], bytes]) -> Callable[[bytes], Awaitable[bytes]]:
    """A score() that runs a blocking function in the pool, as a server must for run()."""

    async def score(body: bytes) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(POOL, function)

    return score
