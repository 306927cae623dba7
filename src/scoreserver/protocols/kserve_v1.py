"""KServe's V1 protocol: list the model, its readiness, and :predict with instances."""

from __future__ import annotations

from starlette.responses import Response

from scoreserver.protocols.core import ModelHealth, ModelService
from scoreserver.protocols.instances import (
    instances_arguments,
    json_response,
    predictions_response,
)
from scoreserver.script.inputs import IncomingRequest, RunArguments

__all__ = ["KServeV1Handlers", "KServeV1Probes", "handlers", "probes"]


def error(status_code: int, message: str) -> Response:
    """KServe's error body: {"error": "..."}."""
    return json_response(status_code, {"error": message})


class KServeV1Probes:
    """The V1 model's readiness: answered from its health alone, so also while init() runs."""

    def __init__(self, health: ModelHealth) -> None:
        self.model_health = health
        self.error = error

    async def model(self, request: IncomingRequest) -> Response:
        """GET /v1/models/{name}: ready (200) or not (503)."""
        ready = self.model_health.readiness.ready
        return json_response(
            200 if ready else 503, {"name": self.model_health.model_name, "ready": ready}
        )


class KServeV1Handlers(KServeV1Probes):
    """The V1 routes for one model."""

    def __init__(self, service: ModelService) -> None:
        super().__init__(service.health)
        self.service = service

    async def models(self, request: IncomingRequest) -> Response:
        """GET /v1/models: the one model's name."""
        return json_response(200, {"models": [self.service.model_name]})

    async def predict(self, request: IncomingRequest) -> Response:
        """POST /v1/models/{name}:predict: instances in, predictions out."""

        def arguments(request: IncomingRequest) -> RunArguments:
            return instances_arguments(self.service, request)

        return await self.service.respond(request, arguments, predictions_response, error)

    async def not_found(self, request: IncomingRequest) -> Response:
        """Any other path under /v1/: the protocol's 404, naming the model served."""
        name = self.service.model_name
        return error(404, self.service.no_route(request, f"POST /v1/models/{name}:predict"))


def handlers(service: ModelService) -> KServeV1Handlers:
    """The V1 handlers for the service."""
    return KServeV1Handlers(service)


def probes(health: ModelHealth) -> KServeV1Probes:
    """The V1 readiness route alone, for a worker whose init() runs."""
    return KServeV1Probes(health)
