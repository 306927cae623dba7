"""One scoreserver wheel, built from this checkout, for every environment of the run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build(source: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("scoreserver-*.whl")
    return built


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scoreserver as a wheel, the way it is published."""
    return _build(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def newer_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same scoreserver under a higher version, for a real upgrade."""
    source = tmp_path_factory.mktemp("newer")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    version_file = source / "src" / "scoreserver" / "_version.py"
    text = version_file.read_text()
    version = re.search(r'__version__ = "([^"]+)"', text)
    assert version is not None
    version_file.write_text(text.replace(version[0], f'__version__ = "{version[1]}.post1"'))
    return _build(source, tmp_path_factory.mktemp("newer-wheel"))
