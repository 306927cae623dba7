"""--reload: when the application's files change, move traffic to workers on the new code.

The port never closes: the listening sockets belong to the supervisor, and every worker accepts
on the same ones. On a change the supervisor starts a new generation of workers, which import the
script afresh (the supervisor itself never imports it) and run init(). Each accepts connections
as soon as its init() is done; once the whole generation is ready, the previous one is told to
stop (SIGTERM): it stops accepting, answers what it has, and exits. If the new code fails to
import or its init() raises, the new generation is dropped and the previous one goes on serving.

    watcher process ── changed paths ──►  supervisor: Reloader.handle()
    (watchfiles)                            spawn generation n+1   (old still serving)
                                            all ready ──► retire generation n (drains)
                                            one failed ─► drop n+1, log file:line, keep n

watchfiles runs in a process of its own, started before the sockets are bound, so neither the
supervisor nor the workers import it, and it holds no copy of the listening sockets.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from scoreserver.platform import ProcessPlatform
from scoreserver.processes.messages import WorkerFailed, WorkerReady
from scoreserver.settings import Settings

if TYPE_CHECKING:
    from scoreserver.platform import ProcessPipe
    from scoreserver.processes.server import _Worker

__all__ = ["ChangeWatcher", "Reloader", "import_worker", "reload_slots", "watched_paths"]

logger = logging.getLogger("azmlinfsrv")

GENERATIONS = 3
"""Worker slots per configured worker: the serving generation, the next, and one draining."""

KILL_MARGIN_S = 5.0
"""How long past the drain grace period a retired worker may take before it is killed."""


def import_worker() -> ModuleType:
    """scoreserver.processes.worker, with the web stack it imports, but without watchfiles.

    uvicorn imports watchfiles whenever it is installed (for a reload mode of its own that we
    never use), and it would then cost every worker its memory as soon as `scoreserver[reload]`
    is installed. uvicorn falls back to a watcher of its own when the import fails, so the
    import is made to fail while uvicorn loads; should a later uvicorn need watchfiles after
    all, it is imported the ordinary way.
    """
    if "watchfiles" in sys.modules:
        return importlib.import_module("scoreserver.processes.worker")
    sys.modules["watchfiles"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("scoreserver.processes.worker")
    except ImportError:
        sys.modules.pop("watchfiles", None)
        return importlib.import_module("scoreserver.processes.worker")
    finally:
        if "watchfiles" in sys.modules and sys.modules["watchfiles"] is None:
            del sys.modules["watchfiles"]  # the script may import it as usual


def reload_slots(settings: Settings) -> int:
    """How many worker slots the supervisor's shared availability flags need."""
    return settings.worker_count * (GENERATIONS if settings.reload else 1)


def watched_paths(settings: Settings) -> list[Path]:
    """The folders whose changes start a reload: the app root, the script's, the model's."""
    paths = [settings.app_root]
    if settings.entry_script is not None:
        paths.append(settings.entry_script.parent)
    if settings.reload_model_dir and settings.model_dir:
        paths.append((settings.app_root / settings.model_dir).absolute())
    unique: list[Path] = []
    for path in (p.resolve() for p in paths if p.exists()):
        if not any(path.is_relative_to(u) for u in unique):
            unique = [u for u in unique if not u.is_relative_to(path)] + [path]
    return unique


@dataclass(frozen=True)
class Watching:
    """Sent by the watcher once its watches are in place: changes from now on are seen."""

    paths: list[str]


@dataclass(frozen=True)
class Changed:
    """Sent by the watcher for each batch of changed files."""

    paths: list[str]


class _ParentGone:
    """watchfiles' stop event: the watcher ends once the supervisor is gone."""

    def __init__(self, parent: int) -> None:
        self._parent = parent

    def is_set(self) -> bool:
        """Whether the supervisor has exited (the watcher was re-parented)."""
        return os.getppid() != self._parent


def _watch(
    paths: list[Path],
    sender: ProcessPipe,
    parent: int,
    inherited: list[socket.socket | int],
    platform: ProcessPlatform,
) -> None:
    """The watcher process: report each batch of changed files to the supervisor."""
    # Ctrl-C reaches the whole process group: the supervisor stops this process itself.
    platform.reset_child_signals(on_interrupt=signal.SIG_IGN)
    for held in inherited:
        # A copy of a listening socket here would keep the port accepting after a stop, and
        # copies of connections would keep their sockets alive.
        if isinstance(held, socket.socket):
            held.close()
        else:
            os.close(held)
    import watchfiles  # only here: it costs memory, and only this process needs it

    watching = False
    # yield_on_timeout: the first (possibly empty) batch says that the watches are in place.
    batches = watchfiles.watch(
        *paths, stop_event=_ParentGone(parent), rust_timeout=200, yield_on_timeout=True
    )
    for changes in batches:
        try:
            if not watching:
                watching = True
                sender.send(Watching([str(p) for p in paths]))
            if changes:
                sender.send(Changed(sorted({path for _change, path in changes})))
        except OSError:
            return


def forget_bytecode(paths: list[str]) -> None:
    """Delete the cached bytecode of the changed Python files, so that new workers compile them.

    Python trusts a .pyc whose source has the same size and the same modification second: an
    edit that keeps the size (a 1 made a 2) within a second of the last import would otherwise
    be served as the old code.
    """
    for path in paths:
        if path.endswith(".py"):
            with contextlib.suppress(OSError, ValueError):
                os.remove(importlib.util.cache_from_source(path))


# Hashable by identity: Windows' multiprocessing.connection.wait keeps what it waits on in a dict.
@dataclass(eq=False)
class ChangeWatcher:
    """The watcher process and the pipe its changes arrive on."""

    process: BaseProcess
    changes: ProcessPipe
    alive: bool = True

    @classmethod
    def start(
        cls, paths: list[Path], inherited: list[socket.socket | int], platform: ProcessPlatform
    ) -> ChangeWatcher:
        """Start the watcher, which closes the supervisor's sockets it inherits (if forked)."""
        context = platform.context()
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(  # type: ignore[attr-defined]
            target=_watch,
            args=(paths, sender, os.getpid(), inherited, platform),
            name="scoreserver-reload-watcher",
        )
        process.start()
        sender.close()
        return cls(process, receiver)

    def fileno(self) -> int:
        """The pipe, for waiting on it with the workers' pipes."""
        return self.changes.fileno()

    def take(self) -> list[str]:
        """Every changed path reported so far."""
        changed: set[str] = set()
        while self.changes.poll():
            try:
                message = self.changes.recv()
            except (EOFError, OSError):
                # Nothing more will come: waiting on the pipe again would only spin.
                self.alive = False
                logger.error("The file watcher has stopped: changes are no longer reloaded.")
                break
            if isinstance(message, Watching):
                logger.info("Reloading on changes in: %s", ", ".join(message.paths))
            elif isinstance(message, Changed):
                changed.update(message.paths)
        return sorted(changed)

    def stop(self) -> None:
        """End the watcher process."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        self.changes.close()


@dataclass
class _Retiring:
    """A worker of an earlier generation, draining; killed if it outlasts the grace period."""

    worker: _Worker
    deadline: float
    version: str = "the previous version"
    """What the log calls its code: the one replaced, or a new one that never took over."""


@dataclass
class Reloader:
    """Starts a new generation of workers on each change and moves traffic to it."""

    watcher: ChangeWatcher
    spawn: Callable[[int], _Worker]
    """Start a worker in the given slot (the supervisor's own way of starting one)."""
    worker_count: int
    grace_s: float
    platform: ProcessPlatform
    pending: list[_Worker] = field(default_factory=list)
    retiring: list[_Retiring] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        settings: Settings,
        platform: ProcessPlatform,
        spawn: Callable[[int], _Worker],
        inherited: list[socket.socket | int],
    ) -> Reloader:
        """Start watching the application's files."""
        watcher = ChangeWatcher.start(watched_paths(settings), inherited, platform)
        return cls(watcher, spawn, settings.worker_count, settings.graceful_timeout, platform)

    def held(self) -> list[socket.socket | int]:
        """What a newly forked worker must close: the change pipe, the new workers' channels."""
        held: list[socket.socket | int] = [self.watcher.fileno()]
        for worker in self.pending:
            held += worker.custodian.held()
        return held

    def waitables(self) -> list[object]:
        """What the supervisor waits on for the reload: changes, the new workers, the drained."""
        found: list[object] = [self.watcher] if self.watcher.alive else []
        for worker in self.pending:
            found += worker.custodian.waitables()
            found.append(worker.process.sentinel)
            if worker.status is not None:
                found.append(worker.status)
        found += [r.worker.process.sentinel for r in self.retiring]
        return found

    def handle(self, ready: object, serving: list[_Worker]) -> bool:
        """Act on what became ready if it is the reload's; `serving` is the supervisor's list."""
        if ready is self.watcher:
            self._start_generation(self.watcher.take(), serving)
            return True
        for worker in self.pending:
            if ready is worker.status or ready == worker.process.sentinel:
                self._take_report(worker, serving)
                return True
        for retired in self.retiring:
            if ready == retired.worker.process.sentinel:
                self._reap(retired)
                return True
        return False

    def tick(self) -> None:
        """Kill retired workers that outlast the grace period."""
        now = time.monotonic()
        for retired in self.retiring:
            if now > retired.deadline and retired.worker.process.is_alive():
                logger.error(
                    "Worker (pid:%s) of %s did not finish in time; killing it.",
                    retired.worker.process.pid,
                    retired.version,
                )
                retired.worker.process.kill()
                retired.deadline = float("inf")

    def close(self) -> list[_Worker]:
        """Stop watching; hand back the new and draining workers for the supervisor to stop."""
        self.watcher.stop()
        left = self.pending + [r.worker for r in self.retiring]
        self.pending, self.retiring = [], []
        return left

    def _start_generation(self, changed: list[str], serving: list[_Worker]) -> None:
        if not changed:
            return
        shown = ", ".join(changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        )
        logger.info("Detected changes in %s; starting workers on the new code.", shown)
        forget_bytecode(changed)
        if self.pending:
            # Newer code than theirs has arrived: they would only be replaced again.
            self._retire(self.pending, "a new version replaced by a newer one")
            self.pending = []
        taken = {w.slot for w in serving} | {r.worker.slot for r in self.retiring}
        total = self.worker_count * GENERATIONS
        free = [s for s in range(total) if s not in taken]
        # Never more than GENERATIONS per worker at once; past that, draining slots are shared.
        free += [s for s in range(total) if s not in free and s not in {w.slot for w in serving}]
        self.pending = [self.spawn(slot) for slot in free[: self.worker_count]]

    def _take_report(self, worker: _Worker, serving: list[_Worker]) -> None:
        message: WorkerReady | WorkerFailed | None = None
        if worker.status is not None and worker.status.poll():
            try:
                message = worker.status.recv()
            except (EOFError, OSError):
                message = None
        if worker.status is not None:
            worker.status.close()
            worker.status = None
        if isinstance(message, WorkerReady):
            worker.ready = True
            if all(w.ready for w in self.pending):
                self._switch(serving)
            return
        self._fail(worker, message)

    def _switch(self, serving: list[_Worker]) -> None:
        """The new generation is ready: it serves, the previous one drains."""
        previous = list(serving)
        serving[:] = self.pending
        self.pending = []
        self._retire(previous)
        logger.info(
            "Reloaded: %s worker(s) on the new code are serving (pids %s); the previous "
            "workers finish the requests they have.",
            len(serving),
            ", ".join(str(w.process.pid) for w in serving),
        )

    def _fail(self, worker: _Worker, message: WorkerFailed | None) -> None:
        """A new worker could not start: keep the version that works."""
        worker.process.join(timeout=5)
        reason = f"the worker exited with code {worker.process.exitcode}"
        if message is not None:
            reason = message.summary or message.message.splitlines()[0]
            if message.location:
                reason += f" at {message.location}"
        logger.error("Reload failed, still serving the previous version: %s", reason)
        self._retire(self.pending, "the new version that failed")
        self.pending = []

    def _retire(self, workers: list[_Worker], version: str = "the previous version") -> None:
        """Tell workers to stop accepting, finish what they have, and exit."""
        deadline = time.monotonic() + self.grace_s + KILL_MARGIN_S
        for worker in workers:
            # A draining worker answers what it has itself; its connection copies guard nothing.
            worker.custodian.close()
            if worker.status is not None:
                worker.status.close()
                worker.status = None
            if worker.process.is_alive():
                self.platform.ask_to_stop(worker.process, worker.stop_flag)
            self.retiring.append(_Retiring(worker, deadline, version))

    def _reap(self, retired: _Retiring) -> None:
        process = retired.worker.process
        process.join(timeout=5)
        self.retiring.remove(retired)
        # uvicorn ends a process it drained on SIGTERM by raising that signal again.
        if process.exitcode == 0 or (retired.worker.ready and process.exitcode == -signal.SIGTERM):
            logger.info(
                "Worker (pid:%s) of %s has finished and exited.", process.pid, retired.version
            )
        else:
            logger.info(
                "Worker (pid:%s) of %s exited with code %s.",
                process.pid,
                retired.version,
                process.exitcode,
            )
