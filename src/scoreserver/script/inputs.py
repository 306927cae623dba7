"""Turning an HTTP request into run()'s arguments: one strategy per input mode."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.datastructures import URL, Headers

from scoreserver.errors import BadRequestError, UnsupportedMediaTypeError
from scoreserver.http.request_ids import RequestIds
from scoreserver.script.entry_script import EntryScript, InputMode
from scoreserver.types import Scope

__all__ = [
    "ArgumentBuilder",
    "IncomingRequest",
    "InputStrategy",
    "RunArguments",
    "argument_builder",
    "raw_header",
    "strategy_for",
]


def raw_header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of a header (name in lower case), as sent; None when absent."""
    # For headers asked on every request of a route: Headers.get costs three times as much,
    # raising and catching a KeyError when the header is absent.
    for key, value in headers.raw:
        if key == name:
            return value
    return None


# Not frozen: a frozen dataclass pays for object.__setattr__ per field, and this one is made
# for every request.
@dataclass
class IncomingRequest:
    """What the routes read off the wire before run() is called."""

    scope: Scope
    method: str
    body: bytes
    headers: Headers
    ids: RequestIds
    crash_before: Sequence[tuple[bytes, bytes]] = ()
    """Lines ahead of the ids in the answer the supervisor gives should the worker die: the
    route's error format (a pseudo-header the supervisor reads)."""
    crash_after: Sequence[tuple[bytes, bytes]] = ()
    """Lines after the ids in that answer: the route's CORS headers for this request."""

    def url(self) -> URL:
        """The full URL the client asked for."""
        return URL(scope=self.scope)

    def crash_headers(self) -> list[tuple[bytes, bytes]]:
        """The lines the supervisor answers this request with should the worker die."""
        ids = self.ids.response_headers()
        if self.crash_before or self.crash_after:
            return [*self.crash_before, *ids, *self.crash_after]
        return ids


@dataclass
class RunArguments:
    """The positional and keyword arguments run() is called with."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    context: AbstractContextManager[Any] | None = None
    """What run() is called within: Flask's request context, for scripts that use Flask."""


class InputStrategy(Protocol):
    """Builds run()'s arguments from a request."""

    def __call__(self, request: IncomingRequest) -> RunArguments:
        """Return the arguments, or raise a ClientError the client will see."""
        ...


def query_as_dict(query_string: bytes) -> dict[str, Any]:
    """Query parameters as a dict: each value parsed as JSON when it can be, repeated keys a list."""
    grouped: dict[str, list[Any]] = {}
    for key, raw in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        grouped.setdefault(key, []).append(_json_or_text(raw))
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
    except RecursionError as exc:
        raise BadRequestError(_too_deep("A query parameter")) from exc


def _too_deep(what: str) -> str:
    return f"{what} is JSON nested too deeply for the server to parse."


def decode_text(body: bytes) -> str:
    """The body as UTF-8 text; anything else is the client's mistake."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"Input cannot be decoded as UTF-8: {exc}") from exc


def is_json_content_type(content_type: str | None) -> bool:
    """application/json, or any +json media type, ignoring parameters such as charset."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@dataclass(frozen=True)
class PlainInput:
    """run(data): POST gets the body as text, GET gets the query as a JSON string."""

    script: EntryScript

    def __call__(self, request: IncomingRequest) -> RunArguments:
        """The single data argument."""
        if request.method == "GET":
            data = json.dumps(query_as_dict(request.scope.get("query_string", b"")))
        else:
            data = decode_text(request.body)
        return RunArguments(args=(data,))


@dataclass(frozen=True)
class SchemaInput:
    """@input_schema run(a, b=...): each parameter taken by name from a JSON object or the query."""

    script: EntryScript

    def __call__(self, request: IncomingRequest) -> RunArguments:
        """Keyword arguments by parameter name; defaults left to run()."""
        if request.method == "GET":
            values = query_as_dict(request.scope.get("query_string", b""))
        else:
            values = self._json_object(request)
        kwargs: dict[str, Any] = {}
        for param in self.script.parameters:
            if param.name in values:
                kwargs[param.name] = values[param.name]
            elif param.default is not param.empty:
                # Passed explicitly: inference-schema's decorator expects every parameter it
                # declares to be present, so leaving a defaulted one out would crash it.
                kwargs[param.name] = param.default
            else:
                raise BadRequestError(f"A value is not provided for the {param.name!r} parameter.")
        return RunArguments(kwargs=kwargs)

    @staticmethod
    def _json_object(request: IncomingRequest) -> dict[str, Any]:
        if not is_json_content_type(request.headers.get("content-type")):
            raise UnsupportedMediaTypeError("Expects Content-Type to be application/json")
        if not request.body.strip():
            raise BadRequestError("POST body is empty. Expecting a JSON dictionary.")
        try:
            values = json.loads(request.body)
        except ValueError as exc:
            raise BadRequestError(f"POST body could not be decoded as JSON: {exc}") from exc
        except RecursionError as exc:
            raise BadRequestError(_too_deep("POST body")) from exc
        if not isinstance(values, dict):
            raise BadRequestError("POST body should be a JSON dictionary.")
        return values


@dataclass(frozen=True)
class RawInput:
    """@rawhttp run(request): a Flask-compatible request object."""

    script: EntryScript

    def __call__(self, request: IncomingRequest) -> RunArguments:
        """The request as an AMLRequest built from a WSGI environ."""
        # Imported here: werkzeug is only needed by scripts that ask for the raw request.
        from scoreserver.script.aml_request import AMLRequest

        return RunArguments(args=(AMLRequest(wsgi_environ(request)),))


def wsgi_environ(request: IncomingRequest) -> dict[str, Any]:
    """A WSGI environ for werkzeug, built from the ASGI scope and the body already read."""
    scope = request.scope
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(request.body),
        # The body is already read in full, so werkzeug may read a chunked one to its end.
        "wsgi.input_terminated": True,
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


_STRATEGIES: dict[InputMode, type[PlainInput] | type[SchemaInput] | type[RawInput]] = {
    InputMode.PLAIN: PlainInput,
    InputMode.SCHEMA: SchemaInput,
    InputMode.RAW: RawInput,
}


def strategy_for(script: EntryScript) -> InputStrategy:
    """The input strategy for the script's run()."""
    return _STRATEGIES[script.mode](script)


def headers_as_dict(headers: Headers) -> dict[str, str]:
    """The request headers with Title-Case names, as Flask scripts receive them."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.title()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    return merged


@dataclass(frozen=True)
class ArgumentBuilder:
    """The script's input strategy, plus request_headers when run() asks for them."""

    strategy: InputStrategy
    wants_headers: bool

    def __call__(self, request: IncomingRequest) -> RunArguments:
        """run()'s arguments for this request."""
        arguments = self.strategy(request)
        if self.wants_headers:
            arguments.kwargs["request_headers"] = headers_as_dict(request.headers)
        return arguments


def argument_builder(script: EntryScript) -> ArgumentBuilder:
    """The argument builder for the script's run()."""
    return ArgumentBuilder(strategy_for(script), script.wants_headers)
