"""Open Inference Protocol V2, driven by the real Triton HTTP client against the real CLI."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.integration.cli_support import access_lines
from tests.integration.http_contract import script_server
from tests.integration.server import RunningServer

ONE_ROW_V2 = {"inputs": [{"name": "data", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}


@pytest.fixture(scope="module")
def schema_server() -> Iterator[RunningServer]:
    """http_schema.py: @input_schema run(data: numpy [[f, f, f]], scale=10.0) -> dict."""
    with script_server("http_schema.py", "--model_name", "doubler") as running:
        yield running


@pytest.fixture(scope="module")
def plain_server() -> Iterator[RunningServer]:
    """proto_plain.py: an undecorated Azure ML run(data) doing json.loads(data)["data"]."""
    with script_server("proto_plain.py") as running:
        yield running


@pytest.fixture(scope="module")
def results_server() -> Iterator[RunningServer]:
    """proto_results.py: returns numpy, pandas, lists, scalars, dicts or text on request."""
    with script_server("proto_results.py") as running:
        yield running


@pytest.fixture(scope="module")
def params_server() -> Iterator[RunningServer]:
    """proto_std_params.py: @input_schema run(text: str, count: int, texts: list of str)."""
    with script_server("proto_std_params.py") as running:
        yield running


@pytest.fixture(scope="module")
def bytes_server() -> Iterator[RunningServer]:
    """proto_bytes.py: run(data) returning bytes, UTF-8 or not."""
    with script_server("proto_bytes.py") as running:
        yield running


def client_for(server: RunningServer) -> triton.InferenceServerClient:
    """The Triton HTTP client, pointed at the server."""
    return triton.InferenceServerClient(f"127.0.0.1:{server.port}")


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool = True) -> triton.InferInput:
    """An input with the array's data, in binary (the client's default) or in JSON."""
    item = triton.InferInput(name, list(array.shape), datatype)
    item.set_data_from_numpy(array, binary_data=binary)
    return item


def test_health_and_server_metadata(schema_server: RunningServer) -> None:
    client = client_for(schema_server)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("doubler")
    assert client.is_model_ready("doubler", model_version="1")
    assert not client.is_model_ready("other")
    metadata = client.get_server_metadata()
    assert metadata["name"] == "scoreserver"
    assert "binary_tensor_data" in metadata["extensions"]


def test_health_routes_answer_with_the_specs_json_bodies(schema_server: RunningServer) -> None:
    # KServe's own client reads .json()["live"] and ["ready"]; the Triton client only the status.
    model = {"name": "doubler", "ready": True}
    for path, body in [
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        ("/v2/models/doubler/ready", model),
        ("/v2/models/doubler/versions/1/ready", model),
    ]:
        response = httpx.get(schema_server.url + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
        assert response.json() == body, path
    assert httpx.head(schema_server.url + "/v2/health/ready").status_code == 200


def test_model_metadata_comes_from_the_schema_decorators(schema_server: RunningServer) -> None:
    metadata = client_for(schema_server).get_model_metadata("doubler")
    assert metadata["name"] == "doubler"
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [
        {"name": "data", "datatype": "FP64", "shape": [-1, 3]},
        {"name": "scale", "datatype": "FP64", "shape": [1]},
    ]
    assert {"name": "result", "datatype": "FP64", "shape": [-1, 3]} in metadata["outputs"]


def test_metadata_names_the_outputs_infer_answers_with() -> None:
    # A DataFrame result is one output per column: the metadata says so, and a client that asks
    # for the outputs it lists gets each with the datatype it lists.
    with script_server("proto_frame_out.py") as server:
        client = client_for(server)
        metadata = client.get_model_metadata("model")
        assert metadata["inputs"] == [{"name": "data", "datatype": "FP32", "shape": [-1, 2]}]
        assert metadata["outputs"] == [
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "rank", "datatype": "INT64", "shape": [-1]},
        ]
        data = np.array([[1.0, 2.0], [0.5, 0.5]], dtype=np.float32)
        asked = [triton.InferRequestedOutput(o["name"]) for o in metadata["outputs"]]
        result = client.infer("model", [tensor("data", data, "FP32")], outputs=asked)
        answered = result.get_response()["outputs"]
        assert [(o["name"], o["datatype"], o["shape"]) for o in answered] == [
            ("score", "FP64", [2]),
            ("label", "BYTES", [2]),
            ("rank", "INT64", [2]),
        ]
        assert result.as_numpy("score").tolist() == [3.0, 1.0]
        assert result.as_numpy("label").tolist() == [b"big", b"small"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_with_numpy_parameter(schema_server: RunningServer, binary: bool) -> None:
    data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    outputs = [triton.InferRequestedOutput("result", binary_data=binary)]
    result = client_for(schema_server).infer(
        "doubler", [tensor("data", data, "FP64", binary)], outputs=outputs
    )
    np.testing.assert_array_equal(result.as_numpy("result"), data * 10)
    assert result.as_numpy("result").dtype == np.float64
    response = result.get_response()
    assert response["model_name"] == "doubler"
    assert [o["name"] for o in response["outputs"]] == ["result"]
    assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) is binary


def test_infer_named_parameters_and_every_output_in_binary(schema_server: RunningServer) -> None:
    data = np.array([[1.0, 1.0, 1.0]])
    inputs = [tensor("data", data, "FP64"), tensor("scale", np.array([3.0]), "FP64")]
    result = client_for(schema_server).infer("doubler", inputs, model_version="1")
    np.testing.assert_array_equal(result.as_numpy("result"), [[3.0, 3.0, 3.0]])
    assert result.as_numpy("type").tolist() == [b"ndarray"]
    assert result.as_numpy("scale").tolist() == [3.0]


def test_request_parameters_fill_the_parameters_they_name(schema_server: RunningServer) -> None:
    data = np.array([[1.0, 1.0, 1.0]])
    client = client_for(schema_server)
    for parameters, scale in [({"scale": 3.0}, 3.0), ({"other": 1}, 10.0), (None, 10.0)]:
        result = client.infer("doubler", [tensor("data", data, "FP64")], parameters=parameters)
        assert result.as_numpy("scale").tolist() == [scale]
    # An input of the same name wins over the parameter.
    inputs = [tensor("data", data, "FP64"), tensor("scale", np.array([2.0]), "FP64")]
    result = client.infer("doubler", inputs, parameters={"scale": 3.0})
    assert result.as_numpy("scale").tolist() == [2.0]


def test_input_the_schema_rejects_is_a_400_saying_what_was_expected(
    schema_server: RunningServer,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client_for(schema_server).infer("doubler", [tensor("data", np.array([[1.0, 2.0]]), "FP64")])
    assert caught.value.status() == "400"
    assert "'data'" in caught.value.message()
    assert "[[1.0, 2.0, 3.0]]" in caught.value.message()


def test_missing_input_is_a_400_naming_the_parameters(schema_server: RunningServer) -> None:
    inputs = [tensor("x", np.array([1.0]), "FP64"), tensor("y", np.array([1.0]), "FP64")]
    with pytest.raises(InferenceServerException) as caught:
        client_for(schema_server).infer("doubler", inputs)
    assert caught.value.status() == "400"
    assert "'data'" in caught.value.message()


def test_unknown_model_and_version_are_404s(schema_server: RunningServer) -> None:
    data = tensor("data", np.array([[1.0, 2.0, 3.0]]), "FP64")
    for name, version in (("model", ""), ("doubler", "2")):
        with pytest.raises(InferenceServerException) as caught:
            client_for(schema_server).infer(name, [data], model_version=version)
        assert caught.value.status() == "404"
        assert "'doubler'" in caught.value.message()
    with pytest.raises(InferenceServerException) as meta:
        client_for(schema_server).get_model_metadata("model")
    assert meta.value.status() == "404"


def test_undecorated_azure_ml_script_works_unchanged(plain_server: RunningServer) -> None:
    rows = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    result = client_for(plain_server).infer("model", [tensor("data", rows, "INT64")])
    np.testing.assert_array_equal(result.as_numpy("output-0"), [6, 15])
    assert result.as_numpy("output-0").dtype == np.int64


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_requests_the_client_compresses_are_read(
    plain_server: RunningServer, compression: str, binary: bool
) -> None:
    rows = np.array([[1.5, 2.5], [3.0, 4.0]])
    result = client_for(plain_server).infer(
        "model",
        [tensor("data", rows, "FP64", binary)],
        request_compression_algorithm=compression,
        response_compression_algorithm=compression,
    )
    np.testing.assert_array_equal(result.as_numpy("output-0"), [4.0, 7.0])


def test_compressed_bodies_that_cannot_be_read_get_the_protocols_errors(
    plain_server: RunningServer,
) -> None:
    url = plain_server.url + "/v2/models/model/infer"
    body = json.dumps(ONE_ROW_V2).encode()
    cases = [
        ("br", body, 415, "'br' is not supported"),
        ("gzip", body, 400, "not valid gzip data"),
        ("gzip", gzip.compress(body)[:-6], 400, "not valid gzip data"),
        # A 100 KiB body that would inflate past the 100 MiB limit.
        ("gzip", gzip.compress(b" " * (101 << 20), compresslevel=1), 413, "limit of 104857600"),
    ]
    for encoding, content, status, message in cases:
        response = httpx.post(url, content=content, headers={"Content-Encoding": encoding})
        assert response.status_code == status, (encoding, response.text)
        assert message in response.json()["error"]
    assert httpx.post(url, json=ONE_ROW_V2).status_code == 200


def test_a_rawhttp_script_sees_a_compressed_request_as_if_sent_plain() -> None:
    # The body it gets is decoded, so the headers it reads must describe that body: no
    # Content-Encoding a script would try to decode again, the decoded length.
    body = json.dumps(ONE_ROW_V2).encode()
    with script_server("proto_raw_body.py") as server:
        response = httpx.post(
            server.url + "/v2/models/model/infer",
            content=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    assert outputs == {"encoding": ["none"], "length": [len(body)], "body": [body.decode()]}


def test_triton_extensions_not_offered_are_400s_not_ignored(plain_server: RunningServer) -> None:
    # Answered without them, the client would read a shared-memory region nobody wrote, or take
    # run()'s values for "score:index" classes.
    client = client_for(plain_server)
    rows = tensor("data", np.array([[1.0, 2.0]]), "FP64")
    in_memory = triton.InferInput("data", [1, 2], "FP64")
    in_memory.set_shared_memory("inputs", 16)
    classes = triton.InferRequestedOutput("output-0", class_count=3)
    into_memory = triton.InferRequestedOutput("output-0")
    into_memory.set_shared_memory("outputs", 8)
    for inputs, outputs, words in [
        ([in_memory], None, "Input 'data' refers to shared-memory region 'inputs'"),
        ([rows], [classes], "top 3 classes"),
        ([rows], [into_memory], "shared-memory region 'outputs'"),
    ]:
        with pytest.raises(InferenceServerException) as caught:
            client.infer("model", inputs, outputs=outputs)
        assert caught.value.status() == "400"
        assert words in caught.value.message()


def test_non_finite_inputs_reach_run_data_as_json_writes_them(plain_server: RunningServer) -> None:
    rows = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.inf]])
    binary = client_for(plain_server).infer("model", [tensor("data", rows, "FP64")])
    sums = binary.as_numpy("output-0")
    assert np.isnan(sums[0]) and sums[1] == np.inf
    body = b'{"inputs": [{"name": "data", "shape": [1, 2], "datatype": "FP64", "data": [NaN, 1]}]}'
    as_json = httpx.post(
        plain_server.url + "/v2/models/model/infer",
        content=body.replace(b"}]}", b'}], "parameters": {"binary_data_output": true}}'),
    )
    assert as_json.status_code == 200, as_json.text
    header_length = int(as_json.headers["inference-header-content-length"])
    assert np.isnan(struct.unpack("<d", as_json.content[header_length:])[0])


@pytest.mark.parametrize(
    ("kind", "name", "datatype", "expected"),
    [
        ("int32", "output-0", "INT32", np.arange(6, dtype=np.int32).reshape(2, 3)),
        ("float32", "output-0", "FP32", np.array([0.5, 1.5], dtype=np.float32)),
        ("bool", "output-0", "BOOL", np.array([True, False, True])),
        ("uint8", "output-0", "UINT8", np.array([[1, 255]], dtype=np.uint8)),
        ("strings", "output-0", "BYTES", np.array([b"cat", b"dog"], dtype=object)),
        ("nested", "output-0", "INT64", np.array([[1, 2], [3, 4]])),
        ("mixed", "output-0", "FP64", np.array([1.0, 2.5])),
        ("big_ints", "output-0", "UINT64", np.array([2**64 - 1, 0], dtype=np.uint64)),
        ("array_rows", "output-0", "INT64", np.array([[1, 2], [3, 4]])),
        ("numpy_scalars", "output-0", "FP32", np.array([0.5, 1.5], dtype=np.float32)),
        ("scalar", "output-0", "INT64", np.array([7])),
        ("text", "output-0", "BYTES", np.array([b"hello"], dtype=object)),
        ("json_text", "scores", "FP64", np.array([0.1, 0.9])),
        ("dict", "labels", "BYTES", np.array([b"a", b"b"], dtype=object)),
        ("dataframe", "y", "FP64", np.array([0.5, 1.5])),
        ("series", "output-0", "INT64", np.array([3, 4])),
    ],
)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_results_become_typed_tensors(
    results_server: RunningServer,
    kind: str,
    name: str,
    datatype: str,
    expected: np.ndarray,
    binary: bool,
) -> None:
    result = client_for(results_server).infer(
        "model",
        [tensor("data", np.array([kind.encode()], dtype=object), "BYTES", binary)],
        outputs=[triton.InferRequestedOutput(name, binary_data=binary)],
    )
    (output,) = result.get_response()["outputs"]
    assert (output["name"], output["datatype"]) == (name, datatype)
    got = result.as_numpy(name)
    assert got.shape == expected.shape
    # The client gives BYTES elements as bytes from binary data, as str from JSON.
    assert [_text(v) for v in got.ravel()] == [_text(v) for v in expected.ravel()]


def _text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def test_one_unnamed_result_takes_the_requested_output_name(results_server: RunningServer) -> None:
    result = client_for(results_server).infer(
        "model",
        [tensor("data", np.array([b"float32"], dtype=object), "BYTES")],
        outputs=[triton.InferRequestedOutput("probabilities")],
    )
    assert result.as_numpy("probabilities").tolist() == [0.5, 1.5]


def test_none_result_has_no_outputs(results_server: RunningServer) -> None:
    result = client_for(results_server).infer(
        "model", [tensor("data", np.array([b"none"], dtype=object), "BYTES", False)]
    )
    assert result.get_response()["outputs"] == []


def test_unknown_requested_output_is_a_400(results_server: RunningServer) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client_for(results_server).infer(
            "model",
            [tensor("data", np.array([b"dict"], dtype=object), "BYTES")],
            outputs=[triton.InferRequestedOutput("nope")],
        )
    assert caught.value.status() == "400"
    assert "'labels'" in caught.value.message() and "nope" in caught.value.message()


@pytest.mark.parametrize("kind", ["ragged", "huge_ints"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_result_that_is_no_tensor_is_a_500_in_the_protocols_format(
    results_server: RunningServer, kind: str, binary: bool
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client_for(results_server).infer(
            "model",
            [tensor("data", np.array([kind.encode()], dtype=object), "BYTES")],
            outputs=[triton.InferRequestedOutput("output-0", binary_data=binary)],
        )
    assert caught.value.status() == "500"
    assert "cannot be expressed" in caught.value.message()


def test_nan_goes_as_binary_data_but_not_as_json(results_server: RunningServer) -> None:
    binary = client_for(results_server).infer(
        "model", [tensor("data", np.array([b"nan"], dtype=object), "BYTES")]
    )
    assert np.isnan(binary.as_numpy("output-0")).all()
    body = {"inputs": [{"name": "data", "shape": [1], "datatype": "BYTES", "data": ["nan"]}]}
    as_json = httpx.post(results_server.url + "/v2/models/model/infer", json=body)
    assert as_json.status_code == 500
    assert "cannot be expressed" in as_json.json()["error"]


_BIG_BINARY_HEADER = json.dumps(
    {
        "inputs": [
            {
                "name": "d",
                "shape": [2**62],
                "datatype": "FP64",
                "parameters": {"binary_data_size": 4},
            }
        ]
    }
).encode()
"""A binary input whose shape needs more bytes than struct can even size."""


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [
        (b"not json", {}, "not valid JSON"),
        (b"[]", {}, '"inputs"'),
        (b'{"inputs": [{"name": "data"}]}', {}, "shape"),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "FP99", "data": [1, 2]}]}',
            {},
            "FP99",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}',
            {},
            "needs 3",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [1], "datatype": "FP32", "data": ["x"]}]}',
            {},
            "non-numbers",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "INT32", "data": [1, 2.5]}]}',
            {},
            "not integers",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [1], "datatype": "UINT8", "data": [256]}]}',
            {},
            "beyond UINT8's range (0 to 255)",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "FP32", '
            b'"parameters": {"binary_data_size": 8}}]}\x00\x00',
            {"Inference-Header-Content-Length": "100"},
            "binary_data_size",
        ),
        (b"{}", {"Inference-Header-Content-Length": "99"}, "Inference-Header-Content-Length"),
        (
            _BIG_BINARY_HEADER + b"\x00" * 4,
            {"Inference-Header-Content-Length": str(len(_BIG_BINARY_HEADER))},
            f"4 bytes of binary data; {2**62} FP64 values need {2**62 * 8}",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "d", "shape": [1] * 5000, "datatype": "INT64", "data": [1]}]}
            ).encode(),
            {},
            "a shape of 5000 dimensions; at most 64",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "BOOL", "data": [1, 0]}]}',
            {},
            "Input 'd' of datatype BOOL holds values that are not true or false",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [1], "datatype": "BOOL", "data": [2.5]}]}',
            {},
            "Input 'd' of datatype BOOL holds values that are not true or false",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "FP64", "data": [1.5, true]}]}',
            {},
            "Input 'd' of datatype FP64 holds values that are booleans, not numbers",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [2], "datatype": "BYTES", "data": [1, null]}]}',
            {},
            "Input 'd' of datatype BYTES holds values that are not strings",
        ),
        (
            b'{"inputs": [{"name": "d", "shape": [1], "datatype": "INT64", "data": '
            + b"[" * 20_000
            + b"1"
            + b"]" * 20_000
            + b"}]}",
            {},
            "nested too deeply",
        ),
    ],
)
def test_malformed_requests_get_the_protocols_400(
    plain_server: RunningServer, body: bytes, headers: dict[str, str], words: str
) -> None:
    response = httpx.post(
        plain_server.url + "/v2/models/model/infer", content=body, headers=headers
    )
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_wrong_method_and_unknown_path_use_the_error_body(plain_server: RunningServer) -> None:
    wrong = httpx.get(plain_server.url + "/v2/models/model/infer")
    assert wrong.status_code == 405
    assert "error" in wrong.json()
    unknown = httpx.get(plain_server.url + "/v2/repository/index")
    assert unknown.status_code == 404
    assert "'model'" in unknown.json()["error"]


def test_infer_gets_ids_and_an_access_line_probes_do_not(plain_server: RunningServer) -> None:
    health = httpx.get(plain_server.url + "/v2/health/ready")
    assert health.status_code == 200 and health.json() == {"ready": True}
    body = {"inputs": [{"name": "data", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}
    response = httpx.post(
        plain_server.url + "/v2/models/model/infer", json=body, headers={"x-request-id": "abc-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-1"
    assert response.json()["outputs"][0] == {
        "name": "output-0",
        "datatype": "INT64",
        "shape": [1],
        "data": [3],
    }
    plain_server.wait_for_output("POST /v2/models/model/infer 200")
    paths = [a["path"] for a in access_lines(plain_server.output())]
    assert "/v2/health/ready" not in paths


def test_odd_but_wellformed_requests_are_answered_not_crashed(plain_server: RunningServer) -> None:
    url = plain_server.url + "/v2/models/model/infer"
    # Parameters that are no object say what was expected (ignored, they would hide a mistake).
    listed = {**ONE_ROW_V2, "outputs": [{"name": "output-0", "parameters": ["not", "a", "dict"]}]}
    refused = httpx.post(url, json=listed)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "Output 'output-0': \"parameters\" must be a JSON object; got list "
        "['not', 'a', 'dict']."
    }
    not_text = struct.pack("<I", 1) + b"\xff"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "data",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 5},
                }
            ]
        }
    ).encode()
    response = httpx.post(
        url,
        content=header + not_text,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["error"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("png", np.array([b"\x89PNG\r\n\x1a\n\x00"], dtype=object)),
        ("array", np.array([[b"a", b"\xff"]], dtype=object)),
    ],
)
def test_bytes_results_that_are_not_utf8_go_as_binary_data_unchanged(
    bytes_server: RunningServer, kind: str, expected: np.ndarray
) -> None:
    client = client_for(bytes_server)
    data = [tensor("data", np.array([kind.encode()], dtype=object), "BYTES", False)]
    binary = client.infer("model", data, outputs=[triton.InferRequestedOutput("output-0")])
    got = binary.as_numpy("output-0")
    assert got.shape == expected.shape
    assert got.ravel().tolist() == expected.ravel().tolist()
    # JSON has no bytes: the protocol's 500 says so, not U+FFFD in place of them.
    as_json = triton.InferRequestedOutput("output-0", binary_data=False)
    with pytest.raises(InferenceServerException) as caught:
        client.infer("model", data, outputs=[as_json])
    assert caught.value.status() == "500"
    assert "cannot be expressed" in caught.value.message()
    assert "not UTF-8" in caught.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_utf8_bytes_results_are_text(bytes_server: RunningServer, binary: bool) -> None:
    utf8 = [tensor("data", np.array([b"utf8"], dtype=object), "BYTES", False)]
    asked = [triton.InferRequestedOutput("output-0", binary_data=binary)]
    values = client_for(bytes_server).infer("model", utf8, outputs=asked).as_numpy("output-0")
    assert [_text(v) for v in values.tolist()] == ["café", "x"]


@pytest.mark.parametrize("shape", [[1], [1, 1], [1, 1, 1]])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_a_one_element_tensor_of_any_rank_fills_a_scalar_parameter(
    params_server: RunningServer, shape: list[int], binary: bool
) -> None:
    inputs = [
        tensor("text", np.array(["Hi"], dtype=object).reshape(shape), "BYTES", binary),
        tensor("count", np.array([5], dtype=np.int64).reshape(shape), "INT64", binary),
    ]
    result = client_for(params_server).infer("model", inputs)
    assert result.as_numpy("text").tolist() == [b"Hi"]
    assert result.as_numpy("text_type").tolist() == [b"str"]
    assert result.as_numpy("count").tolist() == [5]
    assert result.as_numpy("count_type").tolist() == [b"int"]


@pytest.mark.parametrize("text", ["42", "true", "null", '{"k": 1}', "plain"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_text_that_parses_as_json_is_still_text_for_a_list_of_strings(
    params_server: RunningServer, text: str, binary: bool
) -> None:
    texts = tensor("texts", np.array([text], dtype=object), "BYTES", binary)
    result = client_for(params_server).infer("model", [texts])
    assert result.as_numpy("texts").tolist() == [text.encode()]
    # As /score passes it.
    score = httpx.post(params_server.url + "/score", json={"texts": [text]})
    assert score.status_code == 200 and score.json()["texts"] == [text]


@pytest.mark.parametrize("shape", [[1], [1, 1]])
def test_json_text_of_a_list_in_a_one_element_tensor_is_that_list(
    params_server: RunningServer, shape: list[int]
) -> None:
    text = np.array(['["a", "b"]'], dtype=object).reshape(shape)
    result = client_for(params_server).infer("model", [tensor("texts", text, "BYTES")])
    assert result.as_numpy("texts").tolist() == [b"a", b"b"]
