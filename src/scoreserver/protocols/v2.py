"""Open Inference Protocol (V2) over REST, as KServe, Triton and MLServer speak it.

JSON tensors and the binary tensor data extension: a request whose Inference-Header-Content-Length
header says how long its JSON part is carries the data of inputs with a binary_data_size after it;
outputs asked for with binary_data (or every output, with binary_data_output) come back the same way.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

import msgspec
from starlette.responses import Response

from scoreserver._version import __version__
from scoreserver.errors import BadRequestError
from scoreserver.protocols import MODEL_VERSION
from scoreserver.protocols.core import ModelHealth, ModelService, json_value
from scoreserver.protocols.instances import json_response
from scoreserver.protocols.json_codec import dumps_strict, dumps_text, loads
from scoreserver.protocols.tensors import (
    InputTensor,
    JsonInput,
    OutputTensor,
    decode_input,
    output_tensors,
    pack_binary,
)
from scoreserver.script.inputs import IncomingRequest, RunArguments, raw_header
from scoreserver.script.outputs import PreparedResponse

__all__ = ["V2Handlers", "V2Probes", "handlers", "probes"]

HEADER_LENGTH = "inference-header-content-length"
_HEADER_LENGTH_KEY = HEADER_LENGTH.encode()
EXTENSIONS = ["binary_tensor_data"]


def error(status_code: int, message: str) -> Response:
    """The protocol's error body: {"error": "..."}."""
    return json_response(status_code, {"error": message})


class _JsonRequest(msgspec.Struct):
    """An inference request as most clients send it: JSON inputs, no binary part."""

    inputs: list[JsonInput]
    id: Any = None
    parameters: Optional[dict[str, Any]] = None  # noqa: UP045 (msgspec reads it at run time)
    outputs: Any = None


_read_json_request = msgspec.json.Decoder(_JsonRequest).decode


class _InferRequest:
    """A parsed inference request: its inputs, and how each output is to be sent."""

    def __init__(self, request: IncomingRequest) -> None:
        declared = raw_header(request.headers, _HEADER_LENGTH_KEY)
        if declared is None and request.body and self._read_json(request.body):
            return
        self._read(request.body, None if declared is None else declared.decode("latin-1"))

    def _read_json(self, body: bytes) -> bool:
        """Read a request whose structure msgspec checks while reading it (most requests);
        False if it needs _read, which reads anything and says what is wrong."""
        try:
            wire = _read_json_request(body)
        except (msgspec.DecodeError, RecursionError):
            return False
        inputs = []
        for raw in wire.inputs:
            tensor = raw.tensor()
            if tensor is None:
                return False
            inputs.append(tensor)
        self._accept(wire.id, wire.parameters, inputs, wire.outputs)
        return True

    def _read(self, body: bytes | memoryview, declared: str | None) -> None:
        """Read any request body: JSON, or JSON and binary data."""
        binary: memoryview | None = None
        if declared is not None:
            body = memoryview(body)
            if not (declared.isascii() and declared.isdigit()) or int(declared) > len(body):
                raise BadRequestError(
                    f"Inference-Header-Content-Length is {declared!r}; it must be the length of "
                    f"the JSON part of the body ({len(body)} bytes in all)."
                )
            body, binary = body[: int(declared)], body[int(declared) :]
        try:
            header = loads(body if isinstance(body, bytes) else bytes(body)) if body else None
        except ValueError as exc:
            raise BadRequestError(f"The inference request is not valid JSON: {exc}") from exc
        if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
            raise BadRequestError(
                'Expected an inference request: {"inputs": [{"name": ..., "shape": [...], '
                '"datatype": ..., "data": [...]}]}.'
            )
        inputs = []
        offset = 0
        for raw in header["inputs"]:
            tensor, offset = decode_input(raw, binary, offset)
            inputs.append(tensor)
        self._accept(header.get("id"), header.get("parameters"), inputs, header.get("outputs"))

    def _accept(self, id: Any, parameters: Any, inputs: list[InputTensor], outputs: Any) -> None:
        """Keep what was read, once the inputs' names and the outputs asked for are checked."""
        self.id = id
        self.parameters: dict[str, Any] = _parameters(parameters, "")
        """The request's parameters: they fill the @input_schema parameters they name."""
        self.binary_outputs = _flag(self.parameters, "binary_data_output")
        self.values: dict[str, Any] = {}
        """Each input's values by name, as nested lists."""
        self._all_text = True
        for tensor in inputs:
            self.values[tensor.name] = tensor.value
            self._all_text = self._all_text and tensor.datatype != "BYTES"
        if len(self.values) != len(inputs):
            raise BadRequestError(f"Input names must be unique; got {[t.name for t in inputs]}.")
        self.requested: dict[str, bool] | None = None
        if outputs is not None:
            if not isinstance(outputs, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
            ):
                raise BadRequestError('"outputs" must be a list of objects with a "name".')
            for output in outputs:
                name = output["name"]
                output["parameters"] = _parameters(output.get("parameters"), f"Output {name!r}: ")
                _refuse_triton_only(name, output["parameters"])
            self.requested = {o["name"]: self._binary(o) for o in outputs}

    def _binary(self, output: dict[str, Any]) -> bool:
        """Whether a requested output goes as binary data (its own say, else the request's)."""
        parameters = output["parameters"]
        if "binary_data" in parameters:
            return _flag(parameters, "binary_data")
        return self.binary_outputs

    def json_text(self) -> str:
        """The inputs as the JSON text run(data) receives; bytes that are not UTF-8 cannot be."""
        if self._all_text:
            return dumps_text(self.values)
        try:
            return json.dumps(self.values)
        except TypeError as exc:
            raise BadRequestError(
                "A BYTES input holds bytes that are not UTF-8 text; run(data) receives the "
                "inputs as JSON text, so send text (or decorate run() with @rawhttp for the raw "
                "request)."
            ) from exc

    def selected(self, produced: list[OutputTensor]) -> list[tuple[OutputTensor, bool]]:
        """The outputs to send, each with whether it goes as binary data."""
        if self.requested is None:
            return [(t, self.binary_outputs) for t in produced]
        by_name = {t.name: t for t in produced}
        if len(produced) == 1 and len(self.requested) == 1 and produced[0].name == "output-0":
            # run() returned one unnamed result: it is the one output asked for.
            only = next(iter(self.requested))
            by_name = {only: dataclasses.replace(produced[0], name=only)}
        missing = [n for n in self.requested if n not in by_name]
        if missing:
            raise BadRequestError(
                f"Requested output(s) {missing} are not among run()'s outputs "
                f"{sorted(by_name) or '(none)'}."
            )
        return [(by_name[n], binary) for n, binary in self.requested.items()]


def _parameters(parameters: Any, where: str) -> dict[str, Any]:
    """Parameters as sent (none is none); anything but a JSON object is refused, the message
    starting with `where` (which output's they are, or nothing for the request's)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequestError(
            f'{where}"parameters" must be a JSON object; got {type(parameters).__name__} '
            f"{parameters!r:.100}."
        )
    return parameters


def _flag(parameters: dict[str, Any], name: str) -> bool:
    """A true-or-false parameter (absent is false); a string such as "false" is refused, as it
    would otherwise count as true."""
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise BadRequestError(f'Parameter "{name}" must be true or false; got {value!r:.100}.')
    return value


def _refuse_triton_only(name: str, parameters: dict[str, Any]) -> None:
    """A 400 for an output asked of Triton's extensions this server does not offer: answered
    without them, the client would read a shared-memory region nobody wrote, or take values for
    classes."""
    region = parameters.get("shared_memory_region")
    if region is not None:
        raise BadRequestError(
            f"Output {name!r} asks to be written to shared-memory region {region!r}; this server "
            "sends outputs in the response (JSON or binary data): ask for it without shared memory."
        )
    if parameters.get("classification"):
        raise BadRequestError(
            f"Output {name!r} asks for the top {parameters['classification']!r} classes (Triton's "
            "classification extension); this server sends run()'s values: ask without class_count."
        )


class V2Probes:
    """The V2 health routes: answered from the model's health alone, so also while init() runs."""

    def __init__(self, health: ModelHealth) -> None:
        self.model_health = health
        self.error = error

    async def live(self, request: IncomingRequest) -> Response:
        """GET /v2/health/live: the server answers, {"live": true}."""
        return json_response(200, {"live": True})

    async def ready(self, request: IncomingRequest) -> Response:
        """GET /v2/health/ready: {"ready": ...}, 200 while ready, else 400 (the spec's 4xx)."""
        ready = self.model_health.readiness.ready
        return json_response(200 if ready else 400, {"ready": ready})

    async def model_ready(self, request: IncomingRequest) -> Response:
        """GET /v2/models/{name}/ready: {"name": ..., "ready": ...}, with ready()'s status."""
        ready = self.model_health.readiness.ready
        body = {"name": self.model_health.model_name, "ready": ready}
        return json_response(200 if ready else 400, body)


class V2Handlers(V2Probes):
    """The V2 routes for one model."""

    def __init__(self, service: ModelService) -> None:
        super().__init__(service.health)
        self.service = service

    async def server_metadata(self, request: IncomingRequest) -> Response:
        """GET /v2: the server's name, version and extensions."""
        return json_response(
            200, {"name": "scoreserver", "version": __version__, "extensions": EXTENSIONS}
        )

    async def model_metadata(self, request: IncomingRequest) -> Response:
        """GET /v2/models/{name}: inputs and outputs as run()'s schema declares them."""
        schema = self.service.schema
        return json_response(
            200,
            {
                "name": self.service.model_name,
                "versions": [MODEL_VERSION],
                "platform": "scoreserver",
                "inputs": schema.input_metadata(),
                "outputs": schema.output_metadata(),
            },
        )

    async def infer(self, request: IncomingRequest) -> Response:
        """POST /v2/models/{name}/infer: the inputs to run(), its result as output tensors."""
        parsed: list[_InferRequest] = []

        def arguments(request: IncomingRequest) -> RunArguments:
            infer = _InferRequest(request)
            parsed.append(infer)
            return self.service.by_name(request, infer.values, infer.json_text, infer.parameters)

        def render(value: Any) -> Response:
            if isinstance(value, str):
                value = json_value(value)
            return self._response(parsed[0], output_tensors(value))

        return await self.service.respond(request, arguments, render, error)

    def _response(self, infer: _InferRequest, produced: list[OutputTensor]) -> Response:
        body: dict[str, Any] = {
            "model_name": self.service.model_name,
            "model_version": MODEL_VERSION,
        }
        if isinstance(infer.id, str):
            body["id"] = infer.id
        chunks: list[bytes] = []
        outputs = []
        for tensor, binary in infer.selected(produced):
            if binary:
                data = pack_binary(tensor)
                chunks.append(data)
                outputs.append(tensor.as_json(len(data)))
            else:
                outputs.append(tensor.as_json())
        body["outputs"] = outputs
        head = dumps_strict(body)
        if not chunks:
            return PreparedResponse(
                200,
                head,
                [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(head)).encode()),
                ],
            )
        payload = head + b"".join(chunks)
        return PreparedResponse(
            200,
            payload,
            [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(payload)).encode()),
                (HEADER_LENGTH.encode(), str(len(head)).encode()),
            ],
        )

    async def not_found(self, request: IncomingRequest) -> Response:
        """Any other path under /v2/: the protocol's 404, naming the model served."""
        return error(404, self.service.no_route(request, f"version {MODEL_VERSION}"))


def handlers(service: ModelService) -> V2Handlers:
    """The V2 handlers for the service."""
    return V2Handlers(service)


def probes(health: ModelHealth) -> V2Probes:
    """The V2 health routes alone, for a worker whose init() runs."""
    return V2Probes(health)
