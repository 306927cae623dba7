"""SageMaker's container contract over HTTP: /ping, /invocations, and `scoreserver serve`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SCRIPTS
from tests.integration.cli_support import serving_default_port
from tests.integration.http_contract import INTERNAL_ERROR_BODY, script_server
from tests.integration.server import RunningServer, free_port, run_to_exit

CSV = {"content-type": "text/csv"}
JSON_LINES_TYPES = ("application/jsonlines", "application/jsonl", "application/x-jsonlines")


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


@pytest.fixture(scope="module")
def texts() -> Iterator[RunningServer]:
    """sagemaker_results.py: JSON and CSV text, bytes, NaN, None and list-likes on request."""
    with script_server("sagemaker_results.py") as running:
        yield running


def invoke(server: RunningServer, kind: str, accept: str | None) -> httpx.Response:
    """POST /invocations asking for the result kind; accept None sends no Accept header."""
    with httpx.Client() as client:
        if accept is None:
            del client.headers["accept"]
        else:
            client.headers["accept"] = accept
        return client.post(server.url + "/invocations", json={"data": kind})


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
    for accept in ("application/json", "*/*", "application/json; charset=utf-8"):
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


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("text/csv, application/json;q=0", "text/csv"),
        ("application/json;q=0.1, text/csv", "text/csv"),
        ("text/csv, */*;q=0.1", "text/csv"),
        ("text/csv, application/json;q=0.5", "text/csv"),
        ("text/*", "text/csv"),
        ("*/*, text/csv", "text/csv"),  # named outright beats a wildcard of the same q
        ("text/csv; header=absent", "text/csv"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("text/csv, application/json", "application/json"),
        ("text/csv;q=0.5, application/json;q=0.5", "application/json"),
        ("text/csv;q=0, */*", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
def test_accept_q_values_choose_between_csv_and_json(
    texts: RunningServer, accept: str | None, media_type: str
) -> None:
    """The client's q-values pick the type; JSON wins ties."""
    response = invoke(texts, "nested", accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    expected = "1,2\n3,4\n" if media_type == "text/csv" else "[[1, 2], [3, 4]]"
    assert response.text == expected


def test_a_result_csv_cannot_carry_goes_in_the_next_type_accepted(texts: RunningServer) -> None:
    response = invoke(texts, "dict", "text/csv, */*;q=0.1")
    assert (response.status_code, response.json()) == (200, {"label": "cat", "score": 0.9})
    refused = invoke(texts, "dict", "text/csv, application/json;q=0")
    assert refused.status_code == 406
    assert "text/csv" in refused.json()["message"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("json_table", "1,2\n3,4\n"),  # JSON text counts as the value it encodes
        ("csv_text", "1.5,2.5\n3.5,4.5\n"),  # the script's own CSV, sent as it is
    ],
)
def test_text_results_are_answered_in_csv(texts: RunningServer, kind: str, body: str) -> None:
    response = invoke(texts, kind, "text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert response.text == body


@pytest.mark.parametrize(
    ("kind", "lines"),
    [
        ("nested", "[1, 2]\n[3, 4]\n"),
        ("records", '{"label": "cat"}\n{"label": "dog"}\n'),
        ("with_nan", "1.0\nNaN\nnull\n"),
        ("array", "[1, 2]\n[3, 4]\n"),
        ("dataframe", '{"x": 1, "y": 0.5}\n{"x": 2, "y": null}\n'),
        ("series", "3\n4\n"),
        ("json_table", "[1, 2]\n[3, 4]\n"),
        ("dict", '{"label": "cat", "score": 0.9}\n'),
        ("scalar", "7\n"),
        ("none", "{}\n"),
    ],
)
def test_accept_json_lines_answers_one_document_a_line(
    texts: RunningServer, kind: str, lines: str
) -> None:
    """SageMaker batch transform's jsonlines output: one line per item of a list-like result."""
    response = invoke(texts, kind, "application/jsonlines")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonlines"
    assert response.text == lines


@pytest.mark.parametrize("media_type", JSON_LINES_TYPES)
def test_json_lines_is_sent_under_the_name_asked_for(texts: RunningServer, media_type: str) -> None:
    response = invoke(texts, "nested", f"text/csv;q=0.5, {media_type}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.text == "[1, 2]\n[3, 4]\n"


def test_bytes_result_is_a_500_saying_it_cannot_be_json(texts: RunningServer) -> None:
    for accept in ("application/json", "application/jsonlines"):
        response = invoke(texts, "bytes", accept)
        assert response.status_code == 500
        message = response.json()["message"]
        assert "run()'s result cannot be expressed" in message
        assert "bytes" in message
    score = httpx.post(texts.url + "/score", json={"data": "bytes"})  # the reference's answer
    assert (score.status_code, score.content) == (500, INTERNAL_ERROR_BODY)


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


def test_serve_in_the_repositorys_image(tmp_path: Path) -> None:
    """The Dockerfile's environment (AZUREML_MODEL_DIR=/models, AML_APP_ROOT=/app holding
    score.py) with SageMaker's `serve`: score.py from the app root, /opt/ml/model, and
    SAGEMAKER_BIND_TO_PORT rather than SCORESERVER_PORT."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(SCRIPTS / "proto_plain.py", app / "score.py")
    port = free_port()
    env = {
        "AML_APP_ROOT": str(app),
        "AZUREML_MODEL_DIR": str(tmp_path / "models"),
        "SCORESERVER_PORT": str(free_port()),
        "SAGEMAKER_BIND_TO_PORT": str(port),
    }
    with serving_default_port(["serve"], env=env, port=port) as server:
        response = httpx.post(server.url + "/invocations", json={"data": [[1, 2]]})
        assert response.json() == [3]
        assert "Model Directory: /opt/ml/model" in server.output()
        assert f"Entry Script Name: {app / 'score.py'}" in server.output()


def test_serve_without_a_score_py_names_every_place_it_looked(tmp_path: Path) -> None:
    env = {"AML_APP_ROOT": str(tmp_path / "app"), "SAGEMAKER_BIND_TO_PORT": str(free_port())}
    result = run_to_exit(["serve", "--model_dir", str(tmp_path)], env=env)
    assert result.returncode == 3
    for place in ("code/score.py", "score.py", "app/score.py"):
        assert str(tmp_path / place) in result.stdout + result.stderr
