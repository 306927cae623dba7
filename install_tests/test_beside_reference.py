"""scoreserver and azureml-inference-server-http in one environment, by real pip, in every order.

Each step is what a user does (install, upgrade, force-reinstall, uninstall); after each, no file
of either distribution is gone, replaced or shared, and whichever server is left serves a score.py
that takes AMLResponse and rawhttp from the legacy import paths.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.integration.cli_support import SCRIPTS
from tests.integration.server import serving

from install_tests.environment import Environment

REFERENCE = "azureml-inference-server-http"
REFERENCE_PIN = f"{REFERENCE}==1.5.1"
LEGACY_SCORE = SCRIPTS / "cli_legacy_classes.py"
SERVED_BY_US = "Served by scoreserver"
BESIDE = f"{REFERENCE} 1.5.1 is installed here too: `azmlinfsrv` runs it and `scoreserver` runs scoreserver"

# It owns azureml/__init__.py, a pkgutil-style namespace that scoreserver's azureml/ must join.
AZUREML_CORE = "azureml-core==1.61.0.post4"

REFERENCE_CLASSES = {
    "response_module": "azureml_inference_server_http.api.aml_response",
    "request_module": "azureml_inference_server_http.api.aml_request",
    "contrib_is_the_same_class": True,
}
OUR_CLASSES = {
    "response_module": "scoreserver.script.aml_response",
    "request_module": "scoreserver.script.aml_request",
    "contrib_is_the_same_class": True,
}


def _score(
    env: Environment, command: list[str], cwd: Path, script: Path = LEGACY_SCORE
) -> tuple[httpx.Response, str]:
    """Start command on a score.py, POST to it, and return the answer and the output."""
    # Nothing from the environment running the tests may leak into the one under test.
    isolated = {"PYTHONPATH": "", "VIRTUAL_ENV": str(env.root)}
    with serving(["--entry_script", str(script)], env=isolated, cwd=cwd, command=command) as server:
        response = server.client().post("/score", content=b"hello")
        output = server.output()
    return response, output


def _assert_legacy_script_served(response: httpx.Response, classes: dict[str, object]) -> None:
    assert response.status_code == 201, response.text
    assert response.headers["x-legacy"] == "yes"
    assert response.json() == {"method": "POST", "data": "hello", **classes}


def _version_of(wheel: Path) -> str:
    """The version in a wheel's file name."""
    return wheel.name.split("-")[1]


def _assert_files_intact(env: Environment) -> None:
    found = env.file_problems("scoreserver", REFERENCE, AZUREML_CORE.partition("==")[0])
    assert found == {"problems": [], "shared": []}


def _assert_scoreserver_serves(env: Environment, cwd: Path, classes: dict[str, object]) -> str:
    response, output = _score(env, [str(env.bin("scoreserver"))], cwd)
    _assert_legacy_script_served(response, classes)
    assert SERVED_BY_US in output
    return output


def _assert_reference_serves_azmlinfsrv(env: Environment, cwd: Path) -> None:
    response, output = _score(env, [str(env.bin("azmlinfsrv"))], cwd)
    _assert_legacy_script_served(response, REFERENCE_CLASSES)
    assert SERVED_BY_US not in output


def _assert_both_arranged(env: Environment, cwd: Path, reference: str = "1.5.1") -> None:
    """Both installed: scoreserver serves the reference's classes and says how the two sit."""
    beside = BESIDE.replace("1.5.1", reference)
    _assert_files_intact(env)
    output = _assert_scoreserver_serves(env, cwd, REFERENCE_CLASSES)
    assert output.count(beside) == 1
    _assert_reference_serves_azmlinfsrv(env, cwd)
    version = env.run("scoreserver", "--version")
    assert version.returncode == 0
    assert beside in version.stdout


def test_reference_first_then_scoreserver_reinstalls_and_reference_removed(
    tmp_path: Path, wheel: Path
) -> None:
    env = Environment.create(tmp_path / "venv")
    env.pip("install", "-q", REFERENCE_PIN)
    env.pip("install", "-q", str(wheel))
    _assert_both_arranged(env, tmp_path)

    # What upgrading azureml-defaults does to the reference: its files written again.
    env.pip("install", "-q", "--force-reinstall", "--no-deps", REFERENCE_PIN)
    _assert_both_arranged(env, tmp_path)

    env.pip("install", "-q", "--force-reinstall", "--no-deps", str(wheel))
    _assert_both_arranged(env, tmp_path)

    env.pip("uninstall", "-y", "-q", REFERENCE)
    assert not env.installed(REFERENCE)
    _assert_files_intact(env)
    output = _assert_scoreserver_serves(env, tmp_path, OUR_CLASSES)
    assert BESIDE not in output
    # The legacy module path to start the server is scoreserver's now.
    response, output = _score(
        env, [env.python, "-m", "azureml_inference_server_http.amlserver"], tmp_path
    )
    _assert_legacy_script_served(response, OUR_CLASSES)
    assert SERVED_BY_US in output
    # azmlinfsrv left with the reference, and scoreserver says so.
    assert not env.bin("azmlinfsrv").exists()
    version = env.run("scoreserver", "--version")
    assert "scoreserver installs no `azmlinfsrv` command" in version.stdout

    # Only the package that owns the azureml namespace (none of its dependencies are needed for it).
    env.pip("install", "-q", "--no-deps", AZUREML_CORE)
    _assert_files_intact(env)
    contrib = SCRIPTS / "cli_compat_contrib.py"
    response, output = _score(env, [str(env.bin("scoreserver"))], tmp_path, script=contrib)
    assert response.status_code == 202, output
    assert response.headers["x-compat"] == "contrib"
    assert response.json() == {"method": "POST", "request_type": "AMLRequest"}


def test_scoreserver_first_then_reference_both_upgraded_then_scoreserver_removed(
    tmp_path: Path, wheel: Path, newer_wheel: Path
) -> None:
    env = Environment.create(tmp_path / "venv")
    env.pip("install", "-q", str(wheel))
    _assert_files_intact(env)
    _assert_scoreserver_serves(env, tmp_path, OUR_CLASSES)

    env.pip("install", "-q", f"{REFERENCE}==1.5.0")
    _assert_both_arranged(env, tmp_path, reference="1.5.0")

    env.pip("install", "-q", "--upgrade", REFERENCE_PIN)
    _assert_both_arranged(env, tmp_path)

    env.pip("install", "-q", "--upgrade", str(newer_wheel))
    assert f"scoreserver {_version_of(newer_wheel)}\n" in env.run("scoreserver", "--version").stdout
    _assert_both_arranged(env, tmp_path)

    env.pip("uninstall", "-y", "-q", "scoreserver")
    assert not env.installed("scoreserver")
    _assert_files_intact(env)
    assert not env.bin("scoreserver").exists()
    assert not list(env.root.glob("lib/python*/site-packages/scoreserver*"))
    _assert_reference_serves_azmlinfsrv(env, tmp_path)
