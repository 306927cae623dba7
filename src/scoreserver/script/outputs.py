"""Turning run()'s result into an HTTP response: JSON, AMLResponse or werkzeug responses, streams."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from scoreserver.errors import ResponseEncodingError

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = [
    "PreparedResponse",
    "encode_json",
    "encode_json_strict",
    "error_response",
    "is_werkzeug_response",
    "json_bytes",
    "json_result",
    "library_of",
    "to_response",
]

JSON_MEDIA_TYPE = "application/json"
_NO_BODY = frozenset({204, 304})


def library_of(value: Any) -> str:
    """The top-level package the value's type comes from ("numpy", "pandas", "builtins", ...)."""
    return type(value).__module__.partition(".")[0]


def _encode_extra(obj: Any) -> Any:
    """numpy and pandas values become plain JSON values; anything else cannot be encoded."""
    module = library_of(obj)
    if module == "numpy":
        if hasattr(obj, "tolist"):
            return obj.tolist()
    elif module == "pandas":
        if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
            return json.loads(obj.to_json(orient="records", date_format="iso"))
        if hasattr(obj, "tolist"):
            return json.loads(obj.to_json(orient="values", date_format="iso"))
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(default=_encode_extra)
_strict_encoder = json.JSONEncoder(default=_encode_extra, allow_nan=False)


def json_bytes(value: Any, strict: bool = False) -> bytes:
    """value in json.dumps's exact byte format (", ", ": ", ASCII escapes), numpy and pandas
    values as their lists and records; what JSON cannot hold (bytes, sets; with strict, NaN and
    infinities too) raises TypeError, ValueError or OverflowError, saying what it met."""
    return (_strict_encoder if strict else _encoder).encode(value).encode("ascii")


def encode_json(value: Any) -> bytes:
    """run()'s result as /score answers it: json_bytes, None as {}, and what JSON cannot hold
    a ResponseEncodingError (the reference's bare 500)."""
    if value is None:
        return b"{}"
    try:
        return json_bytes(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ResponseEncodingError() from exc


def encode_json_strict(value: Any) -> bytes:
    """JSON any parser reads: json_bytes, strict."""
    return json_bytes(value, strict=True)


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The JSON {"message": ...} every error is answered with."""
    return Response(
        encode_json({"message": message}),
        status_code=status_code,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


class PreparedResponse(Response):
    """A response whose status, headers and body are final already.

    Starlette's constructor works out content type and length from arguments; on the scoring
    path these are known, so the headers are written down once in the order clients see them.
    """

    def __init__(
        self, status_code: int, body: bytes, raw_headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.raw_headers = raw_headers
        self.background = None


def json_result(
    value: Any,
    extra_headers: list[tuple[bytes, bytes]],
    status_code: int = 200,
    encode: Callable[[Any], bytes] = encode_json,
) -> PreparedResponse:
    """run()'s plain result as JSON: content type and length first, then extra_headers."""
    body = encode(value)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    return PreparedResponse(status_code, body, headers)


def is_werkzeug_response(value: Any) -> bool:
    """Whether run() returned a werkzeug, Flask or AML response.

    Without werkzeug imported (the script never used it) the answer is no, and nothing is loaded.
    """
    wrappers = sys.modules.get("werkzeug.wrappers")
    return wrappers is not None and isinstance(value, wrappers.Response)


def to_response(value: Any) -> Response:
    """The response for what run() returned."""
    if is_werkzeug_response(value):
        return _from_werkzeug(value)
    return Response(encode_json(value), media_type=JSON_MEDIA_TYPE)


def _from_werkzeug(response: WerkzeugResponse) -> Response:
    """Pass a werkzeug/Flask/AMLResponse through, streaming it when its body is an iterator.

    One HTTP cannot carry (a status outside 100-599, a body that is neither bytes, text nor an
    iterable of them) is refused here, before a byte is sent: a JSON 500 rather than a response
    cut off midway.
    """
    status = response.status_code
    if not 100 <= status <= 599:
        raise ResponseEncodingError() from ValueError(
            f"run() returned a response with status {status}; HTTP's status codes run from 100 "
            "to 599."
        )
    if response.is_streamed:
        try:
            iter(response.response)
        except TypeError as exc:
            raise ResponseEncodingError() from exc
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
        if name.lower() != "content-length" or not response.is_streamed
    ]
    if response.is_streamed:
        streamed = StreamingResponse(
            iterate_in_threadpool(_chunks(response)), status_code=response.status_code
        )
        streamed.raw_headers = headers
        return streamed
    if response.status_code in _NO_BODY or 100 <= response.status_code < 200:
        bare = Response(b"", status_code=response.status_code)
        bare.raw_headers = [h for h in headers if h[0] != b"content-length"]
        return bare
    body = response.get_data()
    plain = Response(body, status_code=response.status_code)
    # werkzeug counts only a body given as one string or bytes; a list's (["a", "b"]) gets its
    # length here, or it would go out chunked.
    plain.raw_headers = [h for h in headers if h[0] != b"content-length"]
    plain.raw_headers.append((b"content-length", str(len(body)).encode()))
    return plain


def _chunks(response: WerkzeugResponse) -> Iterator[bytes]:
    """The body as it is produced, one chunk each, text encoded as UTF-8."""
    for chunk in response.response:
        yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
