"""content_encoding: compressed request bodies, decoded within the body limit."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest
from starlette.datastructures import Headers

from scoreserver.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from scoreserver.http.content_encoding import decoded_body, decoded_request

BODY = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.5]}]}'


def decode(data: bytes, encoding: str | None, limit: int = 1 << 20) -> bytes:
    headers = Headers({} if encoding is None else {"content-encoding": encoding})
    return decoded_body(data, headers, limit)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("GZip ", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", raw_deflate(BODY)),
    ],
)
def test_bodies_come_back_as_sent(encoding: str | None, data: bytes) -> None:
    assert decode(data, encoding) == BODY


def test_gzip_members_one_after_another_are_one_body() -> None:
    assert decode(gzip.compress(BODY[:10]) + gzip.compress(BODY[10:]), "gzip") == BODY


def test_other_encodings_are_415s() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="'br' is not supported"):
        decode(BODY, "br")


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", BODY),
        ("gzip", gzip.compress(BODY)[:-6]),
        ("gzip", gzip.compress(BODY) + b"trailing"),
        ("deflate", zlib.compress(BODY)[:-8]),
    ],
)
def test_data_that_does_not_decode_is_a_400(encoding: str, data: bytes) -> None:
    with pytest.raises(BadRequestError, match=f"not valid {encoding} data"):
        decode(data, encoding)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_the_limit_holds_for_the_decoded_body(encoding: str) -> None:
    zeros = b"\0" * (8 << 20)
    data = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
    assert len(data) < 64 << 10  # a small body that would inflate to 8 MiB
    with pytest.raises(PayloadTooLargeError, match="limit of 1048576 bytes"):
        decode(data, encoding, limit=1 << 20)
    assert decode(data, encoding, limit=8 << 20) == zeros


def test_a_decoded_request_has_the_headers_of_its_decoded_body() -> None:
    sent = gzip.compress(BODY)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-encoding", b"gzip"),
        (b"content-length", str(len(sent)).encode()),
    ]
    scope = {"type": "http", "headers": raw}
    body, seen, headers = asyncio.run(decoded_request(sent, scope, Headers(raw=raw), 1 << 20))
    assert body == BODY
    expected = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    assert seen["headers"] == headers.raw == expected
    assert scope["headers"] is raw  # the connection's own scope is left as it was


def test_an_identity_request_is_left_as_it_is() -> None:
    raw = [(b"content-encoding", b"identity"), (b"content-length", b"%d" % len(BODY))]
    scope = {"type": "http", "headers": raw}
    body, seen, headers = asyncio.run(decoded_request(BODY, scope, Headers(raw=raw), 1 << 20))
    assert (body, seen["headers"], headers.raw) == (BODY, raw, raw)
