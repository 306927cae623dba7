"""Calling run() off the event loop, with a concurrency limit, a timeout and a timer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoreserver.entry_script import EntryScript
from scoreserver.errors import RunFunctionError, ScoringTimeoutError
from scoreserver.inputs import RunArguments
from scoreserver.logs import log_exception
from scoreserver.run_threads import CallExited, RunThreads, Timed

__all__ = ["ScoreResult", "Scorer"]

logger = logging.getLogger("azmlinfsrv")


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """What run() returned and how long it took."""

    value: Any
    elapsed_ms: float


class Scorer:
    """Runs the script's run() for one request at a time (or `concurrency` at a time)."""

    def __init__(self, script: EntryScript, timeout_ms: int, concurrency: int = 1) -> None:
        self._run: Callable[..., Any] = script.run
        self._is_async = script.is_async
        self._timeout_ms = timeout_ms
        self._timeout_s = timeout_ms / 1000
        self._slots = asyncio.Semaphore(concurrency)
        self._threads = RunThreads()

    async def score(self, arguments: RunArguments) -> ScoreResult:
        """Call run(); raise RunFunctionError if it raised, ScoringTimeoutError if it took too long."""
        if self._is_async:
            # An async run() cooperates on the event loop, so it is not limited to one at a time.
            return await self._timed(arguments)
        async with self._slots:
            return await self._timed(arguments)

    async def _timed(self, arguments: RunArguments) -> ScoreResult:
        deadline = asyncio.timeout(self._timeout_s)
        try:
            async with deadline:
                timed = await self._call(arguments)
        except TimeoutError as exc:
            if not deadline.expired():  # run() itself raised TimeoutError
                log_exception(exc)
                raise RunFunctionError() from exc
            logger.error(
                "Encountered Exception: Script failed to finish execution within the "
                "allocated time: %sms",
                self._timeout_ms,
            )
            raise ScoringTimeoutError(self._timeout_ms) from exc
        except Exception as exc:
            log_exception((exc.__cause__ or exc) if isinstance(exc, CallExited) else exc)
            raise RunFunctionError() from exc
        return ScoreResult(timed.value, timed.elapsed_ms)

    async def _call(self, arguments: RunArguments) -> Timed:
        args, kwargs = arguments.args, arguments.kwargs
        if not self._is_async:
            return await self._threads.submit(lambda: self._run(*args, **kwargs))
        start = time.perf_counter()
        try:
            value = await self._run(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:
            # Out of a task these would stop the event loop; for the client run() just failed.
            raise CallExited() from exc
        return Timed(value, (time.perf_counter() - start) * 1000)

    def close(self) -> None:
        """Stop the idle threads; threads still in run() are not waited for."""
        self._threads.close()
