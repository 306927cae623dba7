"""The handlers behind /, /score and /swagger.json, and the route table."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from werkzeug.wrappers import Response as WerkzeugResponse

from scoreserver.entry_script import EntryScript, InputMode
from scoreserver.errors import (
    ClientError,
    MethodNotAllowedError,
    ResponseEncodingError,
    ScoreServerError,
    ScoringError,
)
from scoreserver.inputs import ArgumentBuilder, IncomingRequest
from scoreserver.logs import log_exception
from scoreserver.middleware import RUN_FAILED_FALSE, Endpoint, RoutePolicy, not_found
from scoreserver.openapi import SwaggerDocuments
from scoreserver.outputs import JSON_MEDIA_TYPE, error_response, to_response
from scoreserver.scoring import Scorer

__all__ = ["ScoreHandlers", "build_router", "liveness"]

logger = logging.getLogger("azmlinfsrv")

_HEALTHY = b"Healthy"


async def liveness(request: IncomingRequest) -> Response:
    """GET / : the process is up and init() has finished."""
    return Response(_HEALTHY, media_type="text/html")


@dataclass(frozen=True)
class ScoreHandlers:
    """The /score and /swagger.json handlers for one loaded script."""

    script: EntryScript
    arguments: ArgumentBuilder
    scorer: Scorer
    swagger: SwaggerDocuments

    async def score(self, request: IncomingRequest) -> Response:
        """Call run() with the request and answer with its result."""
        raw = self.script.mode is InputMode.RAW
        if request.method == "HEAD" and not raw:
            return error_response(405, MethodNotAllowedError().message, RUN_FAILED_FALSE)
        if request.method == "OPTIONS" and not raw:
            return Response(b"", media_type="text/html", headers=RUN_FAILED_FALSE)
        try:
            arguments = self.arguments(request)
            result = await self.scorer.score(arguments)
            if isinstance(result.value, WerkzeugResponse):
                logger.info("run() output is HTTP Response")
            response = to_response(result.value)
        except ClientError as exc:
            return error_response(exc.status_code, exc.message, RUN_FAILED_FALSE)
        except ScoringError as exc:
            failed = "False" if isinstance(exc, ResponseEncodingError) else "True"
            if isinstance(exc, ResponseEncodingError):
                log_exception(exc.__cause__ or exc)
            return error_response(
                exc.status_code, exc.message, {"x-ms-run-function-failed": failed}
            )
        except ScoreServerError as exc:
            log_exception(exc)
            return error_response(exc.status_code, exc.message, RUN_FAILED_FALSE)
        response.raw_headers[0:0] = [
            (b"x-ms-run-function-failed", b"True" if response.status_code >= 500 else b"False"),
            (b"x-ms-run-fn-exec-ms", f"{result.elapsed_ms:.3f}".encode()),
        ]
        _move_content_headers_first(response)
        return response

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
    from urllib.parse import parse_qsl

    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "version":
            return value
    return None


def _move_content_headers_first(response: Response) -> None:
    """Content-Type and Content-Length lead, as in the reference's responses."""
    leading = [h for h in response.raw_headers if h[0] in (b"content-type", b"content-length")]
    rest = [h for h in response.raw_headers if h[0] not in (b"content-type", b"content-length")]
    response.raw_headers = leading + rest


def build_router(handlers: ScoreHandlers, policy: RoutePolicy) -> Router:
    """The route table: liveness, score and swagger, anything else a JSON 404."""
    routes: list[BaseRoute] = [
        Route(
            "/",
            Endpoint(
                liveness, frozenset({"GET", "HEAD"}), policy, access_log=False, protected=False
            ),
        ),
        Route(
            "/score",
            Endpoint(
                handlers.score,
                frozenset({"GET", "POST", "OPTIONS", "HEAD"}),
                policy,
                auto_options=False,
            ),
        ),
        Route(
            "/swagger.json",
            Endpoint(handlers.swagger_json, frozenset({"GET", "HEAD"}), policy),
        ),
    ]
    return Router(routes=routes, default=not_found)
