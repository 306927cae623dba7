"""One worker process: import the script, run init(), then serve HTTP on the inherited sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import time
from ctypes import c_byte, c_double
from functools import partial
from pathlib import Path
from typing import cast

import uvicorn

from scoreserver.errors import EntryScriptError
from scoreserver.http.app import create_app, probe_routes
from scoreserver.http.connection_guards import (
    ConnectionGuards,
    guarded_protocol,
    uvicorn_internals_known,
)
from scoreserver.http.http_protocol import (
    JsonErrorsHttpToolsProtocol,
    reporting_protocol,
    serving_config,
)
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.logs import install_print_capture
from scoreserver.metrics import WorkerMeters
from scoreserver.platform import parent_gone, run_event_loop, uvloop_available
from scoreserver.processes.custody import ConnectionReporter
from scoreserver.processes.descriptors import DescriptorBudget
from scoreserver.processes.listener import AnnouncingServer, Availability, PoliteServer
from scoreserver.processes.messages import NOT_SERVING, WorkerFailed, WorkerLink, WorkerReady
from scoreserver.processes.rebalancing import Rebalancer, SheddableConnection
from scoreserver.processes.starting_probes import StartingProbes
from scoreserver.protocols.core import Readiness
from scoreserver.script.batching import scorer_for
from scoreserver.script.entry_script import (
    EntryScript,
    InputMode,
    failure_summary,
    load_entry_script,
    script_location,
)
from scoreserver.settings import DEFAULT_SCRIPT_NAME, Settings
from scoreserver.telemetry import start_telemetry

__all__ = ["load_script", "run_worker"]

logger = logging.getLogger("azmlinfsrv")
script_logger = logging.getLogger("azmlinfsrv.user_script")

# The exit code of a worker whose script could not be loaded: the supervisor passes it on.
SCRIPT_FAILURE_EXIT = EntryScriptError.exit_code

HEARTBEAT_INTERVAL_S = 1.0

_BACKGROUND: set[asyncio.Task[None]] = set()
"""Tasks that live as long as the worker's event loop (a reference keeps them alive)."""

_MODE_MESSAGES = {
    InputMode.PLAIN: "run() is not decorated. Server will invoke it with the input in JSON string.",
    InputMode.SCHEMA: "run() is decorated with @input_schema. Server will invoke it with the "
    "following arguments: {names}.",
    InputMode.RAW: "run() is decorated with @rawhttp. Server will invoke it with the raw "
    "request object.",
}


def import_paths(settings: Settings) -> list[str]:
    """The folders a script may import its siblings from, most specific first."""
    paths = []
    if settings.entry_script is not None:
        paths.append(str(settings.entry_script.parent))
    paths.append(str(settings.app_root))
    if settings.source_directory is not None:
        paths.append(str(settings.source_directory))
    # Last, the working directory: the reference's gunicorn has it importable whatever the root.
    cwd = os.getcwd()
    if cwd not in paths:
        paths.append(cwd)
    return paths


def load_script(settings: Settings) -> EntryScript:
    """Import the entry script and run its init(), logging each step as the reference does."""
    for folder in reversed(import_paths(settings)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    path = settings.script_path
    if settings.entry_script is None and not path.is_file():
        raise EntryScriptError(
            f"No score script found. Expected score script {DEFAULT_SCRIPT_NAME}.\n"
            f"It was looked for in AML_APP_ROOT ({settings.app_root}); name another script with "
            f"--entry_script or AZUREML_ENTRY_SCRIPT in the config file."
        )
    script = load_entry_script(path)
    script_logger.info("Found user script at %s", script.path)
    names = ", ".join(p.name for p in script.parameters)
    script_logger.info(_MODE_MESSAGES[script.mode].format(names=names))
    script_logger.info("Invoking user's init function")
    script.call_init()
    script_logger.info("Users's init has completed successfully")
    return script


def attach_debugger(port: int) -> None:
    """Let VS Code (or any DAP client) attach to this worker with debugpy on the given port."""
    try:
        import debugpy
    except ImportError:
        logger.error(
            "AZUREML_DEBUG_PORT is set but debugpy is not installed: pip install debugpy "
            "(or scoreserver[debug]) to debug the entry script."
        )
        return
    try:
        debugpy.listen(("0.0.0.0", port))
    except (OSError, RuntimeError) as exc:
        logger.error("Cannot start the debugger on port %s: %s", port, exc)
        return
    logger.info("Debugger (debugpy) listening on port %s; attach to debug the entry script.", port)


def run_worker(
    settings: Settings,
    sockets: list[socket.socket],
    link: WorkerLink,
    script: EntryScript | None = None,
) -> None:
    """The body of a worker process; never returns normally."""
    serving = threading.Event()
    threading.Thread(target=_leave_with_supervisor, args=(serving,), daemon=True).start()
    install_print_capture()
    telemetry = start_telemetry(settings)
    if settings.debug_port is not None:
        attach_debugger(settings.debug_port)
    meters = None if link.metrics is None else WorkerMeters(link.metrics, link.slot, os.getpid())
    starting = _answer_probes_while_starting(settings, sockets, link) if script is None else None
    try:
        if script is None:
            script = load_script(settings)
        swagger = SwaggerDocuments(settings, script)
        scorer = scorer_for(script, settings, None if meters is None else meters.run())
    except EntryScriptError as exc:
        logger.error("%s", exc.message)
        location = script_location(exc, [Path(p) for p in import_paths(settings)])
        failed = WorkerFailed(os.getpid(), exc.message, location, failure_summary(exc))
        link.status.send(failed)
        link.status.close()
        sys.exit(SCRIPT_FAILURE_EXIT)
    reporter = ConnectionReporter(link.custody, link.marks) if link.custody is not None else None
    readiness = Readiness(link.draining, link.started)
    app = create_app(settings, script, swagger, scorer, telemetry, reporter, readiness, meters)
    if settings.cors_origin_list:
        logger.info(
            "Enabling CORS for the following origins: %s", ", ".join(settings.cors_origin_list)
        )
    logging.getLogger("azmlinfsrv.swagger").info("%s", swagger.summary)
    logger.info("Scoring timeout is set to %s", settings.scoring_timeout_ms)
    link.heartbeat.value = time.monotonic()
    kept = starting.finish() if starting is not None else []
    guards = _connection_guards(settings, len(link.marks))
    base = JsonErrorsHttpToolsProtocol if guards is None else guarded_protocol(guards)
    config = serving_config(
        app,
        reporting_protocol(reporter, base) if reporter is not None else base,
        loop="uvloop" if uvloop_available() else "asyncio",
        timeout_graceful_shutdown=settings.graceful_timeout,
    )
    rebalancing: list[Rebalancer] = []
    ready = partial(_report_ready, link, rebalancing, serving)
    server = AnnouncingServer(config, ready, kept)
    if settings.worker_count > 1:
        availability = Availability(app, link.availability, link.slot, scorer.capacity)
        config.app = availability
        budget = guards.budget if guards is not None else None
        server = PoliteServer(config, ready, sockets, availability, budget, kept)
        if guards is not None:
            connections = cast("set[SheddableConnection]", server.server_state.connections)
            rebalancing.append(Rebalancer(link.loads, link.slot, connections))
    run_event_loop(_serve(server, sockets, link.heartbeat, link.stop))
    link.loads[link.slot] = NOT_SERVING
    if meters is not None:
        meters.stopped()
    scorer.close()
    if telemetry is not None:
        telemetry.close()
    sys.exit(0)


def _answer_probes_while_starting(
    settings: Settings, sockets: list[socket.socket], link: WorkerLink
) -> StartingProbes | None:
    """Answer the health probes "not ready" while init() runs, when no other worker serves
    (they answer then); None when there are no probe routes, or uvicorn changed what this
    relies on (the probes then wait for init(), as every other request does)."""
    if not uvicorn_internals_known():
        return None

    def others_serve() -> bool:
        return any(load != NOT_SERVING for i, load in enumerate(link.loads) if i != link.slot)

    if others_serve():
        return None
    routes = probe_routes(settings, Readiness(starting=True))
    if not routes:
        return None
    # A port of its own for /metrics serves nothing else: its scrapes wait for init().
    probed = [s for s in sockets if s.getsockname()[1] != settings.metrics_port]
    return StartingProbes(routes, probed, others_serve).start()


def _connection_guards(settings: Settings, guarded: int) -> ConnectionGuards | None:
    """The guards on this worker's connections; none if uvicorn changed what they rely on."""
    if not uvicorn_internals_known():
        logger.warning(
            "uvicorn %s changed the internals scoreserver's connection guards rely on: the "
            "header timeout, head size limit, upgrade handling and descriptor budget are off.",
            uvicorn.__version__,
        )
        return None
    return ConnectionGuards(settings.header_timeout, DescriptorBudget.measure(guarded))


def _leave_with_supervisor(serving: threading.Event) -> None:
    """Until the worker serves, end it as soon as its supervisor has ended: an init() may take
    minutes, and nobody would take its traffic or stop it (once serving, the heartbeat drains)."""
    while not serving.wait(HEARTBEAT_INTERVAL_S):
        if parent_gone():
            logger.warning(
                "The supervisor has ended: worker (pid:%s) stops before serving.", os.getpid()
            )
            sys.stdout.flush()
            os._exit(1)


def _report_ready(
    link: WorkerLink, rebalancing: list[Rebalancer], serving: threading.Event
) -> None:
    """Tell the log and the supervisor that this worker now accepts connections."""
    serving.set()
    link.loads[link.slot] = 0  # serving, with no requests yet: starting workers leave probes here
    # Sent before the line is logged: whoever reads "ready" in the log (a test, an operator about
    # to stop a worker) knows the supervisor has the report, and will replace, not shut down.
    # An error here means the supervisor has ended: the heartbeat sees it and drains the worker.
    with contextlib.suppress(OSError):
        link.status.send(WorkerReady(pid=os.getpid()))
    link.status.close()
    logger.info("Worker with pid %s ready for serving traffic", os.getpid())
    for rebalancer in rebalancing:
        _BACKGROUND.add(asyncio.get_running_loop().create_task(rebalancer.run()))


async def _serve(
    server: uvicorn.Server,
    sockets: list[socket.socket],
    heartbeat: c_double,
    stop: c_byte | None = None,
) -> None:
    """Serve until told to stop (by a signal or the stop flag) or the supervisor is gone, beating
    the heart the supervisor watches."""

    async def beat() -> None:
        # Only a blocked event loop stops this; the supervisor then replaces the worker.
        while True:
            heartbeat.value = time.monotonic()
            if stop is not None and stop.value:
                server.should_exit = True  # uvicorn's own drain, as after SIGTERM
            if parent_gone() and not server.should_exit:
                # Killed outright (SIGKILL, Task Manager): without this its workers would keep
                # the port, serving a server nobody can stop, and block the next start.
                logger.warning(
                    "The supervisor has ended: worker (pid:%s) stops after the requests it has.",
                    os.getpid(),
                )
                server.should_exit = True
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    _BACKGROUND.add(asyncio.create_task(beat()))
    try:
        await server.serve(sockets=sockets)
    except KeyboardInterrupt:
        # uvicorn raises the Ctrl+C it drained for again once done (on Windows, the console's
        # stop): the requests are answered, and the worker ends as after any other stop.
        pass
    finally:
        for task in _BACKGROUND:
            task.cancel()
        await asyncio.gather(*_BACKGROUND, return_exceptions=True)
