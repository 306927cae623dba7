"""Request id headers: the reference's echo table, the 100-character limit, the deprecation warning."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence

import pytest
from starlette.datastructures import Headers

from scoreserver.errors import HeaderTooLargeError
from scoreserver.http.request_ids import MAX_ID_LENGTH, RequestIds

R = ("x-request-id", "rid-1")
L = ("x-ms-request-id", "legacy-2")
C = ("x-ms-client-request-id", "client-3")
GENERATED = "<uuid4>"


def ids_for(*pairs: tuple[str, str]) -> RequestIds:
    return RequestIds.from_headers(headers(pairs))


def headers(pairs: Sequence[tuple[str, str]]) -> Headers:
    return Headers(raw=[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs])


def response_headers(ids: RequestIds) -> dict[str, str]:
    return {k.decode(): v.decode("latin-1") for k, v in ids.response_headers()}


class Collector(logging.Handler):
    """Keeps the records of the azmlinfsrv logger, whatever logging configuration is in place."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    """The WARNING records the azmlinfsrv logger emits during the test."""
    logger = logging.getLogger("azmlinfsrv")
    collector = Collector()
    level = logger.level
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    yield collector.records
    logger.removeHandler(collector)
    logger.setLevel(level)


def is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


@pytest.mark.parametrize(
    ("sent", "request_id", "ms_request_id", "client_request_id"),
    [
        ((), GENERATED, GENERATED, None),
        ((R,), "rid-1", "rid-1", None),
        ((L,), GENERATED, "legacy-2", "legacy-2"),
        ((C,), GENERATED, "client-3", "client-3"),
        ((R, L), "rid-1", "legacy-2", "legacy-2"),
        ((R, C), "rid-1", "client-3", "client-3"),
        ((L, C), GENERATED, "legacy-2", "client-3"),
        ((R, L, C), "rid-1", "legacy-2", "client-3"),
        ((("x-request-id", ""),), None, None, None),
        ((("x-ms-request-id", ""),), GENERATED, GENERATED, None),
        ((("x-ms-client-request-id", ""),), GENERATED, GENERATED, None),
        ((("x-request-id", ""), ("x-ms-client-request-id", "cc")), None, "cc", "cc"),
    ],
)
def test_ids_follow_the_reference_table(
    sent: tuple[tuple[str, str], ...],
    request_id: str | None,
    ms_request_id: str | None,
    client_request_id: str | None,
) -> None:
    got = response_headers(ids_for(*sent))
    if request_id == GENERATED:
        assert is_uuid4(got["x-request-id"])
        request_id = got["x-request-id"]
    if ms_request_id == GENERATED:
        ms_request_id = request_id
    expected = {
        "x-request-id": request_id,
        "x-ms-request-id": ms_request_id,
        "x-ms-client-request-id": client_request_id,
    }
    assert got == {k: v for k, v in expected.items() if v is not None}


def test_each_request_gets_a_new_id() -> None:
    assert ids_for().request_id != ids_for().request_id


def test_header_names_match_in_any_case() -> None:
    got = response_headers(ids_for(("X-Request-ID", "abc"), ("X-MS-Client-Request-Id", "c")))
    assert got["x-request-id"] == "abc"
    assert got["x-ms-client-request-id"] == "c"


def test_an_id_sent_twice_is_one_value_joined_by_a_comma_as_in_the_reference() -> None:
    got = response_headers(ids_for(("x-request-id", "a"), ("x-request-id", "b")))
    assert got["x-request-id"] == "a,b"
    assert got["x-ms-request-id"] == "a,b"


def test_trace_id_is_echoed_last_as_traceid() -> None:
    ids = ids_for(R, ("traceid", "t-1"))
    assert ids.response_headers()[-1] == (b"TraceId", b"t-1")


def test_response_headers_come_in_the_reference_order() -> None:
    names = [k for k, _ in ids_for(R, L, C, ("TraceId", "t")).response_headers()]
    assert names == [b"x-request-id", b"x-ms-request-id", b"x-ms-client-request-id", b"TraceId"]


def test_values_go_back_as_the_bytes_that_came_in() -> None:
    raw = "héllo".encode()
    ids = RequestIds.from_headers(Headers(raw=[(b"x-request-id", raw)]))
    assert dict(ids.response_headers())[b"x-request-id"] == raw


def test_ids_of_exactly_100_characters_are_accepted() -> None:
    value = "a" * MAX_ID_LENGTH
    got = response_headers(ids_for(("x-request-id", value), ("x-ms-client-request-id", value)))
    assert got["x-request-id"] == value


def test_too_long_request_id_is_a_431_without_ids() -> None:
    with pytest.raises(HeaderTooLargeError) as caught:
        ids_for(("x-request-id", "a" * 101))
    assert caught.value.status_code == 431
    assert caught.value.message == "x-request-id must not exceed 100 characters"
    assert caught.value.request_id is None


@pytest.mark.parametrize("name", ["x-ms-request-id", "x-ms-client-request-id"])
def test_too_long_ms_id_is_a_431_that_still_carries_the_request_id(name: str) -> None:
    with pytest.raises(HeaderTooLargeError) as caught:
        ids_for(R, (name, "a" * 101))
    assert caught.value.message == (
        "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"
    )
    assert caught.value.request_id == "rid-1"


def test_too_long_ms_id_without_request_id_carries_a_generated_one() -> None:
    with pytest.raises(HeaderTooLargeError) as caught:
        ids_for(("x-ms-client-request-id", "a" * 101))
    assert caught.value.request_id is not None
    assert is_uuid4(caught.value.request_id)


def test_request_id_message_wins_when_both_are_too_long() -> None:
    with pytest.raises(HeaderTooLargeError) as caught:
        ids_for(("x-request-id", "a" * 101), ("x-ms-client-request-id", "b" * 101))
    assert caught.value.message == "x-request-id must not exceed 100 characters"


def test_legacy_id_logs_a_deprecation_warning_every_time(
    warnings_logged: list[logging.LogRecord],
) -> None:
    ids_for(L)
    ids_for(L, C)
    assert [(r.levelname, r.getMessage()) for r in warnings_logged] == [
        (
            "WARNING",
            "x-ms-request-id header has been deprecated and will be removed from future versions "
            "of the server. Please use x-ms-client-request-id.",
        )
    ] * 2


def test_deprecation_warning_comes_even_when_the_legacy_id_is_too_long(
    warnings_logged: list[logging.LogRecord],
) -> None:
    with pytest.raises(HeaderTooLargeError):
        ids_for(("x-ms-request-id", "a" * 101))
    assert any("deprecated" in r.getMessage() for r in warnings_logged)


def test_no_warning_without_a_legacy_id(warnings_logged: list[logging.LogRecord]) -> None:
    ids_for(R, C, ("x-ms-request-id", ""))
    assert warnings_logged == []
