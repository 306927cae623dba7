"""The legacy import paths: found after everything installed, and the reference's @rawhttp flag."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from scoreserver.legacy_imports import (
    LEGACY_MODULES,
    REFERENCE_REQUEST_MODULE,
    reference_rawhttp_requested,
)
from scoreserver.script.entry_script import InputMode, describe_run

STANDIN = Path(__file__).resolve().parents[1] / "data" / "reference_standin"

_IMPORT_AFTER_MAKING_AVAILABLE = """
import json, sys
legacy = sys.argv[1]
sys.path[:] = [p for p in sys.path if p != legacy]
try:
    import azureml_inference_server_http
    before = azureml_inference_server_http.__file__
except ImportError:
    before = None
from scoreserver.legacy_imports import make_legacy_imports_available
make_legacy_imports_available()
make_legacy_imports_available()
from azureml_inference_server_http.api.aml_response import AMLResponse
print(json.dumps({
    "before": before,
    "entries": sys.path.count(legacy),
    "last": sys.path[-1] == legacy,
    "response_module": AMLResponse.__module__,
}))
"""


def _import_in_child(pythonpath: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_AFTER_MAKING_AVAILABLE, str(LEGACY_MODULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": pythonpath},
    )
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_the_legacy_modules_are_appended_once_and_then_importable() -> None:
    assert _import_in_child("") == {
        "before": None,
        "entries": 1,
        "last": True,
        "response_module": "scoreserver.script.aml_response",
    }


def test_an_installed_reference_wins_over_the_legacy_modules() -> None:
    found = _import_in_child(str(STANDIN))
    assert found["response_module"] == "azureml_inference_server_http.api.aml_response"
    assert str(found["before"]).startswith(str(STANDIN))


def test_the_references_rawhttp_flag_is_read_from_its_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType(REFERENCE_REQUEST_MODULE)
    monkeypatch.setitem(sys.modules, REFERENCE_REQUEST_MODULE, module)
    assert not reference_rawhttp_requested()
    module._rawHttpRequested = False  # type: ignore[attr-defined]
    assert not reference_rawhttp_requested()
    module._rawHttpRequested = True  # type: ignore[attr-defined]
    assert reference_rawhttp_requested()


def test_run_is_raw_when_the_reference_decorator_was_applied(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def run(request: object) -> object:
        return request

    script = types.ModuleType("score")
    assert describe_run(tmp_path, script, None, run).mode is InputMode.PLAIN
    flagged = types.ModuleType(REFERENCE_REQUEST_MODULE)
    flagged._rawHttpRequested = True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, REFERENCE_REQUEST_MODULE, flagged)
    assert describe_run(tmp_path, script, None, run).mode is InputMode.RAW
