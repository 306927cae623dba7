"""The threads a synchronous run() is called on, fed by one event loop with as little overhead as possible.

Handing a call to a thread costs thread switches, and on a one-core budget they are a large share
of a fast request. Three things keep them few:

- Calls queued while the event loop works through its ready callbacks are handed over together,
  once those callbacks are done, and a thread serves the queue until it is empty.
- An idle thread sleeps in a read from a pipe, and the event loop wakes it by writing to that pipe.
  The write releases the GIL, so the woken thread can take it at once: waking a thread from a
  queue instead, while the event loop holds the GIL, costs two more switches (the thread wakes,
  finds the GIL taken and sleeps again).
- Results come back in batches: while the event loop waits in that write it collects them itself,
  and otherwise the first result of a batch asks the loop to collect, once, for all.

Timeouts count from when a thread picks a call up. One watchdog timer on the event loop, armed
while calls are outstanding, fires at the earliest deadline; a thread whose run() outlives its
timeout is abandoned (it ends when run() returns) and a fresh thread takes its place, so the next
request is served at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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
@dataclass
class Timed:
    """A value and how long producing it took, in milliseconds."""

    value: Any
    elapsed_ms: float


@dataclass(eq=False)
class _Call:
    """One queued call and what the event loop needs to know about it."""

    fn: Callable[[], Any]
    future: asyncio.Future[Timed]
    started: float = 0.0
    """perf_counter() when a thread picked the call up; 0 while it waits in the queue."""
    done: bool = False


@dataclass(eq=False)
class _RunThread:
    """A daemon thread that takes calls from the shared queue until it is stopped or abandoned."""

    pool: RunThreads
    name: str
    abandoned: bool = False
    current: _Call | None = None
    """The call in progress, for the watchdog."""
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        pool = self.pool
        calls = pool.calls
        while not self.abandoned:
            try:
                call = calls.popleft()
            except IndexError:
                pool.sleep()
                continue
            if call is None:
                break
            call.started = start = time.perf_counter()
            # After `started`: the watchdog reads both, and must never see a call at time 0.
            self.current = call
            try:
                outcome: Timed | Exception = Timed(call.fn(), (time.perf_counter() - start) * 1000)
            except Exception as exc:
                outcome = exc
            except BaseException as exc:
                outcome = CallExited()
                outcome.__cause__ = exc
            self.current = None
            pool.report(call, outcome)
        pool.thread_ended()


class RunThreads:
    """`concurrency` threads calling run() for requests queued by one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, concurrency: int, timeout_s: float) -> None:
        self.loop = loop
        self.calls: deque[_Call | None] = deque()
        self._timeout_s = timeout_s
        self._concurrency = concurrency
        self._threads: list[_RunThread] = []
        self._started = 0
        self._outstanding = 0
        self._watchdog: asyncio.TimerHandle | None = None
        self._hand_over_scheduled = False
        self._handing_over = False
        """Whether the event loop is waiting in _hand_over, and will collect results itself."""
        # Each byte in the pipe wakes one sleeping thread; each token here is a sleeping thread.
        # (deque appends and pops are atomic, which the threads rely on.)
        self._sleepers: deque[None] = deque()
        self._wake_read, self._wake_write = os.pipe()
        self._live = 0
        self._closed = False
        self._ending = threading.Lock()
        self._results: deque[tuple[_Call, Timed | Exception]] = deque()
        self._collecting = False
        """Whether a collect() is already on its way to the event loop."""

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Timed]:
        """Queue fn; the future completes on the event loop with its result, or CallTimedOut."""
        if len(self._threads) < self._concurrency:
            self._start_thread()
        call = _Call(fn, self.loop.create_future())
        self.calls.append(call)
        self._outstanding += 1
        if self._watchdog is None:
            # No call can time out sooner: it has not started yet.
            self._watchdog = self.loop.call_later(self._timeout_s, self._watch)
        if not self._hand_over_scheduled:
            # After the callbacks ready now, which may queue more calls to hand over at once.
            self._hand_over_scheduled = True
            self.loop.call_soon(self._hand_over)
        return call.future

    def _hand_over(self) -> None:
        """Wake as many sleeping threads as there are queued calls, and collect what they finish."""
        self._hand_over_scheduled = False
        wake = min(len(self.calls), len(self._sleepers))
        if not wake:
            return
        for _ in range(wake):
            self._sleepers.pop()
        self._handing_over = True
        try:
            os.write(self._wake_write, b"\0" * wake)
        finally:
            # The flag first: a result reported from now on asks for a collect() of its own.
            self._handing_over = False
            self._collect_results()

    def sleep(self) -> None:
        """On a run() thread: wait until the event loop hands over more calls."""
        self._sleepers.append(None)
        if self.calls:
            # Queued after this thread found the queue empty, perhaps too late to wake it: take
            # it now. The token stays; the wake it may bring is a spare byte, read in vain later.
            return
        os.read(self._wake_read, 1)

    def report(self, call: _Call, outcome: Timed | Exception) -> None:
        """On a run() thread: pass a call's outcome to the event loop."""
        self._results.append((call, outcome))
        # A loop waiting in _hand_over collects it on return; otherwise one collect() per batch.
        if not self._handing_over and not self._collecting:
            self._collecting = True
            # A closed event loop (the worker is stopping, or an abandoned call ended after it)
            # refuses; nobody waits for this outcome any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._collect)

    def _collect(self) -> None:
        self._collecting = False
        self._collect_results()

    def _collect_results(self) -> None:
        results = self._results
        while results:
            call, outcome = results.popleft()
            self._finish(call, outcome)

    def _finish(self, call: _Call, outcome: Timed | Exception) -> None:
        """On the event loop: deliver a call's outcome (unless it already timed out)."""
        if call.done:
            return
        call.done = True
        self._outstanding -= 1
        if call.future.cancelled():
            return
        if isinstance(outcome, Exception):
            call.future.set_exception(outcome)
        else:
            call.future.set_result(outcome)

    def _watch(self) -> None:
        """The watchdog fired: time out the calls past their deadline, then wait for the next."""
        self._watchdog = None
        if not self._outstanding:
            return
        now = time.perf_counter()
        # A call that has not started yet cannot time out sooner than a full timeout from now.
        next_check = self._timeout_s
        for thread in list(self._threads):
            call = thread.current
            if call is None or call.done:
                continue
            remaining = call.started + self._timeout_s - now
            if remaining > 0:
                next_check = min(next_check, remaining)
                continue
            self._time_out(call, thread)
        if self._outstanding:
            self._watchdog = self.loop.call_later(next_check, self._watch)

    def _time_out(self, call: _Call, thread: _RunThread) -> None:
        call.done = True
        self._outstanding -= 1
        thread.abandoned = True
        self._threads.remove(thread)
        self._start_thread()
        if not call.future.done():
            call.future.set_exception(CallTimedOut())

    def _start_thread(self) -> None:
        self._started += 1
        with self._ending:
            self._live += 1
        self._threads.append(_RunThread(self, f"run_{self._started}"))

    def thread_ended(self) -> None:
        """On a run() thread, as it ends: the last one out after close() closes the pipe."""
        with self._ending:
            self._live -= 1
            if self._closed and not self._live:
                os.close(self._wake_read)
                os.close(self._wake_write)

    def close(self) -> None:
        """Let the threads end once the calls queued before this are done."""
        if self._closed:
            return
        for _ in self._threads:
            self.calls.append(None)
        if self._threads:
            os.write(self._wake_write, b"\0" * len(self._threads))
        self._threads.clear()
        with self._ending:
            # Until the last thread has ended, one may still be reading from the pipe.
            self._closed = True
            if not self._live:
                os.close(self._wake_read)
                os.close(self._wake_write)
