"""What every route shares applies to the protocols' routes: bearer key, CORS, body limit, timeout."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import script_server
from tests.integration.server import RunningServer

KEY = "s3cret-key"
INFER = "/v2/models/model/infer"
PREDICT = "/v1/models/model:predict"
ONE_ROW = {"inputs": [{"name": "data", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningServer]:
    """proto_plain.py with a bearer key, CORS for one origin and a 1 KiB body limit."""
    env = {
        "SCORESERVER_AUTH_KEY": KEY,
        "AML_CORS_ORIGINS": "https://app.example",
        "SCORESERVER_MAX_REQUEST_BODY_BYTES": "1024",
    }
    with script_server("proto_plain.py", env=env) as running:
        yield running


def test_inference_routes_need_the_key_and_probes_do_not(guarded: RunningServer) -> None:
    for path, body in ((INFER, ONE_ROW), (PREDICT, {"instances": [[1, 2]]})):
        refused = httpx.post(guarded.url + path, json=body)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in refused.json()["error"]
        allowed = httpx.post(
            guarded.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert allowed.status_code == 200
    refused = httpx.post(guarded.url + "/invocations", json={"data": [[1]]})
    assert refused.status_code == 401 and "Bearer" in refused.json()["message"]
    for probe in ("/v2/health/live", "/v2/health/ready", "/v1/models/model", "/ping"):
        assert httpx.get(guarded.url + probe).status_code == 200, probe


def test_cors_and_body_limit_on_protocol_routes(guarded: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Origin": "https://app.example"}
    response = httpx.post(guarded.url + INFER, json=ONE_ROW, headers=headers)
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    big = {"instances": [[1] * 600]}
    too_large = httpx.post(guarded.url + PREDICT, json=big, headers=headers)
    assert too_large.status_code == 413
    assert "1024 bytes" in too_large.json()["error"]


def test_a_browsers_preflight_needs_no_key_on_any_route(guarded: RunningServer) -> None:
    # Browsers send the preflight without credentials: refused, the browser never sends the
    # request that would carry the key.
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    for path in ("/score", INFER, PREDICT, "/invocations"):
        response = httpx.options(guarded.url + path, headers=preflight)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in response.headers["access-control-allow-headers"]
    # An OPTIONS that is no preflight is a request like any other: it needs the key.
    assert httpx.options(guarded.url + "/score").status_code == 401


def test_head_is_answered_wherever_get_is(guarded: RunningServer) -> None:
    key = {"Authorization": f"Bearer {KEY}"}
    for path in ("/v1/models/model", "/v1/models", "/v2", "/v2/models/model"):
        get, head = (httpx.request(m, guarded.url + path, headers=key) for m in ("GET", "HEAD"))
        assert (get.status_code, head.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]


def test_scoring_timeout_is_the_protocols_500() -> None:
    env = {"SCORING_TIMEOUT_MS": "200"}
    with script_server("ops_sleep.py", env=env) as slow:
        response = httpx.post(slow.url + "/invocations", content=b"2")
        assert response.status_code == 500
        assert response.json() == {"message": "Scoring timeout after 200 ms"}
        assert response.headers["x-ms-run-function-failed"] == "True"
        # The worker is free again at once.
        assert httpx.post(slow.url + "/invocations", content=b"0").status_code == 200
