"""The threads a synchronous run() is called on, handed work with as little overhead as possible.

ThreadPoolExecutor costs a lock, a work queue, a semaphore and a thread-count check per call,
which on a one-core budget is a large share of a fast request. Here each thread has its own
SimpleQueue and reports back with one call_soon_threadsafe. A thread whose run() outlived its
request's timeout is simply not reused until run() returns; a new thread serves meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

__all__ = ["CallExited", "RunThreads", "Timed"]


class CallExited(Exception):
    """The call raised SystemExit or KeyboardInterrupt (its __cause__), which must not reach the
    event loop: there they would stop the server instead of failing one request."""


@dataclass(frozen=True, slots=True)
class Timed:
    """A value and how long producing it took, in milliseconds."""

    value: Any
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class _Job:
    call: Callable[[], Any]
    future: asyncio.Future[Timed]
    loop: asyncio.AbstractEventLoop


_STOP = None


class _RunThread:
    """A daemon thread that calls what it is handed, one job at a time."""

    def __init__(self, pool: RunThreads, name: str) -> None:
        self.jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._pool = pool
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (job := self.jobs.get()) is not _STOP:
            start = time.perf_counter()
            try:
                outcome: Timed | Exception = Timed(job.call(), (time.perf_counter() - start) * 1000)
            except Exception as exc:
                outcome = exc
            except BaseException as exc:
                outcome = CallExited()
                outcome.__cause__ = exc
            job.loop.call_soon_threadsafe(self._pool._finished, self, job.future, outcome)

    def stop(self) -> None:
        """Let the thread end once its current job, if any, is done."""
        self.jobs.put(_STOP)


class RunThreads:
    """Idle threads waiting for run() calls; new ones start when all are busy."""

    def __init__(self, name: str = "run") -> None:
        self._idle: list[_RunThread] = []
        self._started = 0
        self._name = name

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Timed]:
        """Run call on an idle thread; the future completes on the calling event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Timed] = loop.create_future()
        thread = self._idle.pop() if self._idle else self._start()
        thread.jobs.put(_Job(call, future, loop))
        return future

    def _start(self) -> _RunThread:
        self._started += 1
        return _RunThread(self, f"{self._name}_{self._started}")

    def _finished(
        self, thread: _RunThread, future: asyncio.Future[Timed], outcome: Timed | Exception
    ) -> None:
        """On the event loop: hand the outcome over (unless the request gave up) and rest."""
        self._idle.append(thread)
        if future.cancelled():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def close(self) -> None:
        """Stop the idle threads; busy ones end when their run() returns."""
        for thread in self._idle:
            thread.stop()
        self._idle.clear()
