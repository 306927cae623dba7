"""Scripts written for azmlinfsrv import its request and response types; those imports work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_support import SCRIPTS
from tests.integration.server import serving


@pytest.mark.parametrize(
    ("script", "status", "marker"),
    [
        pytest.param("cli_compat_api.py", 201, "api", id="azureml_inference_server_http.api"),
        pytest.param("cli_compat_contrib.py", 202, "contrib", id="azureml.contrib.services"),
    ],
)
def test_script_using_the_compat_imports_serves(
    script: str, status: int, marker: str, tmp_path: Path
) -> None:
    with serving(["--entry_script", str(SCRIPTS / script)], cwd=tmp_path) as server:
        response = server.client().post("/score", json={"x": 1})
        queried = server.client().get("/score")
        output = server.output()
    assert response.status_code == status
    assert response.headers["x-compat"] == marker
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"method": "POST", "request_type": "AMLRequest"}
    assert queried.json()["method"] == "GET"
    assert "run() is decorated with @rawhttp" in output


def test_a_script_that_uses_flask_in_run_has_its_request_and_app(tmp_path: Path) -> None:
    # The reference runs run() inside Flask's request: jsonify and flask.request work there.
    with serving(["--entry_script", str(SCRIPTS / "flask_uses.py")], cwd=tmp_path) as server:
        scored = server.client().post(
            "/score", content=b'{"a": 1}', headers={"X-Asked": "yes", "Content-Type": "text/plain"}
        )
        predicted = server.client().post(
            "/v1/models/model:predict", json={"instances": [1]}, headers={"X-Asked": "v1"}
        )
    assert scored.status_code == 200, scored.text
    assert scored.headers["content-type"] == "application/json"
    assert scored.json() == {
        "data": '{"a": 1}',
        "header": "yes",
        "path": "/score",
        "app": "entry_module",
    }
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["header"] == "v1"
    assert predicted.json()["path"] == "/v1/models/model:predict"
