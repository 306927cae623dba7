"""One worker process: import the script, run init(), then serve HTTP on the inherited sockets."""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection

import uvicorn

from scoreserver.app import create_app
from scoreserver.entry_script import EntryScript, InputMode, load_entry_script
from scoreserver.errors import EntryScriptError
from scoreserver.logs import install_print_capture
from scoreserver.openapi import SwaggerDocuments
from scoreserver.settings import Settings

__all__ = ["WorkerFailed", "WorkerReady", "load_script", "run_worker"]

logger = logging.getLogger("azmlinfsrv")
script_logger = logging.getLogger("azmlinfsrv.user_script")

# The exit code of a worker whose script could not be loaded: the supervisor passes it on.
SCRIPT_FAILURE_EXIT = EntryScriptError.exit_code

_MODE_MESSAGES = {
    InputMode.PLAIN: "run() is not decorated. Server will invoke it with the input in JSON string.",
    InputMode.SCHEMA: "run() is decorated with @input_schema. Server will invoke it with the "
    "following arguments: {names}.",
    InputMode.RAW: "run() is decorated with @rawhttp. Server will invoke it with the raw "
    "request object.",
}


@dataclass(frozen=True)
class WorkerReady:
    """Sent by a worker once init() is done and it is about to serve."""

    pid: int


@dataclass(frozen=True)
class WorkerFailed:
    """Sent by a worker whose script could not be loaded or whose init() raised."""

    pid: int
    message: str


def import_paths(settings: Settings) -> list[str]:
    """The folders a script may import its siblings from, most specific first."""
    paths = []
    if settings.entry_script is not None:
        paths.append(str(settings.entry_script.parent))
    paths.append(str(settings.app_root))
    if settings.source_directory is not None:
        paths.append(str(settings.source_directory))
    return paths


def load_script(settings: Settings) -> EntryScript:
    """Import the entry script and run its init(), logging each step as the reference does."""
    for path in reversed(import_paths(settings)):
        if path not in sys.path:
            sys.path.insert(0, path)
    assert settings.entry_script is not None
    script = load_entry_script(settings.entry_script)
    script_logger.info("Found user script at %s", script.path)
    names = ", ".join(p.name for p in script.parameters)
    script_logger.info(_MODE_MESSAGES[script.mode].format(names=names))
    script_logger.info("Invoking user's init function")
    script.call_init()
    script_logger.info("Users's init has completed successfully")
    return script


def run_worker(
    settings: Settings,
    sockets: list[socket.socket],
    status: Connection,
    script: EntryScript | None = None,
) -> None:
    """The body of a worker process; never returns normally."""
    install_print_capture()
    try:
        if script is None:
            script = load_script(settings)
        swagger = SwaggerDocuments(settings, script)
    except EntryScriptError as exc:
        logger.error("%s", exc.message)
        status.send(WorkerFailed(pid=_pid(), message=exc.message))
        status.close()
        sys.exit(SCRIPT_FAILURE_EXIT)
    app = create_app(settings, script, swagger)
    if settings.cors_origin_list:
        logger.info(
            "Enabling CORS for the following origins: %s", ", ".join(settings.cors_origin_list)
        )
    logging.getLogger("azmlinfsrv.swagger").info("%s", swagger.summary)
    logger.info("Scoring timeout is set to %s", settings.scoring_timeout_ms)
    logger.info("Worker with pid %s ready for serving traffic", _pid())
    status.send(WorkerReady(pid=_pid()))
    status.close()
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=settings.grace_period_s,
    )
    uvicorn.Server(config).run(sockets=sockets)
    sys.exit(0)


def _pid() -> int:
    import os

    return os.getpid()
