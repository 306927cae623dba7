"""Shared fixtures: fixture scripts' location, a clean environment for every test, and which tests
a platform collects."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoreserver.settings import known_keys

SCRIPTS = Path(__file__).parent / "scripts"
REPOSITORY = Path(__file__).resolve().parents[1]

# Variables the server reads (every settings alias); a developer's shell must not leak them in.
# SCORESERVER_PORTABLE_PROCESSES is let through: .ci/run sets it to run whole test files on the
# macOS process paths.
SERVER_VARIABLES = sorted(known_keys() - {"SCORESERVER_PORTABLE_PROCESSES"})


# Tests of a mechanism only some systems have, by marker: the systems that collect them.
PLATFORM_MARKERS = {
    "linux": ("linux",),  # reads /proc, or SOCK_SEQPACKET
    "posix": ("linux", "darwin"),  # signals another process, descriptor passing, rlimits
    "windows": ("win32",),  # what Windows does instead (a stop flag, no connection copies)
}
LEFT_OUT: pytest.StashKey[dict[str, int]] = pytest.StashKey()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests of mechanisms this system does not have; the summary says how many."""
    kept, left_out, counts = [], [], {}
    for item in items:
        markers = [m for m in PLATFORM_MARKERS if item.get_closest_marker(m)]
        if all(sys.platform in PLATFORM_MARKERS[m] for m in markers):
            kept.append(item)
            continue
        left_out.append(item)
        for marker in markers:
            counts[marker] = counts.get(marker, 0) + 1
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
    config.stash[LEFT_OUT] = counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which platform's tests were left out here, and why."""
    for marker, count in sorted(terminalreporter.config.stash.get(LEFT_OUT, {}).items()):
        systems = ", ".join(PLATFORM_MARKERS[marker])
        terminalreporter.write_line(
            f"{count} test(s) marked {marker!r} not collected: they need {systems}, "
            f"this is {sys.platform} (README: Platforms)"
        )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without server variables and leaves sys.modules and sys.path as found."""
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    modules = set(sys.modules)
    path = list(sys.path)
    yield
    # Only score.py modules a test imported are dropped: dropping library modules would leave
    # two copies of their classes alive and break isinstance checks in later tests.
    for name in set(sys.modules) - modules:
        if _is_test_script(sys.modules[name]):
            del sys.modules[name]
    sys.path[:] = path
    os.environ.pop("AZUREML_ENTRY_SCRIPT", None)


def _is_test_script(module: object) -> bool:
    """A module loaded from the fixture scripts, or a score.py a test wrote to a temporary folder.

    The repository and the Python environment may themselves live under the temporary folder
    (CI clones there): their modules are never dropped.
    """
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    if path.is_relative_to(SCRIPTS.resolve()):
        return True
    if path.is_relative_to(REPOSITORY) or path.is_relative_to(Path(sys.prefix).resolve()):
        return False
    return path.is_relative_to(Path(tempfile.gettempdir()).resolve())


@pytest.fixture
def scripts() -> Path:
    """The folder of score.py fixtures."""
    return SCRIPTS
