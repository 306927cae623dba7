"""Vertex AI custom-container contract over HTTP: AIP_* variables, health and predict routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPTS
from tests.integration.cli_support import serving_default_port
from tests.integration.server import RunningServer, free_port

HEALTH = "/health"
PREDICT = "/v1/endpoints/123/deployedModels/456:predict"


@pytest.fixture
def vertex(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    """proto_plain.py started only with the variables Vertex AI sets (no --port, no --model_dir)."""
    port = free_port()
    env = {
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": HEALTH,
        "AIP_PREDICT_ROUTE": PREDICT,
        "AIP_STORAGE_URI": str(tmp_path),
    }
    with serving_default_port(
        ["--entry_script", str(SCRIPTS / "proto_plain.py")], env=env, port=port
    ) as server:
        yield server, tmp_path


def test_vertex_routes_port_and_model_directory(vertex: tuple[RunningServer, Path]) -> None:
    server, storage = vertex
    health = httpx.get(server.url + HEALTH)
    assert health.status_code == 200
    body = {"instances": [[1, 2], [3, 4]], "parameters": {"scale": 10}}
    response = httpx.post(server.url + PREDICT, json=body)
    assert response.status_code == 200
    assert response.json() == {"predictions": [30, 70]}
    assert f"Model Directory: {storage}" in server.output()
    bad = httpx.post(server.url + PREDICT, json={"instance": []})
    assert bad.status_code == 400
    assert '{"instances": [...]}' in bad.json()["error"]


def test_storage_uri_in_the_cloud_is_named_at_start() -> None:
    # Vertex AI hands most containers a gs:// URI, which the server cannot read as a directory:
    # it says so at start, and serves without a model directory.
    port = free_port()
    env = {
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": HEALTH,
        "AIP_PREDICT_ROUTE": PREDICT,
        "AIP_STORAGE_URI": "gs://bucket/models/iris",
    }
    with serving_default_port(
        ["--entry_script", str(SCRIPTS / "proto_plain.py")], env=env, port=port
    ) as server:
        response = httpx.post(server.url + PREDICT, json={"instances": [[1, 2]]})
        assert response.json() == {"predictions": [3]}
        output = server.output()
    assert "AIP_STORAGE_URI (gs://bucket/models/iris) is not a local directory" in output
    assert "Model Directory: None" in output


def test_routes_vertex_names_take_the_place_of_the_routes_already_there() -> None:
    # A container moved from SageMaker keeps /ping and /invocations; one built for Azure ML may
    # name /score. Vertex sends its health checks and instances there, so those paths must
    # answer as Vertex's routes, and the start says what they took over.
    port = free_port()
    for health, predict, replaced in [
        ("/ping", "/invocations", "SageMaker Run"),
        ("/", "/score", "Azure ML's /score"),
    ]:
        env = {"AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": health, "AIP_PREDICT_ROUTE": predict}
        with serving_default_port(
            ["--entry_script", str(SCRIPTS / "proto_plain.py")], env=env, port=port
        ) as server:
            response = httpx.post(server.url + predict, json={"instances": [[1, 2], [3, 4]]})
            probe = httpx.get(server.url + health)
            output = server.output()
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [3, 7]}
        assert (probe.status_code, probe.json()) == (200, {"ready": True})
        assert f"Vertex Predict is set to {predict}: that path serves Vertex AI" in output
        assert f"in place of {replaced}." in output


def test_routes_without_a_slash_and_a_port_vertex_does_not_use() -> None:
    port, vertex_port = free_port(), free_port()
    env = {"AIP_HTTP_PORT": str(vertex_port), "AIP_HEALTH_ROUTE": "health"}
    env["AIP_PREDICT_ROUTE"] = "predict"
    args = ["--entry_script", str(SCRIPTS / "proto_plain.py"), "--port", str(port)]
    with serving_default_port(args, env=env, port=port) as server:
        assert httpx.get(server.url + "/health").status_code == 200
        response = httpx.post(server.url + "/predict", json={"instances": [[1, 2]]})
        output = server.output()
    assert response.json() == {"predictions": [3]}
    assert f"AIP_HTTP_PORT is {vertex_port}, but the server listens on {port}" in output
