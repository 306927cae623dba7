"""GET /swagger: a Swagger UI page for this server's own API description, to try /score in a browser.

The page's scripts and styles are served by the server itself, from the copy of Swagger UI that
the swagger-ui-bundle package ships: the page works offline and asks nothing of any other host
(the online validator badge is turned off). The /score example Swagger UI shows comes from the
document's schema sample, which inference-schema's decorators put there.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import Response

from scoreserver.http.middleware import RUN_FAILED_FALSE, Endpoint, RoutePolicy
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.script.inputs import IncomingRequest
from scoreserver.types import ASGIApp

__all__ = ["PAGE_PATH", "SwaggerUI", "bundled_assets"]

logger = logging.getLogger("azmlinfsrv.swagger")

PAGE_PATH = "/swagger"

_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
"""The files of the bundle the page uses, with their media types."""

_PREFERRED_VERSIONS = ("3", "2", "3.1")
"""The document the page shows: Swagger UI renders 3.0 and 2.0 fully, 3.1 only in part."""

# Relative URLs: the page keeps working behind a proxy that serves the server under a prefix.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="swagger/swagger-ui.css">
<link rel="icon" type="image/png" href="swagger/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="swagger/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {document_url},
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  displayRequestDuration: true
}});
</script>
</body>
</html>
"""

Handler = Callable[[IncomingRequest], Coroutine[Any, Any, Response]]


def bundled_assets() -> Path | None:
    """The folder of Swagger UI's files from the swagger-ui-bundle package, if it is installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


@dataclass(frozen=True)
class SwaggerUI:
    """The page and its assets, as routes."""

    swagger: SwaggerDocuments
    assets: Path
    title: str

    def page(self) -> bytes:
        """The HTML page, pointing at the best document version this server has."""
        supported = self.swagger.supported_versions
        version = next((v for v in _PREFERRED_VERSIONS if v in supported), "2")
        return _PAGE.format(
            title=html.escape(self.title),
            document_url=json.dumps(f"swagger.json?version={version}"),
        ).encode()

    def routes(self, policy: RoutePolicy) -> dict[str, ASGIApp]:
        """The page at /swagger and each asset under /swagger/, protected as /swagger.json is."""
        body = self.page()

        async def page(request: IncomingRequest) -> Response:
            return Response(body, media_type="text/html; charset=utf-8", headers=RUN_FAILED_FALSE)

        routes: dict[str, ASGIApp] = {PAGE_PATH: Endpoint(page, frozenset({"GET", "HEAD"}), policy)}
        for name, media_type in _ASSETS.items():
            routes[f"{PAGE_PATH}/{name}"] = Endpoint(
                self._asset(self.assets / name, media_type),
                frozenset({"GET", "HEAD"}),
                policy,
                access_log=False,
            )
        return routes

    @staticmethod
    def _asset(path: Path, media_type: str) -> Handler:
        async def asset(request: IncomingRequest) -> Response:
            # Read at each request rather than held: a megabyte per worker for a page that
            # is opened now and then. The page cache makes the read quick.
            return Response(
                path.read_bytes(),
                media_type=media_type,
                headers={"Cache-Control": "public, max-age=3600", **RUN_FAILED_FALSE},
            )

        return asset
