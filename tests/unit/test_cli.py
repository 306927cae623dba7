"""The command-line parser: the reference's flags, its defaults, and its usage errors."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoreserver.cli import build_parser, export_script_environment, main
from scoreserver.settings import Settings

REFERENCE_FLAGS = {
    "entry_script": "--entry_script",
    "model_dir": "--model_dir",
    "port": "--port",
    "health_port": "--health_port",
    "worker_count": "--worker_count",
    "appinsights_instrumentation_key": "--appinsights_instrumentation_key",
    "access_control_allow_origins": "--access_control_allow_origins",
    "config_file": "--config_file",
}


def test_every_reference_flag_defaults_to_unset() -> None:
    args = build_parser().parse_args([])
    for dest in REFERENCE_FLAGS:
        assert getattr(args, dest) is None, dest


def test_reference_flags_parse_to_typed_values() -> None:
    args = build_parser().parse_args(
        [
            "--entry_script",
            "score.py",
            "--model_dir",
            "model",
            "--port",
            "8080",
            "--health_port",
            "8081",
            "--worker_count",
            "3",
            "--appinsights_instrumentation_key",
            "key",
            "--access_control_allow_origins",
            "http://a.com, http://b.com",
            "--config_file",
            "c.json",
        ]
    )
    assert args.entry_script == "score.py"
    assert args.model_dir == "model"
    assert args.port == 8080
    assert args.health_port == 8081
    assert args.worker_count == 3
    assert args.appinsights_instrumentation_key == "key"
    assert args.access_control_allow_origins == "http://a.com, http://b.com"
    assert args.config_file == "c.json"


@pytest.mark.parametrize("port", ["1", "65535"])
def test_port_range_ends_are_accepted(port: str) -> None:
    assert build_parser().parse_args(["--port", port, "--health_port", port]).port == int(port)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--port", "0"),
        ("--port", "65536"),
        ("--port", "70000"),
        ("--port", "-1"),
        ("--port", "abc"),
        ("--health_port", "0"),
        ("--health_port", "abc"),
        ("--worker_count", "0"),
        ("--worker_count", "-2"),
        ("--worker_count", "abc"),
    ],
)
def test_invalid_value_prints_usage_and_exits_1(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser("azmlinfsrv").parse_args([flag, value])
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: azmlinfsrv ")
    assert f"azmlinfsrv: error: argument {flag}" in err


def test_unknown_flag_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--bogus"])
    assert caught.value.code == 1
    assert "--bogus" in capsys.readouterr().err


def test_usage_names_the_program() -> None:
    assert build_parser("scoreserver").format_usage().startswith("usage: scoreserver ")


def test_help_describes_every_reference_flag() -> None:
    text = build_parser().format_help()
    for flag in REFERENCE_FLAGS.values():
        assert flag in text


# ---------------------------------------------------------------------------------------------
# What main() does before any server starts


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """main() configures logging for the process; put the loggers back afterwards."""
    names = [None, "azmlinfsrv", "azmlinfsrv.print", "gunicorn.access", "uvicorn.error"]
    saved = []
    for name in names:
        log = logging.getLogger(name)
        saved.append((log, log.handlers[:], log.level, log.propagate, log.disabled, log.filters[:]))
    yield
    for log, handlers, level, propagate, disabled, filters in saved:
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate
        log.disabled = disabled
        log.filters[:] = filters


NEITHER = (
    "Either provide an entry_script using --entry_script or provide a path to the "
    "configuration file using --config_file"
)


@pytest.mark.usefixtures("restore_logging")
def test_main_without_entry_script_or_config_file_names_both_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(["--port", "5999"])
    assert caught.value.code not in (0, None)
    captured = capsys.readouterr()
    assert NEITHER in captured.out + captured.err


@pytest.mark.usefixtures("restore_logging")
def test_main_ignores_an_entry_script_from_the_environment_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AZUREML_ENTRY_SCRIPT", str(tmp_path / "score.py"))
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code not in (0, None)
    captured = capsys.readouterr()
    assert NEITHER in captured.out + captured.err


SCRIPT_VARIABLES = (
    "AZUREML_ENTRY_SCRIPT",
    "AZUREML_MODEL_DIR",
    "AML_APP_ROOT",
    "AML_APP_INSIGHTS_ENABLED",
    "AML_APP_INSIGHTS_KEY",
)


@pytest.fixture
def script_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables export_script_environment sets are removed again after the test."""
    for name in SCRIPT_VARIABLES:
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("script_variables")
def test_script_environment_is_exported(tmp_path: Path) -> None:
    settings = Settings(
        entry_script=tmp_path / "score.py",
        model_dir="model",
        app_root=tmp_path,
        appinsights_enabled=True,
        appinsights_key="the-key",
    )
    export_script_environment(settings)
    assert os.environ["AZUREML_ENTRY_SCRIPT"] == str(tmp_path / "score.py")
    assert os.environ["AZUREML_MODEL_DIR"] == "model"
    assert os.environ["AML_APP_ROOT"] == str(tmp_path)
    assert os.environ["AML_APP_INSIGHTS_ENABLED"] == "true"
    assert os.environ["AML_APP_INSIGHTS_KEY"] == "the-key"


@pytest.mark.usefixtures("script_variables")
def test_unset_values_are_not_exported_and_telemetry_reads_false(tmp_path: Path) -> None:
    export_script_environment(Settings(entry_script=tmp_path / "score.py", app_root=tmp_path))
    assert "AZUREML_MODEL_DIR" not in os.environ
    assert "AML_APP_INSIGHTS_KEY" not in os.environ
    assert os.environ["AML_APP_INSIGHTS_ENABLED"] == "false"
