"""`scoreserver ray` on a local Ray cluster: two replicas, the server's answers, then a clean stop.

Needs `pip install -e ".[ray,test]"` (Ray is heavy, so .ci/run runs this in a venv of its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml
from tests.conftest import REPOSITORY
from tests.integration.server import (
    RunningServer,
    cli_command,
    free_port,
    start_server,
    wait_until_ready,
)

OUTCOMES = str(REPOSITORY / "tests" / "scripts" / "metrics_outcomes.py")
RAY_START_S = 240.0


def _post(server: RunningServer, body: str, **headers: str) -> httpx.Response:
    return httpx.post(server.url + "/score", content=body, headers=headers, timeout=60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_replicas_serve_the_script_with_the_servers_answers_and_stop_cleanly() -> None:
    server = start_server(
        ["--entry_script", OUTCOMES, "--replicas", "2", "--num_cpus", "0.5"],
        env={"SCORING_TIMEOUT_MS": "1000"},
        command=cli_command("ray"),
    )
    try:
        wait_until_ready(server, timeout=RAY_START_S)
        pids: set[int] = set()
        with ThreadPoolExecutor(4) as pool:
            for _ in range(30):
                answers = list(pool.map(lambda _: _post(server, "0.3"), range(4)))
                assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
                pids.update(a.json()["pid"] for a in answers)
                if len(pids) == 2:
                    break
        assert len(pids) == 2, pids

        ok = _post(server, "0", **{"x-request-id": "ray-test-1"})
        assert ok.status_code == 200
        assert ok.headers.get_list("x-request-id") == ["ray-test-1"]
        assert ok.headers["x-ms-run-function-failed"] == "False"
        assert float(ok.headers["x-ms-run-fn-exec-ms"]) >= 0
        anonymous = _post(server, "0")
        (request_id,) = anonymous.headers.get_list("x-request-id")
        assert anonymous.headers["x-ms-request-id"] == request_id

        failed = _post(server, "fail")
        assert failed.status_code == 500
        assert failed.headers["x-ms-run-function-failed"] == "True"
        assert failed.json() == {
            "message": "An unexpected error occurred in scoring script. Check the logs for more info."
        }
        timed_out = _post(server, "2")
        assert timed_out.status_code == 500
        assert timed_out.json() == {"message": "Scoring timeout after 1000 ms"}
        assert httpx.get(server.url + "/", timeout=10).text == "Healthy"
        assert httpx.get(server.url + "/nowhere", timeout=10).status_code == 404
        assert httpx.get(server.url + "/v2/health/ready", timeout=10).status_code == 200

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=120) == 0, server.output()[-5000:]
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in pids), "replicas outlived the shutdown"
        assert "POST /score 200" in server.output()
    finally:
        server.stop(timeout=120)


def test_the_module_serves_from_a_ray_serve_config_file(tmp_path: Path) -> None:
    config = yaml.safe_load((REPOSITORY / "deploy" / "ray" / "serve-config.yaml").read_text())
    port = free_port()
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    (application,) = config["applications"]
    application["args"]["entry_script"] = OUTCOMES
    path = tmp_path / "serve-config.yaml"
    path.write_text(yaml.safe_dump(config))
    serve = str(Path(sys.executable).with_name("serve"))
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        # `serve run` takes its port from the config file: not through start_server's --port.
        process = subprocess.Popen(
            [serve, "run", str(path)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPOSITORY,
            start_new_session=True,
        )
    server = RunningServer(process, port, log)
    try:
        wait_until_ready(server, timeout=RAY_START_S)
        pids = set()
        with ThreadPoolExecutor(4) as pool:
            for _ in range(30):
                answers = list(pool.map(lambda _: _post(server, "0.3"), range(4)))
                pids.update(a.json()["pid"] for a in answers)
                if len(pids) == application["args"]["ray_replicas"]:
                    break
        assert len(pids) == 2, pids
    finally:
        server.stop(sig=signal.SIGINT, timeout=120)
