"""The handlers behind /, /score and /swagger.json, and the route table."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from scoreserver.errors import (
    ClientError,
    MethodNotAllowedError,
    ResponseEncodingError,
    ScoreServerError,
    ScoringError,
)
from scoreserver.http.middleware import RUN_FAILED_FALSE, Endpoint, RoutePolicy, not_found
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.logs import log_exception
from scoreserver.processes.custody import ConnectionReporter
from scoreserver.processes.raw_responses import RUN_FAILED_HEADER
from scoreserver.script.entry_script import EntryScript, InputMode
from scoreserver.script.flask_context import RequestContext
from scoreserver.script.inputs import ArgumentBuilder, IncomingRequest, RunArguments
from scoreserver.script.outputs import (
    JSON_MEDIA_TYPE,
    PreparedResponse,
    error_response,
    is_werkzeug_response,
    json_result,
    to_response,
)
from scoreserver.script.scoring import Scorer
from scoreserver.telemetry import AppInsights, ScoringRecord, now_ns
from scoreserver.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PathDispatch",
    "ScoreHandlers",
    "build_router",
    "liveness",
    "scoring_record",
]

logger = logging.getLogger("azmlinfsrv")

_HEALTHY = b"Healthy"
_HEALTHY_HEADERS = ((b"content-length", b"7"), (b"content-type", b"text/html; charset=utf-8"))
RUN_FAILED = RUN_FAILED_HEADER.encode()
EXEC_MS = b"x-ms-run-fn-exec-ms"


async def liveness(request: IncomingRequest) -> Response:
    """GET / : the process is up and init() has finished."""
    # Prepared (Starlette's headers for this body, in its order): probes come often, and a
    # prepared response leaves in one write (exchanges.py).
    return PreparedResponse(200, _HEALTHY, list(_HEALTHY_HEADERS))


# Not frozen: a frozen dataclass pays for object.__setattr__ per field, and this one is made
# for every request.
@dataclass
class _Outcome:
    """A /score response and, for telemetry, what went into and came out of run()."""

    response: Response
    arguments: RunArguments | None = None
    prediction: Any = None
    error: BaseException | None = None


def scoring_record(
    request: IncomingRequest,
    status_code: int,
    started: tuple[int, float],
    arguments: RunArguments | None,
    prediction: Any,
    error: BaseException | None,
) -> ScoringRecord:
    """The telemetry record of one scored request; started is (now_ns(), perf_counter())."""
    return ScoringRecord(
        method=request.method,
        path=request.scope["path"],
        url=str(request.url()),
        status_code=status_code,
        start_ns=started[0],
        duration_ms=(time.perf_counter() - started[1]) * 1000,
        request_id=request.ids.request_id or "",
        client_request_id=request.ids.client_request_id or "",
        model_input=_input_of(arguments),
        prediction=prediction,
        error=error,
    )


def _input_of(arguments: RunArguments | None) -> Any:
    """run()'s input as telemetry records it: the single argument, or the keyword arguments."""
    if arguments is None:
        return None
    if arguments.args and not arguments.kwargs:
        first = arguments.args[0]
        return first if isinstance(first, (str, bytes, dict, list)) else repr(first)
    return {k: v for k, v in arguments.kwargs.items() if k != "request_headers"}


@dataclass(frozen=True)
class ScoreHandlers:
    """The /score and /swagger.json handlers for one loaded script."""

    script: EntryScript
    arguments: ArgumentBuilder
    scorer: Scorer
    swagger: SwaggerDocuments
    telemetry: AppInsights | None = None
    custody: ConnectionReporter | None = None
    """Marks the connections waiting for run(), so that they are answered if the worker dies."""
    flask_context: RequestContext | None = None
    """Flask's request context for run(), when the script uses Flask."""

    async def score(self, request: IncomingRequest) -> Response:
        """Call run() with the request and answer with its result."""
        # One coroutine from request to run(), telemetry or not: each layer of awaiting costs
        # time on every request.
        raw = self.script.mode is InputMode.RAW
        if request.method == "HEAD" and not raw:
            return error_response(405, MethodNotAllowedError().message, RUN_FAILED_FALSE)
        if request.method == "OPTIONS" and not raw:
            return Response(b"", media_type="text/html", headers=RUN_FAILED_FALSE)
        telemetry = self.telemetry
        if telemetry is not None:
            started_ns, started = now_ns(), time.perf_counter()
        arguments: RunArguments | None = None
        try:
            arguments = self.arguments(request)
            if self.flask_context is not None:
                arguments.context = self.flask_context(request)
            if self.custody is None:
                result = await self.scorer.score(arguments)
            else:
                slot = self.custody.scoring(request.scope["client"], request.crash_headers)
                try:
                    result = await self.scorer.score(arguments)
                finally:
                    self.custody.answered(slot)
            if is_werkzeug_response(result.value):
                logger.info("run() output is HTTP Response")
                response = _from_run_response(result.value, result.elapsed_ms)
            else:
                response = json_result(
                    result.value,
                    [(RUN_FAILED, b"False"), (EXEC_MS, f"{result.elapsed_ms:.3f}".encode())],
                )
            if telemetry is None:
                return response
            outcome = _Outcome(response, arguments, result.value)
        except ClientError as exc:
            outcome = _Outcome(error_response(exc.status_code, exc.message, RUN_FAILED_FALSE))
        except ScoringError as exc:
            encoding = isinstance(exc, ResponseEncodingError)
            if encoding:
                log_exception(exc.__cause__ or exc)
            failed = {RUN_FAILED_HEADER: "False" if encoding else "True"}
            response = error_response(exc.status_code, exc.message, failed)
            outcome = _Outcome(response, arguments, error=exc.__cause__ or exc)
        except ScoreServerError as exc:
            log_exception(exc)
            response = error_response(exc.status_code, exc.message, RUN_FAILED_FALSE)
            outcome = _Outcome(response, arguments, error=exc)
        if telemetry is not None:
            telemetry.record(
                scoring_record(
                    request,
                    outcome.response.status_code,
                    (started_ns, started),
                    outcome.arguments,
                    outcome.prediction,
                    outcome.error,
                )
            )
        return outcome.response

    async def swagger_json(self, request: IncomingRequest) -> Response:
        """GET /swagger.json[?version=...]: the API description."""
        version = request.scope.get("query_string", b"")
        try:
            body = self.swagger.document(_version_param(version))
        except ScoreServerError as exc:
            return error_response(exc.status_code, exc.message, RUN_FAILED_FALSE)
        return Response(body, media_type=JSON_MEDIA_TYPE, headers=RUN_FAILED_FALSE)


def _version_param(query_string: bytes) -> str | None:
    """The version query parameter, if present (an empty value is kept, to be rejected)."""
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "version":
            return value
    return None


def _from_run_response(value: Any, elapsed_ms: float) -> Response:
    """A werkzeug/Flask/AML response from run(), with the run() headers in the reference's place."""
    response = to_response(value)
    response.raw_headers = [h for h in response.raw_headers if h[0] != RUN_FAILED]
    response.raw_headers[0:0] = [
        (RUN_FAILED, b"True" if response.status_code >= 500 else b"False"),
        (EXEC_MS, f"{elapsed_ms:.3f}".encode()),
    ]
    _move_content_headers_first(response)
    return response


def _move_content_headers_first(response: Response) -> None:
    """Content-Type and Content-Length lead, as in the reference's responses."""
    leading = [h for h in response.raw_headers if h[0] in (b"content-type", b"content-length")]
    rest = [h for h in response.raw_headers if h[0] not in (b"content-type", b"content-length")]
    response.raw_headers = leading + rest


@dataclass(frozen=True)
class PathDispatch:
    """The route table: an exact path match, anything else the JSON 404.

    Three fixed paths need no pattern matching; a dictionary lookup keeps routing out of the
    per-request cost (Starlette's Router tries each route's regular expression in turn).
    """

    routes: dict[str, ASGIApp]
    prefixes: tuple[tuple[str, ASGIApp], ...] = ()
    """Unknown paths under a protocol's prefix get that protocol's own 404 (looked at on a miss)."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The route's endpoint serving the request (its coroutine, not one more layer around it)."""
        if scope["type"] != "http":
            return _ignored()
        endpoint = self.routes.get(scope["path"])
        if endpoint is None:
            endpoint = self._unknown(scope["path"])
        return endpoint(scope, receive, send)

    def _unknown(self, path: str) -> ASGIApp:
        if "//" in path:  # the reference's router merges repeated slashes: //score is /score
            merged = self.routes.get(_REPEATED_SLASHES.sub("/", path))
            if merged is not None:
                return merged
        for prefix, endpoint in self.prefixes:
            if path.startswith(prefix):
                return endpoint
        return not_found


_REPEATED_SLASHES = re.compile("/{2,}")


async def _ignored() -> None:
    """Lifespan and websocket scopes: nothing to do."""


def build_router(
    handlers: ScoreHandlers,
    policy: RoutePolicy,
    protocols: dict[str, ASGIApp] | None = None,
    prefixes: tuple[tuple[str, ASGIApp], ...] = (),
    configured: dict[str, ASGIApp] | None = None,
) -> PathDispatch:
    """The route table: liveness, score and swagger, the other routes given, else a 404; the
    configured routes take the place of any of those at their paths."""
    return PathDispatch(
        {
            **(protocols or {}),
            "/": Endpoint(
                liveness, frozenset({"GET", "HEAD"}), policy, access_log=False, protected=False
            ),
            "/score": Endpoint(
                handlers.score,
                frozenset({"GET", "POST", "OPTIONS", "HEAD"}),
                policy,
                auto_options=False,
            ),
            "/swagger.json": Endpoint(handlers.swagger_json, frozenset({"GET", "HEAD"}), policy),
            **(configured or {}),
        },
        prefixes,
    )
