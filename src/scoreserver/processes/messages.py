"""What the supervisor and its workers tell each other, as typed values."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoreserver.metrics import MetricsMemory
    from scoreserver.platform import ProcessPipe
    from scoreserver.processes.custody import ScoringMarks
    from scoreserver.processes.custody_channels import CustodyChannel

__all__ = ["NOT_SERVING", "WorkerFailed", "WorkerLink", "WorkerReady"]

NOT_SERVING = -1
"""A worker's published load (WorkerLink.loads) while it is not serving: starting or replaced."""


@dataclass(frozen=True)
class WorkerReady:
    """Sent by a worker once init() is done and it is about to serve."""

    pid: int


@dataclass(frozen=True)
class WorkerFailed:
    """Sent by a worker whose script could not be loaded or whose init() raised."""

    pid: int
    message: str
    location: str | None = None
    """Where in the user's code it failed: "file:line (in function)"."""
    summary: str | None = None
    """The user's exception in one line ("ValueError: bad value"), if there was one."""


@dataclass(frozen=True)
class WorkerLink:
    """What a worker shares with its supervisor: the start-up report pipe and shared memory."""

    status: ProcessPipe
    heartbeat: ctypes.c_double
    """When this worker's event loop last ran (time.monotonic)."""
    availability: ctypes.Array[ctypes.c_byte]
    """One flag per worker slot: 1 while that worker cannot take a request without queueing."""
    slot: int
    custody: CustodyChannel | None
    """This worker's end of the channel its connections are reported on (see custody.py);
    None where descriptors cannot be passed (Windows)."""
    marks: ScoringMarks
    """Per reported connection: whether its request waits for run(), and its id headers."""
    loads: ctypes.Array[ctypes.c_int]
    """One count per worker slot: its connections that carry requests (see rebalancing.py)."""
    draining: ctypes.c_byte | None = None
    """1 once the supervisor has begun to stop: readiness probes answer "not ready"."""
    started: ctypes.c_byte | None = None
    """1 once every worker the server starts with is ready: readiness probes answer "not
    ready" until then (a worker that is ready early serves, but the server is not whole)."""
    metrics: MetricsMemory | None = None
    """The shared counts behind /metrics, when metrics are on."""
    stop: ctypes.c_byte | None = None
    """Set to 1 when the supervisor asks this worker to drain and exit where no signal can
    (Windows has no SIGTERM to send another process): the worker looks at it every heartbeat."""
