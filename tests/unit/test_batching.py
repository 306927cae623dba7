"""batching.py: the mark, the settings override, and grouping requests into run() calls."""

from __future__ import annotations

import asyncio
import gc
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema

from scoreserver import batch
from scoreserver.errors import EntryScriptError, RunFunctionError, ScoringTimeoutError
from scoreserver.script.batching import BatchingScorer, BatchPolicy, batch_policy, scorer_for
from scoreserver.script.entry_script import EntryScript, describe_run
from scoreserver.script.inputs import RunArguments
from scoreserver.script.scoring import Scorer, ScoreResult
from scoreserver.settings import Settings

RECEIVED: list[list[Any]] = []


def entry(run: Callable[..., Any]) -> EntryScript:
    """run() described as the server would from a loaded script."""
    return describe_run(Path("score.py"), types.ModuleType("score"), None, run)


def scorer(run: Callable[..., Any], timeout_ms: int = 10_000, **policy: Any) -> BatchingScorer:
    numbers = {"max_batch_size": 4, "max_latency_ms": 50.0, **policy}
    return BatchingScorer(entry(run), timeout_ms, 1, BatchPolicy(**numbers))


def plain(n: Any) -> RunArguments:
    return RunArguments(args=(n,))


async def score_all(scoring: Scorer, arguments: list[RunArguments]) -> list[Any]:
    """Every request at once; each one's result value, or the exception it got."""
    outcomes = await asyncio.gather(*(scoring.score(a) for a in arguments), return_exceptions=True)
    scoring.close()
    return [o.value if isinstance(o, ScoreResult) else o for o in outcomes]


def test_batch_marks_run_itself_and_checks_its_numbers() -> None:
    @batch(max_batch_size=8, max_latency_ms=2)
    def run(data: list[str]) -> list[str]:
        return data

    assert batch_policy(run) == BatchPolicy(8, 2.0)
    assert batch_policy(lambda data: data) is None
    with pytest.raises(ValueError, match="max_batch_size"):
        batch(max_batch_size=0)
    with pytest.raises(ValueError, match="max_latency_ms"):
        batch(max_latency_ms=-1)
    with pytest.raises(TypeError):
        batch(max_batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs its parentheses: write @scoreserver.batch\(\)"):

        @batch  # type: ignore[arg-type]
        def bare(data: list[str]) -> list[str]:
            return data


def test_the_mark_is_found_through_schema_decorators_in_either_order() -> None:
    sample = NumpyParameterType(np.array([[1.0]]))

    @batch(max_batch_size=3)
    @input_schema("data", sample)
    def outer(data: Any) -> Any:
        return data

    @input_schema("data", sample)
    @batch(max_batch_size=5)
    def inner(data: Any) -> Any:
        return data

    assert batch_policy(outer) == BatchPolicy(3, 5.0)
    assert batch_policy(inner) == BatchPolicy(5, 5.0)


def test_settings_override_the_script_s_numbers_and_plain_scripts_stay_plain() -> None:
    @batch(max_batch_size=8, max_latency_ms=2)
    def run(data: list[str]) -> list[str]:
        return data

    settings = Settings.from_sources(
        environ={"SCORESERVER_MAX_BATCH_SIZE": "64", "SCORESERVER_MAX_BATCH_LATENCY_MS": "0.5"}
    )
    batched = scorer_for(entry(run), settings)
    assert isinstance(batched, BatchingScorer)
    assert batched.policy == BatchPolicy(64, 0.5)
    assert batched.capacity == 64
    unmarked = scorer_for(entry(lambda data: data), Settings())
    assert type(unmarked) is Scorer


def test_a_batching_worker_leaves_what_init_made_out_of_garbage_collections() -> None:
    @batch()
    def run(data: list[str]) -> list[str]:
        return data

    gc.unfreeze()
    try:
        scorer_for(entry(lambda data: data), Settings())
        assert gc.get_freeze_count() == 0  # an undecorated script's worker is left as it was
        scorer_for(entry(run), Settings())
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_full_batch_is_one_call_and_results_go_back_in_order() -> None:
    calls: list[list[int]] = []

    def run(data: list[int]) -> list[int]:
        calls.append(list(data))
        return [n * 10 for n in data]

    # A latency far beyond the test: only a full batch can have been called.
    scoring = scorer(run, max_batch_size=4, max_latency_ms=60_000)
    assert asyncio.run(score_all(scoring, [plain(n) for n in range(4)])) == [0, 10, 20, 30]
    assert calls == [[0, 1, 2, 3]]


def test_a_lone_request_is_called_after_the_latency_and_more_than_a_batch_is_split() -> None:
    calls: list[list[int]] = []

    def run(data: list[int]) -> list[int]:
        calls.append(list(data))
        return data

    scoring = scorer(run, max_batch_size=4, max_latency_ms=1)
    assert asyncio.run(score_all(scoring, [plain(n) for n in range(6)])) == list(range(6))
    assert sorted(len(c) for c in calls) == [2, 4]
    assert asyncio.run(score_all(scorer(run, max_latency_ms=1), [plain(9)])) == [9]


def test_failures_reach_exactly_the_requests_they_belong_to() -> None:
    def run(data: list[Any]) -> list[Any]:
        if "boom" in data:
            raise RuntimeError("boom")
        if "short" in data:
            return data[:-1]
        if "text" in data:
            return "not a list"  # type: ignore[return-value]
        return [ValueError(n) if n == "bad" else n for n in data]

    outcomes = asyncio.run(score_all(scorer(run), [plain("a"), plain("bad"), plain("c")]))
    assert outcomes[0] == "a" and outcomes[2] == "c"
    assert isinstance(outcomes[1], RunFunctionError)
    assert isinstance(outcomes[1].__cause__, ValueError)
    for trigger in ("boom", "short", "text"):
        outcomes = asyncio.run(score_all(scorer(run), [plain("x"), plain(trigger)]))
        assert all(isinstance(o, RunFunctionError) for o in outcomes)
        assert outcomes[0] is not outcomes[1]


def test_the_timeout_answers_the_whole_batch_and_frees_the_worker() -> None:
    release = threading.Event()

    def run(data: list[str]) -> list[str]:
        if "slow" in data:
            release.wait(10)
        return data

    async def scenario() -> list[Any]:
        scoring = scorer(run, timeout_ms=100, max_batch_size=2, max_latency_ms=1)
        timed_out = await score_all_open(scoring, [plain("slow"), plain("x")])
        after = await scoring.score(plain("next"))
        release.set()
        scoring.close()
        return [*timed_out, after.value]

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, ScoringTimeoutError) for o in outcomes[:2])
    assert outcomes[2] == "next"


async def score_all_open(scoring: Scorer, arguments: list[RunArguments]) -> list[Any]:
    outcomes = await asyncio.gather(*(scoring.score(a) for a in arguments), return_exceptions=True)
    return list(outcomes)


def test_an_async_run_is_batched_and_awaited() -> None:
    @batch()
    async def run(data: list[int], request_headers: list[dict[str, str]]) -> list[Any]:
        await asyncio.sleep(0)
        return [(n, h["Id"]) for n, h in zip(data, request_headers)]

    arguments = [
        RunArguments(args=(n,), kwargs={"request_headers": {"Id": str(n)}}) for n in (1, 2)
    ]
    assert asyncio.run(score_all(scorer(run, max_batch_size=2), arguments)) == [(1, "1"), (2, "2")]


def test_schema_conversion_is_per_request_and_a_rejected_input_fails_alone() -> None:
    @input_schema("data", NumpyParameterType(np.array([[1.0, 2.0]])))
    @batch()
    def run(data: list[np.ndarray]) -> list[float]:
        # No closure: inference-schema reads a closure's cells as decorators.
        RECEIVED.append(data)
        return [float(rows.sum()) for rows in data]

    arguments = [
        RunArguments(kwargs={"data": [[1.0, 2.0]]}),
        RunArguments(kwargs={"data": "not rows"}),
        RunArguments(kwargs={"data": [[3.0, 4.0], [5.0, 6.0]]}),
    ]
    outcomes = asyncio.run(score_all(scorer(run, max_batch_size=3), arguments))
    assert outcomes[0] == 3.0 and outcomes[2] == 18.0
    assert isinstance(outcomes[1], RunFunctionError)
    assert all(isinstance(rows, np.ndarray) for rows in RECEIVED[-1])


def test_a_batched_schema_run_under_an_unknown_wrapper_is_refused_at_start() -> None:
    import functools

    @input_schema("data", NumpyParameterType(np.array([[1.0]])))
    @batch()
    def run(data: Any) -> Any:
        return data

    @functools.wraps(run)
    def wrapped(data: Any) -> Any:
        return run(data)

    with pytest.raises(EntryScriptError, match="cannot batch"):
        scorer(wrapped)


def test_with_concurrency_n_batches_are_in_run_at_once() -> None:
    # Each call waits for another to be in run() too: only two batches at once can pass.
    both = threading.Barrier(2, timeout=10)

    def run(data: list[int]) -> list[int]:
        both.wait()
        return data

    scoring = BatchingScorer(entry(run), 20_000, 2, BatchPolicy(1, 1.0))
    assert asyncio.run(score_all(scoring, [plain(1), plain(2)])) == [1, 2]
