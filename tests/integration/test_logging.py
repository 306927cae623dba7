"""Logs: the line format in UTC, print() capture, access lines, and logging.json overrides."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli_support import (
    LOG_RECORD,
    SCRIPTS,
    access_lines,
    copy_script,
    records,
    scrubbed_environ,
    settled_access_count,
    wait_until,
)
from tests.integration.server import RunningServer, free_port, serving, wait_until_ready

LOGS = SCRIPTS / "cli_logs.py"
# A logging.json in the shape applications copy from the reference's documentation: it names the
# reference's formatter and filter classes by their import paths.
COMPAT_LOGGING_JSON = Path(__file__).parents[1] / "data" / "compat_logging.json"


@pytest.fixture(scope="module")
def logs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose script prints; the machine's time zone is far from UTC."""
    cwd = tmp_path_factory.mktemp("logs")
    with (
        scrubbed_environ(),
        serving(["--entry_script", str(LOGS)], env={"TZ": "Asia/Kolkata"}, cwd=cwd) as server,
    ):
        yield server


def _score(server: RunningServer, body: str) -> bytes:
    response = server.client().post("/score", content=body.encode())
    return response.content


def _wait_for_print(server: RunningServer, marker: str) -> str:
    """The output once run() has printed for the request whose body is marker."""
    return server.wait_for_output(f"run print {marker}")


def test_every_log_line_has_the_reference_format_in_utc(logs_server: RunningServer) -> None:
    _score(logs_server, "format")
    wait_until(lambda: len(access_lines(logs_server.output())) >= 1)
    lines = [line for line in logs_server.output().splitlines() if LOG_RECORD.match(line)]
    assert len(lines) >= 5
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for line in lines:
        match = LOG_RECORD.match(line)
        assert match is not None
        stamp = dt.datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f")
        # Asia/Kolkata is 5 h 30 min from UTC: a local-time stamp would be far off.
        assert abs((now - stamp).total_seconds()) < 120, line
    # After the banner, every line is a record, apart from what the script wrote to stderr.
    output = logs_server.output()
    # The banner ends with the blank line after its route list.
    banner_end = output.index("\n\n", output.index("Server Routes\n"))
    after_banner = output[banner_end:].splitlines()
    stray = [
        line
        for line in after_banner
        if line and not LOG_RECORD.match(line) and "to stderr" not in line
    ]
    assert stray == []
    # Logged at every start, App Insights on or off, as the reference does.
    assert [r.text for r in records(output) if r.logger == "azmlinfsrv"].count(
        "Starting up app insights client"
    ) == 1
    worker_lines = [r for r in records(output) if r.logger == "azmlinfsrv.user_script"]
    assert any(r.text.startswith("Found user script at ") for r in worker_lines)
    assert all(r.level == "I" for r in worker_lines)


def test_records_go_to_stdout_with_the_worker_pid(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "scoreserver", "--entry_script", str(LOGS), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    server = RunningServer(process=process, port=port, log_path=tmp_path / "unused.log")
    try:
        wait_until_ready(server)
        server.client().post("/score", content=b"streams")
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    out_records = records(stdout)
    found = next(r for r in out_records if r.text.startswith("Found user script at"))
    ready = next(r for r in out_records if r.text.startswith("Worker with pid "))
    assert found.pid != process.pid
    assert ready.text == f"Worker with pid {found.pid} ready for serving traffic"
    assert any(
        r.logger == "azmlinfsrv.print" and r.text == "run print streams" for r in out_records
    )
    assert not any(LOG_RECORD.match(line) for line in stderr.splitlines()), stderr
    assert "init to stderr" in stderr
    assert "run to stderr streams" in stderr
    assert "init to stderr" not in stdout


def test_print_in_init_is_logged_once_as_azmlinfsrv_print(logs_server: RunningServer) -> None:
    found = [r for r in records(logs_server.output()) if r.logger == "azmlinfsrv.print"]
    init_prints = [r for r in found if "init print" in r.text]
    assert [(r.level, r.text) for r in init_prints] == [("I", "init print | 1 | {'a': 1}")]
    assert logs_server.output().count("init print") == 1


def test_print_in_run_is_logged_once_as_azmlinfsrv_print(logs_server: RunningServer) -> None:
    _score(logs_server, "printing")
    output = _wait_for_print(logs_server, "printing")
    prints = [r for r in records(output) if "run print printing" in r.text]
    assert [(r.logger, r.level, r.text) for r in prints] == [
        ("azmlinfsrv.print", "I", "run print printing")
    ]
    assert output.count("run print printing") == 1


def test_print_to_stderr_is_left_alone(logs_server: RunningServer) -> None:
    _score(logs_server, "stderr")
    wait_until(lambda: "run to stderr stderr" in logs_server.output())
    lines = logs_server.output().splitlines()
    assert lines.count("init to stderr") == 1
    assert lines.count("run to stderr stderr") == 1
    assert not any(
        r.logger == "azmlinfsrv.print" and "to stderr" in r.text for r in records("\n".join(lines))
    )


def test_one_access_line_per_scored_request(logs_server: RunningServer) -> None:
    before = settled_access_count(logs_server)
    bodies = [_score(logs_server, f"access-{i}") for i in range(3)]
    wait_until(lambda: len(access_lines(logs_server.output())) >= before + 3)
    new = access_lines(logs_server.output())[before:]
    assert [(a["method"], a["path"], a["status"]) for a in new] == [("POST", "/score", "200")] * 3
    assert [a["length"] for a in new] == [str(len(b)) for b in bodies]


def test_access_line_shows_the_query_string(logs_server: RunningServer) -> None:
    before = settled_access_count(logs_server)
    logs_server.client().get("/score", params={"x": "1"})
    wait_until(lambda: len(access_lines(logs_server.output())) > before)
    line = access_lines(logs_server.output())[before]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/score?x=1", "200")


def test_liveness_probes_are_not_logged(logs_server: RunningServer) -> None:
    before = settled_access_count(logs_server)
    for _ in range(5):
        assert logs_server.client().get("/").status_code == 200
    _score(logs_server, "after-probes")
    wait_until(lambda: len(access_lines(logs_server.output())) > before)
    new = access_lines(logs_server.output())[before:]
    assert [(a["method"], a["path"]) for a in new] == [("POST", "/score")]


def test_streamed_response_is_logged_with_length_na(logs_server: RunningServer) -> None:
    before = settled_access_count(logs_server)
    body = _score(logs_server, "stream")
    wait_until(lambda: len(access_lines(logs_server.output())) > before)
    line = access_lines(logs_server.output())[before]
    assert body == b"chunk0\nchunk1\n"
    assert (line["status"], line["length"]) == ("200", "N/A")


def test_run_exception_traceback_is_logged(logs_server: RunningServer) -> None:
    before = settled_access_count(logs_server)
    response = logs_server.client().post("/score", content=b"raise")
    wait_until(lambda: len(access_lines(logs_server.output())) > before)
    line = access_lines(logs_server.output())[before]
    errors = [r for r in records(logs_server.output()) if "boom in run" in r.full]
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert (line["status"], line["length"]) == ("500", str(len(response.content)))
    assert len(errors) == 1
    assert errors[0].level == "E"
    assert errors[0].logger == "azmlinfsrv"
    assert "Traceback (most recent call last):" in errors[0].full
    assert "KeyError: 'boom in run'" in errors[0].full


# ---------------------------------------------------------------------------------------------
# logging.json

CUSTOM_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"c": {"format": "CUSTOM %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "h": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "c",
            "level": "DEBUG",
        }
    },
    "loggers": {"azmlinfsrv": {"level": "DEBUG", "handlers": ["h"], "propagate": False}},
}


def _custom_lines(server: RunningServer) -> str:
    server.client().post("/score", content=b"custom")
    return server.wait_for_output("CUSTOM INFO azmlinfsrv: POST /score 200")


def test_logging_json_in_app_root_replaces_the_logging_config(tmp_path: Path) -> None:
    (tmp_path / "logging.json").write_text(json.dumps(CUSTOM_CONFIG))
    with serving(["--entry_script", str(LOGS)], cwd=tmp_path) as server:
        output = _custom_lines(server)
    assert f"CUSTOM INFO azmlinfsrv.user_script: Found user script at {LOGS}" in output
    assert "CUSTOM INFO azmlinfsrv.print: run print custom" in output
    assert not any(r.logger.startswith("azmlinfsrv.user_script") for r in records(output))


def test_logging_json_next_to_the_entry_script(tmp_path: Path) -> None:
    script = copy_script("cli_logs.py", tmp_path / "app" / "score.py")
    (tmp_path / "app" / "logging.json").write_text(json.dumps(CUSTOM_CONFIG))
    (tmp_path / "cwd").mkdir()
    with serving(["--entry_script", str(script)], cwd=tmp_path / "cwd") as server:
        output = _custom_lines(server)
    assert f"CUSTOM INFO azmlinfsrv.user_script: Found user script at {script}" in output


def test_logging_json_copied_from_the_reference_still_works(tmp_path: Path) -> None:
    # Applications ship the reference's own logging.json, naming its formatter and filter classes.
    shutil.copyfile(COMPAT_LOGGING_JSON, tmp_path / "logging.json")
    with serving(["--entry_script", str(LOGS)], cwd=tmp_path) as server:
        server.client().post("/score", content=b"copied")
        output = server.wait_for_output("run print copied")
        wait_until(lambda: len(access_lines(server.output())) >= 1)
        output = server.output()
    assert any(
        r.logger == "azmlinfsrv.user_script" and r.text.startswith("Found user script")
        for r in records(output)
    )
    assert [(a["method"], a["path"], a["status"]) for a in access_lines(output)] == [
        ("POST", "/score", "200")
    ]


def test_a_requests_lines_are_in_the_log_the_moment_its_response_arrives(
    logs_server: RunningServer,
) -> None:
    before = settled_access_count(logs_server)
    with logs_server.client() as client:
        for i in range(40):
            marker = f"arrival{i}"
            assert client.post("/score", content=marker.encode()).status_code == 200
            # Read once, without polling, as the reference's scenario tests do.
            output = logs_server.output()
            assert f"azmlinfsrv.print - run print {marker}" in output
            assert len(access_lines(output)) == before + i + 1
        streamed = client.post("/score", content=b"stream")
        output = logs_server.output()
    assert streamed.text == "chunk0\nchunk1\n"
    last = access_lines(output)[-1]
    assert (last["method"], last["path"], last["status"], last["length"]) == (
        "POST",
        "/score",
        "200",
        "N/A",
    )


def test_a_log_level_that_is_no_level_logs_at_info_and_says_so(tmp_path: Path) -> None:
    # The reference starts whatever AZUREML_LOG_LEVEL says; a typo must not stop the server.
    env = {"AZUREML_LOG_LEVEL": "verbose"}
    with serving(["--entry_script", str(LOGS)], env=env, cwd=tmp_path) as server:
        scored = _score(server, "x")
        output = server.output()
    assert scored
    warning = (
        "azmlinfsrv - AZUREML_LOG_LEVEL 'VERBOSE' is not a logging level (DEBUG, INFO, "
        "WARNING, ERROR or CRITICAL): logging at INFO."
    )
    (line,) = [line for line in output.splitlines() if line.endswith(warning)]
    assert " W [" in line
    assert "POST /score 200" in output  # access lines are INFO


def test_a_model_directory_unset_or_missing_is_warned_at_start_as_in_the_reference(
    tmp_path: Path,
) -> None:
    warning = "azmlinfsrv.trace - Model directory is not set or does not exist: "
    for env, said in [
        ({}, warning),
        ({"AZUREML_MODEL_DIR": str(tmp_path / "nope")}, warning + str(tmp_path / "nope")),
        ({"AZUREML_MODEL_DIR": str(tmp_path)}, None),
    ]:
        with serving(["--entry_script", str(LOGS)], env=env, cwd=tmp_path) as server:
            output = server.output()
        lines = [line for line in output.splitlines() if warning in line]
        if said is None:
            assert lines == [], env
        else:
            (line,) = lines
            assert line.endswith(said) and " W [" in line, line
