"""The public surface: scoreserver's __all__ and the compatibility modules scripts import."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import scoreserver
from scoreserver import cli
from scoreserver.logs import AMLLogFormatter, RootAccessFilter
from scoreserver.script.aml_request import AMLRequest, rawhttp
from scoreserver.script.aml_response import AMLResponse
from scoreserver.script.batching import batch


def test_scoreserver_public_api() -> None:
    assert scoreserver.__all__ == ["AMLRequest", "AMLResponse", "__version__", "batch", "rawhttp"]
    assert scoreserver.AMLRequest is AMLRequest
    assert scoreserver.AMLResponse is AMLResponse
    assert scoreserver.rawhttp is rawhttp
    assert scoreserver.batch is batch
    assert isinstance(scoreserver.__version__, str)
    assert scoreserver.__version__


@pytest.mark.parametrize(
    ("module", "exports"),
    [
        (
            "azureml_inference_server_http.api.aml_request",
            {"AMLRequest": AMLRequest, "rawhttp": rawhttp},
        ),
        ("azureml_inference_server_http.api.aml_response", {"AMLResponse": AMLResponse}),
        ("azureml.contrib.services.aml_request", {"AMLRequest": AMLRequest, "rawhttp": rawhttp}),
        ("azureml.contrib.services.aml_response", {"AMLResponse": AMLResponse}),
        (
            "azureml_inference_server_http.log_config",
            {"AMLLogFormatter": AMLLogFormatter, "RootAccessFilter": RootAccessFilter},
        ),
        ("azureml_inference_server_http.amlserver", {"main": cli.main}),
        ("azureml_inference_server_http", {"__version__": scoreserver.__version__}),
    ],
)
def test_compatibility_module_re_exports_the_projects_own_objects(
    module: str, exports: dict[str, object]
) -> None:
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(exports)
    for name, value in exports.items():
        assert getattr(imported, name) is value, name


def test_star_imports_give_exactly_the_exports() -> None:
    namespace: dict[str, object] = {}
    exec("from azureml_inference_server_http.api.aml_request import *", namespace)
    exec("from azureml.contrib.services.aml_response import *", namespace)
    assert sorted(k for k in namespace if not k.startswith("__")) == [
        "AMLRequest",
        "AMLResponse",
        "rawhttp",
    ]


def test_rawhttp_marks_the_function_and_returns_it() -> None:
    def run(request: object) -> object:
        return request

    assert rawhttp(run) is run
    assert run("x") == "x"


def test_importing_the_packages_has_no_side_effects() -> None:
    # Nothing happens at import: no logging set up, no sys.path or environment changes.
    code = """
import json, logging, os, sys
path, env = list(sys.path), dict(os.environ)
import scoreserver, scoreserver.cli, scoreserver.processes.server, scoreserver.processes.worker
import azureml_inference_server_http.amlserver, azureml_inference_server_http.api.aml_request
import azureml.contrib.services.aml_response
print(json.dumps({
    "path_same": sys.path == path,
    "env_same": dict(os.environ) == env,
    "root_handlers": len(logging.getLogger().handlers),
    "server_handlers": len(logging.getLogger("azmlinfsrv").handlers),
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == {
        "path_same": True,
        "env_same": True,
        "root_handlers": 0,
        "server_handlers": 0,
    }
    assert result.stderr == ""
