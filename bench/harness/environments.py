"""Setting up what the contenders and the load generator need: two venvs and wrk.

Each venv is made once under bench/.venvs/ and reused while its requirements are unchanged (a
marker file inside it records them). wrk comes from Debian's package when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.servers import BENCH_DIR

VENVS_DIR = BENCH_DIR / ".venvs"
MARKER = ".bench-requirements"
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class VenvSpec:
    """A venv for one contender: its folder name and what pip installs into it."""

    name: str
    requirements: tuple[str, ...]


REFERENCE_VENV = VenvSpec("reference", ("azureml-inference-server-http==1.5.1", "numpy"))
LIMIT_VENV = VenvSpec("limit", ("uvicorn[standard]", "numpy"))
MLSERVER_VENV = VenvSpec("mlserver", ("mlserver==1.7.1", "numpy"))


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ensure_venv(spec: VenvSpec) -> Path:
    """The venv's folder, created and installed if it is missing or out of date."""
    venv = VENVS_DIR / spec.name
    marker = venv / MARKER
    wanted = "\n".join(spec.requirements)
    if marker.is_file() and marker.read_text() == wanted and (venv / "bin" / "python").exists():
        return venv
    _log(f"creating {venv} with {' '.join(spec.requirements)}")
    if venv.exists():
        shutil.rmtree(venv)
    # The base interpreter, not this venv's: the new venv must not see scoreserver's packages.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT_S)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *spec.requirements],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    marker.write_text(wanted)
    return venv


def package_version(venv: Path, distribution: str) -> str:
    """The installed version of a distribution in a venv."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip() or "?"


def ensure_wrk() -> str | None:
    """The path of wrk, installed with apt-get if missing; None if it cannot be had."""
    found = shutil.which("wrk")
    if found or not shutil.which("apt-get") or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for step in (install, ["apt-get", "update", "-q"], install):
        _log(" ".join(step))
        done = subprocess.run(step, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S)
        if step is install and done.returncode == 0 and shutil.which("wrk"):
            break
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    """wrk's own version line."""
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=30)
    text = (out.stdout or out.stderr).strip()
    # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer": keep the name and version.
    return text.splitlines()[0].split(" [")[0] if text else "wrk"
