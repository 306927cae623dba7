"""The request id headers: which the client sent, which the response carries, and their limits."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.datastructures import Headers

from scoreserver.errors import HeaderTooLargeError

__all__ = ["MAX_ID_LENGTH", "SERVER_ID_HEADERS", "RequestIds", "new_request_id"]

logger = logging.getLogger("azmlinfsrv")

MAX_ID_LENGTH = 100

_ID_HEADERS = {
    b"x-request-id": 0,
    b"x-ms-request-id": 1,
    b"x-ms-client-request-id": 2,
    b"traceid": 3,
}
"""The headers request ids come from, and their place in RequestIds.from_raw's scan."""


# The version (4) and variant (RFC 4122) bits of a UUID4, as uuid.UUID(version=4) sets them.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


SERVER_ID_HEADERS = frozenset({b"x-request-id", b"x-ms-request-id", b"x-ms-client-request-id"})
"""The id headers the server answers with itself: a script's header of the same name gives way."""


def new_request_id() -> str:
    """A random UUID4 string.

    Drawn from the random module rather than os.urandom: ids need to be unique, not secret, and
    the system call of uuid4() is a noticeable share of a fast request. CPython reseeds the
    random module in each forked worker, so workers never repeat each other's ids.
    """
    bits = (random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# Not frozen: a frozen dataclass pays for object.__setattr__ per field, and this one is made
# for every request.
@dataclass
class RequestIds:
    """The ids a response carries back, derived from what the client sent."""

    request_id: str | None
    ms_request_id: str | None
    client_request_id: str | None
    trace_id: str | None
    _headers: list[tuple[bytes, bytes]] | None = field(default=None, repr=False, compare=False)
    """response_headers(), once worked out (a request asks twice: custody, the response)."""

    @classmethod
    def from_headers(cls, headers: Headers) -> RequestIds:
        """Echo the client's ids or make a new one; too long an id is a 431."""
        return cls.from_raw(headers.raw)

    @classmethod
    def from_raw(cls, raw_headers: Iterable[tuple[bytes, bytes]]) -> RequestIds:
        """As from_headers, from the ASGI scope's lower-case header list, in one pass."""
        found: list[str | None] | None = None
        for name, value in raw_headers:
            slot = _ID_HEADERS.get(name)
            if slot is None:
                continue
            if found is None:
                found = [None, None, None, None]
            text = value.decode("latin-1")
            # A header sent twice is one value joined by a comma, as WSGI (the reference) has it.
            found[slot] = text if found[slot] is None else f"{found[slot]},{text}"
        if found is None:
            # The common case, a client that sends no ids: a new one, echoed as x-ms-request-id.
            new_id = new_request_id()
            return cls(new_id, new_id, None, None)
        request_id, legacy_id, client_id, trace_id = found
        if request_id is not None and len(request_id) > MAX_ID_LENGTH:
            raise HeaderTooLargeError(f"x-request-id must not exceed {MAX_ID_LENGTH} characters")
        if request_id is None:
            request_id = new_request_id()
        legacy_id = legacy_id or None
        client_id = client_id or None
        if legacy_id is not None:
            logger.warning(
                "x-ms-request-id header has been deprecated and will be removed from future "
                "versions of the server. Please use x-ms-client-request-id."
            )
        if len(legacy_id or "") > MAX_ID_LENGTH or len(client_id or "") > MAX_ID_LENGTH:
            raise HeaderTooLargeError(
                f"x-ms-request-id and x-ms-client-request-id must not exceed "
                f"{MAX_ID_LENGTH} characters",
                request_id=request_id,
            )
        # A present but empty x-request-id is neither echoed nor replaced, as in the reference.
        return cls(
            request_id=request_id or None,
            ms_request_id=legacy_id or client_id or request_id or None,
            client_request_id=client_id or legacy_id,
            trace_id=trace_id,
        )

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """The id headers in the reference's order (the same list each time: do not change it)."""
        if self._headers is not None:
            return self._headers
        pairs = (
            (b"x-request-id", self.request_id),
            (b"x-ms-request-id", self.ms_request_id),
            (b"x-ms-client-request-id", self.client_request_id),
            (b"TraceId", self.trace_id),
        )
        # Values go back as the raw bytes they came in (Starlette decoded them as latin-1).
        self._headers = [
            (name, value.encode("latin-1")) for name, value in pairs if value is not None
        ]
        return self._headers
