"""SageMaker's container contract: GET /ping and POST /invocations.

/invocations hands run() the request exactly as /score does (body and Content-Type), and
answers in JSON, or in CSV when the Accept header asks for text/csv and the result is a table.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.responses import Response

from scoreserver.errors import NotAcceptableError
from scoreserver.protocols.core import ModelService
from scoreserver.script.inputs import IncomingRequest
from scoreserver.script.outputs import PreparedResponse, error_response, json_result, library_of

__all__ = ["SageMakerHandlers", "handlers"]

_JSON_TYPES = ("application/json", "application/*", "*/*")


def error(status_code: int, message: str) -> Response:
    """The same JSON {"message": ...} errors as /score."""
    return error_response(status_code, message)


def _accepted(accept: str | None) -> list[str]:
    if not accept:
        return ["*/*"]
    return [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]


def _rows(value: Any) -> list[list[Any]] | None:
    """The result as table rows, if it is one (lists of lists, a vector, an array, a DataFrame)."""
    if library_of(value) == "pandas" and hasattr(value, "columns"):
        return [list(row) for row in value.itertuples(index=False)]
    value = _plain(value)
    if not isinstance(value, list):
        return None
    items = [_plain(item) for item in value]  # rows that are arrays: `[model.predict(x), ...]`
    if all(isinstance(row, list) for row in items):
        return items
    if any(isinstance(item, (dict, list)) for item in items):
        return None
    return [[item] for item in items]


def _plain(value: Any) -> Any:
    """A numpy or pandas value as Python lists and numbers; anything else as it is."""
    return (
        value.tolist()
        if library_of(value) in _ARRAY_LIBRARIES and hasattr(value, "tolist")
        else value
    )


_ARRAY_LIBRARIES = frozenset({"numpy", "pandas"})


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


class SageMakerHandlers:
    """/ping and /invocations."""

    def __init__(self, service: ModelService) -> None:
        self.service = service
        self.error = error

    async def ping(self, request: IncomingRequest) -> Response:
        """GET /ping: 200 while ready, 503 before and once a stop has begun."""
        if self.service.readiness.ready:
            return PreparedResponse(200, b"", [(b"content-length", b"0")])
        return error(503, "Not ready: the server is stopping.")

    async def invocations(self, request: IncomingRequest) -> Response:
        """POST /invocations: run() as on /score; the result in a media type Accept allows."""
        accepted = _accepted(request.headers.get("accept"))

        def render(value: Any) -> Response:
            if any(a in _JSON_TYPES for a in accepted):
                return json_result(value, [])
            rows = _rows(value) if "text/csv" in accepted or "text/*" in accepted else None
            if rows is None:
                raise NotAcceptableError(
                    f"Cannot answer in {', '.join(accepted)}: run()'s result is sent as "
                    "application/json, or as text/csv when it is a table (a list of rows, an "
                    "array or a DataFrame)."
                )
            body = _csv(rows)
            return PreparedResponse(
                200,
                body,
                [(b"content-type", b"text/csv"), (b"content-length", str(len(body)).encode())],
            )

        return await self.service.respond(request, self.service.raw_arguments, render, error)


def handlers(service: ModelService) -> SageMakerHandlers:
    """The SageMaker handlers for the service."""
    return SageMakerHandlers(service)
