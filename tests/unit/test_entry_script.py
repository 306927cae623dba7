"""Loading score.py: finding init() and run(), the input mode, and refusing what cannot be served."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scoreserver.errors import EntryScriptError
from scoreserver.script.entry_script import (
    EntryScript,
    InputMode,
    failure_summary,
    load_entry_script,
    script_location,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

# What Python says of a missing colon: its wording changed in 3.10.
MISSING_COLON = "expected ':'" if sys.version_info >= (3, 10) else "invalid syntax"


pytestmark = pytest.mark.usefixtures("fresh_schema_registry")


def _load(name: str) -> EntryScript:
    return load_entry_script(SCRIPTS / name)


def test_plain_script_is_loaded_with_its_functions() -> None:
    script = _load("hello.py")
    assert script.path == SCRIPTS / "hello.py"
    assert script.mode is InputMode.PLAIN
    assert [p.name for p in script.parameters] == ["data"]
    assert script.wants_headers is False
    assert script.is_async is False
    assert script.run("x") == {"message": "Hello, World!"}


def test_init_is_not_called_by_loading() -> None:
    script = _load("cli_init_records.py")
    assert script.run("x") == {"init_calls": 0}
    script.call_init()
    assert script.run("x") == {"init_calls": 1}


def test_input_schema_script_takes_its_parameters_by_name() -> None:
    script = _load("cli_schema.py")
    assert script.mode is InputMode.SCHEMA
    assert [p.name for p in script.parameters] == ["text", "count"]
    assert script.parameters[1].default == 2
    assert script.wants_headers is True


def test_output_schema_alone_keeps_the_plain_mode() -> None:
    script = _load("cli_output_schema_only.py")
    assert script.mode is InputMode.PLAIN
    assert [p.name for p in script.parameters] == ["data"]


def test_rawhttp_is_seen_through_other_decorators() -> None:
    script = _load("cli_raw.py")
    assert script.mode is InputMode.RAW
    assert [p.name for p in script.parameters] == ["request"]


def test_request_headers_parameter_is_noticed_and_left_out_of_the_inputs() -> None:
    script = _load("cli_headers.py")
    assert script.wants_headers is True
    assert [p.name for p in script.parameters] == ["data"]


def test_async_run_is_noticed() -> None:
    assert _load("cli_async.py").is_async is True


def test_driver_module_run_is_called_instead_of_the_scripts_own() -> None:
    script = _load("cli_driver.py")
    assert script.run("x") == {"called": "driver_module.run", "data": "x"}
    script.call_init()
    assert script.module.INIT_CALLS == ["driver init"]


def test_script_is_registered_as_a_module_under_its_name() -> None:
    script = _load("cli_init_records.py")
    assert sys.modules["cli_init_records"] is script.module


def test_script_named_like_an_imported_module_does_not_replace_it(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return 7\n")
    import json

    script = load_entry_script(tmp_path / "json.py")
    assert script.run("x") == 7
    assert sys.modules["json"] is json


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cli_noinit.py", "does not have a init() function defined"),
        ("cli_norun.py", "does not have a run() function defined"),
        ("cli_run_varargs.py", "run() cannot accept positional-only arguments, *args, or **kwargs"),
        ("cli_run_varkw.py", "run() cannot accept positional-only arguments, *args, or **kwargs"),
        ("cli_run_posonly.py", "run() cannot accept positional-only arguments, *args, or **kwargs"),
        ("cli_run_noargs.py", "run() needs to accept an argument for input data"),
        (
            "cli_run_only_headers.py",
            'run() needs to accept an argument other than "request_headers"',
        ),
        ("cli_raw_schema.py", "run() cannot be decorated with both @rawhttp and @input_schema"),
    ],
)
def test_unservable_script_is_refused_with_the_reason(name: str, message: str) -> None:
    with pytest.raises(EntryScriptError) as caught:
        _load(name)
    assert message in caught.value.message
    assert str(SCRIPTS / name) in caught.value.message


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("cli_importerr.py", "ModuleNotFoundError: No module named 'nonexistent_module_xyz'"),
        ("cli_modraise.py", "ValueError: boom at import"),
    ],
)
def test_import_failure_carries_the_traceback(name: str, shown: str) -> None:
    with pytest.raises(EntryScriptError) as caught:
        _load(name)
    assert "Traceback (most recent call last):" in caught.value.message
    assert shown in caught.value.message
    assert name.removesuffix(".py") not in sys.modules


def test_syntax_error_carries_the_line(tmp_path: Path) -> None:
    path = tmp_path / "score.py"
    path.write_text("def init(:\n    pass\n")
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(path)
    assert "SyntaxError" in caught.value.message
    assert str(path) in caught.value.message


def test_missing_script_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(tmp_path / "missing.py")
    assert "No such file or directory" in caught.value.message
    assert str(tmp_path / "missing.py") in caught.value.message


def test_failing_init_carries_the_traceback() -> None:
    script = _load("cli_init_raises.py")
    with pytest.raises(EntryScriptError) as caught:
        script.call_init()
    assert "Traceback (most recent call last):" in caught.value.message
    assert "RuntimeError: boom in init" in caught.value.message
    assert caught.value.exit_code == 3


def test_init_raising_system_exit_is_a_failed_init(tmp_path: Path) -> None:
    path = tmp_path / "score.py"
    path.write_text("def init():\n    raise SystemExit(4)\n\n\ndef run(data):\n    return data\n")
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(path).call_init()
    assert "SystemExit" in caught.value.message


def test_location_of_a_failing_init_is_the_scripts_line(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(
        "import json\n\ndef init():\n    json.loads('{')\n\ndef run(data):\n    pass\n"
    )
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(script).call_init()
    # json's own frames are below the script's; the user's line is what is shown.
    assert script_location(caught.value, [tmp_path]) == f"{script}:4 (in init)"
    assert failure_summary(caught.value).startswith("json.decoder.JSONDecodeError: Expecting")


def test_location_of_a_syntax_error_is_the_line_that_does_not_parse(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text("def init():\n    pass\n\ndef run(data)\n    pass\n")
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(script)
    assert script_location(caught.value, [tmp_path]) == f"{script}:4"
    assert failure_summary(caught.value) == f"SyntaxError: {MISSING_COLON}"


def test_a_failure_outside_the_users_folders_has_no_location(tmp_path: Path) -> None:
    with pytest.raises(EntryScriptError) as caught:
        load_entry_script(tmp_path / "missing.py")
    assert script_location(caught.value, [tmp_path]) is None
    assert failure_summary(caught.value).startswith("No such file or directory")
