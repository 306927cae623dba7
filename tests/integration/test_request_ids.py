"""CONTRACT "Responses", headers: request ids, 431 limits, TraceId, the server version header."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import (
    ID_HEADERS,
    SERVER_VERSION,
    UUID4,
    raw_exchange,
    script_server,
)
from tests.integration.server import RunningServer

REQUEST_ID_TOO_LONG = b'{"message": "x-request-id must not exceed 100 characters"}'
MS_IDS_TOO_LONG = (
    b'{"message": "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"}'
)
DEPRECATION = (
    "x-ms-request-id header has been deprecated and will be removed from future versions of "
    "the server. Please use x-ms-client-request-id."
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """hello.py with the default settings."""
    with script_server("hello.py") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's server."""
    with server.client() as http:
        yield http


R = ("x-request-id", "rid-1")
L = ("x-ms-request-id", "legacy-2")
C = ("x-ms-client-request-id", "client-3")
NEW = "<uuid4>"
SAME = "<same as x-request-id>"

# The reference's table: what the client sends → x-request-id, x-ms-request-id, x-ms-client-request-id
ID_TABLE = [
    ((), (NEW, SAME, None)),
    ((R,), ("rid-1", "rid-1", None)),
    ((L,), (NEW, "legacy-2", "legacy-2")),
    ((C,), (NEW, "client-3", "client-3")),
    ((R, L), ("rid-1", "legacy-2", "legacy-2")),
    ((R, C), ("rid-1", "client-3", "client-3")),
    ((L, C), (NEW, "legacy-2", "client-3")),
    ((R, L, C), ("rid-1", "legacy-2", "client-3")),
    ((("x-request-id", ""),), (None, None, None)),
    ((("x-ms-request-id", ""),), (NEW, SAME, None)),
    ((("x-ms-client-request-id", ""),), (NEW, SAME, None)),
    ((("x-request-id", ""), ("x-ms-client-request-id", "cc")), (None, "cc", "cc")),
]


@pytest.mark.parametrize(
    ("sent", "expected"), ID_TABLE, ids=[str([n for n, _ in s]) for s, _ in ID_TABLE]
)
def test_request_id_table(
    server: RunningServer,
    sent: tuple[tuple[str, str], ...],
    expected: tuple[str | None, str | None, str | None],
) -> None:
    response = raw_exchange(server.port, "GET", "/score", headers=sent)
    assert response.status == 200
    got = {}
    for name in ID_HEADERS:
        values = response.values(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        got[name] = values[0].decode() if values else None
    request_id, ms_request_id, client_request_id = expected
    if request_id == NEW:
        assert got["x-request-id"] is not None and UUID4.match(got["x-request-id"])
    else:
        assert got["x-request-id"] == request_id
    if ms_request_id == SAME:
        assert got["x-ms-request-id"] == got["x-request-id"]
    else:
        assert got["x-ms-request-id"] == ms_request_id
    assert got["x-ms-client-request-id"] == client_request_id


def test_each_response_gets_its_own_request_id(client: httpx.Client) -> None:
    ids = {client.get("/score").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_request_id_header_names_are_case_insensitive(client: httpx.Client) -> None:
    response = client.get(
        "/score", headers={"X-Request-ID": "upper-rid", "X-MS-Client-Request-Id": "upper-c"}
    )
    assert response.headers["x-request-id"] == "upper-rid"
    assert response.headers["x-ms-request-id"] == "upper-c"
    assert response.headers["x-ms-client-request-id"] == "upper-c"
    names = [name for name, _ in response.headers.raw]
    assert b"x-request-id" in names
    assert b"x-ms-client-request-id" in names


def test_utf8_request_id_is_echoed_as_the_same_bytes(server: RunningServer) -> None:
    value = "héllo".encode()
    response = raw_exchange(server.port, "GET", "/score", headers=[(b"x-request-id", value)])
    assert response.status == 200
    assert response.values("x-request-id") == [value]
    assert response.values("x-ms-request-id") == [value]


def test_ids_on_liveness_and_swagger(client: httpx.Client) -> None:
    for path in ("/", "/swagger.json"):
        response = client.get(path, headers=dict([R, C]))
        assert response.headers["x-request-id"] == "rid-1", path
        assert response.headers["x-ms-request-id"] == "client-3", path
        assert response.headers["x-ms-client-request-id"] == "client-3", path


def deprecations(server: RunningServer, at_least: int = 0) -> int:
    """How many deprecation warnings the server logged, waiting (polling) for at_least of them."""
    deadline = time.monotonic() + 5
    while (count := server.output().count(DEPRECATION)) < at_least:
        assert time.monotonic() < deadline, f"{count} deprecation warnings, wanted {at_least}"
        time.sleep(0.05)
    return count


def test_legacy_request_id_logs_a_deprecation_warning_each_time(
    server: RunningServer, client: httpx.Client
) -> None:
    before = deprecations(server)
    client.get("/score", headers=dict([L]))
    client.get("/", headers=dict([L]))
    assert deprecations(server, before + 2) == before + 2


def test_client_request_id_alone_logs_no_deprecation_warning(
    server: RunningServer, client: httpx.Client
) -> None:
    before = deprecations(server)
    assert client.get("/score", headers=dict([C])).status_code == 200
    client.get("/score", headers=dict([L]))  # logged after anything the first one logged
    assert deprecations(server, before + 1) == before + 1


# --- length limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ID_HEADERS)
def test_ids_of_100_characters_are_accepted(client: httpx.Client, name: str) -> None:
    response = client.get("/score", headers={name: "a" * 100})
    assert response.status_code == 200
    assert response.headers[name] == "a" * 100


@pytest.mark.parametrize("path", ["/", "/score", "/swagger.json"])
def test_request_id_over_100_characters_is_a_431(client: httpx.Client, path: str) -> None:
    response = client.get(path, headers={"x-request-id": "r" * 101})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/json"
    assert response.content == REQUEST_ID_TOO_LONG
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    for name in ID_HEADERS:
        assert name not in response.headers
    assert "x-ms-run-fn-exec-ms" not in response.headers


@pytest.mark.parametrize("name", ["x-ms-request-id", "x-ms-client-request-id"])
@pytest.mark.parametrize("path", ["/", "/score", "/swagger.json"])
def test_ms_ids_over_100_characters_are_a_431(client: httpx.Client, name: str, path: str) -> None:
    response = client.get(path, headers={name: "m" * 101})
    assert response.status_code == 431
    assert response.content == MS_IDS_TOO_LONG
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert "x-ms-request-id" not in response.headers
    assert "x-ms-client-request-id" not in response.headers


def test_ms_id_431_echoes_the_clients_request_id(client: httpx.Client) -> None:
    response = client.get(
        "/score", headers={"x-request-id": "rid-ok", "x-ms-client-request-id": "c" * 101}
    )
    assert response.status_code == 431
    assert response.content == MS_IDS_TOO_LONG
    assert response.headers["x-request-id"] == "rid-ok"


def test_request_id_message_wins_when_both_are_too_long(client: httpx.Client) -> None:
    response = client.get(
        "/score", headers={"x-request-id": "r" * 101, "x-ms-client-request-id": "c" * 101}
    )
    assert response.status_code == 431
    assert response.content == REQUEST_ID_TOO_LONG


def test_legacy_id_too_long_with_a_short_client_id_is_a_431(client: httpx.Client) -> None:
    response = client.get(
        "/score", headers={"x-ms-request-id": "l" * 101, "x-ms-client-request-id": "short"}
    )
    assert response.status_code == 431
    assert response.content == MS_IDS_TOO_LONG


def test_length_is_checked_before_the_method_on_score(client: httpx.Client) -> None:
    response = client.head("/score", headers={"x-request-id": "r" * 101})
    assert response.status_code == 431


def test_length_is_not_checked_on_unknown_paths(client: httpx.Client) -> None:
    response = client.get("/nope", headers={"x-request-id": "r" * 101})
    assert response.status_code == 404


# --- TraceId ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/score", "/swagger.json"])
@pytest.mark.parametrize("sent_name", [b"TraceId", b"traceid", b"TRACEID"])
def test_trace_id_is_echoed(server: RunningServer, path: str, sent_name: bytes) -> None:
    # Header names are case-insensitive in HTTP; the value must come back once, unchanged.
    response = raw_exchange(server.port, "GET", path, headers=[(sent_name, b"trace-42")])
    assert response.status == 200
    assert response.values("TraceId") == [b"trace-42"]


def test_no_trace_id_without_one_in_the_request(client: httpx.Client) -> None:
    assert "traceid" not in client.get("/score").headers


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PUT", "/score")])
def test_no_trace_id_on_router_errors(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path, headers={"TraceId": "t-1"})
    assert response.status_code in (404, 405)
    assert "traceid" not in response.headers


# --- where the version and id headers appear ---------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("HEAD", "/", 200),
        ("OPTIONS", "/", 200),
        ("GET", "/score", 200),
        ("POST", "/score", 200),
        ("OPTIONS", "/score", 200),
        ("HEAD", "/score", 405),
        ("GET", "/swagger.json", 200),
        ("GET", "/swagger.json?version=9", 404),
    ],
)
def test_version_and_ids_on_every_routed_response(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert response.headers["x-ms-request-id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/", 405), ("DELETE", "/score", 405)],
)
def test_no_version_or_ids_on_router_errors(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, headers=dict([R, C]))
    assert response.status_code == status
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert "x-ms-server-version" not in response.headers
    for name in ID_HEADERS:
        assert name not in response.headers


@pytest.fixture(scope="module")
def unversioned() -> Iterator[RunningServer]:
    """hello.py with SERVER_VERSION_LOG_RESPONSE_ENABLED=false."""
    with script_server("hello.py", env={"SERVER_VERSION_LOG_RESPONSE_ENABLED": "false"}) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/score"), ("POST", "/score"), ("GET", "/swagger.json")],
)
def test_server_version_header_can_be_switched_off(
    unversioned: RunningServer, method: str, path: str
) -> None:
    response = httpx.request(method, unversioned.url + path)
    assert response.status_code == 200
    assert "x-ms-server-version" not in response.headers
    assert UUID4.match(response.headers["x-request-id"])


def test_server_version_switched_off_on_431_too(unversioned: RunningServer) -> None:
    response = httpx.get(unversioned.url + "/score", headers={"x-request-id": "r" * 101})
    assert response.status_code == 431
    assert "x-ms-server-version" not in response.headers


@pytest.fixture(scope="module")
def script_ids() -> Iterator[RunningServer]:
    """A script whose AMLResponse sets the id headers itself."""
    with script_server("http_script_ids.py") as running:
        yield running


def test_the_servers_ids_replace_a_scripts_own(script_ids: RunningServer) -> None:
    sent = {"x-request-id": "rid-1", "x-ms-client-request-id": "client-3", "TraceId": "t-4"}
    response = httpx.post(script_ids.url + "/score", content=b"{}", headers=sent)
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["rid-1"]
    assert response.headers.get_list("x-ms-request-id") == ["client-3"]
    assert response.headers.get_list("x-ms-client-request-id") == ["client-3"]
    # As in the reference, TraceId is not an id the server owns: both values are sent.
    assert response.headers.get_list("traceid") == ["script-trace", "t-4"]
    assert response.headers["x-custom"] == "kept"


def test_a_scripts_id_stays_where_the_server_has_none(script_ids: RunningServer) -> None:
    response = httpx.post(script_ids.url + "/score", content=b"{}")
    request_id = response.headers.get_list("x-request-id")
    assert len(request_id) == 1
    assert UUID4.match(request_id[0])
    assert response.headers.get_list("x-ms-request-id") == request_id
    assert response.headers.get_list("x-ms-client-request-id") == ["script-client"]
