"""What every served route shares: the method gate, request ids, server version, errors, access log.

The reference adds its id and version headers only on requests that reached one of its routes;
requests for unknown paths or methods get a bare JSON error. Wrapping each route, rather than the
whole application, reproduces exactly that.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import chain

from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse

from scoreserver.errors import (
    INTERNAL_ERROR_MESSAGE,
    ClientError,
    HeaderTooLargeError,
    MethodNotAllowedError,
    NotFoundError,
    UnauthorizedError,
    URITooLongError,
)
from scoreserver.http.content_encoding import decoded_request
from scoreserver.http.cors import CorsPolicy
from scoreserver.http.exchanges import ClientDisconnected, exchange_for
from scoreserver.http.request_ids import SERVER_ID_HEADERS, RequestIds
from scoreserver.logs import AccessLog, log_exception
from scoreserver.metrics import RouteMeter
from scoreserver.processes.raw_responses import RUN_FAILED_HEADER
from scoreserver.script.inputs import IncomingRequest, raw_header
from scoreserver.script.outputs import PreparedResponse, error_response
from scoreserver.types import Message, Receive, Scope, Send

__all__ = [
    "MAX_URL_BYTES",
    "ROUTING_METHOD_MESSAGE",
    "RUN_FAILED_FALSE",
    "Endpoint",
    "Handler",
    "RoutePolicy",
    "not_found",
    "url_too_long_message",
]

logger = logging.getLogger("azmlinfsrv")

Handler = Callable[[IncomingRequest], Awaitable[Response]]

RUN_FAILED_FALSE = {RUN_FAILED_HEADER: "False"}
NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again."
)
ROUTING_METHOD_MESSAGE = "The method is not allowed for the requested URL."
MAX_URL_BYTES = 8192
"""Longer URLs (path and query) are refused with 414."""
MAX_HEADER_BYTES = 64 * 1024
"""Larger header blocks (names and values together) are refused with 431."""
UNAUTHORIZED_MESSAGE = (
    "Missing or invalid bearer key: send the header 'Authorization: Bearer <key>'."
)


def _oversized(scope: Scope) -> ClientError | None:
    """A URL or header block beyond the limits, as the error to answer with."""
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
        return URITooLongError(url_too_long_message())
    if sum(map(len, chain.from_iterable(scope["headers"]))) > MAX_HEADER_BYTES:
        return HeaderTooLargeError(
            f"Request header fields are larger than {MAX_HEADER_BYTES} bytes in all."
        )
    return None


def url_too_long_message() -> str:
    """What a client whose URL is over the limit is told."""
    return f"Request URL is longer than {MAX_URL_BYTES} bytes."


@dataclass(frozen=True)
class RoutePolicy:
    """What every route applies alike, fixed at start-up."""

    server_version: bytes | None
    """The x-ms-server-version value, or None when that header is turned off."""
    max_body_bytes: int
    bearer_key: bytes | None = None
    """The exact Authorization header value required, when a key is configured."""
    cors: CorsPolicy | None = None
    access_logger: AccessLog = field(default_factory=AccessLog)
    cycle: type | None = None
    """uvicorn's request cycle, when routes can work on it directly (exchanges.cycle_type())."""

    def authorized(self, scope: Scope) -> bool:
        """Whether the request carries the configured bearer key (always, when none is set)."""
        if self.bearer_key is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                # The scheme name is case-insensitive (RFC 7235); the key itself is not.
                scheme, _, key = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(key, self.bearer_key)
        return False


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Unknown paths: a bare JSON 404, as the reference's router answers."""
    if scope["type"] != "http":
        return
    response = error_response(NotFoundError.status_code, NOT_FOUND_MESSAGE, RUN_FAILED_FALSE)
    await response(scope, receive, send)


@dataclass(frozen=True)
class Endpoint:
    """One route as an ASGI app: gate the method, attach ids and version, log the access."""

    handler: Handler
    methods: frozenset[str]
    policy: RoutePolicy
    auto_options: bool = True
    """Answer OPTIONS by itself with an Allow header, as Flask does for routes without it."""
    access_log: bool = True
    protected: bool = True
    """Needs the bearer key when one is configured (the liveness probe never does)."""
    error_format: Callable[[int, str], Response] | None = None
    """The route's protocol's error response; None is the JSON {"message": ...} of /score."""
    meter: RouteMeter | None = None
    """Counts the route's requests for /metrics (none when metrics are off)."""
    decodes_content: bool = False
    """Decodes a body sent gzip- or deflate-encoded before the handler reads it."""
    crash_before: tuple[tuple[bytes, bytes], ...] = ()
    """Lines a dead worker's answer to this route's requests starts with (its error format)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request on this route."""
        exchange = exchange_for(scope, receive, send, self.policy.cycle)
        method: str = scope["method"]
        start = time.perf_counter()
        if self.meter is not None:
            self.meter.enter()
        if method not in self.methods and not (method == "OPTIONS" and self.auto_options):
            response = self._error(MethodNotAllowedError.status_code, ROUTING_METHOD_MESSAGE)
            await exchange.respond(self._metered(response, method, start))
            return
        headers = Headers(raw=scope["headers"])  # raw= shares the list; scope= would copy it
        oversized = _oversized(scope)
        if oversized is not None:
            response = self._error(oversized.status_code, oversized.message)
            await exchange.respond(self._metered(response, method, start))
            return
        try:
            ids = RequestIds.from_raw(scope["headers"])
        except HeaderTooLargeError as exc:
            response = self._too_large(exc, method, headers)
            await exchange.respond(self._metered(response, method, start))
            return
        if method == "OPTIONS" and self.auto_options:
            response = Response(b"", media_type="text/html", headers={"Allow": self._allow()})
            self._add_headers(response, ids.response_headers(), method, headers)
            await exchange.respond(self._metered(response, method, start))
            return
        # The handler's response; any failure becomes a JSON error, never a stack trace. (Inline
        # rather than a method of its own: a coroutine layer costs time on every request.)
        cors = self.policy.cors
        cors_headers = _NO_HEADERS if cors is None else cors.headers_for(method, headers)
        if method == "OPTIONS" and _unauthorized_preflight(self, scope):
            # A browser sends its CORS preflight without credentials, so it cannot carry the
            # key: answered here as /score answers OPTIONS, never by the handler (for a
            # @rawhttp script that would be run(), without the key).
            response = Response(b"", media_type="text/html", headers=RUN_FAILED_FALSE)
            self._add_headers(response, ids.response_headers(), method, headers, cors_headers)
            if self.access_log:
                self._log_access(scope, method, response, start)
            await exchange.respond(self._metered(response, method, start))
            return
        try:
            if self.protected and not self.policy.authorized(scope):
                raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
            body = await exchange.body(headers, self.policy.max_body_bytes)
            request_scope = scope
            if self.decodes_content and raw_header(headers, b"content-encoding") is not None:
                body, request_scope, headers = await decoded_request(
                    body, scope, headers, self.policy.max_body_bytes
                )
            response = await self.handler(
                IncomingRequest(
                    request_scope, method, body, headers, ids, self.crash_before, cors_headers
                )
            )
        except ClientDisconnected:
            if self.meter is not None:
                self.meter.leave()
            return
        except ClientError as exc:
            response = self._error(exc.status_code, exc.message)
            if isinstance(exc, UnauthorizedError):
                response.headers["WWW-Authenticate"] = "Bearer"
        except Exception as exc:
            log_exception(exc)
            response = self._error(500, INTERNAL_ERROR_MESSAGE)
        self._add_headers(response, ids.response_headers(), method, headers, cors_headers)
        if self.meter is not None:
            self.meter.record(method, response.status_code, time.perf_counter() - start)
        # The access line goes out before the response's last byte: a client that reads the log
        # the moment its answer arrives finds the line there.
        if self.access_log and isinstance(response, StreamingResponse):
            logging_send = self._logging_at_end(exchange.send, scope, method, response, start)
            await response(scope, exchange.receive, logging_send)
            return
        if self.access_log:
            self._log_access(scope, method, response, start)
        await exchange.respond(response)

    def _metered(self, response: Response, method: str, start: float) -> Response:
        """The response of a request answered before its handler ran, counted."""
        if self.meter is not None:
            self.meter.record(method, response.status_code, time.perf_counter() - start)
        return response

    def _error(self, status_code: int, message: str) -> Response:
        """An error in the route's protocol's format (errors are rare: no cost on success)."""
        if self.error_format is None:
            return error_response(status_code, message, RUN_FAILED_FALSE)
        response = self.error_format(status_code, message)
        response.raw_headers.append((RUN_FAILED_HEADER.encode(), b"False"))
        return response

    def _allow(self) -> str:
        return ", ".join(sorted(self.methods | {"OPTIONS"}, key=lambda m: _METHOD_ORDER.get(m, 9)))

    def _too_large(self, exc: HeaderTooLargeError, method: str, headers: Headers) -> Response:
        response = self._error(exc.status_code, exc.message)
        extra = [] if exc.request_id is None else [(b"x-request-id", exc.request_id.encode())]
        self._add_headers(response, extra, method, headers)
        return response

    def _add_headers(
        self,
        response: Response,
        extra: list[tuple[bytes, bytes]],
        method: str,
        headers: Headers,
        cors_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        if not isinstance(response, PreparedResponse):
            # As in the reference, the server's ids replace a script's (an AMLResponse's) own
            # headers of the same name: a client gets exactly one x-request-id.
            owned = {name for name, _ in extra if name in SERVER_ID_HEADERS}
            if owned:
                response.raw_headers = [h for h in response.raw_headers if h[0] not in owned]
        if cors_headers is None and self.policy.cors is not None:
            cors_headers = self.policy.cors.headers_for(method, headers)
        if cors_headers:
            response.raw_headers.extend(cors_headers)
        if self.policy.server_version is not None:
            response.raw_headers.append((b"x-ms-server-version", self.policy.server_version))
        response.raw_headers.extend(extra)

    def _logging_at_end(
        self, send: Send, scope: Scope, method: str, response: Response, start: float
    ) -> Send:
        """send, but the access line of a streamed response is logged just before its end."""

        async def send_logging_at_end(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._log_access(scope, method, response, start)
            await send(message)

        return send_logging_at_end

    def _log_access(self, scope: Scope, method: str, response: Response, start: float) -> None:
        query = scope.get("query_string", b"")
        path = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        length = "N/A" if isinstance(response, StreamingResponse) else str(len(response.body))
        elapsed = (time.perf_counter() - start) * 1000
        self.policy.access_logger.write(method, path, response.status_code, elapsed, length)


_METHOD_ORDER = {"GET": 0, "POST": 1, "OPTIONS": 2, "HEAD": 3}

_NO_HEADERS: list[tuple[bytes, bytes]] = []


def _unauthorized_preflight(endpoint: Endpoint, scope: Scope) -> bool:
    """An OPTIONS request without the key that is a CORS preflight (names the method to come)."""
    if not endpoint.protected or endpoint.policy.authorized(scope):
        return False
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])
