"""Answering the health probes while init() runs, before the worker serves.

A worker serves once its init() is done, which can take minutes (a large model). Until then
nothing would accept, and a readiness probe would wait in the listen queue instead of hearing
"not ready": Kubernetes counts the timeout as a failure, but Triton's client just blocks, and
nobody learns that the server is alive. So while no worker serves, a starting worker runs a
thread that accepts on the listening sockets and looks at each connection's first request
without reading it (MSG_PEEK). A request for a probe route is answered from the model's health
alone ("not ready"; liveness "live") and its connection closed. Every other connection is kept
as it is, unread, and handed to the server once init() is done: its request is served then,
not refused, as it would have been served from the listen queue before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import httptools
from uvicorn.server import ServerState

from scoreserver.http.connection_guards import MAX_HEAD_BYTES
from scoreserver.http.http_protocol import (
    JsonErrorsHttpToolsProtocol,
    accepted_protocol,
    serving_config,
)
from scoreserver.script.outputs import error_response
from scoreserver.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["StartingProbes"]

logger = logging.getLogger("azmlinfsrv")

KEPT_LIMIT = 256
"""Connections kept for the server at most; more wait in the listen queue, as before. A flood
of connections must not take the descriptors init() needs to open its model."""

ANSWER_WAIT_S = 1.0
"""How long finishing waits for probe answers already under way."""

FINISH_WAIT_S = 5.0
"""The longest the worker waits for the probes to stop before it serves without them; they stop
within ANSWER_WAIT_S and a few polls."""

_POLL_S = 0.05
"""How often the accept loops look whether another worker serves (and the probes are its)."""

_PEEK_AGAIN_S = 0.01
"""How soon a request head that has not all arrived is looked at again."""

_CLOSE = (b"connection", b"close")


class StartingProbes:
    """A thread answering the probe routes on the listening sockets while init() runs."""

    def __init__(
        self,
        routes: dict[str, ASGIApp],
        sockets: list[socket.socket],
        others_serve: Callable[[], bool],
        kept_limit: int = KEPT_LIMIT,
    ) -> None:
        self._routes = routes
        self._paths = frozenset(path.encode() for path in routes)
        """The probe routes' paths as a request head spells them."""
        self._sockets = sockets
        self._others_serve = others_serve
        self._kept_limit = kept_limit
        self._kept: list[socket.socket] = []
        self._held: set[socket.socket] = set()
        """Every connection accepted, until finish(): a process init() forks must not keep
        them open (their clients would wait for answers nobody sends)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: _Stop | None = None
        """Set by the thread's event loop, for finish() to stop it."""
        self._running = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="scoreserver-starting-probes", daemon=True
        )

    def start(self) -> StartingProbes:
        """Answer the probes from now on, in a thread of their own."""
        if hasattr(os, "register_at_fork"):  # POSIX
            os.register_at_fork(after_in_child=self._close_in_child)
        self._thread.start()
        self._running.wait()
        return self

    def finish(self) -> list[socket.socket]:
        """Stop answering; return the connections kept for the server."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(FINISH_WAIT_S)
        if self._thread.is_alive():
            # Never at the cost of serving: what it still holds is left to it.
            logger.warning(
                "Answering the health probes while init() ran did not stop within %s s; "
                "serving without the connections it holds.",
                FINISH_WAIT_S,
            )
        self._held = set()
        return list(self._kept)

    def _close_in_child(self) -> None:
        for connection in self._held:
            connection.close()

    def _run(self) -> None:
        # A selector loop on every platform: the accept and peek loops wait for readability.
        loop = asyncio.SelectorEventLoop()
        try:
            loop.run_until_complete(self._serve(loop))
        except Exception:
            logger.exception("Answering the health probes while init() runs failed")
        finally:
            self._running.set()  # should the loop not have started at all
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        stop = _Stop()
        self._loop, self._stop = loop, stop
        answers = _ProbeAnswers(self._routes)
        sorting: set[asyncio.Task[None]] = set()
        accepting = [
            asyncio.create_task(self._accept(sock, stop, answers, sorting))
            for sock in self._sockets
        ]
        self._running.set()
        # The stop wakes the loops' waits, and they end by themselves: nothing is cancelled,
        # since before Python 3.12 asyncio.wait_for can swallow a cancellation.
        await stop.wait()
        await asyncio.gather(*accepting, return_exceptions=True)
        # A connection whose first request has not all arrived by now is kept, as it is.
        await asyncio.gather(*sorting, return_exceptions=True)
        await answers.finish()

    async def _accept(
        self,
        listening: socket.socket,
        stop: _Stop,
        answers: _ProbeAnswers,
        sorting: set[asyncio.Task[None]],
    ) -> None:
        listening.setblocking(False)
        while not stop.is_set and not self._others_serve():
            if len(self._kept) + len(sorting) >= self._kept_limit:
                await stop.sleep(_POLL_S)
                continue
            try:
                connection, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                # Nothing waiting, or another worker took it.
                await stop.readable(listening, _POLL_S)
                continue
            except OSError:  # out of descriptors and the like: the listen queue holds them
                await stop.sleep(_POLL_S)
                continue
            connection.setblocking(False)
            self._held.add(connection)
            task = asyncio.create_task(self._sort(connection, stop, answers))
            sorting.add(task)
            task.add_done_callback(sorting.discard)

    async def _sort(self, connection: socket.socket, stop: _Stop, answers: _ProbeAnswers) -> None:
        """Answer the connection's request if it is a probe; else keep it for the server."""
        kept = True
        try:
            path = await _first_path(connection, stop)
            if path is not None and path in self._paths:
                kept = False
                answers.answer(connection)
        except OSError:  # reset, or closed before its request: nothing to serve
            kept = False
            connection.close()
        finally:
            if kept:
                self._kept.append(connection)


async def _first_path(connection: socket.socket, stop: _Stop) -> bytes | None:
    """The path of the first request on the connection, read without taking it off the socket;
    None when its head is not a request head this server could route (the server answers it),
    or has not all arrived when the probes stop."""
    while not await stop.readable(connection, _POLL_S):
        if stop.is_set:
            return None
    while not stop.is_set:
        try:
            data = connection.recv(MAX_HEAD_BYTES, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            data = None
        if data == b"":
            raise ConnectionResetError("closed before its request")
        if data:
            head = _RequestHead()
            parser = httptools.HttpRequestParser(head)
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                return None  # the server refuses upgrades in its own words
            except httptools.HttpParserError:
                return None
            if head.complete:
                return httptools.parse_url(head.url).path if head.url else None
            if len(data) >= MAX_HEAD_BYTES:
                return None
        # Peeking leaves the bytes in place, so the socket stays readable: look again shortly.
        await stop.sleep(_PEEK_AGAIN_S)
    return None


class _RequestHead:
    """What the parser's callbacks tell of a request head: its URL, and whether it ended."""

    def __init__(self) -> None:
        self.url = b""
        self.complete = False

    def on_url(self, url: bytes) -> None:
        """A part of the request target."""
        self.url += url

    def on_headers_complete(self) -> None:
        """The head has ended."""
        self.complete = True


class _Stop:
    """The stop the loops look at: it wakes every wait at once, so finishing takes no polls."""

    def __init__(self) -> None:
        self.is_set = False
        self._event = asyncio.Event()
        self._waits: set[asyncio.Future[bool]] = set()

    def set(self) -> None:
        """Stop: every wait returns now."""
        self.is_set = True
        self._event.set()
        for waiting in self._waits:
            if not waiting.done():
                waiting.set_result(False)

    async def wait(self) -> None:
        """Return once stopped."""
        await self._event.wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep, or less when stopped meanwhile."""
        await self._wait(None, seconds)

    async def readable(self, sock: socket.socket, timeout: float) -> bool:
        """Whether the socket became readable within timeout seconds (False once stopped)."""
        return await self._wait(sock, timeout)

    async def _wait(self, sock: socket.socket | None, timeout: float) -> bool:
        if self.is_set:
            return False
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[bool] = loop.create_future()

        def wake(readable: bool) -> None:
            if not woken.done():
                woken.set_result(readable)

        fd = sock.fileno() if sock is not None else None
        if fd is not None:
            loop.add_reader(fd, wake, True)
        timer = loop.call_later(timeout, wake, False)
        self._waits.add(woken)
        try:
            return await woken
        finally:
            self._waits.discard(woken)
            timer.cancel()
            if fd is not None:
                loop.remove_reader(fd)


class _ProbeAnswers:
    """The probe routes, served on uvicorn's protocol: each answer closes its connection."""

    def __init__(self, routes: dict[str, ASGIApp]) -> None:
        self._routes = routes
        config = serving_config(self._app, JsonErrorsHttpToolsProtocol)
        config.load()
        self._config = config
        self._state = ServerState()
        self._connecting: set[asyncio.Task[object]] = set()

    def answer(self, connection: socket.socket) -> None:
        """Serve the connection's probe request."""
        self._state.default_headers = [(b"date", formatdate(usegmt=True).encode())]
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(loop.connect_accepted_socket(self._protocol, connection))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def finish(self) -> None:
        """Let the answers under way go out (for a second at most), then close what is left."""
        await asyncio.gather(*self._connecting, return_exceptions=True)
        await self._closed_within(ANSWER_WAIT_S)
        for connection in list(self._state.connections):
            connection.shutdown()
        await self._closed_within(0.1)  # the closes, before the loop ends

    async def _closed_within(self, seconds: float) -> None:
        """Wait until every answered connection has closed, for seconds at most."""
        deadline = time.monotonic() + seconds
        while self._state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _protocol(self) -> asyncio.Protocol:
        return accepted_protocol(self._config, self._state, {})

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
            await send(message)

        route = self._routes.get(scope["path"])
        if route is not None:
            await route(scope, receive, closing)
            return
        # A second request on a probe's connection (sent before the answer closed it).
        response = error_response(503, "The server is starting: init() has not completed.")
        await response(scope, receive, closing)
