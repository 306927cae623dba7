"""Connections held to account: upgrade requests read as ordinary ones, request heads limited in
size and in time, and room made for new clients when open files run short.

Three things a client could do to the worker through uvicorn's httptools protocol, and what
stops them here:

- An `Upgrade` header (`curl --http2` sends `Upgrade: h2c`) makes httptools stop at the end of
  the head and treat the rest as another protocol: the body was lost, and read as requests of
  its own. We serve no other protocol, so such a request is read on as an ordinary one.
- A head that never ends was buffered without limit: it is refused (414/431) once it is longer
  than any head the application accepts; so is a trailer (headers after a chunked body).
- A head that never comes held the connection forever: the header timeout ends it (408 when
  something was sent), and a worker short of open files ends the oldest such connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from scoreserver.errors import (
    ClientError,
    HeaderTooLargeError,
    RequestTimeoutError,
    URITooLongError,
)
from scoreserver.http.http_protocol import JsonErrorsHttpToolsProtocol
from scoreserver.http.middleware import MAX_HEADER_BYTES, MAX_URL_BYTES, url_too_long_message

if TYPE_CHECKING:
    from scoreserver.processes.descriptors import DescriptorBudget

__all__ = [
    "MAX_HEAD_BYTES",
    "ConnectionGuards",
    "GuardedHttpToolsProtocol",
    "guarded_protocol",
    "uvicorn_internals_known",
]

MAX_HEAD_BYTES = MAX_URL_BYTES + 2 * MAX_HEADER_BYTES
"""A request head (request line and headers) growing past this is refused, ended or not.

Larger than any head the application accepts (its URL and header limits, plus the syntax around
the headers), so that everything refused only here would have been refused there too.
"""

_FRAMING = (b"content-length", b"transfer-encoding")
_PROTOCOL_ATTRIBUTES = frozenset(
    [
        "cycle",
        "scope",
        "url",
        "headers",
        "parser",
        "connections",
        "flow",
        "loop",
        "timeout_keep_alive",
        "timeout_keep_alive_task",
    ]
)
_PROTOCOL_METHODS = (
    "_unset_keepalive_if_required",
    "timeout_keep_alive_handler",
    "on_response_complete",
    "on_headers_complete",
    "on_message_begin",
    "on_url",
    "on_header",
    "on_body",
    "on_message_complete",
)
_CYCLE_ATTRIBUTES = frozenset(
    ["more_body", "message_event", "response_started", "response_complete", "keep_alive", "scope"]
)
_INVALID_REQUEST = "Invalid HTTP request received."


@dataclass(frozen=True)
class ConnectionGuards:
    """What a worker's connections are held to, fixed at start-up."""

    header_timeout: float
    """Seconds a connection has to send a whole request head."""
    budget: DescriptorBudget | None = None
    """The worker's room for connections, when it knows its limit of open files."""


class GuardedHttpToolsProtocol(JsonErrorsHttpToolsProtocol):
    """Upgrade requests read as ordinary ones, heads limited in size and time, room made for new clients.

    uvicorn's timer slot for the keep-alive timeout (timeout_keep_alive_task) also holds the
    header timeout: uvicorn cancels whatever it holds when a response is complete and when the
    connection is lost, which is exactly when a head deadline is over. Arriving bytes do not
    cancel it (uvicorn's own data_received would): when it fires, it looks at what came.
    """

    guards = ConnectionGuards(header_timeout=30.0)
    opened_at = 0.0
    """When the connection was made (event loop time): the oldest waiting go first."""
    _head_scope: object = None
    _head_bytes = 0
    _bodiless_cycle: object = None
    _bodiless_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up the connection; its first head is due within the header timeout."""
        super().connection_made(transport)
        self.opened_at = self.loop.time()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.guards.header_timeout, self._head_overdue
        )
        if self.guards.budget is not None:
            self.guards.budget.admit(self, cast("set[GuardedHttpToolsProtocol]", self.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the pending timer too (uvicorn keeps it when the connection was reset)."""
        self._unset_keepalive_if_required()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse what arrived: an upgrade request goes on as an ordinary one; a head is limited."""
        self._received = data[:64]
        size = len(data)
        cycle = self.cycle
        body_before = -1  # in a body: how much of it the cycle held before these bytes
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            body_before = len(cycle.body)
        while True:
            try:
                self.parser.feed_data(data)
                break
            except httptools.HttpParserError:
                self.logger.warning(_INVALID_REQUEST)
                self.send_400_response(_INVALID_REQUEST)
                return
            except httptools.HttpParserUpgrade as upgrade:
                data = self._read_on_after_upgrade(data[upgrade.args[0] :])
        scope = self.scope
        if scope is not None and (self.cycle is None or self.cycle.scope is not scope):
            self._count_head(scope, size)
        elif body_before >= 0 and cycle.more_body:
            self._count_bodiless(cycle, len(cycle.body) > body_before, size)

    def waiting_for_first_head(self) -> bool:
        """The connection has not sent a whole request head yet, and is still open."""
        return self.cycle is None and not self.transport.is_closing()

    def closing(self) -> bool:
        """The connection is being closed."""
        return self.transport.is_closing()

    def has_requests(self) -> bool:
        """The connection has sent a whole request head at least once."""
        return self.cycle is not None

    def close_after_response(self) -> bool:
        """Answer the request waiting for its response with `Connection: close`, if there is one."""
        cycle = self.cycle
        if cycle is None or cycle.response_started or not cycle.keep_alive:
            return False
        cycle.keep_alive = False
        return True

    def give_up(self) -> None:
        """End a connection that owes a request head: 408 if it sent any of it, else just close."""
        if self._received:
            error = RequestTimeoutError("The request head did not arrive in time.")
            self._answer_and_close(error.status_code, error.message)
        else:
            self.transport.close()

    def timeout_keep_alive_handler(self) -> None:
        """Keep-alive time is up: an idle connection closes; a head begun gets the header timeout."""
        self.timeout_keep_alive_task = None
        if self.transport.is_closing() or self._answering():
            return  # its response's completion arms the timer again
        if not self._head_begun():
            self.transport.close()
            return
        # The head's time counts from the previous response, as the keep-alive time does.
        left = self.guards.header_timeout - self.timeout_keep_alive
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._head_overdue)
        else:
            self.give_up()

    def _head_overdue(self) -> None:
        self.timeout_keep_alive_task = None
        if not self.transport.is_closing() and not self._answering():
            self.give_up()

    def _answering(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _head_begun(self) -> bool:
        # uvicorn makes a new scope when a message begins and hands it to the cycle its head
        # completes: a scope no cycle has is a head still arriving.
        scope = self.scope
        return scope is not None and (self.cycle is None or self.cycle.scope is not scope)

    def _count_head(self, scope: object, size: int) -> None:
        """A head is still arriving: refuse it once it is too long, whether or not it ends."""
        if scope is self._head_scope:
            self._head_bytes += size
        else:
            self._head_scope = scope
            # These bytes may end an earlier message; only before the first head are they all head.
            self._head_bytes = size if self.cycle is None else 0
        error: ClientError
        if len(self.url) > MAX_URL_BYTES:
            error = URITooLongError(url_too_long_message())
        elif self._head_bytes > MAX_HEAD_BYTES:
            error = HeaderTooLargeError(f"Request head is larger than {MAX_HEAD_BYTES} bytes.")
        else:
            return
        if self._answering():
            # The answer waits for the responses before it: read nothing more until then.
            self.flow.pause_reading()
            return
        self._answer_and_close(error.status_code, error.message)

    def _count_bodiless(self, cycle: RequestResponseCycle, body_came: bool, size: int) -> None:
        """Bytes in a body that carry none of it (chunk trailers) are limited as a head is."""
        if body_came or cycle is not self._bodiless_cycle:
            self._bodiless_cycle = cycle
            self._bodiless_bytes = 0
        if body_came:
            return
        self._bodiless_bytes += size
        if self._bodiless_bytes <= MAX_HEAD_BYTES:
            return
        if cycle.response_started:
            self.transport.close()  # an answer is under way: nothing else can be said
            return
        error = HeaderTooLargeError(f"Request trailer is larger than {MAX_HEAD_BYTES} bytes.")
        self._answer_and_close(error.status_code, error.message)

    def _read_on_after_upgrade(self, rest: bytes) -> bytes:
        """The parser stopped at an upgrade request's head: a new one reads its body and beyond.

        httptools treats whatever follows an upgrade request's head as another protocol, body
        included. We serve no other protocol, so the request is an ordinary one: a new parser
        is first fed a head of ours with the request's framing headers, which makes it read
        the body that follows, then goes on with the requests after it.
        """
        framing = b"".join(
            name + b": " + value + b"\r\n" for name, value in self.headers if name in _FRAMING
        )
        self.parser = httptools.HttpRequestParser(_AfterUpgrade(self, skip_head=bool(framing)))
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3, as uvicorn does
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        if not framing:
            return rest
        cycle = self.cycle
        cycle.more_body = True  # the old parser called the message complete, without its body
        cycle.message_event.clear()
        return b"POST / HTTP/1.1\r\n" + framing + b"\r\n" + rest


class _AfterUpgrade:
    """Parser callbacks after an upgrade request: our head skipped, everything else passed on."""

    def __init__(self, protocol: JsonErrorsHttpToolsProtocol, skip_head: bool) -> None:
        self._protocol = protocol
        self._skipping = skip_head
        self.on_body = protocol.on_body
        self.on_message_complete = protocol.on_message_complete

    def on_message_begin(self) -> None:
        """A message begins (ours is not one the application sees)."""
        if not self._skipping:
            self._protocol.on_message_begin()

    def on_url(self, url: bytes) -> None:
        """Part of the URL."""
        if not self._skipping:
            self._protocol.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header."""
        if not self._skipping:
            self._protocol.on_header(name, value)

    def on_headers_complete(self) -> None:
        """A head is complete; after ours, the body belongs to the upgrade request."""
        if self._skipping:
            self._skipping = False
        else:
            self._protocol.on_headers_complete()


def uvicorn_internals_known() -> bool:
    """Whether uvicorn's protocol still has the parts the guards rely on (else they stay off)."""
    # The attribute names a method sets or reads are in its code object: no instance needed.
    protocol_names = set(HttpToolsProtocol.__init__.__code__.co_names)
    protocol_names |= set(HttpToolsProtocol.on_message_begin.__code__.co_names)
    cycle_names = set(RequestResponseCycle.__init__.__code__.co_names)
    return (
        protocol_names >= _PROTOCOL_ATTRIBUTES
        and cycle_names >= _CYCLE_ATTRIBUTES
        and all(callable(getattr(HttpToolsProtocol, name, None)) for name in _PROTOCOL_METHODS)
        and hasattr(httptools, "HttpParserUpgrade")
    )


def guarded_protocol(guards: ConnectionGuards) -> type[GuardedHttpToolsProtocol]:
    """The guarded protocol, held to these guards."""
    return type("GuardedProtocol", (GuardedHttpToolsProtocol,), {"guards": guards})
