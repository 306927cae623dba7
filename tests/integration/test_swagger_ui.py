"""GET /swagger: the Swagger UI page and its assets, served by the server itself."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.cli_support import SCRIPTS
from tests.integration.server import serving

SCRIPT = SCRIPTS / "swagger_std.py"


def test_the_page_loads_this_servers_document_and_local_assets(tmp_path: Path) -> None:
    with (
        serving(["--entry_script", str(SCRIPT)], cwd=tmp_path) as server,
        server.client() as client,
    ):
        page = client.get("/swagger")
        css = client.get("/swagger/swagger-ui.css")
        bundle = client.get("/swagger/swagger-ui-bundle.js")
        icon = client.get("/swagger/favicon-32x32.png")
        document = client.get("/swagger.json?version=3").json()
        missing = client.get("/swagger/nothing.js")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'url: "swagger.json?version=3"' in page.text
    assert "validatorUrl: null" in page.text  # no badge fetched from the validator's host
    assert '<script src="swagger/swagger-ui-bundle.js">' in page.text
    assert "https://" not in page.text and "http://" not in page.text
    assert (css.status_code, css.headers["content-type"]) == (200, "text/css; charset=utf-8")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.content
    assert bundle.headers["content-type"] == "application/javascript; charset=utf-8"
    assert (icon.status_code, icon.content[:4]) == (200, b"\x89PNG")
    # The example Swagger UI fills in for /score is the schema sample of the document it loads.
    assert document["components"]["schemas"]["ServiceInput"]["example"] == {
        "text": "hello",
        "count": 1,
    }
    assert missing.status_code == 404


def test_the_page_can_be_turned_off(tmp_path: Path) -> None:
    env = {"SCORESERVER_SWAGGER_UI": "false"}
    with serving(["--entry_script", str(SCRIPT)], env=env, cwd=tmp_path) as server:
        page = httpx.get(server.url + "/swagger")
        asset = httpx.get(server.url + "/swagger/swagger-ui-bundle.js")
        document = httpx.get(server.url + "/swagger.json")
    assert (page.status_code, asset.status_code) == (404, 404)
    assert page.json()["message"]
    assert document.status_code == 200


def test_with_a_bearer_key_the_page_needs_it_as_swagger_json_does(tmp_path: Path) -> None:
    env = {"SCORESERVER_AUTH_KEY": "s3cret"}
    with serving(["--entry_script", str(SCRIPT)], env=env, cwd=tmp_path) as server:
        refused = httpx.get(server.url + "/swagger")
        refused_asset = httpx.get(server.url + "/swagger/swagger-ui.css")
        allowed = httpx.get(server.url + "/swagger", headers={"Authorization": "Bearer s3cret"})
    assert (refused.status_code, refused_asset.status_code) == (401, 401)
    assert "s3cret" not in refused.text
    assert allowed.status_code == 200
