"""Logging: the reference's line format in UTC, logging.json, print() capture, tracebacks."""

from __future__ import annotations

import builtins
import datetime as dt
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoreserver.logs import (
    LOG_FORMAT,
    AccessLog,
    AMLLogFormatter,
    RootAccessFilter,
    configure_logging,
    find_logging_config,
    install_print_capture,
    log_exception,
)

# A logging.json in the shape applications copy from the reference's documentation: it names the
# reference's formatter and filter classes by their import paths.
COMPAT_LOGGING_JSON = Path(__file__).parents[1] / "data" / "compat_logging.json"
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWEC] \[\d+\] [\w.]+ - .*$",
)
LOGGERS = [None, "azmlinfsrv", "azmlinfsrv.print", "gunicorn.access", "uvicorn.error"]


@pytest.fixture(autouse=True)
def restore_logging_and_print() -> Iterator[None]:
    """These tests configure logging and replace print(); put both back afterwards."""
    saved = []
    for name in LOGGERS:
        log = logging.getLogger(name)
        saved.append((log, log.handlers[:], log.level, log.propagate, log.disabled, log.filters[:]))
    original_print = builtins.print
    yield
    builtins.print = original_print
    for log, handlers, level, propagate, disabled, filters in saved:
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate
        log.disabled = disabled
        log.filters[:] = filters


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process time zone is 5 h 30 min off UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_record(name: str, level: int, message: str, created: float) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, None, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


# ---------------------------------------------------------------------------------------------
# The formatter


@pytest.mark.posix  # time.tzset
@pytest.mark.usefixtures("far_from_utc")
def test_formatter_writes_the_reference_line_in_utc() -> None:
    created = dt.datetime(2026, 11, 25, 15, 34, 45, 500000, tzinfo=dt.timezone.utc).timestamp()
    record = make_record("azmlinfsrv", logging.INFO, "Scoring timeout is set to 500", created)
    line = AMLLogFormatter(LOG_FORMAT).format(record)
    assert line == (
        f"2026-11-25 15:34:45,500 I [{os.getpid()}] azmlinfsrv - Scoring timeout is set to 500"
    )


@pytest.mark.parametrize(
    ("level", "letter"),
    [
        (logging.DEBUG, "D"),
        (logging.INFO, "I"),
        (logging.WARNING, "W"),
        (logging.ERROR, "E"),
        (logging.CRITICAL, "C"),
    ],
)
def test_levels_are_one_letter(level: int, letter: str) -> None:
    line = AMLLogFormatter(LOG_FORMAT).format(make_record("x.y", level, "m", time.time()))
    assert line.split(" ")[2] == letter


def test_root_access_filter_drops_only_the_liveness_probe() -> None:
    probe = make_record("gunicorn.access", logging.INFO, "GET /", time.time())
    probe.path = "/"
    score = make_record("gunicorn.access", logging.INFO, "POST /score", time.time())
    score.path = "/score"
    plain = make_record("gunicorn.access", logging.INFO, "other", time.time())
    keep = RootAccessFilter()
    assert not keep.filter(probe)
    assert keep.filter(score)
    assert keep.filter(plain)


# ---------------------------------------------------------------------------------------------
# Configuration


def test_default_configuration_logs_reference_lines_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    logging.getLogger("azmlinfsrv").info("hello %s", "there")
    logging.getLogger("azmlinfsrv.user_script").info("from a child")
    logging.getLogger("azmlinfsrv").debug("hidden at INFO")
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2
    assert all(LINE.match(line) for line in lines)
    assert lines[0].endswith(" azmlinfsrv - hello there")
    assert lines[1].endswith(" azmlinfsrv.user_script - from a child")
    assert captured.err == ""


def test_logging_json_in_app_root_comes_before_the_one_next_to_the_script(
    tmp_path: Path,
) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "root" / "logging.json").write_text("{}")
    (tmp_path / "app" / "logging.json").write_text("{}")
    script = tmp_path / "app" / "score.py"
    assert find_logging_config(tmp_path / "root", script) == tmp_path / "root" / "logging.json"
    (tmp_path / "root" / "logging.json").unlink()
    assert find_logging_config(tmp_path / "root", script) == tmp_path / "app" / "logging.json"
    (tmp_path / "app" / "logging.json").unlink()
    assert find_logging_config(tmp_path / "root", script) is None
    assert find_logging_config(tmp_path / "root", None) is None


def test_access_line_is_the_same_on_the_direct_and_the_record_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    AccessLog().write("POST", "/score?x=1", 200, 1.23456, "28")
    logging.getLogger("azmlinfsrv").info("%s %s %d %.3fms %s", "GET", "/score", 404, 0.5, "N/A")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(LINE.match(line) for line in lines)
    pid = os.getpid()
    assert lines[0].endswith(f" I [{pid}] azmlinfsrv - POST /score?x=1 200 1.235ms 28")
    assert lines[1].endswith(f" I [{pid}] azmlinfsrv - GET /score 404 0.500ms N/A")


def test_access_line_follows_a_logging_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "version": 1,
        "formatters": {"c": {"format": "ACCESS %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "c"}
        },
        "loggers": {"azmlinfsrv": {"level": "INFO", "handlers": ["h"], "propagate": False}},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    configure_logging("INFO", path)
    AccessLog().write("POST", "/score", 500, 2.0, "92")
    out = capsys.readouterr().out
    assert "ACCESS INFO azmlinfsrv: POST /score 500 2.000ms 92\n" in out


def test_access_line_is_dropped_above_info(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    AccessLog().write("POST", "/score", 200, 1.0, "2")
    assert capsys.readouterr().out == ""


def test_logging_json_replaces_the_default_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"c": {"format": "CUSTOM %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "c"}
        },
        "loggers": {"azmlinfsrv": {"level": "DEBUG", "handlers": ["h"], "propagate": False}},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    configure_logging("INFO", path)
    logging.getLogger("azmlinfsrv").debug("debug shown")
    out = capsys.readouterr().out
    assert f"CUSTOM INFO azmlinfsrv: Loaded logging config from {path}\n" in out
    assert "CUSTOM DEBUG azmlinfsrv: debug shown\n" in out


def test_the_reference_logging_json_can_be_used_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", COMPAT_LOGGING_JSON)
    logging.getLogger("azmlinfsrv").warning("works")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].endswith(f" W [{os.getpid()}] azmlinfsrv - works")
    assert LINE.match(lines[-1])


# ---------------------------------------------------------------------------------------------
# print() capture


def test_print_to_stdout_becomes_an_azmlinfsrv_print_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    install_print_capture()
    print("init print", 1, {"a": 1}, sep=" | ")
    print("to stdout explicitly", file=sys.stdout)
    print("multi\nline")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].endswith(" azmlinfsrv.print - init print | 1 | {'a': 1}")
    assert LINE.match(lines[0])
    assert lines[1].endswith(" azmlinfsrv.print - to stdout explicitly")
    # One record, not split at the newline.
    assert lines[2].endswith(" azmlinfsrv.print - multi")
    assert lines[3] == "line"
    assert len(lines) == 4


def test_print_to_stderr_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    install_print_capture()
    print("to stderr", file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.err == "to stderr\n"
    assert captured.out == ""


def test_print_capture_installed_twice_logs_once(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    install_print_capture()
    install_print_capture()
    print("once")
    assert len(capsys.readouterr().out.splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# Tracebacks


def test_exception_is_logged_as_one_record_with_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    try:
        raise ValueError("bad value here")
    except ValueError as exc:
        log_exception(exc)
    out = capsys.readouterr().out
    first, *rest = out.splitlines()
    assert LINE.match(first)
    assert first.endswith(
        f" E [{os.getpid()}] azmlinfsrv - Encountered Exception: Traceback (most recent call last):"
    )
    assert "ValueError: bad value here" in rest
    assert not any(LINE.match(line) for line in rest)
