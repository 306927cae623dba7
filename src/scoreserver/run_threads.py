"""The threads a synchronous run() is called on, fed from one queue with as little overhead as possible.

Handing each call to a thread costs two thread switches; on a one-core budget that is a large
share of a fast request. Calls therefore go through one SimpleQueue served by `concurrency`
threads: under load a thread finds the next call waiting and runs it without a switch, and the
event loop collects the results in batches. Timeouts are timers on the event loop that start when
a thread picks the call up; a thread whose run() outlives its timeout is abandoned (it ends when
run() returns) and a fresh thread takes its place, so the next request is served at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

__all__ = ["CallExited", "CallTimedOut", "RunThreads", "Timed"]


class CallExited(Exception):
    """The call raised SystemExit or KeyboardInterrupt (its __cause__).

    Raised into the event loop these would stop the server instead of failing one request.
    """


class CallTimedOut(Exception):
    """The call ran longer than the timeout; its thread was abandoned."""


# Not frozen: a frozen dataclass pays for object.__setattr__ per field, and this one is made
# for every request.
@dataclass(slots=True)
class Timed:
    """A value and how long producing it took, in milliseconds."""

    value: Any
    elapsed_ms: float


@dataclass(slots=True, eq=False)
class _Call:
    """One queued call and what the event loop needs to know about it."""

    fn: Callable[[], Any]
    future: asyncio.Future[Timed]
    started: float = 0.0
    """perf_counter() when a thread picked the call up; 0 while it waits in the queue."""
    thread: _RunThread | None = None
    timer: asyncio.TimerHandle | None = None
    done: bool = False


@dataclass(eq=False)
class _RunThread:
    """A daemon thread that takes calls from the shared queue until it is stopped or abandoned."""

    pool: RunThreads
    name: str
    abandoned: bool = False
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        pool = self.pool
        while not self.abandoned:
            call = pool.calls.get()
            if call is None:
                return
            call.thread = self
            call.started = start = time.perf_counter()
            try:
                outcome: Timed | Exception = Timed(call.fn(), (time.perf_counter() - start) * 1000)
            except Exception as exc:
                outcome = exc
            except BaseException as exc:
                outcome = CallExited()
                outcome.__cause__ = exc
            pool.loop.call_soon_threadsafe(pool.finish, call, outcome)


class RunThreads:
    """`concurrency` threads calling run() for requests queued by one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, concurrency: int, timeout_s: float) -> None:
        self.loop = loop
        self.calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._threads: list[_RunThread] = []
        self._started = 0

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Timed]:
        """Queue fn; the future completes on the event loop with its result, or CallTimedOut."""
        if len(self._threads) < self._concurrency:
            self._start_thread()
        call = _Call(fn, self.loop.create_future())
        call.timer = self.loop.call_later(self._timeout_s, self._check_timeout, call)
        self.calls.put(call)
        return call.future

    def finish(self, call: _Call, outcome: Timed | Exception) -> None:
        """On the event loop: deliver a call's outcome (unless it already timed out)."""
        if call.done:
            return
        self._settle(call)
        if call.future.cancelled():
            return
        if isinstance(outcome, Exception):
            call.future.set_exception(outcome)
        else:
            call.future.set_result(outcome)

    def _settle(self, call: _Call) -> None:
        call.done = True
        if call.timer is not None:
            call.timer.cancel()

    def _check_timeout(self, call: _Call) -> None:
        """The timer fired: time out a running call, or wait longer for a queued one."""
        if call.done:
            return
        if call.started == 0.0 or call.thread is None:
            # Still queued behind other calls: the timeout counts from when run() starts.
            call.timer = self.loop.call_later(self._timeout_s, self._check_timeout, call)
            return
        remaining = call.started + self._timeout_s - time.perf_counter()
        if remaining > 0:
            call.timer = self.loop.call_later(remaining, self._check_timeout, call)
            return
        self._settle(call)
        call.thread.abandoned = True
        self._threads.remove(call.thread)
        self._start_thread()
        if not call.future.done():
            call.future.set_exception(CallTimedOut())

    def _start_thread(self) -> None:
        self._started += 1
        self._threads.append(_RunThread(self, f"run_{self._started}"))

    def close(self) -> None:
        """Let the threads end once the calls queued before this are done."""
        for _ in self._threads:
            self.calls.put(None)
        self._threads.clear()
