"""How a route reads its request's body and sends its response: over ASGI, or on uvicorn's cycle.

Over ASGI, a body arrives as receive() messages, and a response leaves as two send() messages
that uvicorn checks and turns into bytes; on a fast route that is about a tenth of the worker's
CPU. When the server is uvicorn's httptools protocol, the send() a route is given is a method of
uvicorn's request cycle, which holds the body and writes to the connection; a route then works
on that cycle instead (`CycleExchange`): a body that has arrived whole is taken as it is, and a
response whose bytes are final (`PreparedResponse`) leaves with its head in one write. Anything
else (a body still arriving, a 100-continue, a streamed or HEAD response, a client slow to read)
goes through the cycle's own receive() and send(), as over ASGI.

The cycle's attributes are uvicorn's internals: `cycle_type()` finds the cycle only if uvicorn's
still has every one used here; otherwise every request takes the ASGI path (slower, the same
bytes). tests/unit/test_exchanges.py compares the bytes of both paths.
"""

from __future__ import annotations

from functools import cache
from http import HTTPStatus
from itertools import chain
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.responses import Response

from scoreserver.errors import PayloadTooLargeError
from scoreserver.script.outputs import PreparedResponse
from scoreserver.types import Receive, Scope, Send

__all__ = [
    "AsgiExchange",
    "ClientDisconnected",
    "CycleExchange",
    "Exchange",
    "cycle_type",
    "exchange_for",
    "read_body",
]

# What CycleExchange reads or sets on uvicorn's RequestResponseCycle and its FlowControl.
_CYCLE_ATTRIBUTES = frozenset(
    [
        "scope",
        "transport",
        "flow",
        "default_headers",
        "message_event",
        "on_response",
        "disconnected",
        "keep_alive",
        "waiting_for_100_continue",
        "body",
        "more_body",
        "response_started",
        "response_complete",
    ]
)
_CYCLE_METHODS = ("receive", "send")
_CLOSE = (b"connection", b"close")
_FLOW_ATTRIBUTES = frozenset(["write_paused"])


class ClientDisconnected(Exception):
    """The client went away before its request was complete."""


class Exchange(Protocol):
    """One request and its response, as a route sees them."""

    scope: Scope
    receive: Receive
    send: Send

    async def body(self, headers: Headers, limit: int) -> bytes:
        """The whole request body; more than limit bytes is refused before or while it arrives."""

    async def respond(self, response: Response) -> None:
        """Send the whole response."""


class AsgiExchange:
    """A request served through ASGI's receive() and send()."""

    __slots__ = ("receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    async def body(self, headers: Headers, limit: int) -> bytes:
        """The whole request body, from receive()."""
        return await read_body(self.receive, headers, limit)

    async def respond(self, response: Response) -> None:
        """The response, through send()."""
        await response(self.scope, self.receive, self.send)


class CycleExchange:
    """A request served on uvicorn's request cycle itself (see the module's docstring)."""

    __slots__ = ("_cycle", "receive", "scope", "send")

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle
        self.scope: Scope = cycle.scope
        self.receive: Receive = cycle.receive
        self.send: Send = cycle.send

    async def body(self, headers: Headers, limit: int) -> bytes:
        """The body the cycle holds when it has arrived whole, else from receive()."""
        cycle = self._cycle
        if cycle.more_body or cycle.disconnected or cycle.waiting_for_100_continue:
            return await read_body(self.receive, headers, limit)
        body = bytes(cycle.body)
        if len(body) > limit:
            raise PayloadTooLargeError.over(limit)
        return body

    async def respond(self, response: Response) -> None:
        """A PreparedResponse written at once, head and body together; any other through send()."""
        cycle = self._cycle
        if (
            type(response) is not PreparedResponse
            or cycle.response_started
            or cycle.flow.write_paused
            or self.scope["method"] == "HEAD"
        ):
            await response(self.scope, self.receive, self.send)
            return
        if cycle.disconnected:
            return  # as uvicorn's send(): nobody to write to
        # uvicorn from 0.40 reads the request's Connection header into keep_alive; before, its
        # send() answered a `connection: close` request header with the same and then closed.
        keep_alive = cycle.keep_alive and _CLOSE not in self.scope["headers"]
        parts: list[bytes | memoryview] = [_status_line(response.status_code)]
        for name, value in chain(cycle.default_headers, response.raw_headers):
            parts += (name.lower(), b": ", value, b"\r\n")
        parts.append(b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        parts.append(response.body)
        cycle.transport.write(b"".join(parts))
        # What uvicorn's send() records of a complete response, in its order.
        cycle.keep_alive = keep_alive
        cycle.response_started = True
        cycle.response_complete = True
        cycle.message_event.set()
        if not keep_alive:
            cycle.transport.close()
        cycle.on_response()


@cache
def _status_line(status_code: int) -> bytes:
    """`HTTP/1.1 200 OK` and its line end, as uvicorn writes it (no phrase for unknown codes)."""
    try:
        phrase = HTTPStatus(status_code).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status_code, phrase)


def cycle_type() -> type | None:
    """uvicorn's httptools request cycle, if it still has what CycleExchange uses; else None."""
    try:
        from uvicorn.protocols.http.flow_control import FlowControl
        from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
    except ImportError:  # httptools missing, or uvicorn's layout changed
        return None
    # The attribute names a method sets or reads are in its code object: no instance needed.
    cycle_names = set(RequestResponseCycle.__init__.__code__.co_names)
    flow_names = set(FlowControl.__init__.__code__.co_names)
    known = (
        cycle_names >= _CYCLE_ATTRIBUTES
        and flow_names >= _FLOW_ATTRIBUTES
        and all(callable(getattr(RequestResponseCycle, name, None)) for name in _CYCLE_METHODS)
    )
    return RequestResponseCycle if known else None


def exchange_for(scope: Scope, receive: Receive, send: Send, cycle: type | None) -> Exchange:
    """The cycle itself when send() is a method of one (of the known type); else ASGI."""
    owner = getattr(send, "__self__", None)
    if cycle is not None and type(owner) is cycle:
        return CycleExchange(owner)
    return AsgiExchange(scope, receive, send)


async def read_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    """The whole request body; more than limit bytes is refused before or while it arrives."""
    for name, declared in headers.raw:
        if name == b"content-length" and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError.over(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client hung up before sending the whole body: there is nobody to answer, and
            # run() must not score a truncated input.
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError.over(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
