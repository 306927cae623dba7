"""The HTTP protocol: a response of known length leaves in one write, bytes and order unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from scoreserver.http.http_protocol import DRAIN_IDLE_S, JsonErrorsHttpToolsProtocol
from scoreserver.types import ASGIApp, Receive, Scope, Send


class FakeTransport(asyncio.Transport):
    """Records every write, so a test sees how a response was split."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 5001), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """A JSON reply of declared length, as the scoring route sends."""
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")],
        }
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
    """A chunked reply whose chunks take time to produce."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b""})


def connect(
    app: ASGIApp, protocol_class: type[HttpToolsProtocol] = JsonErrorsHttpToolsProtocol
) -> tuple[HttpToolsProtocol, FakeTransport]:
    """A protocol instance on a fake connection, uvicorn configured as the worker configures it
    (less the date header); call from inside the event loop."""
    config = uvicorn.Config(
        app,
        interface="asgi3",
        proxy_headers=False,
        lifespan="off",
        log_config=None,
        date_header=False,
    )
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def serve(
    app: ASGIApp,
    *requests: bytes,
    protocol_class: type[HttpToolsProtocol] = JsonErrorsHttpToolsProtocol,
) -> FakeTransport:
    """Feed the requests to one connection; return what it wrote."""

    async def main() -> FakeTransport:
        protocol, transport = connect(app, protocol_class)
        for request in requests:
            protocol.data_received(request)
        await asyncio.sleep(0.05)
        protocol.connection_lost(None)
        return transport

    return asyncio.run(main())


POST = b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"
GET = b"GET /score HTTP/1.1\r\nhost: x\r\n\r\n"


def test_a_response_of_known_length_is_one_write() -> None:
    writes = serve(hello, POST).writes
    assert writes[-1].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[-1].endswith(b"\r\n\r\n{}")
    assert len(writes) == 1


def test_the_bytes_are_those_uvicorn_writes() -> None:
    for app, request in [(hello, POST), (hello, POST + POST), (streamed, GET)]:
        ours = serve(app, request).writes
        uvicorns = serve(app, request, protocol_class=HttpToolsProtocol).writes
        assert b"".join(ours) == b"".join(uvicorns)


def test_a_head_request_gets_its_head_without_a_body() -> None:
    request = b"HEAD /score HTTP/1.1\r\nhost: x\r\n\r\n"
    writes = serve(hello, request).writes
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"content-length: 2\r\n\r\n")


def test_a_streamed_head_is_not_held_for_the_first_chunk() -> None:
    writes = serve(streamed, GET).writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    assert writes[1:] == [b"3\r\none\r\n", b"0\r\n\r\n"]


def test_100_continue_goes_out_before_the_body_arrives() -> None:
    request = (
        b"POST /score HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n"
    )

    async def main() -> list[bytes]:
        protocol, transport = connect(hello)
        protocol.data_received(request)
        await asyncio.sleep(0.01)
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        protocol.data_received(b"{}")
        await asyncio.sleep(0.01)
        return transport.writes

    writes = asyncio.run(main())
    assert len(writes) == 2
    assert writes[1].endswith(b"\r\n\r\n{}")


def test_pipelined_requests_are_answered_in_order() -> None:
    writes = serve(hello, POST + POST + POST).writes
    joined = b"".join(writes)
    assert joined.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert joined.endswith(b"\r\n\r\n{}")
    assert all(part.endswith(b"\r\n\r\n{}") for part in joined.split(b"HTTP/1.1 ")[1:])


def test_a_request_the_parser_refuses_still_gets_json() -> None:
    transport = serve(hello, b"GET /score HTTP/1.1\r\nhost: x\r\ncontent-length: x\r\n\r\n")
    assert transport.writes[0].startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert transport.writes[0].endswith(b"}")
    assert transport.closed


def test_a_draining_idle_connection_answers_a_request_still_on_its_way() -> None:
    async def main() -> FakeTransport:
        protocol, transport = connect(hello)
        protocol.shutdown()  # idle: no request yet
        assert not transport.closed
        protocol.data_received(POST)  # ...but one was on its way
        await asyncio.sleep(0.05)
        return transport

    transport = asyncio.run(main())
    response = b"".join(transport.writes)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close\r\n" in response
    assert transport.closed


def test_a_draining_idle_connection_closes_when_nothing_comes() -> None:
    async def main() -> tuple[bool, bool]:
        protocol, transport = connect(hello)
        protocol.shutdown()
        await asyncio.sleep(DRAIN_IDLE_S / 2)
        before = transport.closed
        await asyncio.sleep(DRAIN_IDLE_S)
        return before, transport.closed

    assert asyncio.run(main()) == (False, True)


def test_a_request_in_progress_at_shutdown_is_the_last_on_its_connection() -> None:
    async def main() -> FakeTransport:
        protocol, transport = connect(hello)
        protocol.data_received(POST)
        protocol.shutdown()
        await asyncio.sleep(0.05)
        return transport

    transport = asyncio.run(main())
    assert b"connection: close\r\n" in b"".join(transport.writes)
    assert transport.closed
