"""CONTRACT "Routes": /, /score, /swagger.json, unknown paths and methods, the health port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.http_contract import (
    NOT_FOUND_BODY,
    ROUTER_405_BODY,
    SCORE_405_BODY,
    SERVER_VERSION,
    UUID4,
    assert_bare,
    assert_json_error,
    raw_exchange,
    script,
    script_server,
    wait_for_port,
)
from tests.integration.server import RunningServer, free_port, start_server

SUPPORTED_VERSIONS = "Supported versions: [2, 3, 3.1]."


@pytest.fixture(scope="module")
def idle_health_port() -> int:
    """A --health_port given without SEPERATE_HEALTH_ENDPOINT, so nothing should listen on it."""
    return free_port()


@pytest.fixture(scope="module")
def server(idle_health_port: int) -> Iterator[RunningServer]:
    """The outcomes script with the default timeout and an ignored --health_port."""
    with script_server("http_outcomes.py", "--health_port", str(idle_health_port)) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's server."""
    with server.client() as http:
        yield http


def counted(client: httpx.Client, method: str, path: str) -> tuple[httpx.Response, int]:
    """The response to one request, and how many times run() was called to produce it."""

    def total() -> int:
        return int(client.post("/score", content=b'{"kind": "calls"}').json()["calls"])

    before = total()
    response = client.request(method, path, content=b"{}" if method != "HEAD" else None)
    return response, total() - before - 1  # the second count is a run() call too


# --- GET / and HEAD / ------------------------------------------------------------------------


def test_liveness_answers_healthy_as_text(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.content == b"Healthy"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert "x-ms-run-function-failed" not in response.headers


def test_liveness_head_answers_200_without_body(client: httpx.Client) -> None:
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "7"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION


def test_liveness_options_lists_allowed_methods(client: httpx.Client) -> None:
    response = client.options("/")
    assert response.status_code == 200
    assert response.content == b""
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_on_liveness_is_a_bare_json_405(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/", content=b"x")
    assert_json_error(response, 405, ROUTER_405_BODY)
    assert_bare(response)


def test_liveness_answers_only_once_init_is_done(tmp_path: Path) -> None:
    marker = tmp_path / "init-done"
    started = time.monotonic()
    server = start_server(
        ["--entry_script", script("http_slow_init.py")],
        env={"HTTP_TEST_INIT_MARKER": str(marker)},
    )
    try:
        first_healthy = None
        while time.monotonic() - started < 30:
            assert server.process.poll() is None, server.output()
            try:
                response = httpx.get(server.url + "/", timeout=0.5)
            except httpx.HTTPError:
                time.sleep(0.02)
                continue
            if response.status_code == 200:
                # The probe said healthy: init() must have finished by now.
                assert marker.exists(), "GET / answered 200 before init() had finished"
                first_healthy = time.monotonic() - started
                break
            time.sleep(0.02)
        assert first_healthy is not None, server.output()
        assert first_healthy >= 1.0  # init() sleeps one second
    finally:
        server.stop()
        server.remove_log()


def test_liveness_answers_fast_while_run_is_busy(server: RunningServer, tmp_path: Path) -> None:
    """better: the probe does not queue behind a long run()."""
    started_marker = tmp_path / "run-started"
    request = {"kind": "sleep", "seconds": 2, "started": str(started_marker)}
    busy: dict[str, httpx.Response] = {}

    def score_slowly() -> None:
        busy["response"] = httpx.post(server.url + "/score", json=request, timeout=30)

    worker = threading.Thread(target=score_slowly)
    started = time.monotonic()
    worker.start()
    try:
        while not started_marker.exists():  # run() is busy from here on
            assert time.monotonic() - started < 10, "run() never started"
            time.sleep(0.01)
        with server.client() as http:
            probe_times = []
            for _ in range(3):
                before = time.perf_counter()
                response = http.get("/")
                probe_times.append(time.perf_counter() - before)
                assert response.status_code == 200
                assert response.content == b"Healthy"
        assert "response" not in busy, "run() finished too early for the test to mean anything"
        # milliseconds, where the reference makes the probe wait for run()'s two seconds
        assert sorted(probe_times)[1] < 0.05, probe_times
        assert max(probe_times) < 0.1, probe_times
    finally:
        worker.join(timeout=30)
    assert busy["response"].status_code == 200
    assert busy["response"].json() == {"slept": 2}
    assert time.monotonic() - started >= 2.0


# --- /score -----------------------------------------------------------------------------------


def test_get_score_calls_run(client: httpx.Client) -> None:
    response, runs = counted(client, "GET", "/score")
    assert runs == 1
    assert response.status_code == 200
    assert response.content == b'{"echo": {}}'


def test_post_score_calls_run(client: httpx.Client) -> None:
    response = client.post("/score", content=b'{"kind": "int"}')
    assert response.status_code == 200
    assert response.content == b"42"
    assert response.headers["content-type"] == "application/json"


def test_options_score_is_an_empty_200_without_calling_run(client: httpx.Client) -> None:
    response, runs = counted(client, "OPTIONS", "/score")
    assert runs == 0
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])
    assert "x-ms-run-fn-exec-ms" not in response.headers
    assert "allow" not in response.headers


def test_head_score_is_a_405_from_the_score_handler(client: httpx.Client) -> None:
    response, runs = counted(client, "HEAD", "/score")
    assert runs == 0
    assert response.status_code == 405
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(SCORE_405_BODY))
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION
    assert UUID4.match(response.headers["x-request-id"])


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_score_are_a_bare_json_405(client: httpx.Client, method: str) -> None:
    response, runs = counted(client, method, "/score")
    assert runs == 0
    assert_json_error(response, 405, ROUTER_405_BODY)
    assert_bare(response)


def test_repeated_slashes_reach_the_route_as_in_the_reference(server: RunningServer) -> None:
    # The reference's router merges them; a proxy that joins a base URL ending in / sends //score.
    for path in ("//score", "///score"):
        answer = raw_exchange(server.port, "POST", path, body=b'{"kind": "int"}')
        assert (answer.status, answer.body) == (200, b"42"), path
    assert raw_exchange(server.port, "GET", "//nope").status == 404


# --- unknown paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("POST", "/nope"), ("GET", "/score/"), ("GET", "/Score"), ("GET", "/a/b")],
)
def test_unknown_path_is_a_bare_json_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_json_error(response, 404, NOT_FOUND_BODY)
    assert_bare(response)


# --- /swagger.json ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?version=2", "?version=2.0"])
def test_swagger_defaults_to_version_2(client: httpx.Client, query: str) -> None:
    response = client.get("/swagger.json" + query)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-ms-run-function-failed"] == "False"
    document = response.json()
    assert document["swagger"] == "2.0"
    assert document["info"]["title"] == "ML service"
    assert set(document["paths"]) == {"/", "/score", "/swagger.json"}
    # json.dumps formatting, one line
    assert response.content == json.dumps(document).encode()


@pytest.mark.parametrize(
    ("query", "openapi"),
    [("?version=3", "3.0.3"), ("?version=3.0", "3.0.3"), ("?version=3.1", "3.1.0")],
)
def test_swagger_openapi_3_versions(client: httpx.Client, query: str, openapi: str) -> None:
    response = client.get("/swagger.json" + query)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == openapi
    assert "swagger" not in document


def test_swagger_3_1_is_the_3_0_document_with_another_version(client: httpx.Client) -> None:
    v30 = client.get("/swagger.json?version=3").json()
    v31 = client.get("/swagger.json?version=3.1").json()
    assert {**v30, "openapi": "3.1.0"} == v31


@pytest.mark.parametrize("version", ["4", "abc", "", "1"])
def test_swagger_unknown_version_is_a_404_listing_the_supported(
    client: httpx.Client, version: str
) -> None:
    response = client.get("/swagger.json", params={"version": version})
    expected = {"message": f"Swagger version [{version}] is not valid. {SUPPORTED_VERSIONS}"}
    assert_json_error(response, 404, json.dumps(expected).encode())
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert response.headers["x-ms-server-version"] == SERVER_VERSION


def test_swagger_head_has_the_length_of_the_document(client: httpx.Client) -> None:
    document = client.get("/swagger.json").content
    response = client.head("/swagger.json")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(document))


def test_post_swagger_is_a_bare_json_405(client: httpx.Client) -> None:
    response = client.post("/swagger.json", content=b"{}")
    assert_json_error(response, 405, ROUTER_405_BODY)
    assert_bare(response)


# --- the health port ------------------------------------------------------------------------


def test_health_port_is_not_served_without_seperate_health_endpoint(
    server: RunningServer, idle_health_port: int
) -> None:
    assert httpx.get(server.url + "/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{idle_health_port}/", timeout=2)


USER_SWAGGER_V2 = {"swagger": "2.0", "info": {"title": "Pretty é", "version": "9"}, "zeta": 1}
USER_SWAGGER_V3 = {"openapi": "3.0.0", "info": {"title": "mine", "version": "3"}, "alpha": [1, 2]}


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    """hello.py with a dedicated health port, user swagger files and SERVICE_* variables."""
    app_root = tmp_path_factory.mktemp("approot")
    (app_root / "swagger.json").write_text(json.dumps(USER_SWAGGER_V2, indent=4), "utf-8")
    (app_root / "swagger3.json").write_text(json.dumps(USER_SWAGGER_V3, indent=2), "utf-8")
    health = free_port()
    env = {
        "SEPERATE_HEALTH_ENDPOINT": "true",
        "AML_APP_ROOT": str(app_root),
        "SERVICE_NAME": "my-svc",
        "SERVICE_VERSION": "2.5",
        "SERVICE_PATH_PREFIX": "/api/v1/",
    }
    with script_server("hello.py", "--health_port", str(health), env=env) as running:
        wait_for_port(health)
        yield running, health


def test_dedicated_health_port_serves_liveness(configured: tuple[RunningServer, int]) -> None:
    _, health = configured
    response = httpx.get(f"http://127.0.0.1:{health}/")
    assert response.status_code == 200
    assert response.content == b"Healthy"


def test_main_port_still_serves_with_a_dedicated_health_port(
    configured: tuple[RunningServer, int],
) -> None:
    server, _ = configured
    assert httpx.get(server.url + "/").content == b"Healthy"
    assert httpx.post(server.url + "/score", content=b"x").json() == {"message": "Hello, World!"}


def test_user_swagger_json_is_served_as_is(configured: tuple[RunningServer, int]) -> None:
    server, _ = configured
    response = httpx.get(server.url + "/swagger.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    # parsed and re-served as json.dumps: one line, key order kept, ASCII escapes
    assert response.content == (
        b'{"swagger": "2.0", "info": {"title": "Pretty \\u00e9", "version": "9"}, "zeta": 1}'
    )


def test_user_swagger3_json_is_served_for_version_3(configured: tuple[RunningServer, int]) -> None:
    server, _ = configured
    response = httpx.get(server.url + "/swagger.json?version=3")
    assert response.status_code == 200
    assert response.content == json.dumps(USER_SWAGGER_V3).encode()


def test_service_variables_shape_the_generated_document(
    configured: tuple[RunningServer, int],
) -> None:
    server, _ = configured
    document = httpx.get(server.url + "/swagger.json?version=3.1").json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "my-svc"
    assert document["info"]["version"] == "2.5"
    assert document["info"]["description"] == (
        "API specification for the Azure Machine Learning service my-svc"
    )
    assert set(document["paths"]) == {"/api/v1/", "/api/v1/score", "/api/v1/swagger.json"}


def test_service_path_prefix_does_not_change_routing(
    configured: tuple[RunningServer, int],
) -> None:
    server, _ = configured
    assert httpx.post(server.url + "/api/v1/score", content=b"x").status_code == 404
    assert httpx.post(server.url + "/score", content=b"x").status_code == 200


@pytest.fixture(scope="module")
def swagger2_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """hello.py with only a swagger2.json (no swagger.json) in AML_APP_ROOT."""
    app_root = tmp_path_factory.mktemp("approot2")
    (app_root / "swagger2.json").write_text('{"swagger": "2.0", "from": "swagger2.json"}', "utf-8")
    with script_server("hello.py", env={"AML_APP_ROOT": str(app_root)}) as running:
        yield running


def test_user_swagger2_json_is_served_for_version_2(swagger2_root: RunningServer) -> None:
    response = httpx.get(swagger2_root.url + "/swagger.json?version=2")
    assert response.status_code == 200
    assert response.content == b'{"swagger": "2.0", "from": "swagger2.json"}'


def test_versions_without_a_user_file_are_generated(swagger2_root: RunningServer) -> None:
    document = httpx.get(swagger2_root.url + "/swagger.json?version=3").json()
    assert document["openapi"] == "3.0.3"
    assert document["info"]["title"] == "ML service"
