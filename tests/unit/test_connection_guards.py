"""The guarded protocol on a recorded connection: upgrade requests, head limits, header timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import uvicorn
from uvicorn.server import ServerState

from scoreserver.http.connection_guards import (
    MAX_HEAD_BYTES,
    ConnectionGuards,
    GuardedHttpToolsProtocol,
    guarded_protocol,
    uvicorn_internals_known,
)
from scoreserver.types import Receive, Scope, Send
from tests.unit.test_http_protocol import FakeTransport


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the whole body it received, as JSON text."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.dumps({"path": scope["path"], "body": body.decode()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def guarded(
    header_timeout: float = 30.0, keep_alive: float = 5.0
) -> tuple[GuardedHttpToolsProtocol, FakeTransport]:
    """A guarded protocol on a fake connection; call from inside the event loop."""
    config = uvicorn.Config(
        echo, lifespan="off", log_config=None, date_header=False, timeout_keep_alive=keep_alive
    )
    config.load()
    protocol_class = guarded_protocol(ConnectionGuards(header_timeout))
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def run(scenario: Callable[[], Awaitable[FakeTransport]]) -> FakeTransport:
    """Run a scenario in a fresh event loop; return the connection it recorded."""
    return asyncio.run(scenario())


def answers(transport: FakeTransport) -> list[tuple[int, dict[str, object]]]:
    """Status and JSON body of each response written, in order."""
    found = []
    data = b"".join(transport.writes)
    while data.startswith(b"HTTP/1.1 "):
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        found.append((int(head[9:12]), json.loads(rest[:length])))
        data = rest[length:]
    return found


UPGRADE = (
    b"POST /score HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\n"
    b"upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
)
PIPELINED = b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n"


def feed(*parts: bytes, header_timeout: float = 30.0) -> FakeTransport:
    """Each part as its own packet, with a loop pass between them."""

    async def scenario() -> FakeTransport:
        protocol, transport = guarded(header_timeout)
        for part in parts:
            if transport.closed:
                break  # a closed transport reads nothing more
            protocol.data_received(part)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        protocol.connection_lost(None)
        return transport

    return run(scenario)


def test_an_upgrade_request_keeps_its_body_and_the_request_behind_it() -> None:
    transport = feed(UPGRADE + b"content-length: 5\r\n\r\nhello" + PIPELINED)
    assert answers(transport) == [
        (200, {"path": "/score", "body": "hello"}),
        (200, {"path": "/next", "body": ""}),
    ]


def test_an_upgrade_body_split_across_packets_arrives_whole() -> None:
    transport = feed(UPGRADE + b"content-length: 11\r\n\r\n", b"hello", b" world" + PIPELINED)
    assert answers(transport) == [
        (200, {"path": "/score", "body": "hello world"}),
        (200, {"path": "/next", "body": ""}),
    ]


def test_a_chunked_upgrade_body_is_read_as_chunks() -> None:
    chunked = UPGRADE + b"transfer-encoding: chunked\r\n\r\n"
    transport = feed(chunked + b"3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\n")
    assert answers(transport) == [(200, {"path": "/score", "body": "abcde"})]


def test_a_request_in_an_upgrade_body_stays_a_body() -> None:
    inner = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n"
    transport = feed(UPGRADE + b"content-length: %d\r\n\r\n" % len(inner), inner)
    assert answers(transport) == [(200, {"path": "/score", "body": inner.decode()})]


def test_upgrade_requests_one_after_another_are_each_read_whole() -> None:
    one = UPGRADE + b"content-length: 3\r\n\r\none"
    two = UPGRADE + b"content-length: 3\r\n\r\ntwo"
    transport = feed(one + two, UPGRADE + b"\r\n")
    assert [body["body"] for _status, body in answers(transport)] == ["one", "two", ""]


def test_a_url_that_never_ends_is_refused_with_414_once_over_the_limit() -> None:
    transport = feed(b"GET /score?q=", *[b"a" * 4096] * 3)
    assert transport.writes[0].startswith(b"HTTP/1.1 414 ")
    assert transport.closed


def test_a_header_that_never_ends_is_refused_with_431_once_the_head_is_too_long() -> None:
    chunks = MAX_HEAD_BYTES // 4096 + 2
    transport = feed(b"GET / HTTP/1.1\r\nx-endless: ", *[b"a" * 4096] * chunks)
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 431 ")
    assert b"Request head is larger than" in transport.writes[0]
    assert transport.closed


def test_a_body_arriving_in_many_packets_is_not_counted_as_head() -> None:
    size = 2 * MAX_HEAD_BYTES
    head = b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % size
    transport = feed(head, *[b"b" * 4096] * (size // 4096), b"b" * (size % 4096))
    assert [status for status, _ in answers(transport)] == [200]


def timed(header_timeout: float, *parts: bytes, keep_alive: float = 5.0) -> FakeTransport:
    """Send the parts, then wait past the header timeout."""

    async def scenario() -> FakeTransport:
        protocol, transport = guarded(header_timeout, keep_alive)
        for part in parts:
            protocol.data_received(part)
            await asyncio.sleep(0.01)
        await asyncio.sleep(header_timeout + keep_alive + 0.1)
        return transport

    return run(scenario)


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout() -> None:
    transport = timed(0.05, keep_alive=0.05)
    assert transport.writes == []
    assert transport.closed


def test_a_partial_first_head_gets_408_at_the_header_timeout() -> None:
    transport = timed(0.05, b"GET / HTTP/1.1\r\nhost", keep_alive=0.05)
    assert transport.writes[0].startswith(b"HTTP/1.1 408 ")
    assert transport.closed


def test_a_partial_later_head_gets_408_at_the_header_timeout() -> None:
    request = b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n"
    transport = timed(0.1, request, b"GET /second HTTP/1.1\r\nho", keep_alive=0.05)
    assert [status for status, _ in answers(transport)] == [200, 408]
    assert transport.closed


def test_a_whole_head_in_time_is_served_and_the_idle_connection_then_closes() -> None:
    transport = timed(0.05, b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n", keep_alive=0.05)
    assert [status for status, _ in answers(transport)] == [200]
    assert transport.closed


def test_a_request_waiting_for_its_response_can_be_told_to_close() -> None:
    async def scenario() -> FakeTransport:
        protocol, transport = guarded()
        protocol.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        marked = protocol.close_after_response()
        await asyncio.sleep(0.05)
        assert marked
        assert not protocol.close_after_response()  # answered: nothing waits any more
        return transport

    transport = run(scenario)
    assert transport.closed
    # The response says so, whatever the uvicorn (before 0.40 it only closes): the client does
    # not send its next request into a closing connection.
    assert b"connection: close\r\n" in transport.writes[0]


def test_the_installed_uvicorn_has_what_the_guards_rely_on() -> None:
    assert uvicorn_internals_known()


def test_blank_lines_do_not_keep_an_idle_connection_open() -> None:
    request = b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n"
    transport = timed(0.2, request, b"\r\n", b"\r\n", keep_alive=0.05)
    assert [status for status, _ in answers(transport)] == [200]
    assert transport.closed


def test_a_trailer_that_never_ends_is_refused_with_431() -> None:
    chunked = b"POST /score HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    chunks = MAX_HEAD_BYTES // 4096 + 2
    transport = feed(chunked + b"3\r\nabc\r\n0\r\nx-trailer: ", *[b"a" * 4096] * chunks)
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 431 ")
    assert transport.closed


def test_a_body_in_tiny_chunks_is_not_mistaken_for_a_trailer() -> None:
    chunked = b"POST /score HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    packet = b"1\r\na\r\n" * 4000  # five bytes of framing for each byte of body
    packets = [packet] * (MAX_HEAD_BYTES // len(packet) * 2)
    transport = feed(chunked, *packets, b"0\r\n\r\n")
    assert answers(transport) == [(200, {"path": "/score", "body": "a" * 4000 * len(packets)})]
