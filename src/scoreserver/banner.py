"""The start-up text: version, the Server Settings list and the routes, as the reference prints them."""

from __future__ import annotations

from scoreserver._version import __version__, server_version_header
from scoreserver.coexistence import implementation
from scoreserver.protocols import PROTOCOLS
from scoreserver.settings import Settings

__all__ = ["render_banner"]


def _or_none(value: object) -> str:
    return "None" if value is None or value == "" else str(value)


def render_banner(settings: Settings) -> str:
    """The banner text for these settings; never shows the App Insights key itself."""
    health_port = settings.health_port if settings.separate_health_endpoint else settings.port
    rows = [
        ("Entry Script Name", _or_none(settings.entry_script)),
        ("Model Directory", _or_none(settings.model_dir)),
        ("Config File", _or_none(settings.config_file)),
        ("Worker Count", str(settings.worker_count)),
        ("Worker Timeout (seconds)", _or_none(settings.worker_timeout)),
        ("Server Port", str(settings.port)),
        ("Health Port", str(health_port)),
        ("Application Insights Enabled", str(settings.appinsights_enabled).lower()),
        (
            "Application Insights Key",
            "AppInsights key provided" if settings.appinsights_key else "None",
        ),
        (
            "Inferencing HTTP server version",
            server_version_header() if settings.server_version_log_response_enabled else "None",
        ),
        (
            "CORS for the specified origins",
            f"Enabling CORS for {settings.cors_origins}" if settings.cors_origins else "None",
        ),
        (
            "Create dedicated endpoint for health",
            "true" if settings.separate_health_endpoint else "None",
        ),
    ]
    lines = [
        "",
        f"Azure ML Inferencing HTTP server v{__version__}",
        implementation(),
        "",
        "",
        "Server Settings",
        "---------------",
        *(f"{name}: {value}" for name, value in rows),
        "",
        "",
        "Server Routes",
        "---------------",
        f"Liveness Probe: GET   127.0.0.1:{health_port}/",
        f"Score:          POST  127.0.0.1:{settings.port}/score",
        *protocol_route_lines(settings),
        *_metrics_line(settings),
        "",
    ]
    return "\n".join(lines) + "\n"


def _metrics_line(settings: Settings) -> list[str]:
    """Where Prometheus scrapes, when metrics are on."""
    if not settings.metrics:
        return []
    return [f"{'Metrics:':<16}GET   127.0.0.1:{settings.metrics_port or settings.port}/metrics"]


def protocol_route_lines(settings: Settings) -> list[str]:
    """The other protocols' routes, one line each, aligned with the Azure ML ones."""
    return [
        f"{route.label:<16}{route.methods[0]:<6}127.0.0.1:{settings.port}{path}"
        for protocol in PROTOCOLS
        if protocol.served(settings)
        for route, path in protocol.paths(settings)
    ]
