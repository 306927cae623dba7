"""How much CPU the rest of the machine took while a measurement ran.

The machine is shared: other people's test suites run beside the benchmark. Each measurement
records the CPU time every process used (/proc/stat) less what the measured server's process
tree, the load generator and this harness used; what is left is someone else's, and it shows
which numbers to trust less. Interrupt time is left out on both sides (loopback traffic makes a
lot of it and it is not reliably charged to a process).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.servers import process_tree

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _machine_cpu_s() -> float:
    """user + nice + system time of all CPUs, in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(v) for v in fields[:3]) * _TICK_S


def tree_cpu_s(root: int) -> float:
    """The CPU time (utime + stime) a process and its descendants have used, in seconds."""
    total = 0
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime
    return total * _TICK_S


def _own_cpu_s() -> float:
    """This process and its waited-for children (wrk), in seconds."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class CpuMeter:
    """Started before a measurement and read after it."""

    server_pid: int
    _wall: float = 0.0
    _machine: float = 0.0
    _ours: float = 0.0

    def __post_init__(self) -> None:
        self._wall = time.perf_counter()
        self._machine = _machine_cpu_s()
        self._ours = tree_cpu_s(self.server_pid) + _own_cpu_s()

    def others(self) -> float:
        """CPUs' worth of time the rest of the machine used since the start (0.5 = half a CPU)."""
        wall = time.perf_counter() - self._wall
        machine = _machine_cpu_s() - self._machine
        ours = tree_cpu_s(self.server_pid) + _own_cpu_s() - self._ours
        return max(0.0, (machine - ours) / wall) if wall > 0 else 0.0
