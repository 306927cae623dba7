"""The Flask-compatible request object handed to @rawhttp run() functions, and the decorator."""

from __future__ import annotations

from typing import NoReturn

from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Request

from scoreserver.script.rawhttp import RAWHTTP_MARK, is_rawhttp, rawhttp

__all__ = ["RAWHTTP_MARK", "AMLRequest", "is_rawhttp", "rawhttp"]


class AMLRequest(Request):
    """A werkzeug request, as Flask's request is: method, path, args, headers, data, json, form, files."""

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        """Body that is not JSON: Flask's plain 400, which does not echo the parser's words."""
        try:
            super().on_json_loading_failed(e)
        except BadRequest as refused:
            raise BadRequest() from refused
        raise BadRequest()  # werkzeug always raises above; this keeps the promise typed
