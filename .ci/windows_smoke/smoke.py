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
from concurrent.futures import ThreadPoolExecutor
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


def main(python_exe: str) -> int:
    """Start the server under Wine, check it, stop it with Ctrl+C; 0 when all went as expected."""
    log = Path(tempfile.mkstemp(prefix="scoreserver-wine-", suffix=".log")[1])
    command = [
        "wine", python_exe, "-m", "scoreserver",
        "--entry_script", "score.py", "--port", str(PORT), "--worker_count", "2",
    ]  # fmt: skip
    env = {**os.environ, "WINEDEBUG": "-all", "SCORING_TIMEOUT_MS": str(TIMEOUT_MS)}
    server = subprocess.Popen(
        # A wide terminal, or Wine's console wraps the log lines at 80 columns.
        ["script", "-qefc", "stty cols 1000; " + shlex.join(command), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=HERE,
        env=env,
    )
    assert server.stdin is not None

    def output() -> str:
        return log.read_text(errors="replace").replace("\r", "")

    try:
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
            server.stdin.write(b"\x03")  # Ctrl+C on Wine's console
            server.stdin.flush()
            answer = in_flight.result()
        code = server.wait(timeout=60)
        assert answer.status_code == 200, answer.text
        assert code == 0, code
        assert not _live()
        assert "Traceback" not in output(), output()
        assert "Warning" not in output(), output()  # e.g. pydantic 2.5 on the model_ fields
        print("Ctrl+C: the request in flight was answered, then the server exited 0")
        return 0
    except BaseException:
        print(output(), file=sys.stderr)
        raise
    finally:
        if server.poll() is None:
            server.kill()
        log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
