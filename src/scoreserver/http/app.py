"""create_app: the ASGI application for one loaded entry script."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from scoreserver._version import server_version_header
from scoreserver.http.cors import CorsPolicy
from scoreserver.http.exchanges import cycle_type
from scoreserver.http.metrics_routes import metered_app
from scoreserver.http.middleware import Endpoint, RoutePolicy
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.http.routes import ScoreHandlers, build_router
from scoreserver.metrics import WorkerMeters
from scoreserver.processes.custody import ConnectionReporter
from scoreserver.processes.raw_responses import ERROR_KEY_PSEUDO_HEADER
from scoreserver.protocols import PROTOCOLS, Protocol
from scoreserver.protocols.core import ModelHealth, ModelService, Readiness
from scoreserver.script.entry_script import EntryScript
from scoreserver.script.flask_context import flask_request_context
from scoreserver.script.inputs import argument_builder
from scoreserver.script.scoring import Scorer
from scoreserver.settings import Settings
from scoreserver.telemetry import AppInsights
from scoreserver.types import ASGIApp

__all__ = ["create_app", "probe_routes", "route_policy"]

logger = logging.getLogger("azmlinfsrv")


def create_app(
    settings: Settings,
    script: EntryScript,
    swagger: SwaggerDocuments,
    scorer: Scorer,
    telemetry: AppInsights | None = None,
    custody: ConnectionReporter | None = None,
    readiness: Readiness | None = None,
    meters: WorkerMeters | None = None,
) -> ASGIApp:
    """The whole application: routes, request ids, CORS and metrics when configured."""
    arguments = argument_builder(script)
    flask_context = flask_request_context()
    handlers = ScoreHandlers(
        script=script,
        arguments=arguments,
        scorer=scorer,
        swagger=swagger,
        telemetry=telemetry,
        custody=custody,
        flask_context=flask_context,
    )
    policy = route_policy(settings)
    service = ModelService.build(
        script,
        scorer,
        settings.model_name,
        arguments,
        readiness or Readiness(),
        custody,
        telemetry,
        flask_context,
    )
    routes, prefixes, configured = protocol_routes(settings, service, policy)
    routes.update(_swagger_ui_routes(settings, swagger, policy))
    router = build_router(handlers, policy, routes, prefixes, configured)
    if meters is None:
        return router
    queue_limit = float("inf") if script.is_async else settings.concurrency
    return metered_app(router, settings, meters, policy, queue_limit)


def route_policy(settings: Settings) -> RoutePolicy:
    """What every route applies to a request: version header, body limit, bearer key, CORS."""
    return RoutePolicy(
        server_version=(
            server_version_header().encode()
            if settings.server_version_log_response_enabled
            else None
        ),
        max_body_bytes=settings.max_request_body_bytes,
        bearer_key=settings.auth_key.encode() if settings.auth_key else None,
        cors=CorsPolicy(tuple(settings.cors_origin_list)) if settings.cors_origin_list else None,
        cycle=cycle_type(),
    )


_ANY_METHOD = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def protocol_routes(
    settings: Settings, service: ModelService, policy: RoutePolicy
) -> tuple[dict[str, ASGIApp], tuple[tuple[str, ASGIApp], ...], dict[str, ASGIApp]]:
    """Every served protocol's routes by path, the protocols' own 404s by path prefix, and the
    routes at paths the platform chose, which take the place of any other route there."""
    served = _ServedRoutes(settings, policy)
    prefixes: list[tuple[str, ASGIApp]] = []
    for protocol in served.protocols:
        handlers = importlib.import_module(protocol.module).handlers(service)
        served.add(protocol, handlers, probes_only=False)
        if protocol.prefix is not None:
            missing = Endpoint(handlers.not_found, _ANY_METHOD, policy, error_format=handlers.error)
            prefixes.append((protocol.prefix, missing))
    return served.routes, tuple(prefixes), served.configured


def probe_routes(settings: Settings, readiness: Readiness) -> dict[str, ASGIApp]:
    """The served protocols' health probes by path, answered from the model's name and the
    readiness alone: what a worker answers while its init() runs."""
    served = _ServedRoutes(settings, route_policy(settings))
    health = ModelHealth(settings.model_name, readiness)
    for protocol in served.protocols:
        served.add(protocol, importlib.import_module(protocol.module).probes(health), True)
    return {**served.routes, **served.configured}


class _ServedRoutes:
    """The served protocols' routes as endpoints, gathered by path."""

    def __init__(self, settings: Settings, policy: RoutePolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.protocols = [p for p in PROTOCOLS if p.served(settings)]
        self.routes: dict[str, ASGIApp] = {}
        """By path; the first protocol to name a path keeps it."""
        self.configured: dict[str, ASGIApp] = {}
        """At the paths the platform chose (settings), which take the place of any other."""

    def add(self, protocol: Protocol, handlers: Any, probes_only: bool) -> None:
        """The protocol's routes (or its probes alone) with these handlers."""
        # A dead worker's answer names the route's error format to the supervisor (custody.py).
        crash_before = () if protocol.error_key == "message" else _error_key_line(protocol)
        for route, path in protocol.paths(self.settings):
            if probes_only and not route.probe:
                continue
            endpoint = Endpoint(
                getattr(handlers, route.handler),
                frozenset(route.methods),
                self.policy,
                access_log=not route.probe,
                protected=not route.probe,
                error_format=handlers.error,
                decodes_content=route.compressed_bodies,
                crash_before=crash_before,
            )
            if protocol.configured:
                self.configured[path] = endpoint
            else:
                self.routes.setdefault(path, endpoint)


def _error_key_line(protocol: Protocol) -> tuple[tuple[bytes, bytes], ...]:
    return ((ERROR_KEY_PSEUDO_HEADER, protocol.error_key.encode()),)


def _swagger_ui_routes(
    settings: Settings, swagger: SwaggerDocuments, policy: RoutePolicy
) -> dict[str, ASGIApp]:
    """The Swagger UI page and its assets, unless turned off or the bundle is missing."""
    if not settings.swagger_ui:
        return {}
    from scoreserver.http.swagger_ui import SwaggerUI, bundled_assets

    assets = bundled_assets()
    if assets is None:
        logger.warning(
            "The Swagger UI at /swagger is off: the swagger-ui-bundle package is missing."
        )
        return {}
    return SwaggerUI(swagger, assets, settings.service_name).routes(policy)
