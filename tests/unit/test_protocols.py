"""protocols: the table of protocols, their paths for the settings, and the schema they read."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from scoreserver.errors import BadRequestError
from scoreserver.protocols import PROTOCOLS
from scoreserver.protocols.model_schema import read_model_schema
from scoreserver.protocols.tensors import output_tensors
from scoreserver.settings import Settings

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def all_paths(settings: Settings) -> list[str]:
    return [
        path
        for protocol in PROTOCOLS
        if protocol.served(settings)
        for _, path in protocol.paths(settings)
    ]


def test_paths_carry_the_model_name() -> None:
    paths = all_paths(Settings(model_name="iris"))
    assert "/v2/models/iris/infer" in paths
    assert "/v2/models/iris/versions/1/ready" in paths
    assert "/v1/models/iris:predict" in paths
    assert {"/ping", "/invocations"} <= set(paths)


def test_vertex_is_served_only_with_its_routes() -> None:
    assert "/predict" not in all_paths(Settings())
    settings = Settings(vertex_health_route="/health", vertex_predict_route="/predict")
    assert {"/health", "/predict"} <= set(all_paths(settings))


def test_every_handler_named_in_the_table_exists() -> None:
    import importlib

    for protocol in PROTOCOLS:
        module = importlib.import_module(protocol.module)
        for route in protocol.routes:
            assert callable(module.handlers), protocol.name
            handlers_class = next(
                v for k, v in vars(module).items() if k.endswith("Handlers") and isinstance(v, type)
            )
            assert hasattr(handlers_class, route.handler), (protocol.name, route.handler)
        if protocol.prefix is not None:
            assert hasattr(handlers_class, "not_found"), protocol.name


@pytest.fixture
def pandas_schema() -> object:
    sys.path.insert(0, str(SCRIPTS))
    import proto_pandas

    return read_model_schema(proto_pandas.run)


def test_schema_metadata_and_conversion(pandas_schema: object) -> None:
    schema = pandas_schema
    assert schema.input_metadata() == [  # type: ignore[attr-defined]
        {"name": "frame", "datatype": "FP64", "shape": [-1, 2]},
        {"name": "weights", "datatype": "FP64", "shape": [-1]},
    ]
    assert schema.output_metadata() == [  # type: ignore[attr-defined]
        {"name": "total", "datatype": "FP64", "shape": [-1]},
        {"name": "kind", "datatype": "BYTES", "shape": [-1]},
    ]
    frame = schema.convert("frame", [[1.0, 2.0]])  # type: ignore[attr-defined]
    assert list(frame.columns) == ["a", "b"]
    with pytest.raises(BadRequestError, match="'weights'"):
        schema.convert("weights", "not an array")  # type: ignore[attr-defined]


def _output_metadata(output_type: object) -> object:
    """The output metadata of a run() decorated with @output_schema(output_type)."""
    from inference_schema.schema_decorators import output_schema

    def run(data: object) -> object:
        return data

    # inference-schema keeps one output schema per function name: each run() has its own.
    run.__name__ = f"run_{next(_RUN_NUMBERS)}"
    return read_model_schema(output_schema(output_type)(run)).output_metadata()


_RUN_NUMBERS = itertools.count()


@pytest.mark.parametrize(
    ("sample", "datatype", "shape"),
    [
        (np.array([[1.0, 2.0]], dtype=np.float32), "FP32", [-1, 2]),
        (np.array([[1.0, 2.0]]), "FP64", [-1, 2]),
        (np.array([True, False]), "BOOL", [-1]),
        (np.array([[[7]]], dtype=np.uint8), "UINT8", [-1, 1, 1]),
        (np.array([3], dtype=np.int16), "INT16", [-1]),
        (np.array([["a", "b"]]), "BYTES", [-1, 2]),
    ],
)
def test_numpy_output_metadata_has_the_arrays_datatype(
    sample: np.ndarray, datatype: str, shape: list[int]
) -> None:
    from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType

    # The datatype infer answers with (the array's dtype), not the JSON example's (FP64, text).
    assert output_tensors(sample)[0].datatype == datatype
    assert _output_metadata(NumpyParameterType(sample)) == [
        {"name": "output-0", "datatype": datatype, "shape": shape}
    ]


@pytest.mark.parametrize("orient", ["records", "split", "index", "columns", "table"])
def test_dataframe_output_metadata_is_one_output_per_column(orient: str) -> None:
    import pandas as pd
    from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType

    frame = pd.DataFrame({"score": [0.5], "count": [2], "ok": [True], "label": ["x"]})
    expected = [(t.name, t.datatype) for t in output_tensors(frame)]
    assert expected == [("score", "FP64"), ("count", "INT64"), ("ok", "BOOL"), ("label", "BYTES")]
    metadata = _output_metadata(PandasParameterType(frame, orient=orient))
    assert metadata == [{"name": n, "datatype": d, "shape": [-1]} for n, d in expected]


def test_dataframe_output_without_column_names_lists_no_outputs() -> None:
    import pandas as pd
    from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType

    # orient="values" describes rows without their column names: nothing to name outputs by.
    frame = pd.DataFrame({"score": [0.5]})
    assert _output_metadata(PandasParameterType(frame, orient="values")) == []


def test_undecorated_run_has_an_empty_schema() -> None:
    def run(data: str) -> str:
        return data

    schema = read_model_schema(run)
    assert schema.inputs == {} and schema.input_metadata() == []
    assert schema.convert("data", "x") == "x"
