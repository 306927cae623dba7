"""check: exit codes, the printed report, and the JUnit XML document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from scoreserver.check import CaseResult, exit_code, render_report, write_junit
from scoreserver.settings import Settings

PASSED = CaseResult("load score.py and run init()", 0.5)
FAILED = CaseResult("teapot: POST /score", 0.25, "expected status 418, got 200: {}")
BROKEN = CaseResult("load score.py", 0.1, "Failed to import\nat /a/score.py:3", broken=True)


def test_exit_codes_are_distinct_and_broken_outranks_failed() -> None:
    assert exit_code([PASSED]) == 0
    assert exit_code([PASSED, FAILED]) == 4
    assert exit_code([BROKEN]) == 3
    assert exit_code([FAILED, BROKEN]) == 3


def test_the_report_shows_each_check_and_failures_in_full() -> None:
    script = Path("/a/score.py")  # shown as the system writes it: \\a\\score.py on Windows
    settings = Settings(entry_script=script)
    report = render_report(settings, [PASSED, FAILED, BROKEN])
    assert report.splitlines() == [
        f"scoreserver check: {script}",
        "  ok    load score.py and run init() (0.500 s)",
        "  FAIL  teapot: POST /score (0.250 s)",
        "        expected status 418, got 200: {}",
        "  ERROR load score.py (0.100 s)",
        "        Failed to import",
        "        at /a/score.py:3",
        "1 passed, 2 failed (0.850 s)",
    ]


def test_junit_xml(tmp_path: Path) -> None:
    path = tmp_path / "out" / "junit.xml"
    write_junit([PASSED, FAILED, BROKEN], path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib == {
        "name": "scoreserver check",
        "tests": "3",
        "failures": "1",
        "errors": "1",
        "time": "0.850",
    }
    cases = list(suite.iter("testcase"))
    assert [c.get("name") for c in cases] == [PASSED.name, FAILED.name, BROKEN.name]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.text == FAILED.failure
    error = cases[2].find("error")
    assert error is not None
    assert (error.get("message"), error.text) == ("Failed to import", BROKEN.failure)
