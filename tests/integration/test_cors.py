"""CONTRACT "CORS": --access_control_allow_origins and AML_CORS_ORIGINS, as the reference answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import SERVER_VERSION, UUID4, script_server
from tests.integration.server import RunningServer

A = "http://a.com"
B = "http://b.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, x-foo",
}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    """The Access-Control-* and Vary headers of a response, names lower-cased."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-") or name == "vary"
    }


@pytest.fixture(scope="module")
def two_origins() -> Iterator[RunningServer]:
    """hello.py with --access_control_allow_origins "http://a.com, http://b.com"."""
    with script_server("hello.py", "--access_control_allow_origins", f"{A}, {B}") as running:
        yield running


@pytest.fixture
def client(two_origins: RunningServer) -> Iterator[httpx.Client]:
    """A client of the two-origin server."""
    with two_origins.client() as http:
        yield http


@pytest.mark.parametrize("origin", [A, B])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_listed_origin_is_allowed(client: httpx.Client, origin: str, method: str) -> None:
    response = client.request(method, "/score", headers={"Origin": origin}, content=b"x")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, World!"}
    assert cors_headers(response) == {"access-control-allow-origin": origin, "vary": "Origin"}
    assert response.headers["x-ms-server-version"] == SERVER_VERSION


def test_unlisted_origin_gets_no_cors_headers_but_is_served(client: httpx.Client) -> None:
    response = client.get("/score", headers={"Origin": "http://c.com"})
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, World!"}
    assert cors_headers(response) == {}


def test_no_origin_gets_the_first_listed_origin(client: httpx.Client) -> None:
    response = client.get("/score")
    assert response.status_code == 200
    assert cors_headers(response) == {"access-control-allow-origin": A, "vary": "Origin"}


def test_preflight_is_answered(client: httpx.Client) -> None:
    response = client.options("/score", headers={"Origin": A, **PREFLIGHT})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert cors_headers(response) == {
        "access-control-allow-origin": A,
        "access-control-allow-headers": "content-type, x-foo",
        "access-control-allow-methods": "GET, POST",
        "vary": "Origin",
    }
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])


def test_preflight_from_an_unlisted_origin_is_the_plain_options_answer(
    client: httpx.Client,
) -> None:
    response = client.options("/score", headers={"Origin": "http://c.com", **PREFLIGHT})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert cors_headers(response) == {}


def test_preflight_for_a_method_not_allowed_gets_only_the_origin(client: httpx.Client) -> None:
    response = client.options(
        "/score",
        headers={
            "Origin": A,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-foo",
        },
    )
    assert response.status_code == 200
    assert response.content == b""
    assert cors_headers(response) == {"access-control-allow-origin": A, "vary": "Origin"}


def test_options_without_a_requested_method_gets_only_the_origin(client: httpx.Client) -> None:
    response = client.options("/score", headers={"Origin": A})
    assert response.status_code == 200
    assert response.content == b""
    assert cors_headers(response) == {"access-control-allow-origin": A, "vary": "Origin"}


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/swagger.json?version=9", 404)])
def test_cors_on_liveness_and_swagger(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path, headers={"Origin": B})
    assert response.status_code == status
    assert cors_headers(response) == {"access-control-allow-origin": B, "vary": "Origin"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("PUT", "/score")])
def test_no_cors_on_router_errors(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path, headers={"Origin": A})
    assert response.status_code in (404, 405)
    assert cors_headers(response) == {}


# --- AML_CORS_ORIGINS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_origin() -> Iterator[RunningServer]:
    """hello.py with AML_CORS_ORIGINS=http://x.com and no flag."""
    with script_server("hello.py", env={"AML_CORS_ORIGINS": "http://x.com"}) as running:
        yield running


def test_cors_origins_from_the_environment(env_origin: RunningServer) -> None:
    response = httpx.get(env_origin.url + "/score", headers={"Origin": "http://x.com"})
    assert response.status_code == 200
    # with a single origin the reference sends no Vary
    assert cors_headers(response) == {"access-control-allow-origin": "http://x.com"}


def test_environment_origins_preflight(env_origin: RunningServer) -> None:
    response = httpx.options(
        env_origin.url + "/score", headers={"Origin": "http://x.com", **PREFLIGHT}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://x.com"
    assert response.headers["access-control-allow-methods"] == "GET, POST"


def test_environment_origins_reject_others(env_origin: RunningServer) -> None:
    response = httpx.get(env_origin.url + "/score", headers={"Origin": A})
    assert response.status_code == 200
    assert cors_headers(response) == {}


# --- not configured ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_cors() -> Iterator[RunningServer]:
    """hello.py without any CORS configuration."""
    with script_server("hello.py") as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/score", {"Origin": A}),
        ("POST", "/score", {"Origin": A}),
        ("GET", "/", {"Origin": A}),
        ("GET", "/swagger.json", {"Origin": A}),
        ("GET", "/score", {}),
    ],
)
def test_no_cors_headers_when_not_configured(
    no_cors: RunningServer, method: str, path: str, headers: dict[str, str]
) -> None:
    response = httpx.request(method, no_cors.url + path, headers=headers)
    assert response.status_code == 200
    assert cors_headers(response) == {}


def test_preflight_without_cors_is_the_plain_options_answer(no_cors: RunningServer) -> None:
    response = httpx.options(no_cors.url + "/score", headers={"Origin": A, **PREFLIGHT})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert cors_headers(response) == {}


def test_a_wildcard_lets_every_origin_in_naming_each_back() -> None:
    # AML_CORS_ORIGINS="*" is the usual way to open an endpoint to browsers.
    with (
        script_server("hello.py", env={"AML_CORS_ORIGINS": "*"}) as server,
        server.client() as http,
    ):
        named = http.post("/score", headers={"Origin": "http://z.com"}, content=b"x")
        unnamed = http.post("/score", content=b"x")
        preflight = http.options(
            "/score",
            headers={
                "Origin": "http://z.com",
                **PREFLIGHT,
                "Access-Control-Request-Headers": "a,b",
            },
        )
    assert cors_headers(named) == {"access-control-allow-origin": "http://z.com", "vary": "Origin"}
    assert cors_headers(unnamed) == {"access-control-allow-origin": "*"}
    assert cors_headers(preflight) == {
        "access-control-allow-origin": "http://z.com",
        "access-control-allow-headers": "a, b",
        "access-control-allow-methods": "GET, POST",
        "vary": "Origin",
    }
