"""Adaptive batching: concurrent requests on one worker grouped into one run() call.

A script opts in by marking run() with ``@scoreserver.batch(...)``. Each request's arguments
(built by inputs.py exactly as for an unbatched run()) wait in a queue; a full batch is called at
once, and a partial one when its oldest request has waited ``max_latency_ms``. The call goes
through the ordinary Scorer (threads, concurrency, timeout, timer) with every argument turned
into a list, one entry per request; the list run() returns is split back, so each request is
answered, by routes.py or a protocol, as if it had been scored alone.

At most ``concurrency`` batches are in run() at once; requests that arrive meanwhile form the
next batch, which starts as soon as a call is free if it is full or its oldest request is due.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from scoreserver.errors import (
    EntryScriptError,
    RunFunctionError,
    ScoringError,
    ScoringTimeoutError,
)
from scoreserver.logs import log_exception
from scoreserver.metrics import RunMeter
from scoreserver.script.entry_script import EntryScript, InputMode
from scoreserver.script.inputs import RunArguments
from scoreserver.script.scoring import Scorer, ScoreResult
from scoreserver.settings import Settings

__all__ = ["BATCH_MARK", "BatchPolicy", "BatchingScorer", "batch", "batch_policy", "scorer_for"]

logger = logging.getLogger("azmlinfsrv")

BATCH_MARK = "__scoreserver_batch__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class BatchPolicy:
    """How many requests one run() call takes at most, and how long a lone request waits."""

    max_batch_size: int
    max_latency_ms: float


def batch(max_batch_size: int = 32, max_latency_ms: float = 5.0) -> Callable[[F], F]:
    """Mark run() to receive lists of inputs (one per request) and return a list of results."""
    if callable(max_batch_size):  # @scoreserver.batch without its parentheses
        raise TypeError(
            "@scoreserver.batch needs its parentheses: write @scoreserver.batch() or "
            "@scoreserver.batch(max_batch_size=32, max_latency_ms=5)"
        )
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
        raise TypeError("max_batch_size must be an int")
    if max_batch_size < 1:
        raise ValueError("max_batch_size must be at least 1")
    if not max_latency_ms >= 0:
        raise ValueError("max_latency_ms must be 0 or more")
    policy = BatchPolicy(max_batch_size, float(max_latency_ms))

    def mark(func: F) -> F:
        # The function itself carries the mark (through inference-schema's wrappers too, which
        # pass attributes on to the function they wrap); nothing process-wide changes.
        setattr(func, BATCH_MARK, policy)
        return func

    return mark


def batch_policy(func: object) -> BatchPolicy | None:
    """The policy run() (or anything it wraps) was marked with, if any."""
    seen: set[int] = set()
    current: object | None = func
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        policy = getattr(current, BATCH_MARK, None)
        if isinstance(policy, BatchPolicy):
            return policy
        current = getattr(current, "__wrapped__", None)
    return None


def scorer_for(script: EntryScript, settings: Settings, meter: RunMeter | None = None) -> Scorer:
    """A batching scorer when run() is marked (settings override its numbers), else the plain one."""
    policy = batch_policy(script.run)
    if policy is None:
        return Scorer(script, settings.scoring_timeout_ms, settings.concurrency, meter)
    if settings.max_batch_size is not None:
        policy = replace(policy, max_batch_size=settings.max_batch_size)
    if settings.max_batch_latency_ms is not None:
        policy = replace(policy, max_latency_ms=settings.max_batch_latency_ms)
    scorer = BatchingScorer(
        script, settings.scoring_timeout_ms, settings.concurrency, policy, meter
    )
    # Called once init() is done. A batch keeps its requests' objects alive across collections,
    # so they reach the oldest generation and trigger full collections, each of which would walk
    # the whole model and its libraries (tens of ms, measured as the p99 of bench/batching.py);
    # what exists now lives as long as the worker and is left out of them.
    gc.freeze()
    logger.info(
        "run() is batched: up to %s requests per call; a request waits at most %s ms for others",
        policy.max_batch_size,
        f"{policy.max_latency_ms:g}",
    )
    return scorer


class BatchResultError(Exception):
    """A batched run() returned something other than one result per input."""


@dataclass(eq=False)
class _Waiting:
    """One request's arguments, waiting to be part of a batch."""

    arguments: RunArguments
    future: asyncio.Future[ScoreResult]
    arrived: float


class _Failed:
    """A request of a batch that failed on its own (its input or its result); the others go on."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BatchingScorer(Scorer):
    """Groups concurrent score() calls into batched calls of the script's run()."""

    def __init__(
        self,
        script: EntryScript,
        timeout_ms: int,
        concurrency: int,
        policy: BatchPolicy,
        meter: RunMeter | None = None,
    ) -> None:
        self._layers, self._base = _call_layers(script)
        caller = self._call_async if script.is_async else self._call
        # The meter counts run() calls: one per batch.
        super().__init__(replace(script, run=caller), timeout_ms, concurrency, meter)
        self.policy = policy
        self._latency_s = policy.max_latency_ms / 1000
        self._slots = concurrency
        self._in_flight = 0
        self._pending: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def capacity(self) -> float:
        """How many requests this worker can have in run() at once."""
        return self._slots * self.policy.max_batch_size

    async def score(self, arguments: RunArguments) -> ScoreResult:
        """Queue the request for the next batch; its own result, or its own error, comes back."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(arguments, loop.create_future(), time.perf_counter())
        self._pending.append(waiting)
        if len(self._pending) >= self.policy.max_batch_size:
            self._dispatch()
        elif self._timer is None:
            self._timer = loop.call_later(self._latency_s, self._on_timer)
        return await waiting.future

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every batch that is full or due, as far as free calls allow; time the rest."""
        while self._pending and self._in_flight < self._slots:
            full = len(self._pending) >= self.policy.max_batch_size
            due = time.perf_counter() - self._pending[0].arrived >= self._latency_s
            if not (full or due):
                break
            taken = self._pending[: self.policy.max_batch_size]
            del self._pending[: self.policy.max_batch_size]
            live = [w for w in taken if not w.future.done()]
            if not live:
                continue
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._score_batch(live))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending and self._in_flight < self._slots:
            # Not yet due: wake when the oldest request's wait is up.
            wait = self._pending[0].arrived + self._latency_s - time.perf_counter()
            self._timer = asyncio.get_running_loop().call_later(max(wait, 0), self._on_timer)
        # With every call busy, the end of a batch dispatches what waits.

    async def _score_batch(self, batch: list[_Waiting]) -> None:
        try:
            try:
                result = await Scorer.score(self, RunArguments(args=(batch,)))
            except ScoringError as exc:
                for waiting in batch:
                    _settle_error(waiting.future, _fresh(exc))
                return
            for waiting, value in zip(batch, result.value):
                if isinstance(value, _Failed):
                    # Failed on its own (its input, or an exception in the results): as an
                    # unbatched run() raising for it, one failure counted.
                    if self._meter is not None:
                        self._meter.failed()
                    _settle_error(waiting.future, value.error)
                elif not waiting.future.done():
                    waiting.future.set_result(ScoreResult(value, result.elapsed_ms))
        finally:
            self._in_flight -= 1
            self._dispatch()

    def _call(self, batch: list[_Waiting]) -> list[Any]:
        """On a run() thread: run() once per group of requests shaped alike."""
        outcomes: list[Any] = [None] * len(batch)
        for indices, args, kwargs in self._groups(batch, outcomes):
            self._split(self._base(*args, **kwargs), indices, outcomes)
        return outcomes

    async def _call_async(self, batch: list[_Waiting]) -> list[Any]:
        """An async run(), awaited once per group of requests shaped alike."""
        outcomes: list[Any] = [None] * len(batch)
        for indices, args, kwargs in self._groups(batch, outcomes):
            self._split(await self._base(*args, **kwargs), indices, outcomes)
        return outcomes

    def _groups(
        self, batch: list[_Waiting], outcomes: list[Any]
    ) -> list[tuple[list[int], tuple[Any, ...], dict[str, Any]]]:
        """The requests grouped by argument shape, each argument a list with one entry each.

        Requests reach run() through different routes (/score, the protocols), and a request
        whose input the schema rejects fails alone, as it would unbatched.
        """
        groups: dict[tuple[int, tuple[str, ...]], list[tuple[int, RunArguments]]] = {}
        for index, waiting in enumerate(batch):
            try:
                arguments = self._converted(waiting.arguments)
            except Exception as exc:
                log_exception(exc)
                outcomes[index] = _Failed(RunFunctionError())
                continue
            shape = (len(arguments.args), tuple(sorted(arguments.kwargs)))
            groups.setdefault(shape, []).append((index, arguments))
        calls = []
        for (positional, names), members in groups.items():
            args = tuple([a.args[i] for _, a in members] for i in range(positional))
            kwargs = {name: [a.kwargs[name] for _, a in members] for name in names}
            calls.append(([index for index, _ in members], args, kwargs))
        return calls

    def _converted(self, arguments: RunArguments) -> RunArguments:
        """The arguments as inference-schema's decorators turn them into run()'s types."""
        for layer in self._layers:
            captured: list[RunArguments] = []
            layer(
                partial(_collect, captured),
                None,
                arguments.args,
                dict(arguments.kwargs),
            )
            arguments = captured[0]
        return arguments

    @staticmethod
    def _split(results: Any, indices: list[int], outcomes: list[Any]) -> None:
        """Each request's own result; an exception in the list fails its request alone."""
        if isinstance(results, (str, bytes, Mapping)) or not hasattr(results, "__len__"):
            raise BatchResultError(
                f"A batched run() must return a list with one result per input; it returned "
                f"{type(results).__name__} for {len(indices)} inputs."
            )
        values = list(results)
        if len(values) != len(indices):
            raise BatchResultError(
                f"A batched run() must return one result per input, in order; it returned "
                f"{len(values)} results for {len(indices)} inputs."
            )
        for index, value in zip(indices, values):
            if isinstance(value, BaseException):
                log_exception(value)
                failed = RunFunctionError()
                failed.__cause__ = value
                value = _Failed(failed)
            outcomes[index] = value


def _call_layers(script: EntryScript) -> tuple[list[Callable[..., Any]], Callable[..., Any]]:
    """inference-schema's converting wrappers around run(), outermost first, and run() itself.

    A batched run() with @input_schema receives lists of converted values, so the conversion
    each wrapper makes is applied to every request on its own. The wrappers are wrapt
    FunctionWrappers; their wrapper function is reached through wrapt's `_self_wrapper`,
    checked here at start-up.
    """
    if script.mode is not InputMode.SCHEMA:
        return [], script.run
    layers: list[Callable[..., Any]] = []
    current: Any = script.run
    while type(current).__name__ in ("FunctionWrapper", "BoundFunctionWrapper"):
        wrapper = getattr(current, "_self_wrapper", None)
        inner = getattr(current, "__wrapped__", None)
        if not callable(wrapper) or inner is None:
            break
        layers.append(wrapper)
        current = inner
    if not layers or hasattr(current, "__wrapped__"):
        raise EntryScriptError(
            f"The batched run() in {script.path} is wrapped in a way scoreserver cannot batch: "
            f"put @scoreserver.batch and inference-schema's decorators directly on run(), "
            f"with no other decorator between them."
        )
    return layers, current


def _collect(into: list[RunArguments], *args: Any, **kwargs: Any) -> None:
    """Stands in for run() under a converting wrapper, keeping what the wrapper passes on."""
    into.append(RunArguments(args, kwargs))


def _fresh(exc: ScoringError) -> ScoringError:
    """An error of the same kind for each request of a failed batch (each raises its own)."""
    if isinstance(exc, ScoringTimeoutError):
        return ScoringTimeoutError(exc.timeout_ms)
    fresh = type(exc)(exc.message) if isinstance(exc, RunFunctionError) else exc
    fresh.__cause__ = exc.__cause__
    return fresh


def _settle_error(future: asyncio.Future[ScoreResult], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
