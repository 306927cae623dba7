"""SageMaker's container contract: GET /ping and POST /invocations.

/invocations hands run() the request exactly as /score does (body and Content-Type), and
answers in the media type the Accept header prefers among those the result can take: JSON, JSON
lines (one document a line, for batch transform), or CSV when the result is a table or text.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from scoreserver.errors import NotAcceptableError
from scoreserver.protocols.core import ModelHealth, ModelService, json_value
from scoreserver.protocols.json_codec import loads
from scoreserver.script.inputs import IncomingRequest
from scoreserver.script.outputs import PreparedResponse, error_response, json_bytes, library_of

__all__ = ["SageMakerHandlers", "SageMakerProbes", "handlers", "probes"]

_JSON = "application/json"
_CSV = "text/csv"
_JSON_LINES = ("application/jsonlines", "application/jsonl", "application/x-jsonlines")
"""The names JSON lines goes by; SageMaker batch transform uses the first."""


def error(status_code: int, message: str) -> Response:
    """The same JSON {"message": ...} errors as /score."""
    return error_response(status_code, message)


def _accept(headers: Headers) -> MIMEAccept | None:
    """The client's Accept header without media type parameters; None when it sent none."""
    header = ", ".join(headers.getlist("accept")).strip()
    if not header:
        return None
    # werkzeug matches parameters exactly, so `application/json; charset=utf-8` or CSV's
    # `header=present` would match nothing we send; they ask nothing of the type chosen.
    return MIMEAccept(
        (parse_options_header(value)[0], quality)
        for value, quality in parse_accept_header(header, MIMEAccept)
    )


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


def _csv(value: Any) -> bytes | None:
    """The result as CSV: a table's rows, text that is not JSON as it is; else None."""
    if isinstance(value, str):
        value = json_value(value)
        if isinstance(value, str):
            return value.encode("utf-8")  # the script wrote its own CSV (or one cell of it)
    rows = _rows(value)
    if rows is None:
        return None
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _json(value: Any) -> bytes:
    """The value as /score's JSON answer writes it (None as {}); what JSON cannot hold raises
    json_bytes' own error, which core answers with a 500 saying what is wrong (not /score's bare
    one, the reference's)."""
    return b"{}" if value is None else json_bytes(value)


def _json_lines(value: Any) -> bytes:
    """One JSON document a line: each item of a list-like result, else the result itself."""
    if isinstance(value, str):
        value = json_value(value)
    items = _items(value)
    if items is None:
        return _json(value) + b"\n"
    # An item that is None is null: {} stands only for a whole result of None.
    return b"".join(json_bytes(item) + b"\n" for item in items)


def _items(value: Any) -> list[Any] | None:
    """The items of a list, tuple, array, Series or DataFrame (its records); None for others."""
    # pandas goes through the JSON answer itself, so lines hold its rows: its dates, NaN as null.
    value = loads(_json(value)) if library_of(value) == "pandas" else _plain(value)
    return list(value) if isinstance(value, (list, tuple)) else None


def _prepared(body: bytes, media_type: str) -> PreparedResponse:
    """A 200 response carrying body as media_type."""
    return PreparedResponse(
        200,
        body,
        [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
    )


def _render(value: Any, accept: MIMEAccept | None) -> Response:
    """run()'s result in the type the client prefers among those it can take; JSON on ties."""
    if accept is None:
        return _prepared(_json(value), _JSON)
    csv_body = _csv(value) if accept.best_match([_CSV]) else None
    offered = [_JSON, *([_CSV] if csv_body is not None else []), *_JSON_LINES]
    chosen = accept.best_match(offered)
    if chosen is None:
        raise NotAcceptableError(
            f"Cannot answer in {accept.to_header()}: run()'s result is sent as application/json, "
            "as JSON lines (application/jsonlines), or as text/csv when it is a table (a list of "
            "rows, an array or a DataFrame) or text."
        )
    if chosen == _CSV and csv_body is not None:
        return _prepared(csv_body, _CSV)
    if chosen in _JSON_LINES:
        return _prepared(_json_lines(value), chosen)
    return _prepared(_json(value), _JSON)


class SageMakerProbes:
    """/ping: answered from the model's health alone, so also while init() runs."""

    def __init__(self, health: ModelHealth) -> None:
        self.model_health = health
        self.error = error

    async def ping(self, request: IncomingRequest) -> Response:
        """GET /ping: 200 while ready, 503 before and once a stop has begun."""
        readiness = self.model_health.readiness
        if readiness.ready:
            return PreparedResponse(200, b"", [(b"content-length", b"0")])
        return error(503, f"Not ready: {readiness.why_not}")


class SageMakerHandlers(SageMakerProbes):
    """/ping and /invocations."""

    def __init__(self, service: ModelService) -> None:
        super().__init__(service.health)
        self.service = service

    async def invocations(self, request: IncomingRequest) -> Response:
        """POST /invocations: run() as on /score; the result in a media type Accept allows."""
        accept = _accept(request.headers)
        return await self.service.respond(
            request, self.service.raw_arguments, lambda value: _render(value, accept), error
        )


def handlers(service: ModelService) -> SageMakerHandlers:
    """The SageMaker handlers for the service."""
    return SageMakerHandlers(service)


def probes(health: ModelHealth) -> SageMakerProbes:
    """/ping alone, for a worker whose init() runs."""
    return SageMakerProbes(health)
