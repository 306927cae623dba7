"""protocols: the table of protocols, their paths for the settings, and the schema they read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scoreserver.errors import BadRequestError
from scoreserver.protocols import PROTOCOLS
from scoreserver.protocols.model_schema import read_model_schema
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


def test_undecorated_run_has_an_empty_schema() -> None:
    def run(data: str) -> str:
        return data

    schema = read_model_schema(run)
    assert schema.inputs == {} and schema.input_metadata() == []
    assert schema.convert("data", "x") == "x"
