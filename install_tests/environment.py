"""Throwaway virtual environments driven by real pip, and what is installed in them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PIP_TIMEOUT_S = 900

# Run inside the environment: every file each distribution's RECORD lists is still there with
# the recorded hash, and no file is listed by more than one distribution.
_FILES_CHECK = """
import base64, hashlib, json, sys
from importlib import metadata
problems, owners = [], {}
for name in sys.argv[1:]:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    for file in dist.files or []:
        path = file.locate()
        owners.setdefault(str(path.resolve()), []).append(name)
        if file.hash is None:
            continue
        if not path.exists():
            problems.append(f"{name}: {file} is gone")
            continue
        digest = hashlib.new(file.hash.mode, path.read_bytes()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != file.hash.value:
            problems.append(f"{name}: {file} was replaced")
shared = sorted(path for path, names in owners.items() if len(names) > 1)
print(json.dumps({"problems": problems, "shared": shared}))
"""


@dataclass(frozen=True)
class Environment:
    """One virtual environment under a temporary directory."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> Environment:
        """A fresh virtual environment with pip."""
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
        return cls(root)

    def bin(self, name: str) -> Path:
        """A command installed in the environment (it may not exist)."""
        return self.root / "bin" / name

    @property
    def python(self) -> str:
        """The environment's interpreter."""
        return str(self.bin("python"))

    def pip(self, *args: str) -> None:
        """Run pip in the environment as a user would; fail with pip's output if it fails."""
        result = subprocess.run(
            [self.python, "-m", "pip", "--disable-pip-version-check", *args],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
        )
        assert result.returncode == 0, (
            f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )

    def installed(self, distribution: str) -> bool:
        """Whether pip sees the distribution as installed."""
        result = subprocess.run(
            [self.python, "-m", "pip", "show", "-q", distribution],
            capture_output=True,
            timeout=120,
        )
        return result.returncode == 0

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command of the environment and capture what it prints."""
        return subprocess.run(
            [str(self.bin(argv[0])), *argv[1:]], capture_output=True, text=True, timeout=120
        )

    def file_problems(self, *distributions: str) -> dict[str, list[str]]:
        """Files of the distributions that are gone, replaced, or owned by two of them."""
        result = subprocess.run(
            [self.python, "-c", _FILES_CHECK, *distributions],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found: dict[str, list[str]] = json.loads(result.stdout)
        return found
