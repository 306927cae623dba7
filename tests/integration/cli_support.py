"""Helpers for the command-line tests: reading log records, and several servers at once."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SERVER_VARIABLES
from tests.integration.server import (
    RunningServer,
    cli_command,
    wait_until_ready,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

# `2026-11-25 15:34:45,718 I [2960] azmlinfsrv - message`
LOG_RECORD = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[DIWEC]) "
    r"\[(?P<pid>\d+)\] (?P<logger>[\w.]+) - (?P<message>.*)$"
)
# The access line after the logger name: `POST /score 200 1.234ms 17`.
ACCESS = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d{3})ms (?P<length>\d+|N/A)$"
)


@dataclass(frozen=True)
class Record:
    """One log record: its prefix fields, its first line, and the lines that follow it."""

    time: str
    level: str
    pid: int
    logger: str
    text: str
    more: tuple[str, ...] = ()

    @property
    def full(self) -> str:
        """The first line and every unprefixed line after it (tracebacks, stray output)."""
        return "\n".join((self.text, *self.more))


def records(output: str) -> list[Record]:
    """The log records in the output, each with the unprefixed lines that follow it."""
    found: list[Record] = []
    for line in output.splitlines():
        match = LOG_RECORD.match(line)
        if match:
            found.append(
                Record(
                    match["time"],
                    match["level"],
                    int(match["pid"]),
                    match["logger"],
                    match["message"],
                )
            )
        elif found:
            last = found[-1]
            found[-1] = dataclasses.replace(last, more=(*last.more, line))
    return found


def access_lines(output: str) -> list[re.Match[str]]:
    """The access records (`METHOD path status N.NNNms length`) of the azmlinfsrv logger."""
    lines = []
    for line in output.splitlines():
        match = LOG_RECORD.match(line)
        if match and match["logger"] == "azmlinfsrv":
            access = ACCESS.match(match["message"])
            if access:
                lines.append(access)
    return lines


def settled_access_count(server: RunningServer) -> int:
    """The number of access lines so far, counted up to a marker request's own line."""
    marker = uuid.uuid4().hex
    server.client().get("/swagger.json", params={"marker": marker})
    wait_until(lambda: any(marker in a["path"] for a in access_lines(server.output())))
    lines = access_lines(server.output())
    return next(i for i, a in enumerate(lines) if marker in a["path"]) + 1


def printed_pids(output: str, prefix: str) -> list[int]:
    """The pids a script printed after prefix (through print(), so logged as azmlinfsrv.print)."""
    return [
        int(r.text.removeprefix(prefix))
        for r in records(output)
        if r.logger == "azmlinfsrv.print" and r.text.startswith(prefix)
    ]


@contextmanager
def scrubbed_environ() -> Iterator[None]:
    """No server variable from the developer's shell, for fixtures wider than one test."""
    with pytest.MonkeyPatch.context() as patch:
        for name in SERVER_VARIABLES:
            patch.delenv(name, raising=False)
        yield


@contextmanager
def serving_default_port(
    args: Sequence[str], env: Mapping[str, str] | None = None, port: int = 5001
) -> Iterator[RunningServer]:
    """A server started without --port at all, so it picks its own (5001 by contract, or the
    one a platform's variable names)."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    log = Path(tempfile.mkstemp(prefix="scoreserver-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            cli_command(*args), stdout=sink, stderr=subprocess.STDOUT, env=full_env
        )
    server = RunningServer(process=process, port=port, log_path=log)
    try:
        wait_until_ready(server)
        yield server
    finally:
        server.stop()
        server.remove_log()


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI expecting it to exit by itself; return the result and how long it took."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    result = subprocess.run(
        cli_command(*args), env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - started


def port_is_listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def copy_script(name: str, destination: Path) -> Path:
    """Copy a fixture script to destination (a file path), creating its folder."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCRIPTS / name, destination)
    return destination


def bin_command(name: str) -> list[str]:
    """A console script installed for the Python running the tests (a venv's bin/, or the
    Scripts/ folder of a Windows install, where it is an .exe)."""
    executable = name + ".exe" if sys.platform == "win32" else name
    return [str(Path(sysconfig.get_path("scripts")) / executable)]


def process_state(pid: int) -> str:
    """A process's state letter from /proc/PID/stat (R, S, Z, ...), or "gone" (Linux only)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return "gone"


def child_processes(pid: int) -> list[int]:
    """The pids of a process's children, from /proc (Linux only); none once it is gone."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in children.read_text().split()]
    except OSError:
        return []


def process_ended(pid: int) -> bool:
    """The process is gone, or a zombie nobody reaped (an orphan's new parent may not)."""
    return process_state(pid) in ("gone", "Z")


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll a zero-argument callable until it returns something true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
