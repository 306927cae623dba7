"""The {"instances": [...]} → {"predictions": [...]} mapping that KServe V1 and Vertex AI share.

For run(data), the instances (or inputs) arrive as a JSON string {"data": ...}, so the usual
Azure ML `json.loads(data)["data"]` works unchanged; request parameters come along as
"parameters". For @input_schema, the instances are the value of run()'s one parameter; with
several parameters, each instance is an object of them (TensorFlow Serving's row format) or
"inputs" is an object of columns by parameter name.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from scoreserver.errors import BadRequestError
from scoreserver.protocols.core import ModelService, json_value
from scoreserver.protocols.json_codec import dumps_text, loads
from scoreserver.script.entry_script import InputMode
from scoreserver.script.inputs import IncomingRequest, RunArguments
from scoreserver.script.outputs import encode_json_strict, json_result, library_of

__all__ = ["instances_arguments", "json_response", "predictions_response"]

_EXPECTED = 'Expected a JSON object {"instances": [...]} (or {"inputs": ...}).'


def json_response(status_code: int, value: Any) -> Response:
    """A JSON response in the json.dumps format /score uses."""
    return json_result(value, [], status_code)


def _body(request: IncomingRequest) -> dict[str, Any]:
    if not request.body.strip():
        raise BadRequestError(f"The request body is empty. {_EXPECTED}")
    try:
        body = loads(request.body)
    except ValueError as exc:
        raise BadRequestError(f"The request body is not valid JSON ({exc}). {_EXPECTED}") from exc
    if isinstance(body, dict) and "instances" in body and "inputs" in body:
        raise BadRequestError('The request has both "instances" and "inputs": send one of them.')
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise BadRequestError(_EXPECTED)
    if "instances" in body and not isinstance(body["instances"], list):
        raise BadRequestError('"instances" must be a list, one entry per instance.')
    return body


def _named(service: ModelService, key: str, value: Any) -> dict[str, Any]:
    """The values by parameter name, for @input_schema scripts."""
    names = {p.name for p in service.script.parameters}
    if key == "inputs" and isinstance(value, dict) and names & value.keys():
        return value
    if (
        key == "instances"
        and len(names) > 1
        and value
        and all(isinstance(i, dict) and names & i.keys() for i in value)
    ):
        named = [set(i) & names for i in value]
        present = set.intersection(*named)
        partial = set.union(*named) - present
        if partial:
            # Scoring those instances with the parameter's default instead would be wrong.
            raise BadRequestError(
                f"Every instance must name the same parameters: {sorted(partial)} is in some "
                "instances but not in all."
            )
        return {name: [i[name] for i in value] for name in present}
    return {key: value}


def instances_arguments(service: ModelService, request: IncomingRequest) -> RunArguments:
    """run()'s arguments for an instances (or inputs) request."""
    if service.script.mode is InputMode.RAW:
        return service.raw_arguments(request)
    body = _body(request)
    key = "instances" if "instances" in body else "inputs"

    def plain() -> str:
        payload: dict[str, Any] = {"data": body[key]}
        if "parameters" in body:
            payload["parameters"] = body["parameters"]
        return dumps_text(payload)

    options = body.get("parameters")
    named = _named(service, key, body[key])
    return service.by_name(request, named, plain, options if isinstance(options, dict) else None)


def _as_list(value: Any) -> list[Any] | None:
    module = library_of(value)
    if module == "pandas" and hasattr(value, "columns"):
        records: list[Any] = json.loads(value.to_json(orient="records", date_format="iso"))
        return records
    if module in ("numpy", "pandas") and hasattr(value, "tolist"):
        listed = value.tolist()
        return listed if isinstance(listed, list) else None
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def predictions_response(value: Any) -> Response:
    """run()'s result as {"predictions": [...]}: a list is the predictions, one value is one
    prediction, and a dict that already holds "predictions" is the answer as it is. Strict JSON:
    a NaN, or bytes, cannot be sent (a 500 saying so), as clients' parsers would refuse them."""
    if isinstance(value, str):
        value = json_value(value)
    if not (isinstance(value, dict) and "predictions" in value):
        listed = _as_list(value)
        value = {"predictions": listed if listed is not None else [value]}
    return json_result(value, [], encode=encode_json_strict)
