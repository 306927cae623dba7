"""Calling run() off the event loop, with a concurrency limit, a timeout and a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

from scoreserver.errors import RunFunctionError, ScoringTimeoutError
from scoreserver.logs import log_exception
from scoreserver.metrics import RunMeter
from scoreserver.script.entry_script import EntryScript
from scoreserver.script.inputs import RunArguments
from scoreserver.script.run_threads import CallExited, CallTimedOut, RunThreads, Timed

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline_after
else:  # the same context manager, from the library it came from
    from async_timeout import timeout as deadline_after

__all__ = ["ScoreResult", "Scorer"]

logger = logging.getLogger("azmlinfsrv")

_NO_TIMEOUT_S = 365 * 24 * 3600.0
"""SCORING_TIMEOUT_MS of 0 or less: no limit (a year is as good as none, and timers take it)."""


# Not frozen: a frozen dataclass pays for object.__setattr__ per field, and this one is made
# for every request.
@dataclass
class ScoreResult:
    """What run() returned and how long it took."""

    value: Any
    elapsed_ms: float


class Scorer:
    """Calls the script's run(): `concurrency` at a time on threads, or awaited if it is async."""

    def __init__(
        self,
        script: EntryScript,
        timeout_ms: int,
        concurrency: int = 1,
        meter: RunMeter | None = None,
    ) -> None:
        self._run: Callable[..., Any] = script.run
        self._is_async = script.is_async
        self._timeout_ms = timeout_ms
        self._timeout_s = timeout_ms / 1000 if timeout_ms > 0 else _NO_TIMEOUT_S
        self._concurrency = concurrency
        self._threads: RunThreads | None = None
        self._meter = meter

    @property
    def capacity(self) -> float:
        """How many requests this worker can have in run() at once (an async run() is not limited)."""
        return float("inf") if self._is_async else self._concurrency

    async def score(self, arguments: RunArguments) -> ScoreResult:
        """Call run(); raise RunFunctionError if it raised, ScoringTimeoutError if it took too long."""
        meter = self._meter
        if meter is not None:
            meter.begin()
        try:
            if self._is_async:
                timed = await self._await_run(arguments)
            else:
                threads = self._threads or self._start_threads()
                call = partial(self._run, *arguments.args, **arguments.kwargs)
                if arguments.context is not None:
                    call = partial(_within, arguments.context, call)
                timed = await threads.submit(call)
        except CallTimedOut as exc:
            logger.error(
                "Encountered Exception: Script failed to finish execution within the "
                "allocated time: %sms",
                self._timeout_ms,
            )
            if meter is not None:
                meter.timed_out()
            raise ScoringTimeoutError(self._timeout_ms) from exc
        except Exception as exc:
            log_exception((exc.__cause__ or exc) if isinstance(exc, CallExited) else exc)
            if meter is not None:
                meter.failed()
            raise RunFunctionError() from exc
        finally:
            if meter is not None:
                meter.end()
        if meter is not None:
            meter.ran(timed.elapsed_ms)
        return ScoreResult(timed.value, timed.elapsed_ms)

    def _start_threads(self) -> RunThreads:
        # Made on first use: the event loop the threads report to exists only by then.
        self._threads = RunThreads(asyncio.get_running_loop(), self._concurrency, self._timeout_s)
        return self._threads

    async def _await_run(self, arguments: RunArguments) -> Timed:
        """An async run(), awaited on the event loop: it cooperates, so it is not throttled."""
        deadline = deadline_after(self._timeout_s)
        start = time.perf_counter()
        within = arguments.context or contextlib.nullcontext()
        try:
            async with deadline:
                with within:
                    value = await self._run(*arguments.args, **arguments.kwargs)
        except asyncio.TimeoutError as exc:  # TimeoutError itself from Python 3.11 on
            if _expired(deadline):
                raise CallTimedOut() from exc
            raise  # run() itself raised TimeoutError
        except (SystemExit, KeyboardInterrupt) as exc:
            raise CallExited() from exc
        return Timed(value, (time.perf_counter() - start) * 1000)

    def close(self) -> None:
        """Let the run() threads end; threads still in run() are not waited for."""
        if self._threads is not None:
            self._threads.close()


def _within(context: AbstractContextManager[Any], call: Callable[[], Any]) -> Any:
    """call() inside context, on the run() thread (where Flask's context must be pushed)."""
    with context:
        return call()


def _expired(deadline: Any) -> bool:
    """Whether the deadline struck: a method on asyncio's Timeout, a property on async-timeout's."""
    flag = deadline.expired
    return bool(flag() if callable(flag) else flag)
