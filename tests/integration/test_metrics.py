"""GET /metrics on the real CLI: known traffic to two workers, scraped and parsed, counted exactly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cli_support import SCRIPTS, wait_until
from tests.integration.server import RunningServer, free_port, serving

OUTCOMES = str(SCRIPTS / "metrics_outcomes.py")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics by name and labels (parsed with prometheus_client)."""
    response = httpx.get(url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is not there (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include those given (over workers, say)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples, "scoreserver_requests_total", route=route, method=method, status=str(status)
    )


def _post(server: RunningServer, body: str) -> httpx.Response:
    return httpx.post(server.url + "/score", content=body, timeout=30)


def _both_workers(server: RunningServer) -> int:
    """Send pairs of overlapping requests until two workers have answered; return how many."""
    pids: set[int] = set()
    sent = 0
    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            answers = list(pool.map(lambda _: _post(server, "0.2"), range(2)))
            sent += 2
            assert all(a.status_code == 200 for a in answers)
            pids.update(a.json()["pid"] for a in answers)
            if len(pids) == 2:
                return sent
    raise AssertionError(f"only {pids} answered")


def test_known_traffic_to_two_workers_is_counted_exactly() -> None:
    with serving(
        ["--entry_script", OUTCOMES, "--worker_count", "2"], env={"SCORING_TIMEOUT_MS": "1000"}
    ) as server:
        before = scrape(server.url)
        ok = _both_workers(server)
        failures = [_post(server, "fail") for _ in range(3)]
        timeout = _post(server, "1.5")
        refused = httpx.put(server.url + "/score", timeout=10)
        probes = [httpx.get(server.url + "/", timeout=10) for _ in range(2)]
        assert [r.status_code for r in failures] == [500] * 3
        assert timeout.status_code == 500
        assert "Scoring timeout" in timeout.json()["message"]
        assert refused.status_code == 405
        assert [p.status_code for p in probes] == [200, 200]

        after = scrape(server.url)
        assert requests(after, "/score", "POST", 200) == ok
        assert requests(after, "/score", "POST", 500) == 4
        assert requests(after, "/score", "PUT", 405) == 1
        assert requests(after, "/", "GET", 200) - requests(before, "/", "GET", 200) == 2
        assert value(after, "scoreserver_run_failures_total") == 3
        assert value(after, "scoreserver_run_timeouts_total") == 1
        assert value(after, "scoreserver_run_duration_seconds_count") == ok
        # Each accepted run() slept 0.2 s: none is in a bucket below that.
        assert value(after, "scoreserver_run_duration_seconds_bucket", le="0.1") == 0
        assert value(after, "scoreserver_run_duration_seconds_bucket", le="+Inf") == ok
        assert 0.2 * ok <= value(after, "scoreserver_run_duration_seconds_sum") < 1.0 * ok
        durations = "scoreserver_request_duration_seconds_count"
        assert value(after, durations, route="/score") == ok + 4 + 1
        assert value(after, "scoreserver_worker_restarts_total") == 0
        assert value(after, "scoreserver_crash_answers_total") == 0
        workers = {
            dict(ls)["worker"] for n, ls in after if n == "scoreserver_worker_cpu_seconds_total"
        }
        assert workers == {"0", "1"}
        assert all(
            v > 1e6
            for (n, _), v in after.items()
            if n == "scoreserver_worker_resident_memory_bytes"
        )
        assert total(after, "scoreserver_requests_in_flight") == 0


def test_metrics_answer_while_run_is_busy_and_show_it_in_flight_and_queued() -> None:
    with serving(["--entry_script", OUTCOMES]) as server:
        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(_post, server, "4") for _ in range(2)]
            wait_until(lambda: total(scrape(server.url), "scoreserver_requests_queued") == 1)
            busy = scrape(server.url)
            # Answered while both run() calls are still going (each takes 4 s).
            assert not any(f.done() for f in slow)
            assert total(busy, "scoreserver_requests_in_flight") == 2
            assert all(f.result().status_code == 200 for f in slow)
        idle = scrape(server.url)
        assert total(idle, "scoreserver_requests_in_flight") == 0
        assert total(idle, "scoreserver_requests_queued") == 0
        assert requests(idle, "/score", "POST", 200) == 2


@pytest.mark.posix  # the crash answer needs descriptor passing
def test_a_dead_workers_counts_neither_vanish_nor_double() -> None:
    with serving(["--entry_script", OUTCOMES, "--worker_count", "2"]) as server:
        ok = _both_workers(server)
        crashed = _post(server, "exit")
        assert crashed.status_code == 500

        def replaced() -> bool:
            samples = scrape(server.url)
            workers = [ls for n, ls in samples if n == "scoreserver_worker_cpu_seconds_total"]
            return len(workers) == 2 and value(samples, "scoreserver_worker_restarts_total") == 1

        wait_until(replaced, timeout=20)
        after_crash = scrape(server.url)
        assert requests(after_crash, "/score", "POST", 200) == ok
        assert value(after_crash, "scoreserver_crash_answers_total") == 1
        assert total(after_crash, "scoreserver_requests_in_flight") == 0
        more = _both_workers(server)
        final = scrape(server.url)
        assert requests(final, "/score", "POST", 200) == ok + more
        assert value(final, "scoreserver_worker_restarts_total") == 1
        assert value(final, "scoreserver_run_duration_seconds_count") == ok + more


def test_metrics_on_their_own_port_and_turned_off() -> None:
    port = free_port()
    with serving(
        ["--entry_script", OUTCOMES], env={"SCORESERVER_METRICS_PORT": str(port)}
    ) as server:
        assert _post(server, "0").status_code == 200
        metrics_url = f"http://127.0.0.1:{port}"
        assert requests(scrape(metrics_url), "/score", "POST", 200) == 1
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 404
        assert httpx.post(metrics_url + "/score", content="0", timeout=10).status_code == 404
    with serving(["--entry_script", OUTCOMES], env={"SCORESERVER_METRICS": "false"}) as server:
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 404
        assert _post(server, "0").status_code == 200


def test_a_batched_request_that_fails_alone_counts_as_one_failure() -> None:
    script = str(SCRIPTS / "batch_outcomes.py")
    with serving(["--entry_script", script]) as server:
        bodies = ['{"n": 1}', '{"kind": "item_error"}', '{"n": 2}']
        with ThreadPoolExecutor(3) as pool:  # one batch: they arrive within its 300 ms
            answers = list(pool.map(lambda body: _post(server, body), bodies))
        samples = scrape(server.url)
    assert [a.status_code for a in answers] == [200, 500, 200]
    assert answers[0].json()["size"] == 3
    assert value(samples, "scoreserver_run_failures_total") == 1
