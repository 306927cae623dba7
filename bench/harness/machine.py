"""What the numbers were measured on: the machine, the software, and how busy the machine was."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

from harness.servers import BENCH_DIR


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def code_version() -> str:
    """The commit scoreserver was measured at, and whether src/ had uncommitted changes."""
    try:
        commit = _git("rev-parse", "--short", "HEAD") or "?"
        dirty = _git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def source_fingerprint(folder: Path) -> str:
    """A short hash of every file under folder (caches left out): equal hashes, same code."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, str]:
    """The facts the report's machine section lists."""
    memory_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory": f"{int(memory_kb.split()[0]) / 1024 / 1024:.1f} GiB" if memory_kb != "?" else "?",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "load average at start": load_average(),
    }
