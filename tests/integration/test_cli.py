"""The command line: entry points, the start-up banner, flag errors, ports, and stopping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scoreserver import __version__
from tests.integration.cli_support import (
    SCRIPTS,
    bin_command,
    copy_script,
    port_is_listening,
    process_ended,
    records,
    run_cli,
    scrubbed_environ,
)
from tests.integration.server import (
    RunningServer,
    free_port,
    serving,
    start_server,
    wait_until_ready,
)

HELLO = SCRIPTS / "hello.py"
HELLO_BODY = b'{"message": "Hello, World!"}'
VALID_KEY = "12345678-1234-1234-1234-123456789abc"


# ---------------------------------------------------------------------------------------------
# The banner


@pytest.fixture(scope="module")
def default_output(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """The output of a plain start-up (no --model_dir, nothing in the environment)."""
    cwd = tmp_path_factory.mktemp("default")
    with scrubbed_environ(), serving(["--entry_script", str(HELLO)], cwd=cwd) as server:
        yield server.port, server.output()


def test_banner_shows_version_settings_and_routes(default_output: tuple[int, str]) -> None:
    port, output = default_output
    expected = "\n".join(
        [
            "",
            f"Azure ML Inferencing HTTP server v{__version__}",
            f"Served by scoreserver {__version__}, not by azureml-inference-server-http",
            "",
            "",
            "Server Settings",
            "---------------",
            f"Entry Script Name: {HELLO}",
            "Model Directory: None",
            "Config File: None",
            "Worker Count: 1",
            "Worker Timeout (seconds): None",
            f"Server Port: {port}",
            f"Health Port: {port}",
            "Application Insights Enabled: false",
            "Application Insights Key: None",
            f"Inferencing HTTP server version: azmlinfsrv/{__version__}",
            "CORS for the specified origins: None",
            "Create dedicated endpoint for health: None",
            "",
            "",
            "Server Routes",
            "---------------",
            f"Liveness Probe: GET   127.0.0.1:{port}/",
            f"Score:          POST  127.0.0.1:{port}/score",
            f"V2 Live:        GET   127.0.0.1:{port}/v2/health/live",
        ]
    )
    assert expected in output


def test_missing_model_dir_is_hinted_before_the_banner(default_output: tuple[int, str]) -> None:
    _, output = default_output
    hint = (
        "The environment variable 'AZUREML_MODEL_DIR' has not been set.\n"
        "Use the --model_dir command line argument to set it.\n"
    )
    assert hint in output
    assert output.index(hint) < output.index("Azure ML Inferencing HTTP server v")


def test_banner_is_printed_once_as_plain_text(default_output: tuple[int, str]) -> None:
    _, output = default_output
    assert output.count("Server Settings") == 1
    assert not any("Server Settings" in r.text for r in records(output))


@pytest.mark.linux  # /proc/net/tcp
def test_listens_on_all_interfaces(tmp_path: Path) -> None:
    with serving(["--entry_script", str(HELLO)], cwd=tmp_path) as server:
        listening = _listening_addresses(server.port)
    assert listening == {"0.0.0.0"}


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket in LISTEN state on port, from /proc/net/tcp."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":
            addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A start-up with every banner row set away from its default."""
    cwd = tmp_path_factory.mktemp("configured")
    (cwd / "model").mkdir()
    (cwd / "settings.json").write_text("{}")
    health_port = free_port()
    args = [
        "--entry_script",
        str(HELLO),
        "--model_dir",
        "model",
        "--config_file",
        "settings.json",
        "--health_port",
        str(health_port),
        "--appinsights_instrumentation_key",
        "not-a-key-sekrit",
        "--access_control_allow_origins",
        "http://a.com, http://b.com",
    ]
    env = {
        "WORKER_TIMEOUT": "77",
        "SEPERATE_HEALTH_ENDPOINT": "true",
        "SERVER_VERSION_LOG_RESPONSE_ENABLED": "false",
    }
    with scrubbed_environ(), serving(args, env=env, cwd=cwd) as server:
        yield {
            "port": server.port,
            "health_port": health_port,
            "cwd": cwd,
            "output": server.output(),
        }


@pytest.mark.parametrize(
    ("row", "value"),
    [
        ("Entry Script Name", str(HELLO)),
        ("Model Directory", "model"),
        ("Config File", os.path.join("{cwd}", "settings.json")),
        ("Worker Count", "1"),
        ("Worker Timeout (seconds)", "77"),
        ("Server Port", "{port}"),
        ("Health Port", "{health_port}"),
        ("Application Insights Enabled", "false"),
        ("Application Insights Key", "AppInsights key provided"),
        ("Inferencing HTTP server version", "None"),
        ("Create dedicated endpoint for health", "true"),
    ],
)
def test_banner_row_reflects_the_setting(
    configured: dict[str, object], row: str, value: str
) -> None:
    expected = value.format(**configured)
    assert f"\n{row}: {expected}\n" in str(configured["output"])


def test_banner_cors_row_names_the_origins(configured: dict[str, object]) -> None:
    # The reference prints the flag's value after "Enabling CORS for ".
    assert (
        "\nCORS for the specified origins: Enabling CORS for http://a.com, http://b.com\n"
        in str(configured["output"])
    )


def test_banner_routes_point_the_probe_at_the_health_port(configured: dict[str, object]) -> None:
    output = str(configured["output"])
    assert f"\nLiveness Probe: GET   127.0.0.1:{configured['health_port']}/\n" in output
    assert f"\nScore:          POST  127.0.0.1:{configured['port']}/score\n" in output


def test_appinsights_key_is_never_printed(configured: dict[str, object]) -> None:
    assert "sekrit" not in str(configured["output"])


def test_invalid_appinsights_key_is_reported_and_disables_telemetry(
    configured: dict[str, object],
) -> None:
    output = str(configured["output"])
    assert (
        "Invalid Application Insights instrumentation key provided.\n"
        "Application Insights has been disabled.\n"
    ) in output
    assert output.index("Application Insights has been disabled.") < output.index("Server Settings")


def test_model_dir_given_means_no_hint(configured: dict[str, object]) -> None:
    assert "AZUREML_MODEL_DIR' has not been set" not in str(configured["output"])


def test_valid_appinsights_key_enables_telemetry_without_printing_the_key(
    tmp_path: Path,
) -> None:
    args = ["--entry_script", str(HELLO), "--appinsights_instrumentation_key", VALID_KEY]
    with serving(args, cwd=tmp_path) as server:
        response = server.client().post("/score", content=b"{}")
        output = server.output()
    assert response.status_code == 200
    assert "Valid Application Insights instrumentation key provided." in output
    assert "\nApplication Insights Enabled: true\n" in output
    assert "\nApplication Insights Key: AppInsights key provided\n" in output
    assert VALID_KEY not in output


# ---------------------------------------------------------------------------------------------
# Entry points


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(bin_command("scoreserver"), id="scoreserver"),
        pytest.param([sys.executable, "-m", "scoreserver"], id="python-m-scoreserver"),
        pytest.param(
            [sys.executable, "-m", "azureml_inference_server_http.amlserver"],
            id="python-m-amlserver",
        ),
    ],
)
def test_every_entry_point_starts_the_server(command: list[str], tmp_path: Path) -> None:
    with serving(["--entry_script", str(HELLO)], cwd=tmp_path, command=command) as server:
        response = server.client().post("/score", content=b"{}")
        output = server.output()
    assert response.status_code == 200
    assert response.content == HELLO_BODY
    assert f"Azure ML Inferencing HTTP server v{__version__}" in output
    assert f"Served by scoreserver {__version__}, not by azureml-inference-server-http" in output


# ---------------------------------------------------------------------------------------------
# Flag errors


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--port", "0"),
        ("--port", "70000"),
        ("--port", "abc"),
        ("--health_port", "0"),
        ("--health_port", "65536"),
        ("--worker_count", "0"),
        ("--worker_count", "-1"),
        ("--worker_count", "two"),
    ],
)
def test_invalid_flag_value_prints_usage_and_exits_1(flag: str, value: str) -> None:
    result, elapsed = run_cli(["--entry_script", str(HELLO), flag, value], timeout=20)
    assert result.returncode == 1
    assert result.stderr.startswith("usage: ")
    assert f"argument {flag}" in result.stderr
    assert "Server Settings" not in result.stdout
    assert elapsed < 10


def test_unknown_flag_prints_usage_and_exits_1() -> None:
    result, _ = run_cli(["--entry_script", str(HELLO), "--bogus"], timeout=20)
    assert result.returncode == 1
    assert result.stderr.startswith("usage: ")
    assert "--bogus" in result.stderr


NEITHER_MESSAGE = (
    "Either provide an entry_script using --entry_script or provide a path to the "
    "configuration file using --config_file"
)


def test_without_entry_script_or_config_file_names_both_flags(tmp_path: Path) -> None:
    result, elapsed = run_cli(["--port", str(free_port())], cwd=tmp_path, timeout=20)
    assert result.returncode != 0
    assert NEITHER_MESSAGE in result.stdout + result.stderr
    assert elapsed < 10


def test_entry_script_in_the_environment_alone_is_not_enough(tmp_path: Path) -> None:
    result, _ = run_cli(
        ["--port", str(free_port())],
        env={"AZUREML_ENTRY_SCRIPT": str(HELLO)},
        cwd=tmp_path,
        timeout=20,
    )
    assert result.returncode != 0
    assert NEITHER_MESSAGE in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Ports


def test_port_in_use_fails_clearly_and_the_running_server_keeps_serving(tmp_path: Path) -> None:
    with serving(["--entry_script", str(HELLO)], cwd=tmp_path) as first:
        result, elapsed = run_cli(
            ["--entry_script", str(HELLO), "--port", str(first.port)], cwd=tmp_path, timeout=30
        )
        still = first.client().post("/score", content=b"{}")
        healthy = first.client().get("/")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "already in use" in output
    assert str(first.port) in output
    assert "Traceback" not in output
    assert elapsed < 15
    assert still.status_code == 200
    assert still.content == HELLO_BODY
    assert healthy.status_code == 200


def test_port_held_on_loopback_conflicts_with_the_wildcard_bind(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result, _ = run_cli(
            ["--entry_script", str(HELLO), "--port", str(port)], cwd=tmp_path, timeout=30
        )
    assert result.returncode != 0
    assert "already in use" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Stopping


def _worker_pids(server: RunningServer) -> set[int]:
    return {
        int(r.text.split()[-1])
        for r in records(server.output())
        if r.logger == "azmlinfsrv.print" and r.text.startswith("init in pid ")
    }


@pytest.mark.posix  # signals, /proc
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    script = copy_script("cli_sleep.py", tmp_path / "score.py")
    server = start_server(["--entry_script", str(script), "--worker_count", "2"], cwd=tmp_path)
    try:
        wait_until_ready(server)
        server.wait_for_output("init in pid", timeout=10)
        pids = _worker_pids(server)
        started = time.monotonic()
        code = server.stop(sig, timeout=15)
        elapsed = time.monotonic() - started
    finally:
        server.stop(signal.SIGKILL)
        output = server.output()
        server.remove_log()
    assert code == 0, output
    assert elapsed < 5
    assert "Traceback" not in output
    assert pids
    assert all(process_ended(pid) for pid in pids)
    assert not port_is_listening(server.port)


@pytest.mark.posix  # SIGTERM
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    script = copy_script("cli_sleep.py", tmp_path / "score.py")
    server = start_server(["--entry_script", str(script)], cwd=tmp_path)
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["response"] = httpx.post(server.url + "/score", content=b"1.0", timeout=30)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    try:
        wait_until_ready(server)
        caller = threading.Thread(target=call)
        caller.start()
        server.wait_for_output("run sleeping 1.0", timeout=10)
        code = server.stop(signal.SIGTERM, timeout=30)
        caller.join(timeout=30)
    finally:
        server.stop(signal.SIGKILL)
        server.remove_log()
    assert code == 0
    assert "error" not in outcome, outcome
    response = outcome["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.json()["slept"] == 1.0


def test_help_lists_the_reference_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scoreserver", "--help"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    for flag in (
        "--entry_script",
        "--model_dir",
        "--port",
        "--health_port",
        "--worker_count",
        "--appinsights_instrumentation_key",
        "--access_control_allow_origins",
        "--config_file",
    ):
        assert flag in result.stdout
