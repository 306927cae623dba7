"""App Insights: request, trace and exception records reach the ingestion endpoint (a local
receiver here), the response can be left out, and an unreachable endpoint never slows scoring."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_support import SCRIPTS, wait_until
from tests.integration.server import free_port, serving

SCRIPT = SCRIPTS / "ops_telemetry.py"
PREDICTION_MARKER = "ops-prediction-marker"  # in every successful run()'s output
EXPORT_TIMEOUT_S = 30

REQUEST = "Microsoft.ApplicationInsights.Request"
MESSAGE = "Microsoft.ApplicationInsights.Message"
EXCEPTION = "Microsoft.ApplicationInsights.Exception"


class Receiver:
    """A stand-in for the App Insights ingestion endpoint that keeps every envelope it gets."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                items = (
                    json.loads(body)
                    if body.lstrip().startswith(b"[")
                    else [json.loads(line) for line in body.splitlines() if line.strip()]
                )
                with receiver.lock:
                    receiver.envelopes.extend(items)
                answer = json.dumps(
                    {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def of(self, name: str, request_id: str) -> list[dict[str, Any]]:
        """The envelopes of one type whose "Request Id" property is request_id."""
        with self.lock:
            return [
                e
                for e in self.envelopes
                if e.get("name") == name
                and e["data"]["baseData"].get("properties", {}).get("Request Id") == request_id
            ]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(autouse=True)
def exporter_storage_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter keeps unsent telemetry in a folder in the system's temp folder: the servers
    here get this test's, so none is left behind."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(name, str(tmp_path))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def _telemetry_env(key: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey={key};IngestionEndpoint=http://127.0.0.1:{port}/"
        ),
        # OpenTelemetry's own batch delays (5 s by default), shortened so the test is quick.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        **extra,
    }


def _args(key: str) -> list[str]:
    return ["--entry_script", str(SCRIPT), "--appinsights_instrumentation_key", key]


def _properties(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(envelope["data"]["baseData"].get("properties", {}))


def _single(receiver: Receiver, name: str, request_id: str) -> dict[str, Any]:
    wait_until(lambda: receiver.of(name, request_id), timeout=EXPORT_TIMEOUT_S)
    (envelope,) = receiver.of(name, request_id)
    return envelope


def test_request_trace_and_exception_records_reach_the_ingestion_endpoint(
    receiver: Receiver, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    env = _telemetry_env(key, receiver.port)
    with serving(_args(key), env=env, cwd=tmp_path) as server:
        ok = server.client().post(
            "/score", content=b"hello", headers={"x-ms-client-request-id": "ops-client-1"}
        )
        failed = server.client().post("/score", content=b"fail")
        ok_id, failed_id = ok.headers["x-request-id"], failed.headers["x-request-id"]

        request = _single(receiver, REQUEST, ok_id)
        message = _single(receiver, MESSAGE, ok_id)
        failed_request = _single(receiver, REQUEST, failed_id)
        exception = _single(receiver, EXCEPTION, failed_id)
        output = server.output()
    assert ok.status_code == 200
    assert failed.status_code == 500

    data = request["data"]["baseData"]
    assert request["iKey"] == key
    assert data["name"] == "POST /score"
    assert data["responseCode"] == "200"
    assert data["success"] is True
    properties = _properties(request)
    assert properties["Request Id"] == ok_id
    assert properties["Client Request Id"] == "ops-client-1"
    assert isinstance(properties["Container Id"], str) and properties["Container Id"]

    model_data = _properties(message)
    assert "hello" in model_data["Input"]
    assert PREDICTION_MARKER in model_data["Prediction"]
    assert model_data["Client Request Id"] == "ops-client-1"

    assert failed_request["data"]["baseData"]["responseCode"] == "500"
    assert failed_request["data"]["baseData"]["success"] is False
    (error,) = exception["data"]["baseData"]["exceptions"]
    assert error["typeName"] == "ValueError"
    assert "ops telemetry failure" in error["stack"]

    assert "AppInsights key provided" in output
    assert key not in output


def test_response_left_out_when_log_response_is_disabled(
    receiver: Receiver, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    env = _telemetry_env(key, receiver.port, APP_INSIGHTS_LOG_RESPONSE_ENABLED="false")
    with serving(_args(key), env=env, cwd=tmp_path) as server:
        ok = server.client().post("/score", content=b"private input")
        request_id = ok.headers["x-request-id"]
        message = _single(receiver, MESSAGE, request_id)
        _single(receiver, REQUEST, request_id)
        output = server.output()
    assert ok.status_code == 200
    assert PREDICTION_MARKER in ok.text
    model_data = _properties(message)
    assert "private input" in model_data["Input"]
    assert "Prediction" not in model_data
    # run()'s output appears in no record at all.
    assert PREDICTION_MARKER not in json.dumps(receiver.envelopes)
    assert key not in output


@pytest.mark.parametrize("endpoint", ["closed port", "silent listener"])
def test_unreachable_ingestion_endpoint_does_not_slow_scoring(
    endpoint: str, tmp_path: Path
) -> None:
    key = str(uuid.uuid4())
    with socket.socket() as silent:
        if endpoint == "closed port":
            port = free_port()  # nobody listens there: connections are refused
        else:
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)  # connections complete in the kernel, no answer ever comes
            port = silent.getsockname()[1]
        with serving(_args(key), env=_telemetry_env(key, port), cwd=tmp_path) as server:
            timings = []
            statuses = []
            with server.client() as client:
                for i in range(20):
                    started = time.monotonic()
                    response = client.post("/score", content=f"item {i}".encode())
                    statuses.append(response.status_code)
                    timings.append(time.monotonic() - started)
                    time.sleep(0.05)  # spread over several export attempts
            output = server.output()
            stopping = time.monotonic()
        stopped_after = time.monotonic() - stopping
    assert statuses == [200] * 20
    assert max(timings) < 0.5, timings
    assert stopped_after < 10  # pending telemetry does not hold up a SIGTERM either
    assert key not in output


def test_records_name_the_scoring_url(receiver: Receiver, tmp_path: Path) -> None:
    key = str(uuid.uuid4())
    with serving(_args(key), env=_telemetry_env(key, receiver.port), cwd=tmp_path) as server:
        response = httpx.get(server.url + "/score?a=1", timeout=10)
        request = _single(receiver, REQUEST, response.headers["x-request-id"])
    assert response.status_code == 200
    assert request["data"]["baseData"]["name"] == "GET /score"
    assert request["data"]["baseData"]["url"].startswith(server.url + "/score")


def test_protocol_routes_are_recorded_too(receiver: Receiver, tmp_path: Path) -> None:
    key = str(uuid.uuid4())
    with serving(_args(key), env=_telemetry_env(key, receiver.port), cwd=tmp_path) as server:
        response = server.client().post("/v1/models/model:predict", json={"instances": ["v1in"]})
        request_id = response.headers["x-request-id"]
        request = _single(receiver, REQUEST, request_id)
        message = _single(receiver, MESSAGE, request_id)
    assert response.status_code == 200
    assert request["data"]["baseData"]["name"] == "POST /v1/models/model:predict"
    assert request["data"]["baseData"]["responseCode"] == "200"
    assert "v1in" in _properties(message)["Input"]
