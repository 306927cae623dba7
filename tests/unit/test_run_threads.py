"""The run() threads: results and errors come back, timeouts free the thread, no call is lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scoreserver.script.run_threads import CallExited, CallTimedOut, RunThreads, Timed


def run(coroutine_function, *args):  # type: ignore[no-untyped-def]
    """Run an async test body on a fresh event loop."""
    return asyncio.run(coroutine_function(*args))


def test_a_result_comes_back_with_its_time() -> None:
    async def main() -> Timed:
        threads = RunThreads(asyncio.get_running_loop(), 1, 5)
        try:
            return await threads.submit(lambda: 42)
        finally:
            threads.close()

    timed = run(main)
    assert timed.value == 42
    assert timed.elapsed_ms >= 0


def test_run_is_called_off_the_event_loop_thread() -> None:
    async def main() -> str:
        threads = RunThreads(asyncio.get_running_loop(), 1, 5)
        try:
            return (await threads.submit(lambda: threading.current_thread().name)).value
        finally:
            threads.close()

    assert run(main) != threading.current_thread().name


def test_an_exception_is_raised_to_the_caller() -> None:
    def fail() -> None:
        raise ValueError("boom")

    async def main() -> None:
        threads = RunThreads(asyncio.get_running_loop(), 1, 5)
        try:
            await threads.submit(fail)
        finally:
            threads.close()

    with pytest.raises(ValueError, match="boom"):
        run(main)


def test_system_exit_fails_the_call_not_the_server() -> None:
    def leave() -> None:
        raise SystemExit(3)

    async def main() -> None:
        threads = RunThreads(asyncio.get_running_loop(), 1, 5)
        try:
            await threads.submit(leave)
        finally:
            threads.close()

    with pytest.raises(CallExited) as caught:
        run(main)
    assert isinstance(caught.value.__cause__, SystemExit)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_many_calls_all_come_back_in_order_of_their_callers(concurrency: int) -> None:
    async def main() -> list[int]:
        threads = RunThreads(asyncio.get_running_loop(), concurrency, 5)

        async def caller(n: int) -> list[int]:
            got = []
            for i in range(200):
                got.append((await threads.submit(lambda i=i: n * 1000 + i)).value)
                if i % 7 == 0:
                    await asyncio.sleep(0)
            return got

        try:
            results = await asyncio.gather(*(caller(n) for n in range(16)))
        finally:
            threads.close()
        return [v for got in results for v in got]

    assert run(main) == [n * 1000 + i for n in range(16) for i in range(200)]


def test_calls_submitted_one_by_one_to_an_idle_thread_all_complete() -> None:
    async def main() -> int:
        threads = RunThreads(asyncio.get_running_loop(), 2, 5)
        total = 0
        try:
            for i in range(300):
                total += (await threads.submit(lambda i=i: i)).value
                if i % 10 == 0:
                    await asyncio.sleep(0.001)  # let the threads fall asleep again
        finally:
            threads.close()
        return total

    assert run(main) == sum(range(300))


def test_a_timeout_frees_the_thread_for_the_next_call() -> None:
    release = threading.Event()

    async def main() -> tuple[float, int]:
        threads = RunThreads(asyncio.get_running_loop(), 1, 0.2)
        try:
            start = time.perf_counter()
            with pytest.raises(CallTimedOut):
                await threads.submit(lambda: release.wait(10))
            waited = time.perf_counter() - start
            return waited, (await threads.submit(lambda: 7)).value
        finally:
            release.set()
            threads.close()

    waited, value = run(main)
    assert 0.2 <= waited < 1.0
    assert value == 7


def test_the_timeout_counts_from_when_run_starts_not_from_the_queue() -> None:
    async def main() -> list[object]:
        threads = RunThreads(asyncio.get_running_loop(), 1, 0.3)
        try:
            # Each takes 0.2 s: within the timeout, though the second waits 0.2 s to start.
            first = threads.submit(lambda: time.sleep(0.2) or 1)
            second = threads.submit(lambda: time.sleep(0.2) or 2)
            return [t.value for t in await asyncio.gather(first, second)]
        finally:
            threads.close()

    assert run(main) == [1, 2]


def test_the_event_loop_keeps_running_while_run_is_busy() -> None:
    async def main() -> int:
        threads = RunThreads(asyncio.get_running_loop(), 1, 5)
        try:
            busy = threads.submit(lambda: time.sleep(0.3))
            ticks = 0
            while not busy.done():
                await asyncio.sleep(0.01)
                ticks += 1
            await busy
            return ticks
        finally:
            threads.close()

    assert run(main) >= 10


def _open_pipe_inodes() -> set[int]:
    """The inodes of the pipes this process holds a descriptor of, read from /proc."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (listdir's own descriptor, another thread's)
        if target.startswith("pipe:["):
            inodes.add(int(target[6:-1]))
    return inodes


def _close_threads(check_pipe: Callable[[int], None] = lambda inode: None) -> None:
    """Start threads, use them, close them twice; wait for the threads to end (5 s at most)."""

    async def main() -> None:
        threads = RunThreads(asyncio.get_running_loop(), 3, 5)
        check_pipe(os.fstat(threads._wake_read).st_ino)
        await asyncio.gather(*(threads.submit(lambda: None) for _ in range(10)))
        threads.close()
        threads.close()  # twice is harmless

    # Threads other tests abandoned (a run() that outlived its timeout) may still be ending.
    # By Thread object, not ident: a thread that ends meanwhile frees its ident for one of ours.
    before = set(threading.enumerate())

    def ours() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("run_") and t not in before]

    run(main)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and ours():
        time.sleep(0.01)
    assert ours() == []


def test_close_ends_the_threads() -> None:
    _close_threads()


@pytest.mark.linux  # a pipe's identity, from /proc
def test_close_releases_the_pipe() -> None:
    pipe_inodes: list[int] = []

    def check_pipe(inode: int) -> None:
        assert inode in _open_pipe_inodes()
        pipe_inodes.append(inode)

    _close_threads(check_pipe)
    # By inode, not by descriptor number: another thread may already hold the same number again.
    assert pipe_inodes and pipe_inodes[0] not in _open_pipe_inodes()


def test_exiting_without_close_is_silent(tmp_path: Path) -> None:
    program = (
        "import asyncio\n"
        "from scoreserver.script.run_threads import RunThreads\n"
        "async def main():\n"
        "    threads = RunThreads(asyncio.get_running_loop(), 2, 5)\n"
        "    for _ in range(3):\n"
        "        await asyncio.gather(*(threads.submit(lambda: 1) for _ in range(20)))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stderr == ""


def test_a_call_that_ends_after_the_event_loop_closed_is_dropped_quietly() -> None:
    failures: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = failures.append
    try:

        async def main() -> None:
            threads = RunThreads(asyncio.get_running_loop(), 1, 0.05)
            with pytest.raises(CallTimedOut):
                await threads.submit(lambda: time.sleep(0.3))

        run(main)  # the loop is closed when this returns; the abandoned call still sleeps
        time.sleep(0.5)
    finally:
        threading.excepthook = previous
    assert failures == []
