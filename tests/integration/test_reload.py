"""--reload: edits to score.py reach the running server without a stop, and no request fails."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import child_processes, process_state, wait_until
from tests.integration.server import RunningServer, serving

# The workers and their sockets, from /proc; Windows' reload: .ci/windows_smoke.
pytestmark = pytest.mark.linux

SCRIPT = """
import os
import sys


def init():
    {init}


def run(data):
    return {{"version": {version}, "pid": os.getpid(), "watchfiles": "watchfiles" in sys.modules}}
"""

# As most users run: Python caches bytecode in __pycache__ (a developer's shell may turn that off,
# which would hide an edit served from a stale cache).
WRITES_BYTECODE = {"PYTHONDONTWRITEBYTECODE": ""}
LOAD_LIMIT_S = 90.0
# The drain's grace period (SCORESERVER_GRACEFUL_TIMEOUT, 30 s) and the kill margin after it.
RETIRE_LIMIT_S = 30.0 + 15.0
# What Python says of a missing colon: its wording changed in 3.10.
MISSING_COLON = "expected ':'" if sys.version_info >= (3, 10) else "invalid syntax"


def _write(path: Path, version: int, init: str = "pass") -> None:
    """Replace the script in one step, as an editor saving it does."""
    partial = path.with_suffix(".tmp")
    partial.write_text(SCRIPT.format(version=version, init=init))
    os.replace(partial, path)


@dataclass
class _Load:
    """Clients sending requests until told to stop, each answer or failure counted."""

    answers: list[dict[str, object]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, url: str, keep_alive: bool) -> None:
        """POST /score in a loop, on one connection or a new one each time."""
        deadline = time.monotonic() + LOAD_LIMIT_S
        with httpx.Client(timeout=30) as shared:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    if keep_alive:
                        response = shared.post(url, content=b"x")
                    else:
                        response = httpx.post(url, content=b"x", timeout=30)
                    outcome = response.json() if response.status_code == 200 else None
                    problem = None if outcome else f"{response.status_code} {response.text}"
                except httpx.HTTPError as exc:
                    outcome, problem = None, f"{type(exc).__name__}: {exc}"
                with self.lock:
                    if outcome is not None:
                        self.answers.append(outcome)
                    else:
                        self.failures.append(str(problem))

    def latest(self) -> dict[str, object] | None:
        """The last answer received."""
        with self.lock:
            return self.answers[-1] if self.answers else None

    def count(self) -> int:
        """How many answers have arrived."""
        with self.lock:
            return len(self.answers)


@contextmanager
def _load(server: RunningServer) -> Iterator[_Load]:
    load = _Load()
    url = server.url + "/score"
    threads = [
        threading.Thread(target=load.send, args=(url, keep_alive))
        for keep_alive in (False, False, True)
    ]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)


def _children(pid: int) -> list[int]:
    """The server's own child processes (not multiprocessing's resource tracker, which spawn
    starts beside the workers)."""
    return [p for p in child_processes(pid) if b"resource_tracker" not in _command_line(p)]


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # already gone
        return b""


def _holds_listener(pid: int, port: int) -> bool:
    """Whether the process has the socket listening on the port among its descriptors."""
    listening = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            listening.add(f"socket:[{fields[9]}]")
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd) in listening for fd in fds.iterdir())


def _wait_for_exit(server: RunningServer, pids: set[int], limit_s: float) -> None:
    """Wait until the processes are gone; say which are left, and in what state, if they stay."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        left = [pid for pid in pids if process_state(pid) != "gone"]
        if not left:
            return
        time.sleep(0.05)
    states = {pid: process_state(pid) for pid in left}
    raise AssertionError(
        f"previous workers still there after {limit_s}s: {states}\n{server.output()}"
    )


def _answers_version(load: _Load, version: int) -> bool:
    latest = load.latest()
    return latest is not None and latest["version"] == version


@pytest.mark.parametrize("workers", [1, 2])
def test_edits_are_served_without_a_failed_request(tmp_path: Path, workers: int) -> None:
    script = tmp_path / "score.py"
    _write(script, version=1)
    args = ["--entry_script", str(script), "--reload", "--worker_count", str(workers)]
    with serving(args, env=WRITES_BYTECODE, cwd=tmp_path) as server, _load(server) as load:
        server.wait_for_output("Reloading on changes in")
        # The workers and the watcher; the watcher holds no copy of the listening socket (it
        # would keep the port accepting after a stop).
        children = _children(server.process.pid)
        assert len(children) == workers + 1
        assert len([c for c in children if _holds_listener(c, server.port)]) == workers
        wait_until(lambda: load.count() >= 20, timeout=30)
        first_pids = {a["pid"] for a in load.answers}

        _write(script, version=2)
        wait_until(lambda: _answers_version(load, 2), timeout=30)
        server.wait_for_output("Reloaded:")
        # The previous workers finish what they had (a request on its way to them included),
        # then exit (at the latest when they are killed past the drain's grace period); from
        # then on every answer is the new version's.
        _wait_for_exit(server, first_pids, RETIRE_LIMIT_S)
        # Drained, not killed: each says so.
        for pid in first_pids:
            server.wait_for_output(
                f"Worker (pid:{pid}) of the previous version has finished and exited.", timeout=10
            )
        served = load.count()
        wait_until(lambda: load.count() >= served + 20, timeout=30)
        # Each of the three clients may hold one answer received before that but counted after.
        assert all(a["version"] == 2 for a in load.answers[served + 3 :])

        # A version whose init() fails is never switched to: the working one goes on.
        _write(script, version=3, init="raise ValueError('bad model file')")
        output = server.wait_for_output("Reload failed", timeout=30)
        served = load.count()
        wait_until(lambda: load.count() >= served + 20, timeout=30)
        load.stop.set()
    versions = [a["version"] for a in load.answers]
    assert load.failures == []
    assert 3 not in versions
    assert versions[-1] == 2
    # Workers of the new version are new processes; none of them loaded the file watcher.
    assert {a["pid"] for a in load.answers if a["version"] == 2}.isdisjoint(first_pids)
    assert not any(a["watchfiles"] for a in load.answers)
    assert (
        "Reload failed, still serving the previous version: ValueError: bad model file "
        f"at {script}:7 (in init)"
    ) in output


def test_a_script_that_no_longer_imports_keeps_the_old_version(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    _write(script, version=1)
    with serving(
        ["--entry_script", str(script), "--reload"], env=WRITES_BYTECODE, cwd=tmp_path
    ) as server:
        server.wait_for_output("Reloading on changes in")
        broken = tmp_path / "score.tmp"
        broken.write_text("def init():\n    pass\n\ndef run(data)\n    return 1\n")
        os.replace(broken, script)
        output = server.wait_for_output("Reload failed", timeout=30)
        assert f"SyntaxError: {MISSING_COLON} at {script}:4" in output
        # The worker that failed is the new version's, not the one still serving.
        ended = server.wait_for_output("of the new version that failed exited with code 3")
        assert "of the previous version exited" not in ended
        assert httpx.post(server.url + "/score", content=b"x").json()["version"] == 1
        # Fixing it is picked up as usual.
        _write(script, version=4)
        wait_until(
            lambda: httpx.post(server.url + "/score", content=b"x").json()["version"] == 4,
            timeout=30,
        )


def test_the_model_directory_is_watched_only_when_asked(tmp_path: Path) -> None:
    app, models = tmp_path / "app", tmp_path / "models"
    app.mkdir()
    models.mkdir()
    script = app / "score.py"
    _write(script, version=1)
    args = ["--entry_script", str(script), "--reload", "--model_dir", str(models)]
    with serving([*args, "--reload_model_dir"], env=WRITES_BYTECODE, cwd=app) as server:
        output = server.wait_for_output("Reloading on changes in")
        (models / "model.bin").write_bytes(b"new weights")
        server.wait_for_output("Detected changes in " + str(models / "model.bin"), timeout=30)
    assert f"Reloading on changes in: {app}, {models}" in output
    with serving(args, env=WRITES_BYTECODE, cwd=app) as server:
        output = server.wait_for_output("Reloading on changes in")
    assert f"Reloading on changes in: {app}\n" in output


def test_a_stop_in_the_middle_of_a_reload_ends_every_process(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    _write(script, version=1)
    with serving(
        ["--entry_script", str(script), "--reload"], env=WRITES_BYTECODE, cwd=tmp_path
    ) as server:
        server.wait_for_output("Reloading on changes in")
        _write(script, version=2, init="__import__('time').sleep(60)")
        server.wait_for_output("Invoking user's init function\n", timeout=30)
        wait_until(lambda: server.output().count("Invoking user's init function") == 2)
        # The serving worker, the watcher and the new worker still in its init().
        processes = _children(server.process.pid)
        assert len(processes) == 3
        started = time.monotonic()
        code = server.stop()
        took = time.monotonic() - started
    assert code == 0
    assert took < 10
    assert [pid for pid in processes if process_state(pid) != "gone"] == []
