"""CORS the way the reference's flask-cors layer answers, applied on the served routes only.

Starlette's CORSMiddleware was the first choice, but clients of the reference see different
answers from it: it rejects preflights from unlisted origins with 400, adds Max-Age and a
Vary list, and wraps unknown-path 404s too. These few rules reproduce what the reference sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers

__all__ = ["CorsPolicy"]

ALLOWED_METHODS = ("GET", "POST")


@dataclass(frozen=True)
class CorsPolicy:
    """The origins CORS is enabled for, and the headers that follow from a request."""

    origins: tuple[str, ...]

    def headers_for(self, method: str, headers: Headers) -> list[tuple[bytes, bytes]]:
        """The Access-Control-* (and Vary) headers the response gets; none for other origins."""
        origin = headers.get("origin")
        anyone = "*" in self.origins
        if origin is None:
            # flask-cors answers a request without Origin with the first listed origin.
            allowed = self.origins[0]
        elif anyone or origin in self.origins:
            allowed = origin  # "*" lets every origin in, each named back (and Vary says so)
        else:
            return []
        out = [(b"Access-Control-Allow-Origin", allowed.encode("latin-1"))]
        requested = headers.get("access-control-request-method")
        if method == "OPTIONS" and requested is not None and requested.upper() in ALLOWED_METHODS:
            wanted_headers = headers.get("access-control-request-headers")
            if wanted_headers:
                # Named back as a list, the way flask-cors writes one: "a, b".
                names = ", ".join(n.strip() for n in wanted_headers.split(",") if n.strip())
                out.append((b"Access-Control-Allow-Headers", names.encode("latin-1")))
            out.append((b"Access-Control-Allow-Methods", ", ".join(ALLOWED_METHODS).encode()))
        if len(self.origins) > 1 or (anyone and origin is not None):
            out.append((b"Vary", b"Origin"))
        return out
