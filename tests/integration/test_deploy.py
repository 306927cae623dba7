"""The Dockerfile and the Kubernetes/KServe manifests name probe paths and ports that really answer.

Each manifest is parsed; the real CLI is started with the container's arguments and environment
(the entry script and port swapped for local ones), and every probe the manifest names is sent to
it. No container engine runs here: the image itself is not built.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scoreserver.processes.server import KILL_MARGIN_S
from tests.conftest import REPOSITORY
from tests.integration.cli_support import wait_until
from tests.integration.server import serving

HELLO = str(REPOSITORY / "examples" / "hello" / "score.py")
DEPLOY = REPOSITORY / "deploy"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def _container(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest's pod spec and its one container."""
    document = yaml.safe_load(path.read_text())
    spec = document["spec"]
    pod = spec["template"]["spec"] if "template" in spec else spec["predictor"]
    (container,) = pod["containers"]
    return pod, container


def _probe_port(probe: dict[str, Any], container: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == port)


def _local_args(args: list[str]) -> list[str]:
    """The container's arguments with the local example script, and no port (a free one is used)."""
    local = [HELLO if a == "/app/score.py" else a for a in args]
    at = local.index("--port")
    return local[:at] + local[at + 2 :]


@pytest.mark.parametrize(
    "manifest",
    [DEPLOY / "kubernetes" / "deployment.yaml", DEPLOY / "kserve" / "inferenceservice.yaml"],
)
@pytest.mark.posix  # SIGTERM
def test_the_probes_a_manifest_names_answer_on_the_port_it_names(
    manifest: Path, tmp_path: Path
) -> None:
    pod, container = _container(manifest)
    args = container["args"]
    declared_port = int(args[args.index("--port") + 1])
    probes = {name: container[name] for name in PROBES}
    # Every probe goes to the port the server listens on.
    assert {_probe_port(p, container) for p in probes.values()} == {declared_port}
    assert probes["startupProbe"]["httpGet"]["path"] == "/"
    env = {e["name"]: e["value"] for e in container["env"]}
    drain = float(env["SCORESERVER_READINESS_DRAIN_S"]) + int(env["SCORESERVER_GRACEFUL_TIMEOUT"])
    grace = pod.get("terminationGracePeriodSeconds", 30)  # Kubernetes' default
    if manifest.parent.name == "kubernetes":
        assert grace > drain + KILL_MARGIN_S
    env["AZUREML_MODEL_DIR"] = str(tmp_path)
    env.pop("STORAGE_URI", None)
    with serving(_local_args(args), env=env) as server:
        readiness = server.url + probes["readinessProbe"]["httpGet"]["path"]
        # GET / answers once a worker serves; readiness once every worker is (as Kubernetes
        # polls it, so does this).
        wait_until(lambda: httpx.get(readiness, timeout=2).status_code == 200, timeout=30)
        for name, probe in probes.items():
            answer = httpx.get(
                server.url + probe["httpGet"]["path"], timeout=probe.get("timeoutSeconds", 1)
            )
            assert answer.status_code == 200, (name, answer.text)
        liveness = server.url + probes["livenessProbe"]["httpGet"]["path"]
        # On SIGTERM readiness fails at once (Kubernetes counts any status from 400 on as a
        # failure), while liveness stays up for the drain.
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: httpx.get(readiness, timeout=2).status_code >= 400, timeout=4)
        assert httpx.get(liveness, timeout=2).status_code == 200


def test_the_dockerfile_checks_liveness_on_the_port_it_serves_and_stops_with_sigterm() -> None:
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    check = re.search(
        r"HEALTHCHECK .*?urlopen\('http://127\.0\.0\.1:(\d+)(/[^']*)'", dockerfile, re.S
    )
    assert check is not None
    port, path = int(check[1]), check[2]
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)
    assert f'"--port", "{port}"' in dockerfile
    assert re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.M)
    assert re.search(r"^USER 10001", dockerfile, re.M)
    drain = int(re.search(r"SCORESERVER_READINESS_DRAIN_S=(\d+)", dockerfile)[1])  # type: ignore[index]
    graceful = int(re.search(r"SCORESERVER_GRACEFUL_TIMEOUT=(\d+)", dockerfile)[1])  # type: ignore[index]
    stop_timeout = int(re.search(r"--stop-timeout (\d+)", dockerfile)[1])  # type: ignore[index]
    assert stop_timeout > drain + graceful + KILL_MARGIN_S
    with serving(["--entry_script", HELLO]) as server:
        assert httpx.get(server.url + path, timeout=5).status_code == 200
