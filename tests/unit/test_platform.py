"""platform: the process mechanisms chosen from what the system offers."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
import socket
import sys
import time

import pytest

from scoreserver.platform import (
    CUSTODY_PACKETS,
    CUSTODY_STREAM,
    ProcessPlatform,
    port_taken,
    raise_descriptor_limit,
    reuse_address_option,
    run_event_loop,
    uvloop_available,
)

if sys.platform != "win32":  # files limits are POSIX's
    import resource


@pytest.mark.linux
def test_linux_forks_and_passes_connections_over_seqpacket() -> None:
    platform = ProcessPlatform.detect()
    assert platform.start_method == "fork"
    assert platform.forks
    assert platform.custody == CUSTODY_PACKETS
    assert platform.stop_signals == (signal.SIGTERM, signal.SIGINT)
    assert platform.context().get_start_method() == "fork"


@pytest.mark.windows
def test_windows_spawns_keeps_no_connection_copies_and_stops_on_console_events() -> None:
    platform = ProcessPlatform.detect()
    assert platform.start_method == "spawn"
    assert platform.custody is None
    assert platform.stop_signals == (signal.SIGINT, signal.SIGBREAK)


@pytest.mark.posix
def test_portable_takes_the_macos_paths() -> None:
    platform = ProcessPlatform.detect(portable=True)
    assert platform.start_method == "spawn"
    assert not platform.forks
    assert platform.custody == CUSTODY_STREAM
    assert platform.context().get_start_method() == "spawn"


@pytest.mark.posix
def test_stop_signals_are_held_while_a_child_starts_and_let_through_after() -> None:
    platform = ProcessPlatform.detect()
    with platform.stop_signals_held():
        held = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert {signal.SIGTERM, signal.SIGINT} <= held
    assert not {signal.SIGTERM, signal.SIGINT} & after


def _report_stop_handling(platform: ProcessPlatform, queue: multiprocessing.Queue[object]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    platform.reset_child_signals()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    queue.put((signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.SIGTERM in mask))


@pytest.mark.posix
def test_a_spawned_child_gets_default_stop_handling_and_the_held_signals() -> None:
    platform = ProcessPlatform.detect(portable=True)
    context = platform.context()
    queue: multiprocessing.Queue[object] = context.Queue()
    with platform.stop_signals_held():
        child = context.Process(target=_report_stop_handling, args=(platform, queue))
        child.start()
    assert queue.get(timeout=30) == (True, False)
    child.join(timeout=30)
    assert child.exitcode == 0


@pytest.mark.posix
def test_the_descriptor_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        raise_descriptor_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.posix
def test_the_event_loop_is_uvloop_where_it_is_installed() -> None:
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run_event_loop(main())
    assert uvloop_available()
    assert seen and seen[0].startswith("uvloop")


def _windows_like() -> ProcessPlatform:
    """The stop mechanisms of Windows: no SIGTERM to send another process."""
    return ProcessPlatform("spawn", None, (signal.SIGINT,))


def test_without_sigterm_a_serving_child_is_asked_through_its_stop_flag() -> None:
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=time.sleep, args=(30,))
    child.start()
    try:
        flag = context.RawValue(ctypes.c_byte, 0)
        _windows_like().ask_to_stop(child, flag)
        assert flag.value == 1
        # The child drains and ends by itself when it sees the flag: it is not ended here.
        child.join(timeout=0.5)
        assert child.is_alive()
    finally:
        child.kill()
        child.join()


def test_without_sigterm_or_flag_a_child_is_ended_and_a_console_stop_left_to_the_console() -> None:
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=time.sleep, args=(30,)) for _ in range(2)]
    for child in children:
        child.start()
    try:
        flag = context.RawValue(ctypes.c_byte, 0)
        _windows_like().ask_to_stop(children[0], flag, console_stop=True)
        _windows_like().ask_to_stop(children[1], None)
        children[1].join(timeout=10)
        assert children[1].exitcode == -signal.SIGTERM
        assert flag.value == 0 and children[0].is_alive()
    finally:
        for child in children:
            child.kill()
            child.join()


def test_a_port_another_server_listens_on_is_refused_and_said_to_be_taken() -> None:
    with socket.socket() as first, socket.socket() as second:
        for sock in (first, second):
            sock.setsockopt(socket.SOL_SOCKET, *reuse_address_option())
        first.bind(("127.0.0.1", 0))
        first.listen()
        with pytest.raises(OSError) as refused:
            second.bind(first.getsockname())
    assert port_taken(refused.value)
    assert not port_taken(OSError(13, "Permission denied"))
