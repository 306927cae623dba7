"""GET /metrics, and a meter on every other route: the HTTP side of the Prometheus metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property, partial

from starlette.responses import Response

from scoreserver.http.middleware import Endpoint, RoutePolicy
from scoreserver.http.routes import PathDispatch
from scoreserver.metrics import MetricsMemory, WorkerMeters
from scoreserver.script.inputs import IncomingRequest
from scoreserver.settings import Settings
from scoreserver.types import ASGIApp, Receive, Scope, Send

__all__ = ["METRICS_PATH", "MetricsPage", "PortDispatch", "metered_app"]

METRICS_PATH = "/metrics"


class MetricsPage:
    """The handler of GET /metrics: every worker's counts in the Prometheus text format."""

    def __init__(self, memory: MetricsMemory, labels: list[str], queue_limit: float) -> None:
        self._memory = memory
        self._labels = labels
        self._queue_limit = queue_limit

    async def __call__(self, request: IncomingRequest) -> Response:
        """Render every metric now (on the event loop: it reads memory, never waits for run())."""
        render, media_type = self._exposition
        return Response(render(), media_type=media_type)

    @cached_property
    def _exposition(self) -> tuple[Callable[[], bytes], str]:
        """The registry's renderer and its media type, made at the first scrape."""
        # prometheus_client is imported here, not at start-up: the requests are counted
        # without it (metrics.py), and it would cost every worker ~3 MiB of memory whether or
        # not anything ever scrapes it.
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from prometheus_client.registry import CollectorRegistry

        from scoreserver.metrics_collector import ScoreserverCollector

        registry = CollectorRegistry(auto_describe=False)
        registry.register(ScoreserverCollector(self._memory, self._labels, self._queue_limit))
        return partial(generate_latest, registry), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class PortDispatch:
    """Requests to the metrics port get the metrics app, all others the main one."""

    main: ASGIApp
    metrics: ASGIApp
    port: int

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app for the port the request came in on."""
        server = scope.get("server")
        app = self.metrics if server is not None and server[1] == self.port else self.main
        return app(scope, receive, send)


def metered_app(
    router: PathDispatch,
    settings: Settings,
    meters: WorkerMeters,
    policy: RoutePolicy,
    queue_limit: float,
) -> ASGIApp:
    """The router with a meter on each route, and /metrics on the main or its own port."""
    labels: list[str] = []
    routes = {path: _metered(app, meters, path, labels) for path, app in router.routes.items()}
    prefixes = tuple(
        (prefix, _metered(app, meters, f"{prefix}*", labels)) for prefix, app in router.prefixes
    )
    # Not metered itself: a scrape would otherwise always find itself in flight.
    metrics = MetricsPage(meters.memory, labels, queue_limit)
    page = Endpoint(metrics, frozenset({"GET", "HEAD"}), policy, access_log=False)
    if settings.metrics_port is None:
        return PathDispatch({**routes, METRICS_PATH: page}, prefixes)
    return PortDispatch(
        PathDispatch(routes, prefixes), PathDispatch({METRICS_PATH: page}), settings.metrics_port
    )


def _metered(app: ASGIApp, meters: WorkerMeters, label: str, labels: list[str]) -> ASGIApp:
    """The route's endpoint with a meter of its own, labelled with its path."""
    if not isinstance(app, Endpoint):
        return app
    labels.append(label)
    return dataclasses.replace(app, meter=meters.route(len(labels) - 1))
