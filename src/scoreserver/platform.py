"""What differs between Linux, macOS and Windows in the process layer, chosen by capability.

The rest of the process layer asks this module, never `sys.platform`:

                     Linux             macOS                  Windows
    start method     fork              spawn                  spawn
    custody channel  SOCK_SEQPACKET    SOCK_STREAM, framed    none
    open-files limit raised to hard    raised to hard         no such limit (no resource module)
    stop signals     SIGTERM, SIGINT   SIGTERM, SIGINT        SIGINT (Ctrl+C), SIGBREAK
    event loop       uvloop            uvloop                 asyncio (selector)

Workers are forked only where fork is the platform's own default start method: macOS made spawn
its default (Python 3.8) because its system libraries are not safe to use after a fork, and
Windows has nothing else. SCORESERVER_PORTABLE_PROCESSES takes the spawn and stream-socket paths
on Linux too, so the test suite runs them everywhere.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["ProcessPlatform", "raise_descriptor_limit", "run_event_loop", "uvloop_available"]

CUSTODY_PACKETS = "packets"
"""Custody over AF_UNIX SOCK_SEQPACKET: the kernel keeps each message and its sockets whole."""
CUSTODY_STREAM = "stream"
"""Custody over AF_UNIX SOCK_STREAM, each batch framed by a count (custody_channels.py)."""


@dataclass(frozen=True)
class ProcessPlatform:
    """The process mechanisms this server uses here."""

    start_method: str
    """"fork" or "spawn"."""
    custody: str | None
    """CUSTODY_PACKETS, CUSTODY_STREAM, or None where descriptors cannot be passed."""
    stop_signals: tuple[int, ...]
    """The signals that drain and stop the server."""

    @classmethod
    def detect(cls, portable: bool = False) -> ProcessPlatform:
        """What this system offers; `portable` takes the macOS paths where both exist."""
        methods = multiprocessing.get_all_start_methods()
        forks = "fork" in methods and methods[0] != "spawn" and not portable
        custody: str | None = None
        if hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds"):
            custody = CUSTODY_PACKETS if _seqpacket_works() and not portable else CUSTODY_STREAM
        # Windows delivers no SIGTERM from outside; its consoles send Ctrl+C and Ctrl+Break.
        names = ("SIGINT", "SIGBREAK") if hasattr(signal, "SIGBREAK") else ("SIGTERM", "SIGINT")
        stops = tuple(getattr(signal, name) for name in names)
        return cls("fork" if forks else "spawn", custody, stops)

    @property
    def forks(self) -> bool:
        """Workers are forked: they inherit the supervisor's memory and descriptors."""
        return self.start_method == "fork"

    def context(self) -> BaseContext:
        """The multiprocessing context workers and the reload watcher are started with."""
        return multiprocessing.get_context(self.start_method)

    @contextlib.contextmanager
    def stop_signals_held(self) -> Iterator[None]:
        """Hold stop signals while a child starts, so none runs the parent's handler in it."""
        if not hasattr(signal, "pthread_sigmask"):
            yield
            return
        signal.pthread_sigmask(signal.SIG_BLOCK, self.stop_signals)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.stop_signals)

    def reset_child_signals(self, on_interrupt: Any = signal.default_int_handler) -> None:
        """In a new child: default stop handling, and the signals held at its start let through."""
        for signum in self.stop_signals:
            handler = on_interrupt if signum == signal.SIGINT else signal.SIG_DFL
            signal.signal(signum, handler)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.stop_signals)

    def ask_to_stop(self, process: BaseProcess, console_stop: bool = False) -> None:
        """Ask a child process to drain and exit.

        Windows cannot ask another process: at a stop from the console (Ctrl+C, Ctrl+Break) the
        console has told every process on it already, and otherwise the child is ended.
        """
        if signal.SIGTERM in self.stop_signals:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        elif not console_stop:
            process.terminate()


def _seqpacket_works() -> bool:
    """AF_UNIX SOCK_SEQPACKET exists here (macOS defines the constant but refuses the pair)."""
    kind = getattr(socket, "SOCK_SEQPACKET", None)
    if kind is None:
        return False
    try:
        first, second = socket.socketpair(socket.AF_UNIX, kind)
    except OSError:
        return False
    first.close()
    second.close()
    return True


def raise_descriptor_limit() -> None:
    """Allow as many open files as the hard limit does (where there is such a limit).

    The supervisor holds a copy of every connection of every worker (custody.py), so it needs
    as many descriptors as all workers together; the workers inherit the raised limit.
    """
    try:
        import resource
    except ImportError:  # Windows: no per-process limit of this kind
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def uvloop_available() -> bool:
    """uvloop is installed (it is on Linux and macOS; it does not exist for Windows)."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a worker's event loop: uvloop where there is one, asyncio's selector loop elsewhere."""
    if uvloop_available():
        import uvloop

        uvloop.run(main)
        return
    import asyncio

    # The selector loop, not Windows' default proactor: the proactor cannot accept on a
    # listening socket that another worker process accepts on too (WinError 87).
    loop = asyncio.SelectorEventLoop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
