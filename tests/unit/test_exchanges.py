"""Routes served on uvicorn's request cycle send the same bytes as through ASGI.

The worker's app is built for a real script and served by the worker's protocol on a recorded
connection twice: as the worker serves it (each route works on uvicorn's cycle), and behind a
relay whose send() is not the cycle's (each route goes through ASGI). A client must not be able
to tell the two apart.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from scoreserver.http.app import create_app
from scoreserver.http.exchanges import AsgiExchange, CycleExchange, cycle_type, exchange_for
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.processes.worker import load_script
from scoreserver.script.batching import scorer_for
from scoreserver.settings import load_settings
from scoreserver.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import SCRIPTS
from tests.unit.test_http_protocol import connect

V2_BODY = b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, 2]}]}'


def request(
    method: str, path: str, body: bytes = b"", headers: tuple[str, ...] = (), version: str = "1.1"
) -> bytes:
    """One request's bytes, with its body's length declared."""
    head = [f"{method} {path} HTTP/{version}", "host: x", *headers]
    if body or method == "POST":
        head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


REQUESTS = {
    "score": request("POST", "/score", b'{"a": [1, 2]}', ("content-type: application/json",)),
    "score, text": request("POST", "/score", b"plain words"),
    "score, GET": request("GET", "/score?x=1"),
    "score, HEAD": request("HEAD", "/score"),
    "score, OPTIONS": request("OPTIONS", "/score"),
    "liveness": request("GET", "/"),
    "liveness, HEAD": request("HEAD", "/"),
    "swagger": request("GET", "/swagger.json"),
    "unknown path": request("GET", "/nowhere"),
    "wrong method": request("DELETE", "/swagger.json"),
    "client ids": request(
        "POST", "/score", b"1", ("x-request-id: mine", "x-ms-client-request-id: theirs")
    ),
    "too long an id": request("POST", "/score", b"1", ("x-request-id: " + "i" * 101,)),
    "too large a body": request("POST", "/score", b"x" * 2048),
    "connection close": request("POST", "/score", b"1", ("connection: close",)),
    "connection Close": request("POST", "/score", b"1", ("connection: Close",)),
    "connection close, keep-alive": request("GET", "/", headers=("connection: keep-alive, close",)),
    "HTTP/1.0": request("POST", "/score", b"1", version="1.0"),
    "pipelined": request("POST", "/score", b"1") + request("GET", "/") + request("POST", "/score"),
    "v2 infer": request("POST", "/v2/models/model/infer", V2_BODY),
    "v2 infer, not JSON": request("POST", "/v2/models/model/infer", b"{"),
    "v2 wrong model": request("POST", "/v2/models/other/infer", V2_BODY),
    "v2 ready": request("GET", "/v2/health/ready"),
    "v1 predict": request("POST", "/v1/models/model:predict", b'{"instances": [[1, 2]]}'),
    "sagemaker": request("POST", "/invocations", b"[1]", ("content-type: application/json",)),
}

_VARYING = re.compile(
    rb"(x-request-id|x-ms-request-id|x-ms-run-fn-exec-ms): [^\r]*|"
    rb'("request_id"|"id"): "[0-9a-f-]{36}"'
)


async def serve(app: ASGIApp, raw: bytes) -> bytes:
    """Feed the bytes to one connection; return what it wrote (on the test's one event loop:
    the app's run() threads report to the loop they started on)."""
    protocol, transport = connect(app)
    protocol.data_received(raw)
    await asyncio.sleep(0.05)
    protocol.connection_lost(None)
    return b"".join(transport.writes)


def app_for(script: str, monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    """The worker's application for one of the test scripts (no telemetry, no custody)."""
    monkeypatch.setenv("SCORESERVER_MAX_REQUEST_BODY_BYTES", "1024")
    settings, _ = load_settings({"entry_script": str(SCRIPTS / script)})
    script_ = load_script(settings)
    return create_app(
        settings, script_, SwaggerDocuments(settings, script_), scorer_for(script_, settings)
    )


def through_asgi(app: ASGIApp) -> ASGIApp:
    """The app behind a relay: its routes get a send() that is not the cycle's."""

    async def relayed(scope: Scope, receive: Receive, send: Send) -> None:
        async def relay(message: Message) -> None:
            await send(message)

        await app(scope, receive, relay)

    return relayed


async def answered(app: ASGIApp, raw: bytes) -> bytes:
    """Everything the connection was sent, the ids and timings that vary per request masked."""
    return _VARYING.sub(lambda m: m.group(0).split(b":")[0] + b": *", await serve(app, raw))


def both_ways(app: ASGIApp, requests: dict[str, bytes]) -> dict[str, tuple[bytes, bytes]]:
    """Each request's answer on the cycle and through ASGI."""

    async def main() -> dict[str, tuple[bytes, bytes]]:
        relayed = through_asgi(app)
        return {
            name: (await answered(app, raw), await answered(relayed, raw))
            for name, raw in requests.items()
        }

    return asyncio.run(main())


@pytest.mark.parametrize("script", ["echo.py", "http_responses.py"])
def test_both_paths_send_the_same_bytes(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, (direct, relayed) in both_ways(app_for(script, monkeypatch), REQUESTS).items():
        assert direct.startswith(b"HTTP/1.1 "), name
        assert direct == relayed, name


def test_a_script_response_with_its_own_headers_is_the_same_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cases = ["headers", "bytes", "none204", "s503_header", "json_true"]
    requests = {case: request("POST", "/score", case.encode()) for case in cases}
    for case, (direct, relayed) in both_ways(
        app_for("http_responses.py", monkeypatch), requests
    ).items():
        assert direct.startswith(b"HTTP/1.1 "), case
        assert direct == relayed, case


def test_a_body_sent_in_pieces_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_for("echo.py", monkeypatch)
    raw = request("POST", "/score", b"0123456789")

    async def main() -> bytes:
        protocol, transport = connect(app)
        for i in range(0, len(raw), 7):
            protocol.data_received(raw[i : i + 7])
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        protocol.connection_lost(None)
        return b"".join(transport.writes)

    response = asyncio.run(main())
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b'\r\n\r\n"0123456789"')


def test_the_worker_s_uvicorn_lets_routes_work_on_its_cycle() -> None:
    # If this fails, a uvicorn release changed its request cycle: every request now takes the
    # slower ASGI path (same bytes). Update exchanges.py for the new cycle.
    assert cycle_type() is RequestResponseCycle


def test_a_route_works_on_the_cycle_only_when_send_is_the_cycle_s() -> None:
    seen: list[type] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(type(exchange_for(scope, receive, send, cycle_type())))
        seen.append(type(exchange_for(scope, receive, send, None)))
        await AsgiExchange(scope, receive, send).respond(Response(b"ok"))

    asyncio.run(serve(app, request("GET", "/")))
    assert seen == [CycleExchange, AsgiExchange]
