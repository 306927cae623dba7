"""Attack a scoreserver as hostile and broken clients would, and print what held.

    python bench/adversarial.py [--attacks upgrade-h2c,slowloris,...]

Starts scoreserver on a free loopback port, serving workloads/pid_echo.py with two workers, a
2-second header timeout and a limit of 1024 open files (prlimit, from util-linux), runs each
attack of harness/attacks.py (each bounded in time and count, loopback only), prints a table of
attacks and outcomes, stops the server, and exits 1 if any attack got through.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness.attacks import ATTACKS, SERVER_ARGS, SERVER_ENV, Outcome, Target, server_command

READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"scoreserver did not start (exit code {process.poll()})")


def table(outcomes: list[Outcome]) -> str:
    """The outcomes as a markdown table."""
    lines = ["| attack | held | what was seen |", "|---|---|---|"]
    lines += [f"| {o.attack} | {'yes' if o.defended else 'NO'} | {o.detail} |" for o in outcomes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the attacks; 0 if the server held against all of them."""
    parser = argparse.ArgumentParser(prog="python bench/adversarial.py", description=__doc__)
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated names")
    names = [n.strip() for n in parser.parse_args(argv).attacks.split(",") if n.strip()]
    unknown = set(names) - set(ATTACKS)
    if unknown:
        parser.error(f"unknown attacks {sorted(unknown)}; known: {', '.join(ATTACKS)}")
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="adversarial-", suffix=".log")[1])
    env = {**os.environ, **SERVER_ENV, "PYTHONUNBUFFERED": "1"}
    command = [*server_command(sys.executable), *SERVER_ARGS, "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    outcomes = []
    try:
        _ready(port, process)
        target = Target(port, process.pid, lambda: log.read_text(errors="replace"))
        for name in names:
            outcomes.append(ATTACKS[name](target))
            print(f"{outcomes[-1].attack}: {'held' if outcomes[-1].defended else 'NOT held'}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.unlink(missing_ok=True)
    print()
    print(table(outcomes))
    return 0 if all(o.defended for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
