"""The supervisor: binds the ports, starts the workers, replaces any that die, drains on SIGTERM."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from ctypes import c_byte, c_double, c_int
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any

from scoreserver._version import server_version_header
from scoreserver.errors import EntryScriptError, PortInUseError, StartupError
from scoreserver.platform import (
    ProcessPlatform,
    port_taken,
    raise_descriptor_limit,
    reuse_address_option,
)
from scoreserver.processes.custody import (
    MAX_GUARDED_CONNECTIONS,
    Custodian,
    ScoringMarks,
    orphan_response,
)
from scoreserver.processes.custody_channels import channel_pair
from scoreserver.processes.descriptors import guarded_per_worker
from scoreserver.reload import Reloader, import_worker, reload_slots
from scoreserver.settings import Settings

if TYPE_CHECKING:
    from scoreserver.platform import ProcessPipe
    from scoreserver.script.entry_script import EntryScript
from scoreserver.metrics import MetricsMemory
from scoreserver.processes.messages import NOT_SERVING, WorkerFailed, WorkerLink, WorkerReady

__all__ = ["Supervisor", "bind_socket"]

logger = logging.getLogger("azmlinfsrv")

LISTEN_BACKLOG = 2048
RESTART_DELAY_S = 1.0
# How often the supervisor looks at the workers' heartbeats.
HEARTBEAT_CHECK_S = 1.0
# How long the supervisor lets connection copies gather before it takes them again.
CUSTODY_GATHER_S = 0.02
# How long past the drain grace period a worker may take to exit before it is killed.
KILL_MARGIN_S = 5.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, inheritable by the workers; a taken port is a clear error."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, *reuse_address_option())
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if port_taken(exc):
            raise PortInUseError(
                f"Specified port '{port}' is already in use. Stop the process using it or "
                f"choose another port with --port."
            ) from exc
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Worker:
    """A running worker process and the pipe it reports readiness on."""

    process: BaseProcess
    status: ProcessPipe | None
    heartbeat: c_double
    """When the worker's event loop last ran (time.monotonic, shared memory)."""
    slot: int
    """The worker's place in the shared availability flags; a replacement takes it over."""
    custodian: Custodian
    """The supervisor's copies of this worker's connections."""
    stop: c_byte | None = None
    """The worker's stop flag (WorkerLink.stop), for platforms that cannot signal it."""
    ready: bool = False
    killed: bool = False
    """The supervisor killed it (stuck); its exit is awaited, not killed again."""

    @property
    def stop_flag(self) -> c_byte | None:
        """Its stop flag once it serves: before that its event loop, which looks, is not running."""
        return self.stop if self.ready else None


@dataclass
class Supervisor:
    """Keeps worker_count workers serving the bound sockets until told to stop."""

    settings: Settings
    preloaded: EntryScript | None = None
    """The script loaded once here for WORKER_PRELOAD, which every (forked) worker inherits."""
    workers: list[_Worker] = field(default_factory=list)
    reloader: Reloader | None = None
    """With --reload: moves traffic to workers on the new code when files change."""
    _stopping: bool = False
    _next_sweep: float = 0.0
    _availability: ctypes.Array[c_byte] = field(init=False)
    _draining: c_byte = field(init=False)
    """Set at the stop signal, read by the workers' readiness probes."""
    _started: c_byte = field(init=False)
    """Set once every worker of the start is ready, read by the workers' readiness probes."""
    _loads: ctypes.Array[c_int] = field(init=False)
    _guarded: int = MAX_GUARDED_CONNECTIONS
    """Connections per worker the supervisor keeps a copy of: its open files are shared out."""
    _metrics: MetricsMemory | None = None
    """The counts behind /metrics, shared with the workers (when metrics are on)."""
    platform: ProcessPlatform = field(init=False)
    """How workers are started and guarded here (see platform.py)."""

    def __post_init__(self) -> None:
        self.platform = ProcessPlatform.detect(self.settings.portable_processes)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; return the process exit code."""
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        self._draining = self.platform.context().RawValue(c_byte, 0)
        self._started = self.platform.context().RawValue(c_byte, 0)
        # Before anything slow (a preloaded init(), binding): a stop signal during start-up is
        # a clean stop, not a kill by the default handler.
        self._install_signals(wake_write)
        try:
            if self.settings.worker_preload and not self.platform.forks:
                logger.warning(
                    "WORKER_PRELOAD needs workers started by fork; here they are spawned, so "
                    "each worker imports the script and runs init() itself."
                )
            elif self.settings.worker_preload:
                self.preloaded = _preload(self.settings)
            if self._stopping:
                return 0
            return self._serve((wake_read, wake_write))
        finally:
            wake_read.close()
            wake_write.close()

    def _serve(self, wake: tuple[socket.socket, socket.socket]) -> int:
        raise_descriptor_limit()
        sockets = self._bind()
        self._guarded = guarded_per_worker(self.settings.worker_count, MAX_GUARDED_CONNECTIONS)
        context = self.platform.context()
        # Every slot starts "not serving"; with --reload, generations take turns at the slots.
        slots = reload_slots(self.settings)
        self._availability = context.RawArray(c_byte, [1] * slots)
        # A slot no worker serves from (yet) is left out when the workers share their clients.
        self._loads = context.RawArray(c_int, [NOT_SERVING] * slots)
        if self.settings.metrics:
            self._metrics = MetricsMemory(slots, context)
        try:
            for slot in range(self.settings.worker_count):
                self.workers.append(self._spawn(sockets, wake, slot))
            failure = self._await_startup(wake[0])
            if failure is not None:
                return failure
            self._started.value = 1
            if self.settings.reload:
                spawn = partial(self._spawn, sockets, wake)
                held = [h for w in self.workers for h in w.custodian.held()]
                inherited = [*sockets, *wake, *held] if self.platform.forks else []
                self.reloader = Reloader.start(self.settings, self.platform, spawn, inherited)
            self._supervise(sockets, wake)
            # Readiness says "not ready" from the signal on; everything is still served while
            # load balancers (Kubernetes endpoints) take the server out of rotation.
            self._pause(self.settings.readiness_drain_s, stopping=True)
            return 0
        finally:
            # The supervisor's copies of the listening sockets close first, so that once the
            # workers close theirs nobody accepts new connections and load balancers move on.
            for sock in sockets:
                sock.close()
            self._stop_all()

    def _bind(self) -> list[socket.socket]:
        ports = [self.settings.port]
        if (
            self.settings.separate_health_endpoint
            and self.settings.health_port != self.settings.port
        ):
            ports.append(self.settings.health_port)
        if self.settings.metrics and self.settings.metrics_port is not None:
            ports.append(self.settings.metrics_port)
        sockets: list[socket.socket] = []
        try:
            for port in ports:
                sockets.append(bind_socket(self.settings.host, port))
        except StartupError:
            for sock in sockets:
                sock.close()
            raise
        return sockets

    def _install_signals(self, wake_write: socket.socket) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            self._stopping = True
            self._draining.value = 1
            # A full pipe means a wake-up is already pending.
            with contextlib.suppress(OSError):
                wake_write.send(b"\0")

        for signum in self.platform.stop_signals:
            signal.signal(signum, on_stop)

    def _spawn(
        self, sockets: list[socket.socket], wake: tuple[socket.socket, socket.socket], slot: int
    ) -> _Worker:
        context = self.platform.context()
        receiver, sender = context.Pipe(duplex=False)
        heartbeat = context.RawValue(c_double, 0.0)
        stop = context.RawValue(c_byte, 0)
        marks = ScoringMarks.shared(context, self._guarded)
        kind = self.platform.custody
        supervisor_end, worker_end = channel_pair(kind) if kind else (None, None)
        self._availability[slot] = True  # not serving yet: the others should not wait for it
        self._loads[slot] = NOT_SERVING  # nor count it when they share out their clients
        link = WorkerLink(
            sender,
            heartbeat,
            self._availability,
            slot,
            worker_end,
            marks,
            loads=self._loads,
            draining=self._draining,
            started=self._started,
            metrics=self._metrics,
            stop=stop,
        )
        # What the supervisor holds for the other workers, a new worker must not keep: it
        # would hold descriptors (and the sockets behind them) that nothing there ever closes.
        # A spawned worker inherits only what it is given.
        foreign: list[socket.socket | int] = []
        if self.platform.forks:
            foreign += [*wake, *([supervisor_end.sock] if supervisor_end else [])]
            for other in self.workers:
                foreign += other.custodian.held()
            if self.reloader is not None:
                foreign += self.reloader.held()
        process = context.Process(  # type: ignore[attr-defined]
            target=_worker_entry,
            args=(self.settings, sockets, link, self.preloaded, foreign, self.platform),
            name="scoreserver-worker",
        )
        # A stop signal arriving between the fork and the worker's own signal set-up would run
        # the supervisor's handler inside the new worker, which would then never stop: hold
        # such signals until both sides are ready for them.
        with self.platform.stop_signals_held():
            process.start()
        sender.close()
        if worker_end is not None:
            worker_end.close()
        return _Worker(
            process=process,
            status=receiver,
            heartbeat=heartbeat,
            slot=slot,
            custodian=Custodian(supervisor_end, marks),
            stop=stop,
        )

    def _await_startup(self, wake_read: socket.socket) -> int | None:
        """Wait until every worker is ready; a failed one stops the start with its exit code."""
        while not all(w.ready for w in self.workers):
            if self._stopping:
                return 0
            waitables: list[object] = [wake_read]
            waitables += [c for w in self.workers for c in w.custodian.waitables()]
            for worker in self.workers:
                if not worker.ready and worker.status is not None:
                    waitables.append(worker.status)
                    waitables.append(worker.process.sentinel)
            for ready in _wait(waitables, HEARTBEAT_CHECK_S):
                if _tended(ready, wake_read):
                    continue
                owner = self._owner(ready)
                if owner is None or owner.ready:
                    # Ready already: its report and its end came in the same wait (it died at
                    # once), and its end is the supervising loop's to handle, as any other.
                    continue
                outcome = self._read_status(owner)
                if outcome is not None:
                    return outcome
            self._sweep_copies()
        return None

    def _owner(self, waitable: object) -> _Worker | None:
        for worker in self.workers:
            if waitable is worker.status or waitable == worker.process.sentinel:
                return worker
        return None

    def _read_status(self, worker: _Worker) -> int | None:
        """Take a worker's start-up report; return an exit code if the start has failed."""
        message: WorkerReady | WorkerFailed | None = None
        if worker.status is not None and worker.status.poll():
            try:
                message = worker.status.recv()
            except EOFError:
                message = None
        if isinstance(message, WorkerReady):
            worker.ready = True
            self._close_status(worker)
            return None
        worker.process.join(timeout=5)
        self._close_status(worker)
        code = worker.process.exitcode
        self._answer_orphans(worker)
        logger.error(
            "Worker (pid:%s) exited with code %s before it was ready. Shutting down.",
            worker.process.pid,
            code,
        )
        return EntryScriptError.exit_code if isinstance(message, WorkerFailed) or code else 1

    @staticmethod
    def _close_status(worker: _Worker) -> None:
        if worker.status is not None:
            worker.status.close()
            worker.status = None

    def _supervise(
        self, sockets: list[socket.socket], wake: tuple[socket.socket, socket.socket]
    ) -> None:
        """Replace workers that die until a stop signal arrives."""
        wake_read = wake[0]
        while not self._stopping:
            waitables: list[object] = [wake_read]
            waitables += [w.process.sentinel for w in self.workers]
            waitables += [w.status for w in self.workers if w.status is not None]
            waitables += [c for w in self.workers for c in w.custodian.waitables()]
            if self.reloader is not None:
                waitables += self.reloader.waitables()
            received = False
            for ready in _wait(waitables, HEARTBEAT_CHECK_S):
                if _tended(ready, wake_read):
                    received = received or isinstance(ready, Custodian)
                    continue
                if self.reloader is not None and self.reloader.handle(ready, self.workers):
                    continue
                worker = self._owner(ready)
                if worker is None or self._stopping:
                    continue
                if worker.status is not None and ready is worker.status:
                    self._take_late_report(worker)
                    continue
                # The sentinel is ready once the process has exited, possibly an instant before
                # it can be reaped: _replace waits for that rather than looking again.
                self._replace(worker, sockets, wake)

            self._kill_stuck()
            if self.reloader is not None:
                self.reloader.tick()
            self._sweep_copies()
            if received and not self._stopping:
                # Under connection churn copies come one connection at a time, and waking for
                # each would cost the supervisor more CPU than the worker spends serving it:
                # let some gather first (the channel holds a few hundred).
                time.sleep(CUSTODY_GATHER_S)

    def _sweep_copies(self) -> None:
        """Now and then, let go of the copies of connections the workers have ended."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + HEARTBEAT_CHECK_S
        for worker in self.workers:
            worker.custodian.sweep()

    def _kill_stuck(self) -> None:
        """Kill a serving worker whose event loop has not run for the worker timeout."""
        now = time.monotonic()
        limit = self.settings.stuck_timeout_s
        for worker in self.workers:
            silent = now - worker.heartbeat.value
            if worker.ready and not worker.killed and silent > limit:
                logger.error(
                    "Worker (pid:%s) has not responded for %.0f seconds (WORKER_TIMEOUT is %s). "
                    "Replacing it.",
                    worker.process.pid,
                    silent,
                    limit,
                )
                worker.killed = True
                worker.process.kill()

    def _take_late_report(self, worker: _Worker) -> None:
        """A replacement worker reports in after start-up; a failure just waits for its exit."""
        try:
            message = worker.status.recv() if worker.status is not None else None
        except EOFError:
            message = None
        if isinstance(message, WorkerReady):
            worker.ready = True
        self._close_status(worker)

    def _replace(
        self,
        worker: _Worker,
        sockets: list[socket.socket],
        wake: tuple[socket.socket, socket.socket],
    ) -> None:
        self._availability[worker.slot] = True  # gone: the others must not leave work to it
        worker.process.join(timeout=5)
        self._close_status(worker)
        logger.error(
            "Worker (pid:%s) exited with code %s. Starting a new worker.",
            worker.process.pid,
            worker.process.exitcode,
        )
        self._answer_orphans(worker)
        if self._metrics is not None:
            self._metrics.worker_replaced(worker.slot)
        if not worker.ready:
            self._pause(RESTART_DELAY_S)  # its init() failed: do not spin
        self.workers[self.workers.index(worker)] = self._spawn(sockets, wake, worker.slot)

    def _pause(self, seconds: float, stopping: bool = False) -> None:
        """Wait, still taking the workers' connection copies, so the channel does not fill up;
        a stop cuts the wait short unless the wait is part of stopping."""
        deadline = time.monotonic() + seconds
        while (stopping or not self._stopping) and (left := deadline - time.monotonic()) > 0:
            # A dead worker's custodian is closed already (its fileno is -1).
            custodians = [c for w in self.workers for c in w.custodian.waitables()]
            if not custodians:
                time.sleep(min(left, HEARTBEAT_CHECK_S))  # nothing to take (Windows: no custody)
                continue
            for ready in _wait(custodians, left):
                if isinstance(ready, Custodian):
                    ready.receive()

    def _answer_orphans(self, worker: _Worker) -> None:
        """Answer the requests a dead worker left waiting for run(), and let go of its copies."""
        version = (
            server_version_header() if self.settings.server_version_log_response_enabled else None
        )
        answered = worker.custodian.answer_orphans(
            partial(orphan_response, worker.process.exitcode, version)
        )
        worker.custodian.close()
        if answered and self._metrics is not None:
            self._metrics.crash_answered(answered)
        if answered:
            logger.error(
                "Answered %s request(s) that worker (pid:%s) was scoring with 500.",
                answered,
                worker.process.pid,
            )

    def _stop_all(self) -> None:
        """Ask every worker to drain and exit; kill those that outlast the grace period."""
        if self.reloader is not None:
            self.workers += self.reloader.close()
        # Draining workers answer what they have themselves: the copies guard nothing any
        # more, and letting go of them now frees their descriptors at once.
        for worker in self.workers:
            worker.custodian.close()
        for worker in self.workers:
            if worker.process.is_alive():
                self.platform.ask_to_stop(
                    worker.process, worker.stop_flag, console_stop=self._stopping
                )
        deadline = time.monotonic() + self.settings.graceful_timeout + KILL_MARGIN_S
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            self._close_status(worker)
        self.workers.clear()


def _preload(settings: Settings) -> EntryScript:
    """WORKER_PRELOAD: import the script and run init() once here; workers inherit the result."""
    # Imported only when asked: the supervisor otherwise never needs the worker's modules.
    from scoreserver.logs import install_print_capture

    install_print_capture()
    script: EntryScript = import_worker().load_script(settings)
    return script


def _tended(ready: object, wake_read: socket.socket) -> bool:
    """Handle the supervisor's own wake-ups: a signal's byte, or connection copies arriving."""
    if ready is wake_read:
        _drain(wake_read)
        return True
    if isinstance(ready, Custodian):
        ready.receive()
        return True
    return False


def _wait(waitables: list[Any], timeout: float) -> list[Any]:
    """What became ready within the timeout; nothing when a stop signal interrupted the wait.

    Windows does not retry a wait that Ctrl+C interrupts (PEP 475 covers POSIX calls only).
    """
    try:
        return wait(waitables, timeout=timeout)
    except InterruptedError:
        return []


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(64):
            pass
    except BlockingIOError:
        pass


def _worker_entry(
    settings: Settings,
    sockets: list[socket.socket],
    link: WorkerLink,
    preloaded: EntryScript | None,
    foreign: list[socket.socket | int],
    platform: ProcessPlatform,
) -> None:
    """The first code a worker runs: shed the supervisor's signal handling and descriptors."""
    platform.reset_child_signals()
    for held in foreign:
        if isinstance(held, socket.socket):
            held.close()
        else:
            os.close(held)
    if not platform.forks:
        # A spawned worker is a new interpreter: the logging set up by the command is not here.
        from scoreserver.logs import configure_logging, find_logging_config

        user_config = find_logging_config(settings.app_root, settings.entry_script)
        configure_logging(settings.log_level, user_config)
    # Imported only here, in the worker: the supervisor itself never needs the web stack, and
    # leaving it out keeps the supervisor small.
    import_worker().run_worker(settings, sockets, link, preloaded)
