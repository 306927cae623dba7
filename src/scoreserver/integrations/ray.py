"""`scoreserver ray`: the same score.py as a Ray Serve application, one init() per replica.

Each replica builds the server's own ASGI app (create_app: the same routes, headers, answers,
request ids, access lines and run() timeouts) and Ray Serve's HTTP proxy sends requests to it;
replicas, autoscaling bounds and CPUs per replica come from the Settings. On a real cluster, name
`scoreserver.integrations.ray:app_builder` as the import_path of a Ray Serve config file, with the
server's flags (entry_script, model_dir, ...) as its args.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scoreserver.errors import ScoreServerError
from scoreserver.settings import Settings, load_settings
from scoreserver.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["app_builder", "application", "build_replica_app", "main"]

logger = logging.getLogger("azmlinfsrv")

DEPLOYMENT_NAME = "scoreserver"
MAX_ONGOING_REQUESTS = 100
"""Requests a replica takes at once (Ray Serve's default, 5, leaves clients waiting on backoff)."""


def build_replica_app(settings: Settings) -> ASGIApp:
    """In a replica: the environment and logging a worker has, the script loaded, init() run."""
    # Imported here: these run in the replica, never in the process that starts the application.
    from scoreserver.cli import export_script_environment
    from scoreserver.http.app import create_app
    from scoreserver.http.openapi import SwaggerDocuments
    from scoreserver.logs import configure_logging, find_logging_config, install_print_capture
    from scoreserver.processes.worker import load_script
    from scoreserver.script.scoring import Scorer
    from scoreserver.telemetry import start_telemetry

    configure_logging(
        settings.log_level, find_logging_config(settings.app_root, settings.entry_script)
    )
    export_script_environment(settings)
    install_print_capture()
    telemetry = start_telemetry(settings)
    script = load_script(settings)
    scorer = Scorer(script, settings.scoring_timeout_ms, settings.concurrency)
    swagger = SwaggerDocuments(settings, script)
    return BehindRayProxy(create_app(settings, script, swagger, scorer, telemetry))


class BehindRayProxy:
    """The server's app as Ray Serve's proxy needs it.

    A coroutine function: Ray Serve (as uvicorn does) takes an app whose __call__ is a plain
    function for ASGI 2, and the server's router returns its endpoint's coroutine rather than
    being one. And without its own x-request-id: the proxy puts its request id (the client's,
    else a new UUID) into the request before the app sees it, and adds it to the response
    itself, so the app's would be a second copy of the same header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""

        async def send_without_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [h for h in message["headers"] if h[0] != b"x-request-id"]
            await send(message)

        await self.app(scope, receive, send_without_request_id)


def deployment_options(settings: Settings) -> dict[str, Any]:
    """Ray Serve's deployment options: fixed replicas, or autoscaling between two bounds."""
    options: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "ray_actor_options": {"num_cpus": settings.ray_num_cpus},
        # Each replica queues requests for run() itself, cheaply; at this limit Ray's proxy
        # holds requests back and retries with a backoff instead, which costs far more.
        "max_ongoing_requests": max(settings.concurrency * 4, MAX_ONGOING_REQUESTS),
    }
    if settings.ray_max_replicas is not None:
        options["autoscaling_config"] = {
            "min_replicas": settings.ray_replicas,
            "max_replicas": max(settings.ray_max_replicas, settings.ray_replicas),
            "target_ongoing_requests": settings.concurrency,
        }
    else:
        options["num_replicas"] = settings.ray_replicas
    return options


def application(settings: Settings) -> Any:
    """The Ray Serve application (a serve.Application) serving the script."""
    from ray import serve

    # A builder, not an app: Ray evaluates it in each replica, so init() runs there, once. (A
    # function: Ray takes any other callable, a partial included, for the ASGI app itself.)
    def build() -> ASGIApp:
        return build_replica_app(settings)

    ingress = serve.ingress(build)
    return serve.deployment(ingress(), **deployment_options(settings)).bind()


def app_builder(args: Mapping[str, Any]) -> Any:
    """For a Ray Serve config file: args are the server's flags by name (entry_script, ...)."""
    flags = {key: str(value) if isinstance(value, Path) else value for key, value in args.items()}
    settings, _ = load_settings(flags)
    return application(settings)


def _parser(prog: str) -> argparse.ArgumentParser:
    from scoreserver.cli import build_parser

    parser = build_parser(prog)
    parser.description = "Serve the entry script as a Ray Serve application on a local Ray cluster."
    parser.add_argument(
        "--replicas", type=int, help="Replicas, each with its own init(). Default 1."
    )
    parser.add_argument(
        "--max_replicas",
        type=int,
        help="Autoscale between --replicas and this many replicas (default: no autoscaling).",
    )
    parser.add_argument("--num_cpus", type=float, help="CPUs Ray reserves per replica. Default 1.")
    return parser


def main(argv: Sequence[str], prog: str) -> int:
    """Start a local Ray cluster, serve the script on it until SIGTERM/SIGINT, then shut down."""
    from scoreserver.cli import _flags
    from scoreserver.logs import configure_logging

    configure_logging(os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper())
    args = _parser(prog).parse_args(list(argv))
    flags = _flags(args)
    flags.update(ray_replicas=args.replicas, ray_max_replicas=args.max_replicas)
    flags["ray_num_cpus"] = args.num_cpus
    try:
        settings, _ = load_settings(flags)
    except ScoreServerError as exc:
        logger.error("%s", exc.message)
        return exc.exit_code
    try:
        import ray
        from ray import serve
    except ImportError:
        logger.error("scoreserver ray needs Ray Serve: pip install 'scoreserver[ray]'.")
        return 2
    # RAY_ADDRESS, when set, joins an existing cluster instead of starting a local one.
    ray.init(include_dashboard=False, log_to_driver=True)
    stop = threading.Event()
    # After ray.init, which installs handlers of its own that end the process abruptly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(application(settings), name=DEPLOYMENT_NAME, route_prefix="/")
        logger.info(
            "Ray Serve is serving %s with %s replica(s) on http://%s:%s",
            settings.script_path,
            settings.ray_replicas,
            settings.host,
            settings.port,
        )
        stop.wait()
        logger.info("Shutting down Ray Serve")
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
