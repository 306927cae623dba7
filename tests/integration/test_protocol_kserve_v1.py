"""KServe V1 over HTTP, as KServe's V1 data plane documents it, against the real CLI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http_contract import script_server
from tests.integration.server import RunningServer


@pytest.fixture(scope="module")
def plain() -> Iterator[RunningServer]:
    """proto_plain.py: an undecorated Azure ML run(data) doing json.loads(data)["data"]."""
    with script_server("proto_plain.py", "--model_name", "adder") as running:
        yield running


@pytest.fixture(scope="module")
def schema() -> Iterator[RunningServer]:
    """http_schema.py: @input_schema run(data: numpy, scale=10.0)."""
    with script_server("http_schema.py") as running:
        yield running


@pytest.fixture(scope="module")
def frame() -> Iterator[RunningServer]:
    """proto_pandas.py: @input_schema run(frame: DataFrame, weights: numpy)."""
    with script_server("proto_pandas.py") as running:
        yield running


@pytest.fixture(scope="module")
def results() -> Iterator[RunningServer]:
    """proto_results.py: returns numpy, pandas, lists, scalars, NaN or bytes on request."""
    with script_server("proto_results.py") as running:
        yield running


def test_results_json_cannot_hold_are_a_500_saying_so_not_invalid_json(
    results: RunningServer,
) -> None:
    # A body with NaN in it is no JSON to KServe's client (or any strict parser): it raised on
    # a 200; bytes were an "unexpected internal error".
    for kind, words in [
        ("nan", "Out of range float values are not JSON compliant"),
        ("nan_array", "Out of range float values are not JSON compliant"),
        ("bytes", "Object of type bytes is not JSON serializable"),
    ]:
        response = httpx.post(results.url + "/v1/models/model:predict", json={"instances": [kind]})
        assert response.status_code == 500, (kind, response.text)
        assert response.json()["error"] == (
            f"run()'s result cannot be expressed in this protocol's response: {words}"
        )
    fine = httpx.post(results.url + "/v1/models/model:predict", json={"instances": ["float"]})
    assert fine.json() == {"predictions": [0.25]}


def test_list_models_and_model_ready(plain: RunningServer) -> None:
    assert httpx.get(plain.url + "/v1/models").json() == {"models": ["adder"]}
    ready = httpx.get(plain.url + "/v1/models/adder")
    assert (ready.status_code, ready.json()) == (200, {"name": "adder", "ready": True})
    other = httpx.get(plain.url + "/v1/models/model")
    assert other.status_code == 404
    assert "'adder'" in other.json()["error"]


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_undecorated_script_gets_the_instances_as_data(plain: RunningServer, key: str) -> None:
    response = httpx.post(plain.url + "/v1/models/adder:predict", json={key: [[1, 2], [3, 4]]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [3, 7]}
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert "x-request-id" in response.headers


def test_schema_script_gets_instances_as_its_one_required_parameter(schema: RunningServer) -> None:
    response = httpx.post(
        schema.url + "/v1/models/model:predict", json={"instances": [[1.0, 2.0, 3.0]]}
    )
    assert response.status_code == 200
    (prediction,) = response.json()["predictions"]
    assert prediction == {"result": [[10.0, 20.0, 30.0]], "type": "ndarray", "scale": 10.0}


def test_schema_script_gets_columns_by_parameter_name(schema: RunningServer) -> None:
    body = {"inputs": {"data": [[1.0, 1.0, 1.0]], "scale": 2.0}}
    response = httpx.post(schema.url + "/v1/models/model:predict", json=body)
    assert response.json()["predictions"][0]["result"] == [[2.0, 2.0, 2.0]]


def test_instances_in_row_format_must_name_the_same_parameters(schema: RunningServer) -> None:
    # Else the instances without "scale" would decide, and the one that gave it be scored
    # with the default instead, without a word.
    instances = [{"data": [1.0, 1.0, 1.0]}, {"data": [2.0, 2.0, 2.0], "scale": 3.0}]
    response = httpx.post(schema.url + "/v1/models/model:predict", json={"instances": instances})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Every instance must name the same parameters: ['scale'] is in some instances but not "
        "in all."
    )
    alike = [{"data": [1.0, 1.0, 1.0]}, {"data": [2.0, 2.0, 2.0]}]
    response = httpx.post(schema.url + "/v1/models/model:predict", json={"instances": alike})
    assert response.json()["predictions"][0]["result"] == [[10.0] * 3, [20.0] * 3]


def test_request_parameters_fill_the_parameters_they_name(schema: RunningServer) -> None:
    # Vertex AI's {"instances": [...], "parameters": {...}}: a parameter run() has takes its
    # value from there; one it does not have is not run()'s; the instances' own names win.
    url = schema.url + "/v1/models/model:predict"
    for body, scale in [
        ({"instances": [[1.0, 1.0, 1.0]], "parameters": {"scale": 3.0, "top_k": 5}}, 3.0),
        ({"instances": [[1.0, 1.0, 1.0]], "parameters": {"top_k": 5}}, 10.0),
        ({"inputs": {"data": [[1.0, 1.0, 1.0]], "scale": 2.0}, "parameters": {"scale": 3.0}}, 2.0),
    ]:
        response = httpx.post(url, json=body)
        assert response.status_code == 200, response.text
        (prediction,) = response.json()["predictions"]
        assert (prediction["scale"], prediction["result"]) == (scale, [[scale] * 3])


def test_instances_the_schema_rejects_are_a_400(schema: RunningServer) -> None:
    response = httpx.post(schema.url + "/v1/models/model:predict", json={"instances": [[1.0]]})
    assert response.status_code == 400
    assert "does not fit run()'s schema" in response.json()["error"]


@pytest.mark.parametrize(
    "instances",
    [[{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}], [[1.0, 2.0], [3.0, 4.0]]],
    ids=["records", "rows"],
)
def test_dataframe_parameter_from_records_or_rows(
    frame: RunningServer, instances: list[object]
) -> None:
    response = httpx.post(frame.url + "/v1/models/model:predict", json={"instances": instances})
    assert response.status_code == 200
    assert response.json() == {"predictions": [{"total": [3.0, 7.0], "kind": "DataFrame"}]}


def test_a_rejected_dataframe_is_shown_its_sample_as_records(frame: RunningServer) -> None:
    response = httpx.post(frame.url + "/v1/models/model:predict", json={"instances": [[1.0]]})
    assert response.status_code == 400
    # The sample as the records the client could send, not pandas' printed table.
    assert 'as [{"a": 1.0, "b": 2.0}])' in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"{oops", "not valid JSON"),
        (b'{"instances": 3}', "must be a list"),
        (b'{"rows": []}', '{"instances": [...]}'),
        (b'{"instances": [], "inputs": []}', 'both "instances" and "inputs"'),
        (b'{"instances": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "nested too deeply"),
    ],
)
def test_requests_the_mapping_cannot_serve_are_400s(
    plain: RunningServer, body: bytes, words: str
) -> None:
    response = httpx.post(plain.url + "/v1/models/adder:predict", content=body)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_run_failing_is_a_500_in_the_protocols_format(plain: RunningServer) -> None:
    response = httpx.post(plain.url + "/v1/models/adder:predict", json={"instances": [["x", 1]]})
    assert response.status_code == 500
    assert response.json() == {
        "error": "An unexpected error occurred in scoring script. Check the logs for more info."
    }
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_raw_script_gets_the_request_as_on_score() -> None:
    with script_server("http_raw.py") as raw:
        response = httpx.post(
            raw.url + "/v1/models/model:predict",
            content=b'{"instances": [1]}',
            headers={"content-type": "application/json", "X-Custom-Header": "v"},
        )
    assert response.status_code == 200
    (seen,) = response.json()["predictions"]
    assert seen["path"] == "/v1/models/model:predict"
    assert seen["data"] == '{"instances": [1]}'
    assert seen["content_type"] == "application/json"


ONE_ROW_V2 = {"inputs": [{"name": "data", "shape": [1], "datatype": "INT64", "data": [1]}]}


def test_a_scripts_own_response_has_one_of_each_run_header() -> None:
    # AMLResponse writes x-ms-run-function-failed itself; the server's says the same thing.
    with script_server("http_raw.py") as raw:
        for path in ("/v1/models/model:predict", "/invocations", "/v2/models/model/infer"):
            # A V2 body: V2 reads its request before it hands it to a @rawhttp run().
            response = httpx.post(raw.url + path + "?mode=response", json=ONE_ROW_V2)
            assert response.status_code == 201, (path, response.text)
            assert response.headers.get_list("x-ms-run-function-failed") == ["False"], path
            assert len(response.headers.get_list("x-ms-run-fn-exec-ms")) == 1, path
            assert response.headers["x-raw"] == "yes"
