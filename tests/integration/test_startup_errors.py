"""Scripts the server cannot serve: the reason in the output, exit code 3, and no hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_support import SCRIPTS, port_is_listening, run_cli
from tests.integration.server import free_port

SCRIPT_FAILURE_EXIT = 3
# The reference exits about 0.6 s after start; anything near a hang is a failure.
PROMPT_S = 10.0


def _start(script: Path, tmp_path: Path, *extra: str) -> tuple[int, str, float, int]:
    port = free_port()
    result, elapsed = run_cli(
        ["--entry_script", str(script), "--port", str(port), *extra], cwd=tmp_path, timeout=30
    )
    return result.returncode, result.stdout + result.stderr, elapsed, port


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param("cli_importerr.py", ["Traceback", "No module named 'nonexistent_module_xyz'"]),
        pytest.param("cli_modraise.py", ["Traceback", "ValueError: boom at import"]),
        pytest.param("cli_noinit.py", ["does not have a init() function defined"]),
        pytest.param("cli_norun.py", ["does not have a run() function defined"]),
        pytest.param(
            "cli_run_varargs.py",
            ["run() cannot accept positional-only arguments, *args, or **kwargs"],
        ),
        pytest.param(
            "cli_run_varkw.py",
            ["run() cannot accept positional-only arguments, *args, or **kwargs"],
        ),
        pytest.param(
            "cli_run_posonly.py",
            ["run() cannot accept positional-only arguments, *args, or **kwargs"],
        ),
        pytest.param("cli_run_noargs.py", ["run() needs to accept an argument for input data"]),
        pytest.param(
            "cli_run_only_headers.py",
            ['run() needs to accept an argument other than "request_headers"'],
        ),
        pytest.param(
            "cli_raw_schema.py", ["run() cannot be decorated with both @rawhttp and @input_schema"]
        ),
        pytest.param(
            "cli_init_raises.py",
            ["Traceback", "RuntimeError: boom in init", "cli_init_raises.py"],
        ),
    ],
)
def test_unusable_script_exits_3_with_the_reason(
    script: str, expected: list[str], tmp_path: Path
) -> None:
    code, output, elapsed, port = _start(SCRIPTS / script, tmp_path)
    assert code == SCRIPT_FAILURE_EXIT, output
    for text in expected:
        assert text in output
    assert elapsed < PROMPT_S
    assert not port_is_listening(port)


def test_syntax_error_exits_3_with_the_traceback(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text("def init(:\n    pass\n\n\ndef run(data):\n    return data\n")
    code, output, elapsed, _ = _start(script, tmp_path)
    assert code == SCRIPT_FAILURE_EXIT, output
    assert "SyntaxError" in output
    assert str(script) in output
    assert elapsed < PROMPT_S


def test_missing_script_exits_3_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "score.py"
    code, output, elapsed, _ = _start(missing, tmp_path)
    assert code == SCRIPT_FAILURE_EXIT, output
    assert "No such file or directory" in output
    assert str(missing) in output
    assert elapsed < PROMPT_S


def test_failing_init_with_several_workers_still_exits_3_promptly(tmp_path: Path) -> None:
    code, output, elapsed, port = _start(
        SCRIPTS / "cli_init_raises.py", tmp_path, "--worker_count", "2"
    )
    assert code == SCRIPT_FAILURE_EXIT, output
    assert "RuntimeError: boom in init" in output
    assert elapsed < PROMPT_S
    assert not port_is_listening(port)
