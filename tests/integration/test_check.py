"""`scoreserver check`: the real command validates a score.py in-process, for CI gates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import REPOSITORY
from tests.integration.cli_support import SCRIPTS, bin_command, copy_script, run_cli

SCHEMA = SCRIPTS / "swagger_std.py"
DOUBLER = SCRIPTS / "check_doubler.py"


def _check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result, _took = run_cli(["check", *args], cwd=cwd)
    return result


def _report(result: subprocess.CompletedProcess[str]) -> str:
    """The printed report, after the script's log lines."""
    return result.stdout[result.stdout.index("scoreserver check:") :]


def _requests(path: Path, entries: object) -> Path:
    path.write_text(json.dumps(entries))
    return path


def test_the_schema_sample_passes_and_the_report_says_what_ran(tmp_path: Path) -> None:
    result = _check("--entry_script", str(SCHEMA), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(result)
    assert "ok    load swagger_std.py and run init()" in report
    assert "ok    swagger (versions 2, 3, 3.1)" in report
    assert "ok    schema sample: POST /score" in report
    assert "3 passed, 0 failed" in report
    # The sample really went through the server's scoring path: its access line is logged.
    assert "POST /score 200" in result.stdout


def test_request_files_pass_and_fail_with_the_scripts_line(tmp_path: Path) -> None:
    requests = _requests(
        tmp_path / "requests.json",
        [
            {"name": "doubles", "body": {"x": 2}, "expect": {"body": {"doubled": 4}}},
            {"name": "wrong sum", "body": {"x": 2}, "expect": {"body": {"doubled": 5}}},
            {"name": "no x", "body": {"y": 2}},
            {"name": "bad json", "body": "{", "expect": {"status": 500}},
            {"name": "probe", "method": "GET", "path": "/", "expect": {"body": "Healthy"}},
        ],
    )
    result = _check("--entry_script", str(DOUBLER), "--request", str(requests), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    report = _report(result)
    assert "ok    doubles: POST /score" in report
    assert 'expected body {"doubled": 5}, got {"doubled": 4}' in report
    assert "FAIL  no x: POST /score" in report
    assert "run() raised KeyError: 'x'" in report
    assert f"at {DOUBLER}:13 (in run)" in report
    assert "ok    bad json: POST /score" in report
    assert "ok    probe: GET /" in report
    assert "5 passed, 2 failed" in report


def test_a_batched_run_that_raises_fails_with_the_scripts_line(tmp_path: Path) -> None:
    script = SCRIPTS / "batch_outcomes.py"
    requests = _requests(
        tmp_path / "requests.json",
        [
            {"name": "one", "body": {"kind": "plain"}},
            {"name": "whole batch", "body": {"kind": "raise"}},
        ],
    )
    result = _check("--entry_script", str(script), "--request", str(requests), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    report = _report(result)
    assert "ok    one: POST /score" in report
    assert "FAIL  whole batch: POST /score" in report
    assert "run() raised RuntimeError: the whole batch failed" in report
    assert f"at {script}:25 (in run)" in report


def test_a_result_of_another_type_than_the_output_sample_fails(tmp_path: Path) -> None:
    result = _check("--entry_script", str(SCRIPTS / "check_wrong_output.py"), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "the result is object, the output schema says array" in result.stdout


def test_a_script_that_does_not_import_is_broken_with_its_line(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text("def init():\n    pass\n\ndef run(data)\n    return data\n")
    junit = tmp_path / "reports" / "check.xml"
    result = _check("--entry_script", str(script), "--junit-xml", str(junit), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ERROR load score.py" in result.stdout
    assert f"at {script}:4" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")
    error = suite.find("testcase/error")
    assert error is not None
    assert "Failed to import user script" in (error.get("message") or "")


def test_a_batched_run_the_server_refuses_is_broken_not_a_traceback(tmp_path: Path) -> None:
    # Another decorator between @input_schema and @scoreserver.batch: the server refuses it at
    # start (exit 3), so check reports it, exit 3, with its JUnit file.
    script = tmp_path / "score.py"
    script.write_text(
        "import functools\n"
        "import scoreserver\n"
        "from inference_schema.schema_decorators import input_schema\n"
        "from inference_schema.parameter_types.standard_py_parameter_type import (\n"
        "    StandardPythonParameterType,\n"
        ")\n\n"
        "def deco(f):\n"
        "    @functools.wraps(f)\n"
        "    def wrapper(*a, **k):\n"
        "        return f(*a, **k)\n"
        "    return wrapper\n\n"
        "def init():\n"
        "    pass\n\n"
        '@input_schema("a", StandardPythonParameterType(1))\n'
        "@deco\n"
        "@scoreserver.batch(max_batch_size=4)\n"
        "def run(a):\n"
        "    return a\n"
    )
    junit = tmp_path / "check.xml"
    result = _check("--entry_script", str(script), "--junit-xml", str(junit), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "ERROR serve run()" in result.stdout
    assert "wrapped in a way scoreserver cannot batch" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


def test_metrics_and_liveness_answer_in_check_as_in_the_server(tmp_path: Path) -> None:
    requests = _requests(
        tmp_path / "routes.json",
        [
            {"name": "liveness", "method": "GET", "path": "/"},
            {"name": "metrics", "method": "GET", "path": "/metrics"},
        ],
    )
    result = _check("--entry_script", str(DOUBLER), "--request", str(requests), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    metrics: GET /metrics" in _report(result)


def test_a_junit_path_that_cannot_be_written_is_said_so(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for target in (tmp_path, tmp_path / "afile" / "x.xml"):  # a folder; under a file
        result = _check("--entry_script", str(DOUBLER), "--junit-xml", str(target), cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert f"Cannot write the JUnit report to {target}" in result.stdout + result.stderr


def test_init_that_raises_is_broken(tmp_path: Path) -> None:
    script = SCRIPTS / "cli_init_raises.py"
    result = _check("--entry_script", str(script), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"at {script}:5 (in init)" in result.stdout


def test_junit_xml_lists_every_check_with_its_failure(tmp_path: Path) -> None:
    requests = _requests(tmp_path / "r.json", {"name": "teapot", "expect": {"status": 418}})
    junit = tmp_path / "check.xml"
    result = _check(
        "--entry_script", str(DOUBLER), "--request", str(requests), "--junit-xml", str(junit),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 4, result.stdout + result.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {
        "load check_doubler.py and run init()",
        "swagger (versions 2, 3, 3.1)",
        "teapot: POST /score",
    }
    failure = cases["teapot: POST /score"].find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith("expected status 418, got 500")


def test_a_request_file_that_is_not_the_format_is_a_usage_error(tmp_path: Path) -> None:
    requests = _requests(tmp_path / "r.json", {"metod": "POST"})
    result = _check("--entry_script", str(DOUBLER), "--request", str(requests), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown key(s) metod" in result.stdout


def test_check_never_opens_a_port(tmp_path: Path) -> None:
    # run() answers with the ports its own process listens on, through the check itself.
    requests = _requests(tmp_path / "r.json", {"body": "{}", "expect": {"body": []}})
    script = SCRIPTS / "check_listening.py"
    result = _check("--entry_script", str(script), "--request", str(requests), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scoreserver_command_runs_check_with_the_model_dir(tmp_path: Path) -> None:
    script = copy_script("cli_environment.py", tmp_path / "score.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [*bin_command("scoreserver"), "check", "--entry_script", str(script),
         "--model_dir", "models/v1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"AZUREML_MODEL_DIR": "models/v1"' in result.stdout


def test_the_readme_request_file_passes_on_the_sklearn_example(tmp_path: Path) -> None:
    readme = (REPOSITORY / "README.md").read_text()
    section = readme[readme.index("A request file holds") :]
    start = section.index("```json\n") + len("```json\n")
    example = section[start : section.index("\n```", start)]
    requests = tmp_path / "requests.json"
    requests.write_text(example)
    model_dir = tmp_path / "model"
    train = REPOSITORY / "examples" / "sklearn" / "train.py"
    subprocess.run([sys.executable, str(train), str(model_dir)], check=True, capture_output=True)
    script = REPOSITORY / "examples" / "sklearn" / "score.py"
    result = _check(
        "--entry_script", str(script), "--model_dir", str(model_dir), "--request", str(requests),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed, 0 failed" in result.stdout
