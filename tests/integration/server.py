"""Starting the real CLI as a subprocess on a free port, and waiting for it by polling."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A server process started from the CLI, with its output captured to a file."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The base URL of the scoring port."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client bound to the server."""
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        """Poll the output until it contains text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the output:\n{self.output()}")

    def remove_log(self) -> None:
        """Delete the output file. Windows refuses while a process has it open: the workers, for
        a second or so after their supervisor ended, and under Wine the test process itself for
        longer; such a file is deleted when the tests end."""
        deadline = time.monotonic() + 3
        while True:
            try:
                self.log_path.unlink(missing_ok=True)
                return
            except PermissionError:
                if time.monotonic() > deadline:
                    atexit.register(_unlink_if_free, self.log_path)
                    return
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the server and wait for it to exit; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if sys.platform == "win32":  # no process groups: its workers leave once it ended
                self.process.kill()
            else:
                # The whole process group: a hung supervisor must not leave its workers behind.
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise


def _unlink_if_free(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def cli_command(*args: str) -> list[str]:
    """The azmlinfsrv command from the environment running the tests."""
    return [sys.executable, "-m", "scoreserver", *args]


def start_server(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    port: int | None = None,
    command: Sequence[str] | None = None,
) -> RunningServer:
    """Start the CLI on a free port (unless args give --port) without waiting for it."""
    port = port or free_port()
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    log = Path(tempfile.mkstemp(prefix="scoreserver-", suffix=".log")[1])
    argv = list(command or cli_command())
    if "--port" not in args:
        argv += ["--port", str(port)]
    argv += list(args)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # its own process group, so stop() can end all of it
        )
    return RunningServer(process=process, port=port, log_path=log)


def wait_until_ready(server: RunningServer, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Poll GET / until it answers 200; fail with the server's output if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(server.url + "/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not ready after {timeout}s:\n{server.output()}")


@contextmanager
def serving(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    command: Sequence[str] | None = None,
) -> Iterator[RunningServer]:
    """A ready server for the duration of the block, stopped (SIGTERM) afterwards; if the block
    fails, the server's output is printed (pytest shows it with the failure)."""
    server = _ready_server(args, env, cwd, command)
    try:
        yield server
    except BaseException:
        print(f"--- the server's output ---\n{server.output()}")
        raise
    finally:
        server.stop()
        server.remove_log()


PORT_TAKEN = "is already in use"
PORT_ATTEMPTS = 3


def _ready_server(
    args: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: Path | None,
    command: Sequence[str] | None,
) -> RunningServer:
    """Start a server and wait for it; a free port another process took meanwhile is chosen anew.

    free_port() can only say a port is free now: on a busy machine an outgoing connection may take
    it before the server binds it. Only the port this harness chose is retried, never a --port.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = start_server(args, env=env, cwd=cwd, command=command)
        try:
            wait_until_ready(server)
            return server
        except AssertionError:
            exited = server.process.poll() is not None
            taken = exited and "--port" not in args and PORT_TAKEN in server.output()
            server.stop()
            server.remove_log()
            if not taken or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def run_to_exit(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI expecting it to exit by itself (a start-up failure); capture its output."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        cli_command(*args), env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
