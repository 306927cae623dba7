"""server: the supervisor stays small, so what it imports is pinned."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_supervisor_loads_no_web_stack_and_no_event_loop() -> None:
    # Each of these costs the supervisor start-up time and megabytes of memory it never uses:
    # the workers import them after the fork.
    code = (
        "import json, sys, scoreserver.cli, scoreserver.processes.server;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    heavy = {"asyncio", "uvicorn", "uvloop", "starlette", "werkzeug", "httptools", "watchfiles"}
    assert heavy & loaded == set()
