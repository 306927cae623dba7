"""Vertex AI custom containers: AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE, instances → predictions."""

from __future__ import annotations

from starlette.responses import Response

from scoreserver.protocols.core import ModelHealth, ModelService
from scoreserver.protocols.instances import (
    instances_arguments,
    json_response,
    predictions_response,
)
from scoreserver.script.inputs import IncomingRequest, RunArguments

__all__ = ["VertexHandlers", "VertexProbes", "handlers", "probes"]


def error(status_code: int, message: str) -> Response:
    """Vertex passes a container's error body through; {"error": "..."} says what went wrong."""
    return json_response(status_code, {"error": message})


class VertexProbes:
    """AIP_HEALTH_ROUTE: answered from the model's health alone, so also while init() runs."""

    def __init__(self, health: ModelHealth) -> None:
        self.model_health = health
        self.error = error

    async def health(self, request: IncomingRequest) -> Response:
        """AIP_HEALTH_ROUTE: 200 while ready, 503 before and once a stop has begun."""
        ready = self.model_health.readiness.ready
        return json_response(200 if ready else 503, {"ready": ready})


class VertexHandlers(VertexProbes):
    """The two routes Vertex AI calls."""

    def __init__(self, service: ModelService) -> None:
        super().__init__(service.health)
        self.service = service

    async def predict(self, request: IncomingRequest) -> Response:
        """AIP_PREDICT_ROUTE: {"instances": [...], "parameters": {...}} → {"predictions": [...]}."""

        def arguments(request: IncomingRequest) -> RunArguments:
            return instances_arguments(self.service, request)

        return await self.service.respond(request, arguments, predictions_response, error)


def handlers(service: ModelService) -> VertexHandlers:
    """The Vertex AI handlers for the service."""
    return VertexHandlers(service)


def probes(health: ModelHealth) -> VertexProbes:
    """AIP_HEALTH_ROUTE alone, for a worker whose init() runs."""
    return VertexProbes(health)
