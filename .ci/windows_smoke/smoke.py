"""The Windows smoke test: the real CLI under Wine, checked over HTTP from Linux.

    python .ci/windows_smoke/smoke.py PATH/TO/python.exe

Wine's console needs a terminal, so the server runs under `script`, whose input is the console's
keyboard: Ctrl+C is written there to stop it.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _free_port()
URL = f"http://127.0.0.1:{PORT}"
TIMEOUT_MS = 2000
START_S = 240.0
"""Wine's first start creates its prefix, which takes a while."""


def _post(body: dict[str, float]) -> httpx.Response:
    return httpx.post(URL + "/score", json=body, timeout=30)


def _wait_for(what: str, predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _live() -> bool:
    try:
        return httpx.get(URL + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class _Server:
    """The CLI under Wine, its console's output going to a log file."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        """What the console showed so far."""
        return self.log.read_text(errors="replace").replace("\r", "")


@contextmanager
def _serving(
    python_exe: str, args: list[str], cwd: Path, timeout_ms: int = TIMEOUT_MS
) -> Iterator[_Server]:
    """Run the server for the block; its console's output is printed if the block fails."""
    log = Path(tempfile.mkstemp(prefix="scoreserver-wine-", suffix=".log")[1])
    command = ["wine", python_exe, "-m", "scoreserver", "--port", str(PORT), *args]
    # `script` runs the command with $SHELL, which differs between machines: pinned to sh, and
    # replaced by Wine (exec), so that the exit code is the server's, not that of a shell the
    # terminal's Ctrl+C also reached (dash dies of it: 130).
    env = {
        **os.environ,
        "SHELL": "/bin/sh",
        "WINEDEBUG": "-all",
        "SCORING_TIMEOUT_MS": str(timeout_ms),
    }
    process = subprocess.Popen(
        # A wide terminal, or Wine's console wraps the log lines at 80 columns.
        ["script", "-qefc", "stty cols 1000; exec " + shlex.join(command), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
    )
    server = _Server(process, log)
    try:
        yield server
    except BaseException:
        print(server.output(), file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.kill()
        log.unlink(missing_ok=True)


def _stop(server: _Server) -> int:
    """Ctrl+C on Wine's console; the exit code."""
    assert server.process.stdin is not None
    server.process.stdin.write(b"\x03")
    server.process.stdin.flush()
    return server.process.wait(timeout=60)


def main(python_exe: str) -> int:
    """Start the server under Wine, check it, stop it with Ctrl+C; 0 when all went as expected."""
    args = ["--entry_script", "score.py", "--worker_count", "2"]
    with _serving(python_exe, args, HERE) as server:
        output = server.output
        _wait_for("GET / to answer", _live, START_S)
        _wait_for("two workers", lambda: output().count("ready for serving traffic") >= 2, 60)
        home = httpx.get(URL + "/", timeout=5)
        assert home.status_code == 200, home.text
        one = _post({})
        assert one.status_code == 200 and "pid" in one.json(), one.text
        print("GET / and POST /score answer")

        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(_post, {"sleep": 1.5}) for _ in range(2)]
            time.sleep(0.5)
            started = time.monotonic()
            probe = httpx.get(URL + "/", timeout=5)
            probe_s = time.monotonic() - started
            pids = {f.result().json()["pid"] for f in slow}
        assert probe.status_code == 200 and probe_s < 1.0, (probe.status_code, probe_s)
        assert len(pids) == 2, pids
        print(f"liveness answered in {probe_s:.2f} s while both run() slept; workers {pids}")

        started = time.monotonic()
        late = _post({"sleep": 10})
        late_s = time.monotonic() - started
        assert late.status_code == 500 and late_s < TIMEOUT_MS / 1000 + 2, (late.text, late_s)
        assert _post({}).status_code == 200
        print(f"SCORING_TIMEOUT_MS: 500 after {late_s:.1f} s: {json.dumps(late.json())}")

        # Windows cannot pass sockets to the supervisor: the client of a dying worker sees the
        # connection end without an answer (the README's platform table says so).
        try:
            _post({"exit": 3})
            raise AssertionError("a worker that exits in run() cannot answer")
        except httpx.TransportError:
            pass
        _wait_for("a new worker", lambda: output().count("ready for serving traffic") >= 3, 60)
        assert "exited with code 3. Starting a new worker." in output()
        with ThreadPoolExecutor(2) as pool:
            pids = {f.result().json()["pid"] for f in [pool.submit(_post, {"sleep": 1.0})] * 2}
        print("a worker that died was replaced")

        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(_post, {"sleep": 1.0})
            time.sleep(0.3)
            code = _stop(server)
            answer = in_flight.result()
        assert answer.status_code == 200, answer.text
        assert code == 0, code
        assert not _live()
        assert "Traceback" not in output(), output()
        assert "Warning" not in output(), output()  # a library warning at import, say
        print("Ctrl+C: the request in flight was answered, then the server exited 0")
    check_killed_supervisor(python_exe)
    return check_reload(python_exe)


def check_killed_supervisor(python_exe: str) -> None:
    """The supervisor ended by TerminateProcess, from a Windows program: its workers stop."""
    helper = str(HERE / "killed_supervisor.py")
    env = {**os.environ, "WINEDEBUG": "-all"}
    done = subprocess.run(
        ["wine", python_exe, helper, str(PORT)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout.strip().splitlines()[-1])  # the server's own log comes before


def check_reload(python_exe: str) -> int:
    """--reload: an edit is served by a new worker while the previous one answers what it has
    (Windows cannot signal it: the supervisor raises its stop flag)."""
    app = Path(tempfile.mkdtemp(prefix="scoreserver-wine-app-"))
    script = app / "score.py"
    script.write_text((HERE / "score.py").read_text())
    with _serving(python_exe, ["--entry_script", "score.py", "--reload"], app, 30_000) as server:
        output = server.output
        _wait_for("the file watcher", lambda: "Reloading on changes in" in output(), START_S)
        first = _post({}).json()["pid"]
        with ThreadPoolExecutor(1) as pool:
            # Longer than the new worker takes to start, so the old one is asked to stop with
            # this request in hand.
            in_flight = pool.submit(_post, {"sleep": 6})
            time.sleep(0.5)
            edited = script.read_text().replace(
                '{"pid": os.getpid()}', '{"pid": os.getpid(), "v": 2}'
            )
            (app / "score.tmp").write_text(edited)
            os.replace(app / "score.tmp", script)
            _wait_for("the new worker", lambda: "Reloaded:" in output(), 60)
            assert not in_flight.done(), "the request ended before the previous worker was retired"
            answer = in_flight.result()
        assert answer.status_code == 200 and answer.json() == {"pid": first}, answer.text
        after = _post({}).json()
        assert after["v"] == 2 and after["pid"] != first, after
        _wait_for("the previous worker to drain and exit", lambda: _gone(first, output()), 30)
        assert "did not finish in time" not in output(), output()
        assert _stop(server) == 0
        assert "Traceback" not in output(), output()
        print("--reload: the edit was served by a new worker; the previous one answered first")
    return 0


def _gone(pid: int, output: str) -> bool:
    """The supervisor saw the worker exit after its drain."""
    return f"Worker (pid:{pid}) of the previous version has finished and exited." in output


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
