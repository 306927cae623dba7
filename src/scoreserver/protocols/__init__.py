"""The serving protocols besides Azure ML's: their routes, and where their handlers live.

Each protocol is one module of handlers (imported in the workers only) plus one entry in
PROTOCOLS below, which names its routes. A module with probe routes also has probes(health):
those handlers alone, which a starting worker answers while init() runs. The entry is plain
data so that the supervisor can print every route in its banner without importing the web
stack. Adding a protocol is adding a module and an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoreserver.settings import Settings

__all__ = ["PROTOCOLS", "Protocol", "Route"]

MODEL_VERSION = "1"
"""The one version of the one model a server holds."""


@dataclass(frozen=True)
class Route:
    """One route of a protocol."""

    path: str
    """The path; {model} and {version} are the model's name and version, {health} and
    {predict} Vertex AI's routes."""
    methods: tuple[str, ...]
    handler: str
    """The name of the handler method on the protocol's handlers object."""
    label: str
    """How the banner names it."""
    probe: bool = False
    """A health probe: no access line, no bearer key (as GET /)."""
    compressed_bodies: bool = False
    """Takes request bodies sent gzip- or deflate-encoded (Content-Encoding), as Triton does."""


@dataclass(frozen=True)
class Protocol:
    """A protocol: the module with its handlers, its routes, and when it is served."""

    name: str
    module: str
    """The module whose handlers(service) returns the handlers object (and probes(health) the
    probe routes' handlers alone, when it has probe routes)."""
    routes: tuple[Route, ...]
    prefix: str | None = None
    """Unknown paths under this prefix get the protocol's own 404."""
    needs: tuple[str, ...] = ()
    """Settings fields that must be set for the protocol to be served."""
    error_key: str = "error"
    """The key of the protocol's JSON error body: {"error": ...}, or /score's {"message": ...}."""
    configured: bool = False
    """Its paths are the platform's to choose (settings): each takes the place of any other
    route at the same path, since the platform sends that route's requests there."""

    def served(self, settings: Settings) -> bool:
        """Whether this server serves the protocol."""
        return all(getattr(settings, name) for name in self.needs)

    def paths(self, settings: Settings) -> list[tuple[Route, str]]:
        """Each route with its path for these settings."""
        values = {
            "model": settings.model_name,
            "version": MODEL_VERSION,
            "health": settings.vertex_health_route or "",
            "predict": settings.vertex_predict_route or "",
        }
        return [(route, route.path.format(**values)) for route in self.routes]


_V2_MODEL = "/v2/models/{model}"
_V2_VERSION = "/v2/models/{model}/versions/{version}"

PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(
        "Open Inference Protocol (V2)",
        "scoreserver.protocols.v2",
        (
            Route("/v2/health/live", ("GET", "HEAD"), "live", "V2 Live:", probe=True),
            Route("/v2/health/ready", ("GET", "HEAD"), "ready", "V2 Ready:", probe=True),
            Route("/v2", ("GET", "HEAD"), "server_metadata", "V2 Server:"),
            Route(_V2_MODEL, ("GET", "HEAD"), "model_metadata", "V2 Metadata:"),
            Route(
                _V2_MODEL + "/ready", ("GET", "HEAD"), "model_ready", "V2 Model Ready:", probe=True
            ),
            Route(_V2_MODEL + "/infer", ("POST",), "infer", "V2 Infer:", compressed_bodies=True),
            Route(_V2_VERSION, ("GET", "HEAD"), "model_metadata", "V2 Metadata:"),
            Route(
                _V2_VERSION + "/ready",
                ("GET", "HEAD"),
                "model_ready",
                "V2 Model Ready:",
                probe=True,
            ),
            Route(_V2_VERSION + "/infer", ("POST",), "infer", "V2 Infer:", compressed_bodies=True),
        ),
        prefix="/v2/",
    ),
    Protocol(
        "KServe V1",
        "scoreserver.protocols.kserve_v1",
        (
            Route("/v1/models", ("GET", "HEAD"), "models", "V1 Models:"),
            Route("/v1/models/{model}", ("GET", "HEAD"), "model", "V1 Model:", probe=True),
            Route("/v1/models/{model}:predict", ("POST",), "predict", "V1 Predict:"),
        ),
        prefix="/v1/",
    ),
    Protocol(
        "SageMaker",
        "scoreserver.protocols.sagemaker",
        (
            Route("/ping", ("GET", "HEAD"), "ping", "SageMaker Ping:", probe=True),
            Route("/invocations", ("POST",), "invocations", "SageMaker Run:"),
        ),
        error_key="message",
    ),
    Protocol(
        "Vertex AI",
        "scoreserver.protocols.vertex",
        (
            Route("{health}", ("GET", "HEAD"), "health", "Vertex Health:", probe=True),
            Route("{predict}", ("POST",), "predict", "Vertex Predict:"),
        ),
        needs=("vertex_health_route", "vertex_predict_route"),
        configured=True,
    ),
)

AZURE_PATHS = {
    "/": "Azure ML's GET /",
    "/score": "Azure ML's /score",
    "/swagger.json": "Azure ML's GET /swagger.json",
}
"""The Azure ML routes every server has, by path, as start-up notes name them."""


def displaced_routes(settings: Settings) -> list[str]:
    """A note for each configured route that takes the place of another route at its path."""
    fixed = dict(AZURE_PATHS)
    for protocol in PROTOCOLS:
        if protocol.served(settings) and not protocol.configured:
            fixed.update(
                (path, route.label.rstrip(":")) for route, path in protocol.paths(settings)
            )
    return [
        f"{route.label.rstrip(':')} is set to {path}: that path serves {protocol.name} here, "
        f"in place of {fixed[path]}."
        for protocol in PROTOCOLS
        if protocol.configured and protocol.served(settings)
        for route, path in protocol.paths(settings)
        if path in fixed
    ]
