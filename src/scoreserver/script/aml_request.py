"""The Flask-compatible request object handed to @rawhttp run() functions, and the decorator."""

from __future__ import annotations

from werkzeug.wrappers import Request

from scoreserver.script.rawhttp import RAWHTTP_MARK, is_rawhttp, rawhttp

__all__ = ["RAWHTTP_MARK", "AMLRequest", "is_rawhttp", "rawhttp"]


class AMLRequest(Request):
    """A werkzeug request, as Flask's request is: method, path, args, headers, data, json, form, files."""
