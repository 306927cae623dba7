"""Request bodies sent compressed (`Content-Encoding: gzip` or `deflate`), for the routes whose
protocol allows it: the Triton client compresses V2 inference requests when asked to.

The body limit applies to the decoded body too, checked while decoding: a small compressed body
cannot make the worker inflate more than the limit. Inflating happens on a thread (zlib lets go
of the GIL), so a large body does not hold up the event loop and the liveness probe; and what the
route sees is the request as if it had been sent uncompressed: its decoded body, without the
Content-Encoding header, with the decoded body's Content-Length.
"""

from __future__ import annotations

import asyncio
import zlib

from starlette.datastructures import Headers

from scoreserver.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from scoreserver.script.inputs import raw_header
from scoreserver.types import Scope

__all__ = ["decoded_body", "decoded_request"]

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS

_FORMATS: dict[str, tuple[int, ...]] = {
    "gzip": (_GZIP,),
    "x-gzip": (_GZIP,),
    # HTTP's deflate is zlib's format; some clients send bare deflate data instead.
    "deflate": (_ZLIB, _RAW_DEFLATE),
}


def decoded_body(body: bytes, headers: Headers, limit: int) -> bytes:
    """The body as sent before its Content-Encoding (gzip, deflate or identity) was applied."""
    declared = raw_header(headers, b"content-encoding")
    if declared is None:
        return body
    encoding = declared.decode("latin-1").strip().lower()
    if encoding in ("", "identity"):
        return body
    formats = _FORMATS.get(encoding)
    if formats is None:
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {encoding!r} is not supported; send the body as it is, or "
            f"compressed with gzip or deflate."
        )
    for wbits in formats:
        try:
            return _inflate(body, wbits, limit)
        except zlib.error as exc:
            failure = exc  # the last format's is the one reported
    raise BadRequestError(
        f"The request body is not valid {encoding} data (Content-Encoding: {encoding}): {failure}"
    ) from failure


async def decoded_request(
    body: bytes, scope: Scope, headers: Headers, limit: int
) -> tuple[bytes, Scope, Headers]:
    """The body, scope and headers of a request with a Content-Encoding, as if sent without it."""
    decoded = await asyncio.to_thread(decoded_body, body, headers, limit)
    if decoded is body:
        return body, scope, headers  # identity: nothing was encoded
    raw = [
        (name, str(len(decoded)).encode() if name == b"content-length" else value)
        for name, value in headers.raw
        if name != b"content-encoding"
    ]
    return decoded, {**scope, "headers": raw}, Headers(raw=raw)


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """data inflated, member after member; more than limit bytes is a 413 before it is made."""
    parts: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        part = inflater.decompress(data, limit + 1 - size)
        size += len(part)
        if size > limit:
            raise PayloadTooLargeError.over(limit)
        parts.append(part)
        if not inflater.eof:
            raise zlib.error("the compressed data ends early")
        data = inflater.unused_data
        if not data:
            return b"".join(parts)
