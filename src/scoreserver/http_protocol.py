"""uvicorn's httptools protocol, answering requests it cannot parse with JSON like every other error.

The parser refuses some requests before the application sees them: those it cannot read at all,
URLs longer than it buffers, and methods it does not know. Each still gets the JSON answer the
application would have given: 400, 414, or the router's 405.
"""

from __future__ import annotations

import asyncio
import re

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scoreserver.custody import ConnectionReporter
from scoreserver.errors import MethodNotAllowedError, URITooLongError
from scoreserver.middleware import MAX_URL_BYTES, ROUTING_METHOD_MESSAGE, url_too_long_message
from scoreserver.raw_responses import RUN_FAILED_HEADER, json_error_bytes

__all__ = ["JsonErrorsHttpToolsProtocol", "reporting_protocol"]

# The methods the parser (llhttp) accepts; a request line with another token fails to parse.
_PARSER_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE PRI DESCRIBE ANNOUNCE "
    b"SETUP PLAY PAUSE TEARDOWN GET_PARAMETER SET_PARAMETER REDIRECT RECORD FLUSH QUERY".split()
)
_REQUEST_LINE_METHOD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ")


class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
    """A request the parser refuses gets a JSON error instead of uvicorn's plain-text 400."""

    _received = b""

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
        self.transport.write(json_error_bytes(status, message, headers))
        self.transport.close()


def reporting_protocol(reporter: ConnectionReporter) -> type[JsonErrorsHttpToolsProtocol]:
    """The protocol, also reporting each connection to the supervisor's custody."""

    class ReportingProtocol(JsonErrorsHttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                reporter.opened(self.client, sock.fileno())

        def connection_lost(self, exc: Exception | None) -> None:
            reporter.closed(self.client)
            super().connection_lost(exc)

    return ReportingProtocol
