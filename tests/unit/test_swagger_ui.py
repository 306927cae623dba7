"""swagger_ui: which document the page shows, and the packaged assets it needs."""

from __future__ import annotations

from pathlib import Path

from scoreserver.http.swagger_ui import _ASSETS, SwaggerUI, bundled_assets
from tests.unit.test_openapi import documents


def _page(name: str, tmp_path: Path, title: str = "ML service") -> str:
    assets = bundled_assets()
    assert assets is not None
    return SwaggerUI(documents(name, tmp_path), assets, title).page().decode()


def test_the_page_shows_openapi_3_when_there_is_one(tmp_path: Path) -> None:
    assert 'url: "swagger.json?version=3"' in _page("std", tmp_path)


def test_a_script_described_only_in_3_1_gets_that_document(tmp_path: Path) -> None:
    assert 'url: "swagger.json?version=3.1"' in _page("only_31", tmp_path)


def test_the_title_is_the_service_name_escaped(tmp_path: Path) -> None:
    assert "<title>a &lt;b&gt; - Swagger UI</title>" in _page("std", tmp_path, "a <b>")


def test_every_asset_the_page_uses_is_in_the_package() -> None:
    assets = bundled_assets()
    assert assets is not None
    for name in _ASSETS:
        assert (assets / name).is_file(), name
