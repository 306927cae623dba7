"""Calling run() off the event loop, with a concurrency limit, a timeout and a timer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from scoreserver.entry_script import EntryScript
from scoreserver.errors import RunFunctionError, ScoringTimeoutError
from scoreserver.inputs import RunArguments
from scoreserver.logs import log_exception

__all__ = ["ScoreResult", "Scorer"]

logger = logging.getLogger("azmlinfsrv")

# Threads abandoned by a timed-out run() keep running until run() returns; these spare threads
# let new requests be served meanwhile instead of queueing behind them.
SPARE_THREADS = 16


class _RunExited(Exception):
    """run() raised SystemExit or KeyboardInterrupt."""


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
        self.executor = ThreadPoolExecutor(
            max_workers=concurrency + SPARE_THREADS, thread_name_prefix="run"
        )

    async def score(self, arguments: RunArguments) -> ScoreResult:
        """Call run(); raise RunFunctionError if it raised, ScoringTimeoutError if it took too long."""
        if self._is_async:
            # An async run() cooperates on the event loop, so it is not limited to one at a time.
            return await self._timed(arguments)
        async with self._slots:
            return await self._timed(arguments)

    async def _timed(self, arguments: RunArguments) -> ScoreResult:
        start = time.perf_counter()
        deadline = asyncio.timeout(self._timeout_s)
        try:
            async with deadline:
                value = await self._call(arguments)
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
            log_exception((exc.__cause__ or exc) if isinstance(exc, _RunExited) else exc)
            raise RunFunctionError() from exc
        return ScoreResult(value, (time.perf_counter() - start) * 1000)

    async def _call(self, arguments: RunArguments) -> Any:
        if self._is_async:
            try:
                return await self._run(*arguments.args, **arguments.kwargs)
            except (SystemExit, KeyboardInterrupt) as exc:
                raise _RunExited() from exc
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._sync_call, arguments)

    def _sync_call(self, arguments: RunArguments) -> Any:
        try:
            return self._run(*arguments.args, **arguments.kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:
            # Raised out of a thread these would stop the event loop; for the client they are
            # just a run() that failed.
            raise _RunExited() from exc

    def close(self) -> None:
        """Stop accepting work; threads still in run() are not waited for."""
        self.executor.shutdown(wait=False, cancel_futures=True)
