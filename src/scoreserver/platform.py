"""What differs between Linux, macOS and Windows in the process layer, chosen by capability.

The rest of the process layer asks this module, never `sys.platform`. Choices are made by
capability; the POSIX calls Windows lacks are wrapped here behind a `sys.platform` check that
tells the type checker (`mypy --platform win32`) they are never reached there:

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
import errno
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What multiprocessing's Pipe() gives: its own class on Windows.
    if sys.platform == "win32":
        from multiprocessing.connection import PipeConnection as ProcessPipe
    else:
        from multiprocessing.connection import Connection as ProcessPipe

__all__ = [
    "ProcessPipe",
    "ProcessPlatform",
    "files_limit",
    "hung_up",
    "raise_descriptor_limit",
    "receive_fds",
    "receive_waiting",
    "run_event_loop",
    "send_fds",
    "unix_socket_pair",
    "uvloop_available",
]

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
        if sys.platform == "win32":  # no signal masks there
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
        if sys.platform != "win32":  # no signal masks there
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.stop_signals)

    def ask_to_stop(
        self, process: BaseProcess, flag: Any = None, console_stop: bool = False
    ) -> None:
        """Ask a child process to drain and exit: SIGTERM, or its stop flag where there is none.

        Windows cannot signal another process: at a stop from the console (Ctrl+C, Ctrl+Break)
        the console has told every process on it already; otherwise the child's stop flag (a
        shared c_byte it looks at every second) is raised, and a child without one is ended.
        """
        if signal.SIGTERM in self.stop_signals:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        elif console_stop:
            return
        elif flag is not None:
            flag.value = 1
        else:
            process.terminate()


def reuse_address_option() -> tuple[int, int]:
    """The socket option a listening socket takes so that a restart can bind its port at once,
    while a port another server listens on stays refused."""
    if sys.platform == "win32":
        # Windows' SO_REUSEADDR would let this socket share a port another server listens on;
        # its exclusive use keeps the port's owner alone (and TIME_WAIT does not block there).
        return socket.SO_EXCLUSIVEADDRUSE, 1
    return socket.SO_REUSEADDR, 1


_WSAEACCES = 10013


def port_taken(exc: OSError) -> bool:
    """Whether a failed bind means another socket has the port."""
    if sys.platform == "win32" and getattr(exc, "winerror", None) == _WSAEACCES:
        # Where either socket asked for exclusive use (ours do), Windows refuses with this.
        return True
    return exc.errno == errno.EADDRINUSE


def parent_gone() -> bool:
    """Whether the process that started this one (a worker's supervisor) has ended."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return False
    if sys.platform == "win32":
        return not parent.is_alive()  # a handle on the parent's process, signalled as it ends
    # Not the sentinel pipe: siblings forked later may hold its other end open. An orphan is
    # adopted by another process, so its parent's pid changes.
    return os.getppid() != parent.pid


def _seqpacket_works() -> bool:
    """AF_UNIX SOCK_SEQPACKET exists here (macOS defines the constant but refuses the pair)."""
    kind = getattr(socket, "SOCK_SEQPACKET", None)
    if kind is None or sys.platform == "win32":
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
    if sys.platform == "win32":  # no per-process limit of this kind
        return
    import resource

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


def files_limit() -> int | None:
    """This process's soft limit of open files; None when there is none."""
    if sys.platform == "win32":  # no such limit there
        return None
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


# Connection custody passes descriptors between processes over AF_UNIX sockets. detect() turns
# it off where they are missing (Windows), so these are only ever called elsewhere.
_NO_DESCRIPTOR_PASSING = "descriptors cannot be passed between processes here"


def unix_socket_pair(kind: int) -> tuple[socket.socket, socket.socket]:
    """A connected pair of AF_UNIX sockets of that type."""
    if sys.platform == "win32":
        raise OSError(errno.EOPNOTSUPP, _NO_DESCRIPTOR_PASSING)
    return socket.socketpair(socket.AF_UNIX, kind)


def send_fds(sock: socket.socket, data: bytes, fds: list[int]) -> int:
    """Send data with the descriptors riding on it; the bytes sent."""
    if sys.platform == "win32":
        raise OSError(errno.EOPNOTSUPP, _NO_DESCRIPTOR_PASSING)
    return socket.send_fds(sock, [data], fds)


def receive_fds(sock: socket.socket, size: int, most: int) -> tuple[bytes, list[int]]:
    """Up to `size` bytes and the descriptors that came with them (at most `most`)."""
    if sys.platform == "win32":
        raise OSError(errno.EOPNOTSUPP, _NO_DESCRIPTOR_PASSING)
    data, fds, _flags, _address = socket.recv_fds(sock, size, most)
    return data, fds


def hung_up(fds: Iterable[int]) -> set[int]:
    """Those of the sockets whose other end is gone (or failed), without waiting."""
    if sys.platform == "win32":
        raise OSError(errno.EOPNOTSUPP, _NO_DESCRIPTOR_PASSING)
    import select

    poller = select.poll()
    for fd in fds:
        poller.register(fd, 0)  # hang-ups and errors are reported whatever is asked
    return {fd for fd, _event in poller.poll(0)}


def receive_waiting(sock: socket.socket, size: int) -> bytes:
    """What has arrived on a blocking socket, up to `size` bytes, without waiting for more."""
    if sys.platform == "win32":
        raise OSError(errno.EOPNOTSUPP, _NO_DESCRIPTOR_PASSING)
    return sock.recv(size, socket.MSG_DONTWAIT)
