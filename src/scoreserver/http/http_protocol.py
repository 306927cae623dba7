"""uvicorn's httptools protocol: JSON for requests it cannot parse, and one write per response.

The parser refuses some requests before the application sees them: those it cannot read at all,
URLs longer than it buffers, and methods it does not know. Each still gets the JSON answer the
application would have given: 400, 414, or the router's 405.

uvicorn writes a response's head and its body separately, and uvloop sends each write at once:
two send system calls, and two TCP segments, for every response. The head of a response whose
body has a declared length is therefore held back and sent together with that body.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from scoreserver.errors import MethodNotAllowedError, URITooLongError
from scoreserver.http.middleware import MAX_URL_BYTES, ROUTING_METHOD_MESSAGE, url_too_long_message
from scoreserver.processes.custody import ConnectionReporter
from scoreserver.processes.raw_responses import RUN_FAILED_HEADER, json_error_bytes
from scoreserver.types import ASGIApp

__all__ = [
    "JsonErrorsHttpToolsProtocol",
    "accepted_protocol",
    "reporting_protocol",
    "serving_config",
]

# The methods the parser (llhttp) accepts; a request line with another token fails to parse.
_PARSER_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE PRI DESCRIBE ANNOUNCE "
    b"SETUP PLAY PAUSE TEARDOWN GET_PARAMETER SET_PARAMETER REDIRECT RECORD FLUSH QUERY".split()
)
_REQUEST_LINE_METHOD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ")

DRAIN_IDLE_S = 0.5
"""How long a draining worker keeps an idle connection open for a request already on its way."""


_CLOSE_LINE = b"connection: close\r\n"


def _closing(head: bytes | bytearray | memoryview) -> bytes:
    """A head that says Connection: close, as uvicorn before 0.40 (Python 3.9) leaves out when it
    ends a connection itself (a draining worker): the client learns it from the head."""
    head = bytes(head)
    if _CLOSE_LINE in head.lower():
        return head
    return head[:-2] + _CLOSE_LINE + b"\r\n"


class _ResponseWriter(asyncio.Transport):
    """A request cycle's view of the connection: the head waits for the body to go out with it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._cycle: RequestResponseCycle | None = None
        self._held: bytes | None = None

    def serve(self, cycle: RequestResponseCycle) -> None:
        """Write for this cycle from now on; its first write may be held."""
        self.flush()
        self._cycle = cycle
        cycle.transport = self

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send data, with the held head in front; hold the head of a body of known length."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
            return
        cycle = self._cycle
        if cycle is not None and cycle.response_started:
            # The head: uvicorn has just counted the declared length. Only the head of a body
            # of known length is held; every such response sends its body right after its head,
            # so the head waits for nothing (were the body late, the head would wait for it, and
            # the bytes on the wire would still be the same).
            self._cycle = None
            head = bytes(data) if cycle.keep_alive else _closing(data)
            if cycle.expected_content_length > 0:
                self._held = head
                return
            data = head
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now (a HEAD request's response has no body to carry it)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def is_closing(self) -> bool:
        """Whether the connection is closing."""
        return self._transport.is_closing()

    def close(self) -> None:
        """Send what is held, then close the connection."""
        self.flush()
        self._transport.close()


class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
    """A request the parser refuses gets a JSON error instead of uvicorn's plain-text 400."""

    _received = b""
    _writer: _ResponseWriter | None = None
    _peer_done = False
    """The client has shut down its side: it sends nothing more, but waits for its answer."""
    _draining = False
    """The worker is stopping: the next request is the connection's last."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up the connection, and the writer its request cycles share."""
        super().connection_made(transport)
        self._writer = _ResponseWriter(transport)

    def on_headers_complete(self) -> None:
        """Start the request's cycle; it writes through the writer unless it waits in a pipeline."""
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if self._draining and cycle is not None:
            cycle.keep_alive = False
        if cycle is previous or self._writer is None:
            return  # no new cycle (an upgrade) or no connection
        if previous is None or previous.response_complete:
            self._writer.serve(cycle)

    def on_response_complete(self) -> None:
        """Send a head still held (a response without a body), then go on as uvicorn does."""
        if self._writer is not None:
            self._writer.flush()
        super().on_response_complete()
        if self._peer_done and not self.pipeline and not self.transport.is_closing():
            self.transport.close()  # the last answer a half-closed client waits for is out

    def shutdown(self) -> None:
        """The worker is stopping: end the connection after its request, without dropping one.

        uvicorn closes an idle connection at once. But a request may be on its way: the next
        one of a keep-alive client, or the first one of a connection accepted an instant ago
        whose bytes are not read yet, and closing would drop it while the port stays open (a
        reload, other workers). So an idle connection gets a moment for such a request, which
        is answered with Connection: close; receiving anything ends the wait, as it ends the
        keep-alive timeout whose timer this reuses.
        """
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            return
        if self.transport.is_closing():
            return
        self._draining = True
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            DRAIN_IDLE_S, self.timeout_keep_alive_handler
        )

    def eof_received(self) -> bool:  # type: ignore[override]
        """A client that half-closes after a whole request still gets its answer, then the end."""
        self._peer_done = True
        cycle = self.cycle
        # Keep the sending side open only for requests that arrived whole; for a request cut
        # short, closing tells the application that the client is gone.
        answering = cycle is not None and not cycle.more_body and not cycle.response_complete
        return answering or bool(self.pipeline)

    def data_received(self, data: bytes) -> None:
        """Keep the start of what arrived, to tell why the parser may refuse it."""
        self._received = data[:64]
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """Answer the parser's refusal as the application would have, then close."""
        status, message = 400, msg
        headers = list(self.server_state.default_headers)
        method = _REQUEST_LINE_METHOD.match(self._received)
        if len(self.url) > MAX_URL_BYTES:
            status, message = URITooLongError.status_code, url_too_long_message()
        elif method is not None and method.group(1) not in _PARSER_METHODS:
            status, message = MethodNotAllowedError.status_code, ROUTING_METHOD_MESSAGE
            headers.append((RUN_FAILED_HEADER.encode(), b"False"))
        self._answer_and_close(status, message, headers)

    def _answer_and_close(
        self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        if self._writer is not None:
            self._writer.flush()  # whatever an earlier response holds goes out first
        if headers is None:
            headers = self.server_state.default_headers
        self.transport.write(json_error_bytes(status, message, headers))
        self.transport.close()


def reporting_protocol(
    reporter: ConnectionReporter,
    base: type[JsonErrorsHttpToolsProtocol] = JsonErrorsHttpToolsProtocol,
) -> type[JsonErrorsHttpToolsProtocol]:
    """The protocol (base), also reporting each connection to the supervisor's custody."""

    class ReportingProtocol(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                reporter.opened(self.client, sock)

        def connection_lost(self, exc: Exception | None) -> None:
            reporter.closed(self.client)
            super().connection_lost(exc)

    return ReportingProtocol


def serving_config(app: ASGIApp, http: type[asyncio.Protocol], **options: Any) -> uvicorn.Config:
    """uvicorn's settings for serving our application on this protocol, plus `options`."""
    return uvicorn.Config(
        app,
        http=http,
        # We serve no WebSockets: a request asking to upgrade is an ordinary request.
        ws="none",
        # Said, not guessed: uvicorn takes an app whose __call__ is not a coroutine function for
        # ASGI 2, and the router's returns its endpoint's coroutine.
        interface="asgi3",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        # Nothing here reads X-Forwarded-*; skipping that middleware saves time per request.
        proxy_headers=False,
        date_header=True,
        **options,
    )


def accepted_protocol(
    config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any]
) -> asyncio.Protocol:
    """The configured HTTP protocol for a connection accepted outside uvicorn's own listener."""
    return config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=server_state, app_state=app_state
    )
