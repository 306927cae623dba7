"""Which server is serving, and score.py's legacy imports when azureml-inference-server-http is there.

tests/data/reference_standin stands in for an installed reference (its distribution metadata and
the modules score.py files import, with the reference's ways: @rawhttp sets a module flag, its
AMLResponse is its own class). install_tests/ does the same with the real reference and pip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scoreserver import __version__
from tests.integration.cli_support import SCRIPTS, bin_command
from tests.integration.server import serving

STANDIN = Path(__file__).resolve().parents[1] / "data" / "reference_standin"
LEGACY_CLASSES = SCRIPTS / "cli_legacy_classes.py"
SERVED_BY = f"Served by scoreserver {__version__}, not by azureml-inference-server-http"
BESIDE = "azureml-inference-server-http 1.5.1 is installed here too: `azmlinfsrv` runs it"


def _post(env: dict[str, str], tmp_path: Path) -> tuple[object, dict[str, object], str]:
    with serving(["--entry_script", str(LEGACY_CLASSES)], env=env, cwd=tmp_path) as server:
        response = server.client().post("/score", content=b"hello")
        output = server.output()
    assert response.status_code == 201, response.text
    assert response.headers["x-legacy"] == "yes"
    return response.headers["content-type"], response.json(), output


def _answer(response_module: str, request_module: str) -> dict[str, object]:
    """What cli_legacy_classes.py answers when its legacy imports gave these classes."""
    return {
        "method": "POST",
        "data": "hello",
        "response_module": response_module,
        "request_module": request_module,
        "contrib_is_the_same_class": True,
    }


def test_without_the_reference_legacy_imports_are_scoreserver_own(tmp_path: Path) -> None:
    content_type, body, output = _post({}, tmp_path)
    assert content_type == "application/json"
    assert body == _answer("scoreserver.script.aml_response", "scoreserver.script.aml_request")
    assert SERVED_BY in output
    assert "is installed here too" not in output


def test_beside_the_reference_its_own_classes_and_rawhttp_are_served(tmp_path: Path) -> None:
    # On PYTHONPATH the stand-in comes before site-packages, as an installed reference comes
    # before scoreserver's legacy modules.
    content_type, body, output = _post({"PYTHONPATH": str(STANDIN)}, tmp_path)
    assert content_type == "application/json"
    assert body == _answer(
        "azureml_inference_server_http.api.aml_response",
        "azureml_inference_server_http.api.aml_request",
    )
    assert SERVED_BY in output
    assert output.count(BESIDE) == 1
    assert "run() is decorated with @rawhttp" in output


@pytest.mark.parametrize(
    ("pythonpath", "arrangement"),
    [
        pytest.param("", "is not installed here", id="alone"),
        pytest.param(str(STANDIN), BESIDE, id="beside-the-reference"),
    ],
)
def test_version_names_the_implementation_and_the_arrangement(
    pythonpath: str, arrangement: str
) -> None:
    result = subprocess.run(
        [*bin_command("scoreserver"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath},
    )
    assert result.returncode == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"scoreserver {__version__}", SERVED_BY]
    assert len(lines) == 3
    assert arrangement in lines[2]
