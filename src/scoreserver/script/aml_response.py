"""AMLResponse: what a run() returns to control the status, headers and body of its answer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.wrappers import Response

__all__ = ["AMLResponse"]


class AMLResponse(Response):
    """A werkzeug response built the reference's way: message, status code, headers, json_str."""

    default_mimetype = "text/html"

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, Any] | None = None,
        json_str: bool = False,
    ) -> None:
        body: Any
        if message is None:
            body, mimetype = "{}", "application/json"
        elif json_str:
            body, mimetype = json.dumps(message), "application/json"
        else:
            body, mimetype = message, None
        super().__init__(body, status=status_code, mimetype=mimetype)
        for name, value in (response_headers or {}).items():
            self.headers.remove(name)
            for part in _split_header_value(value):
                self.headers.add(name, part)


def _split_header_value(value: Any) -> Iterable[str]:
    """A comma-separated header value becomes one header per part, as the reference sends them.

    A value that is no string fails here, in run(), as the reference's does (it splits it too):
    a script that passes here fails there no differently."""
    return [part.strip() for part in value.split(",")]
