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

__all__ = ["ScoreResult", "Scorer"]

logger = logging.getLogger("azmlinfsrv")

# Threads abandoned by a timed-out run() keep running until run() returns; these spare threads
# let new requests be served meanwhile instead of queueing behind them.
SPARE_THREADS = 16


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
        async with self._slots:
            start = time.perf_counter()
            try:
                value = await asyncio.wait_for(self._call(arguments), self._timeout_s)
            except TimeoutError as exc:
                logger.error(
                    "Script failed to finish execution within the allocated time: %sms",
                    self._timeout_ms,
                )
                raise ScoringTimeoutError(self._timeout_ms) from exc
            except Exception as exc:
                logger.error("Encountered Exception", exc_info=True)
                raise RunFunctionError() from exc
            return ScoreResult(value, (time.perf_counter() - start) * 1000)

    def _call(self, arguments: RunArguments) -> Any:
        if self._is_async:
            return self._run(*arguments.args, **arguments.kwargs)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, self._sync_call, arguments)

    def _sync_call(self, arguments: RunArguments) -> Any:
        return self._run(*arguments.args, **arguments.kwargs)

    def close(self) -> None:
        """Stop accepting work; threads still in run() are not waited for."""
        self.executor.shutdown(wait=False, cancel_futures=True)
