"""The Swagger UI in a real browser: headless Chromium opens /swagger and runs /score from it.

Outside the default test run, because it needs the system's Chromium (.ci/run installs it and
playwright, then runs `python -m pytest browser_tests`). Playwright drives the system browser;
it never downloads one of its own.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Request, expect, sync_playwright
from tests.integration.cli_support import SCRIPTS
from tests.integration.server import serving

CHROMIUM = os.environ.get("SCORESERVER_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",  # as root, Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "swagger-ui.png"
TIMEOUT_MS = 30_000


def test_try_it_out_on_score_answers_200_without_leaving_the_machine(tmp_path: Path) -> None:
    requested: list[str] = []
    script = SCRIPTS / "swagger_std.py"
    with serving(["--entry_script", str(script)], cwd=tmp_path) as server, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile for every run
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 1100},
        )

        def record(request: Request) -> None:
            requested.append(request.url)

        browser.on("request", record)
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url + "/swagger")

        operation = page.locator(".opblock-post").filter(has_text="/score")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        body = operation.locator("textarea.body-param__text")
        # The example is the schema sample of run()'s @input_schema decorators.
        assert json.loads(body.input_value()) == {"text": "hello", "count": 1}
        operation.get_by_role("button", name="Execute").click()

        live = operation.locator(".live-responses-table")
        expect(live.locator("tr.response td.response-col_status")).to_have_text("200")
        expect(live.locator("tr.response td.response-col_description")).to_contain_text('"hello"')
        shot = tmp_path / "swagger-ui.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    if os.environ.get("SCORESERVER_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
    assert requested, "the browser made no request at all"
    outside = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    assert f"{server.url}/swagger.json?version=3" in requested
    assert f"{server.url}/score" in requested
