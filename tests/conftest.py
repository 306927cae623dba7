"""Shared fixtures: fixture scripts' location, and a clean environment for every test."""

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
