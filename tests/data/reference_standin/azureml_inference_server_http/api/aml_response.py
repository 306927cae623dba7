"""Like the reference's: a response class of its own (a werkzeug Response, not scoreserver's)."""

import json

from werkzeug.wrappers import Response


class AMLResponse(Response):
    def __init__(self, message, status_code, response_headers=None, json_str=False):
        body = json.dumps(message) if json_str else message
        super().__init__(
            body, status=status_code, mimetype="application/json" if json_str else None
        )
        for name, value in (response_headers or {}).items():
            self.headers.add(name, value)
