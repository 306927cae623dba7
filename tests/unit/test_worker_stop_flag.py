"""worker: where no signal can reach it (Windows), a worker drains when its stop flag is raised."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import socket
import threading
import time

import httpx
import uvicorn

from scoreserver.processes.listener import AnnouncingServer
from scoreserver.processes.worker import _serve
from scoreserver.types import Receive, Scope, Send


def test_a_raised_stop_flag_drains_the_request_in_flight_then_ends_the_worker() -> None:
    in_run = threading.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        in_run.set()
        await asyncio.sleep(1.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    heartbeat = multiprocessing.RawValue(ctypes.c_double, 0.0)
    stop = multiprocessing.RawValue(ctypes.c_byte, 0)
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    config = uvicorn.Config(slow, lifespan="off", log_config=None, access_log=False)
    started = threading.Event()
    server = AnnouncingServer(config, started.set)
    serving = threading.Thread(
        target=lambda: asyncio.run(_serve(server, [listening], heartbeat, stop))
    )
    serving.start()
    assert started.wait(10)
    answers: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: answers.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=10))
    )
    client.start()
    assert in_run.wait(10)
    stop.value = 1
    began = time.monotonic()
    client.join(10)
    serving.join(10)
    assert not serving.is_alive(), "the worker did not end after its stop flag was raised"
    # It finished the request it had (the drain), and stopped within a heartbeat or two after.
    assert [a.status_code for a in answers] == [200] and answers[0].text == "done"
    assert time.monotonic() - began < 5
