"""server: the supervisor stays small, so what it imports is pinned."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from ctypes import c_double
from multiprocessing.connection import Connection

from scoreserver.processes.custody import Custodian, ScoringMarks
from scoreserver.processes.messages import WorkerReady
from scoreserver.processes.server import Supervisor, _Worker
from scoreserver.settings import load_settings
from tests.conftest import SCRIPTS


def test_the_supervisor_loads_no_web_stack_and_no_event_loop() -> None:
    # Each of these costs the supervisor start-up time and megabytes of memory it never uses:
    # the workers import them after the fork.
    code = (
        "import json, sys, scoreserver.cli, scoreserver.processes.server;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    heavy = {"asyncio", "uvicorn", "uvloop", "starlette", "werkzeug", "httptools", "watchfiles"}
    assert heavy & loaded == set()


def _report_ready_and_end(sender: Connection) -> None:
    sender.send(WorkerReady(pid=os.getpid()))
    sender.close()


def test_a_worker_that_reported_ready_and_ended_at_once_is_replaced_not_a_failed_start() -> None:
    # Its report and its end are both waiting when the supervisor looks: a crash right after
    # start-up must not read as a failed start, which would stop the whole server.
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_report_ready_and_end, args=(sender,))
    process.start()
    sender.close()
    process.join()
    worker = _Worker(
        process=process,
        status=receiver,
        heartbeat=context.RawValue(c_double, 0.0),
        slot=0,
        custodian=Custodian(None, ScoringMarks.shared(context, 1)),
    )
    settings, _ = load_settings({"entry_script": str(SCRIPTS / "echo.py")})
    supervisor = Supervisor(settings, workers=[worker])
    wake_read, wake_write = socket.socketpair()
    with wake_read, wake_write:
        assert supervisor._await_startup(wake_read) is None
    assert worker.ready
