"""Flask's request and application context around run(), for scripts that use Flask.

The reference serves with Flask, so a score.py may call `flask.jsonify(...)` or read
`flask.request` inside run(). When the loaded script has imported Flask (it is not one of our
dependencies, and nothing here imports it), each run() call gets a request context of its own,
built from its request as a @rawhttp script's request object is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from scoreserver.script.inputs import IncomingRequest, wsgi_environ

__all__ = ["RequestContext", "flask_request_context"]

RequestContext = Callable[[IncomingRequest], AbstractContextManager[Any]]
"""A request's Flask request context (which pushes an app context too), for run() to run in."""


def flask_request_context() -> RequestContext | None:
    """A Flask request context per request when the script has imported Flask; else None."""
    flask = sys.modules.get("flask")
    if flask is None:
        return None
    app = flask.Flask("entry_module")

    def context(request: IncomingRequest) -> AbstractContextManager[Any]:
        return app.request_context(wsgi_environ(request))  # type: ignore[no-any-return]

    return context
