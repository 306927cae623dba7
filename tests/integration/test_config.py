"""Configuration: which source wins, where the config file is found, what the script sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_support import (
    SCRIPTS,
    copy_script,
    port_is_listening,
    records,
    run_cli,
    scrubbed_environ,
    serving_default_port,
)
from tests.integration.server import RunningServer, free_port, serving

ENVIRONMENT = SCRIPTS / "cli_environment.py"
VALID_KEY = "12345678-1234-1234-1234-123456789abc"


def _timeout_message(server: RunningServer) -> str:
    """Score a run() that sleeps 1 s; return the message of the timeout answer."""
    response = server.client().post("/score", content=b"sleep 1")
    assert response.status_code == 500, response.text
    return str(response.json()["message"])


def _write_json(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


# ---------------------------------------------------------------------------------------------
# Precedence: command line > environment > config file > defaults


def test_command_line_beats_environment(tmp_path: Path) -> None:
    args = ["--entry_script", str(ENVIRONMENT), "--access_control_allow_origins", "http://cli.com"]
    env = {"AML_CORS_ORIGINS": "http://env.com"}
    with serving(args, env=env, cwd=tmp_path) as server:
        from_cli = server.client().get("/", headers={"Origin": "http://cli.com"})
        from_env = server.client().get("/", headers={"Origin": "http://env.com"})
        output = server.output()
    assert from_cli.headers.get("access-control-allow-origin") == "http://cli.com"
    assert "access-control-allow-origin" not in from_env.headers
    assert "\nCORS for the specified origins: Enabling CORS for http://cli.com\n" in output


def test_command_line_beats_config_file(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"WORKER_COUNT": 2})
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", str(config), "--worker_count", "1"]
    with serving(args, cwd=tmp_path) as server:
        report = server.client().post("/score", content=b"env").json()
        output = server.output()
    assert "\nWorker Count: 1\n" in output
    # The script sees them as the reference exports them.
    assert report["env"]["WORKER_COUNT"] == "1"
    assert report["env"]["AZUREML_CONFIG_FILE"] == str(config)


def test_environment_beats_config_file(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"SCORING_TIMEOUT_MS": 5000})
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", str(config)]
    with serving(args, env={"SCORING_TIMEOUT_MS": "300"}, cwd=tmp_path) as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_config_file_beats_default(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"SCORING_TIMEOUT_MS": 300})
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", str(config)]
    with serving(args, cwd=tmp_path) as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_environment_beats_default(tmp_path: Path) -> None:
    env = {"WORKER_COUNT": "2", "WORKER_TIMEOUT": "42", "AZUREML_MODEL_DIR": "/tmp/mdl"}
    with serving(["--entry_script", str(ENVIRONMENT)], env=env, cwd=tmp_path) as server:
        report = server.client().post("/score", content=b"env").json()
        output = server.output()
    assert "\nWorker Count: 2\n" in output
    assert "\nWorker Timeout (seconds): 42\n" in output
    assert "\nModel Directory: /tmp/mdl\n" in output
    assert "AZUREML_MODEL_DIR' has not been set" not in output
    assert report["env"]["AZUREML_MODEL_DIR"] == "/tmp/mdl"


# ---------------------------------------------------------------------------------------------
# Finding the config file


def test_relative_config_file_flag_is_read_and_shown_absolute(tmp_path: Path) -> None:
    _write_json(tmp_path / "conf" / "cfg.json", {"SCORING_TIMEOUT_MS": 300})
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", "conf/cfg.json"]
    with serving(args, cwd=tmp_path) as server:
        message = _timeout_message(server)
        output = server.output()
    assert message == "Scoring timeout after 300 ms"
    assert f"\nConfig File: {tmp_path / 'conf' / 'cfg.json'}\n" in output


def test_config_file_from_azureml_config_file(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "elsewhere" / "cfg.json", {"SCORING_TIMEOUT_MS": 300})
    env = {"AZUREML_CONFIG_FILE": str(config)}
    with serving(["--entry_script", str(ENVIRONMENT)], env=env, cwd=tmp_path) as server:
        message = _timeout_message(server)
        output = server.output()
    assert message == "Scoring timeout after 300 ms"
    assert f"\nConfig File: {config}\n" in output


def test_config_json_in_aml_app_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write_json(root / "config.json", {"SCORING_TIMEOUT_MS": 300})
    (tmp_path / "cwd").mkdir()
    env = {"AML_APP_ROOT": str(root)}
    with serving(["--entry_script", str(ENVIRONMENT)], env=env, cwd=tmp_path / "cwd") as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_config_json_in_the_working_directory_when_no_app_root(tmp_path: Path) -> None:
    _write_json(tmp_path / "config.json", {"SCORING_TIMEOUT_MS": 300})
    with serving(["--entry_script", str(ENVIRONMENT)], cwd=tmp_path) as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_config_json_next_to_the_entry_script(tmp_path: Path) -> None:
    script = copy_script("cli_environment.py", tmp_path / "app" / "score.py")
    _write_json(tmp_path / "app" / "config.json", {"SCORING_TIMEOUT_MS": 300})
    (tmp_path / "cwd").mkdir()
    with serving(["--entry_script", str(script)], cwd=tmp_path / "cwd") as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_config_json_in_app_root_comes_before_the_one_next_to_the_script(tmp_path: Path) -> None:
    script = copy_script("cli_environment.py", tmp_path / "app" / "score.py")
    _write_json(tmp_path / "app" / "config.json", {"SCORING_TIMEOUT_MS": 700})
    _write_json(tmp_path / "root" / "config.json", {"SCORING_TIMEOUT_MS": 300})
    env = {"AML_APP_ROOT": str(tmp_path / "root")}
    with serving(["--entry_script", str(script)], env=env, cwd=tmp_path) as server:
        assert _timeout_message(server) == "Scoring timeout after 300 ms"


def test_config_file_can_name_the_entry_script(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"AZUREML_ENTRY_SCRIPT": str(SCRIPTS / "hello.py")})
    with serving(["--config_file", str(config)], cwd=tmp_path) as server:
        response = server.client().post("/score", content=b"{}")
    assert response.status_code == 200
    assert response.content == b'{"message": "Hello, World!"}'


def test_without_an_entry_script_main_py_in_the_app_root_is_served(tmp_path: Path) -> None:
    root = tmp_path / "root"
    copy_script("hello.py", root / "main.py")
    config = _write_json(tmp_path / "cfg.json", {"SCORING_TIMEOUT_MS": 300})
    env = {"AML_APP_ROOT": str(root)}
    with serving(["--config_file", str(config)], env=env, cwd=tmp_path) as server:
        response = server.client().post("/score", content=b"{}")
        output = server.output()
    assert response.content == b'{"message": "Hello, World!"}'
    assert "Entry Script Name: None" in output
    assert f"Found user script at {root / 'main.py'}" in output


def test_without_an_entry_script_or_main_py_the_start_fails_saying_so(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"SCORING_TIMEOUT_MS": 300})
    result, _ = run_cli(["--config_file", str(config), "--port", str(free_port())], cwd=tmp_path)
    assert result.returncode == 3
    errors = [r.full for r in records(result.stdout) if r.level == "E"]
    assert errors[0].startswith("No score script found. Expected score script main.py.")
    assert str(tmp_path) in errors[0]


def test_unknown_config_keys_give_one_warning_naming_them(tmp_path: Path) -> None:
    config = _write_json(
        tmp_path / "cfg.json",
        {"SCORING_TIMEOUT_MS": 300, "NOT_A_SETTING": 1, "ALSO_UNKNOWN": True},
    )
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", str(config)]
    with serving(args, cwd=tmp_path) as server:
        message = _timeout_message(server)
        found = records(server.output())
    # The known key still applies.
    assert message == "Scoring timeout after 300 ms"
    mentioning = [r for r in found if "NOT_A_SETTING" in r.full or "ALSO_UNKNOWN" in r.full]
    assert len(mentioning) == 1, mentioning
    assert mentioning[0].level == "W"
    assert "NOT_A_SETTING" in mentioning[0].full
    assert "ALSO_UNKNOWN" in mentioning[0].full


def test_known_config_keys_give_no_warning(tmp_path: Path) -> None:
    config = _write_json(tmp_path / "cfg.json", {"SCORING_TIMEOUT_MS": 300, "SERVICE_NAME": "x"})
    # A model directory too: without one the reference's own warning says so.
    args = ["--entry_script", str(ENVIRONMENT), "--config_file", str(config)]
    args += ["--model_dir", str(tmp_path)]
    with serving(args, cwd=tmp_path) as server:
        output = server.output()
    assert [r for r in records(output) if r.level == "W"] == []


# ---------------------------------------------------------------------------------------------
# What the script sees


@pytest.fixture(scope="module")
def relative_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Relative --entry_script and --model_dir, an invalid key, default AML_APP_ROOT (the cwd)."""
    cwd = tmp_path_factory.mktemp("relative")
    copy_script("cli_environment.py", cwd / "src" / "score.py")
    (cwd / "model").mkdir()
    (cwd / "approot_module.py").write_text("VALUE = 'from the app root'\n")
    (cwd / "extra").mkdir()
    (cwd / "extra" / "source_module.py").write_text("VALUE = 'from the source directory'\n")
    args = [
        "--entry_script",
        "src/score.py",
        "--model_dir",
        "model",
        "--appinsights_instrumentation_key",
        "bad",
    ]
    env = {"AZUREML_SOURCE_DIRECTORY": "extra"}
    with scrubbed_environ(), serving(args, env=env, cwd=cwd) as server:
        client = server.client()
        yield {
            "cwd": cwd,
            "report": client.post("/score", content=b"env").json(),
            "approot": client.post("/score", content=b"import approot_module"),
            "source": client.post("/score", content=b"import source_module"),
            "output": server.output(),
        }


def test_relative_entry_script_is_made_absolute(relative_start: dict[str, Any]) -> None:
    script = relative_start["cwd"] / "src" / "score.py"
    assert relative_start["report"]["env"]["AZUREML_ENTRY_SCRIPT"] == str(script)
    assert f"\nEntry Script Name: {script}\n" in relative_start["output"]


def test_model_dir_is_passed_as_given(relative_start: dict[str, Any]) -> None:
    assert relative_start["report"]["env"]["AZUREML_MODEL_DIR"] == "model"
    assert "\nModel Directory: model\n" in relative_start["output"]


def test_app_root_defaults_to_the_working_directory(relative_start: dict[str, Any]) -> None:
    assert relative_start["report"]["env"]["AML_APP_ROOT"] == str(relative_start["cwd"])
    assert relative_start["report"]["cwd"] == str(relative_start["cwd"])


def test_app_root_is_importable(relative_start: dict[str, Any]) -> None:
    response = relative_start["approot"]
    assert response.status_code == 200
    assert response.json() == {"module": "approot_module", "value": "from the app root"}


def test_source_directory_is_importable_relative_to_app_root(
    relative_start: dict[str, Any],
) -> None:
    response = relative_start["source"]
    assert response.status_code == 200
    assert response.json() == {"module": "source_module", "value": "from the source directory"}


def test_invalid_key_is_seen_by_the_script_with_telemetry_off(
    relative_start: dict[str, Any],
) -> None:
    env = relative_start["report"]["env"]
    assert env["AML_APP_INSIGHTS_ENABLED"] == "false"
    assert env["AML_APP_INSIGHTS_KEY"] == "bad"
    output = relative_start["output"]
    assert "Invalid Application Insights instrumentation key provided." in output
    assert "Application Insights has been disabled." in output


def test_environment_is_set_before_init_runs(relative_start: dict[str, Any]) -> None:
    init_env = next(
        json.loads(r.text.removeprefix("INIT-ENV "))
        for r in records(relative_start["output"])
        if r.logger == "azmlinfsrv.print" and r.text.startswith("INIT-ENV ")
    )
    assert init_env == relative_start["report"]["env"]


def test_explicit_app_root_and_valid_key_are_passed_to_the_script(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "rooted_module.py").write_text("VALUE = 42\n")
    (tmp_path / "cwd_module.py").write_text("VALUE = 7\n")
    args = ["--entry_script", str(ENVIRONMENT), "--appinsights_instrumentation_key", VALID_KEY]
    env = {"AML_APP_ROOT": str(root)}
    with serving(args, env=env, cwd=tmp_path) as server:
        report = server.client().post("/score", content=b"env").json()
        imported = server.client().post("/score", content=b"import rooted_module")
        # The working directory stays importable too, as under the reference's gunicorn.
        from_cwd = server.client().post("/score", content=b"import cwd_module")
    assert from_cwd.json() == {"module": "cwd_module", "value": 7}
    assert report["env"]["AML_APP_ROOT"] == str(root)
    assert report["env"]["AML_APP_INSIGHTS_ENABLED"] == "true"
    assert report["env"]["AML_APP_INSIGHTS_KEY"] == VALID_KEY
    assert report["env"]["AZUREML_MODEL_DIR"] is None
    assert imported.json() == {"module": "rooted_module", "value": 42}


def test_without_a_key_the_script_sees_telemetry_off(tmp_path: Path) -> None:
    with serving(["--entry_script", str(ENVIRONMENT)], cwd=tmp_path) as server:
        report = server.client().post("/score", content=b"env").json()
    assert report["env"]["AML_APP_INSIGHTS_ENABLED"] == "false"
    assert report["env"]["AML_APP_INSIGHTS_KEY"] is None


def test_appinsights_key_from_the_environment(tmp_path: Path) -> None:
    env = {"AML_APP_INSIGHTS_ENABLED": "true", "AML_APP_INSIGHTS_KEY": "bad"}
    with serving(["--entry_script", str(ENVIRONMENT)], env=env, cwd=tmp_path) as server:
        output = server.output()
    assert "Invalid Application Insights instrumentation key provided." in output
    assert "\nApplication Insights Key: AppInsights key provided\n" in output
    assert "\nApplication Insights Enabled: false\n" in output


def test_server_port_from_the_environment_is_ignored(tmp_path: Path) -> None:
    other = free_port()
    env = {"SERVER_PORT": str(other)}
    with serving_default_port(["--entry_script", str(ENVIRONMENT)], env=env) as server:
        healthy = httpx.get("http://127.0.0.1:5001/", timeout=5)
        other_listening = port_is_listening(other)
        output = server.output()
    assert healthy.status_code == 200
    assert not other_listening
    assert "\nServer Port: 5001\n" in output
