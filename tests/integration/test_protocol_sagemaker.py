"""SageMaker's container contract over HTTP: /ping, /invocations, and `scoreserver serve`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPTS
from tests.integration.cli_support import serving_default_port
from tests.integration.http_contract import script_server
from tests.integration.server import RunningServer, free_port

CSV = {"content-type": "text/csv"}


@pytest.fixture(scope="module")
def raw() -> Iterator[RunningServer]:
    """http_raw.py: @rawhttp run(request) reporting what it received."""
    with script_server("http_raw.py") as running:
        yield running


@pytest.fixture(scope="module")
def results() -> Iterator[RunningServer]:
    """proto_results.py: returns numpy, pandas, lists, dicts on request."""
    with script_server("proto_results.py") as running:
        yield running


def test_ping(raw: RunningServer) -> None:
    response = httpx.get(raw.url + "/ping")
    assert (response.status_code, response.content) == (200, b"")


def test_body_and_content_type_reach_run_as_on_score(raw: RunningServer) -> None:
    response = httpx.post(
        raw.url + "/invocations",
        content=b"5.1,3.5,1.4,0.2\n",
        headers={**CSV, "Accept": "application/json", "X-Custom-Header": "v"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["data"] == "5.1,3.5,1.4,0.2\n"
    assert seen["content_type"] == "text/csv"
    assert seen["method"] == "POST"


@pytest.mark.parametrize(
    ("kind", "csv"),
    [
        ("nested", "1,2\n3,4\n"),
        ("strings", "cat\ndog\n"),
        ("int32", "0,1,2\n3,4,5\n"),
        ("dataframe", "1,0.5\n2,1.5\n"),
        ("array_rows", "1,2\n3,4\n"),
        ("numpy_scalars", "0.5\n1.5\n"),
    ],
)
def test_accept_text_csv_answers_tables_in_csv(results: RunningServer, kind: str, csv: str) -> None:
    response = httpx.post(
        results.url + "/invocations", json={"data": kind}, headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert response.text == csv


def test_accept_json_or_anything_answers_json(results: RunningServer) -> None:
    for accept in ("application/json", "*/*", "text/csv, application/json;q=0.5"):
        response = httpx.post(
            results.url + "/invocations", json={"data": "nested"}, headers={"Accept": accept}
        )
        assert response.json() == [[1, 2], [3, 4]]


def test_accept_the_result_cannot_meet_is_a_406(results: RunningServer) -> None:
    for accept, kind in (("text/csv", "dict"), ("image/png", "nested")):
        response = httpx.post(
            results.url + "/invocations", json={"data": kind}, headers={"Accept": accept}
        )
        assert response.status_code == 406
        assert "text/csv" in response.json()["message"]


def test_serve_starts_as_sagemaker_does(tmp_path: Path) -> None:
    """`serve`: SAGEMAKER_BIND_TO_PORT, the model directory's code/score.py, /ping, /invocations."""
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    shutil.copy(SCRIPTS / "proto_plain.py", model / "code" / "score.py")
    port = free_port()
    env = {"SAGEMAKER_BIND_TO_PORT": str(port)}
    with serving_default_port(["serve", "--model_dir", str(model)], env=env, port=port) as server:
        assert httpx.get(server.url + "/ping").status_code == 200
        response = httpx.post(server.url + "/invocations", json={"data": [[1, 2]]})
        assert response.json() == [3]
        assert f"Server Port: {port}" in server.output()
        assert f"Model Directory: {model}" in server.output()
