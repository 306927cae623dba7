"""Debugging: with AZUREML_DEBUG_PORT or --debug_port the worker runs debugpy, and a debugger that
attaches (a minimal DAP client here) stops at a breakpoint in run() and lets the request go on."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.cli_support import SCRIPTS, records
from tests.integration.server import RunningServer, free_port, serving

SCRIPT = SCRIPTS / "ops_debug.py"
BREAK_LINE = next(
    n for n, line in enumerate(SCRIPT.read_text().splitlines(), 1) if line.endswith("# BREAK")
)
DAP_TIMEOUT_S = 20


class DapClient:
    """Just enough of the Debug Adapter Protocol: Content-Length framed JSON over TCP."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DAP_TIMEOUT_S)
        self.buffer = b""
        self.seq = 0

    def request(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        message = {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _message(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.buffer = rest
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return dict(json.loads(body))

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("the debug adapter closed the connection")
        self.buffer += chunk

    def wait_for(self, description: str, **expected: Any) -> dict[str, Any]:
        """The next message whose top-level fields equal expected (others are skipped)."""
        deadline = time.monotonic() + DAP_TIMEOUT_S
        seen = []
        while time.monotonic() < deadline:
            message = self._message()
            seen.append({k: message.get(k) for k in ("type", "command", "event", "success")})
            if all(message.get(k) == v for k, v in expected.items()):
                return message
        raise AssertionError(f"no {description} within {DAP_TIMEOUT_S}s; saw {seen}")

    def response(self, seq: int) -> dict[str, Any]:
        message = self.wait_for(f"response to request {seq}", type="response", request_seq=seq)
        assert message["success"], message
        return message

    def close(self) -> None:
        self.sock.close()


def _attach_with_breakpoint(port: int) -> DapClient:
    """initialize → attach → setBreakpoints on run()'s BREAK line → configurationDone."""
    dap = DapClient(port)
    dap.response(
        dap.request(
            "initialize",
            clientID="scoreserver-tests",
            adapterID="python",
            pathFormat="path",
            linesStartAt1=True,
            columnsStartAt1=True,
        )
    )
    attach = dap.request("attach", justMyCode=False)
    dap.wait_for("initialized event", type="event", event="initialized")
    breakpoints = dap.response(
        dap.request(
            "setBreakpoints", source={"path": str(SCRIPT)}, breakpoints=[{"line": BREAK_LINE}]
        )
    )
    assert breakpoints["body"]["breakpoints"][0]["verified"], breakpoints
    dap.response(dap.request("configurationDone"))
    dap.response(attach)
    return dap


def _debugger_listening(server: RunningServer, port: int) -> list[str]:
    """The worker's log records that say debugpy listens on port."""
    return [
        r.text
        for r in records(server.output())
        if r.pid != server.process.pid and "debugpy" in r.text and str(port) in r.text
    ]


@pytest.mark.parametrize("given_by", ["AZUREML_DEBUG_PORT", "--debug_port"])
def test_debugger_stops_at_a_breakpoint_in_run(given_by: str, tmp_path: Path) -> None:
    port = free_port()
    args = ["--entry_script", str(SCRIPT)]
    # A request stuck at a breakpoint would otherwise hold the stop for the default 30 s.
    env = {"SCORESERVER_GRACEFUL_TIMEOUT": "3"}
    if given_by == "--debug_port":
        args += ["--debug_port", str(port)]
    else:
        env["AZUREML_DEBUG_PORT"] = str(port)
    with serving(args, env=env, cwd=tmp_path) as server:
        announced = _debugger_listening(server, port)
        dap = _attach_with_breakpoint(port)
        try:
            answers: list[httpx.Response | Exception] = []

            def score() -> None:
                try:
                    answers.append(
                        httpx.post(server.url + "/score", content=b"debug me", timeout=30)
                    )
                except httpx.HTTPError as exc:
                    answers.append(exc)

            client = threading.Thread(target=score, daemon=True)
            client.start()
            stopped = dap.wait_for("stopped event", type="event", event="stopped")
            answered_while_stopped = bool(answers)
            dap.response(dap.request("continue", threadId=stopped["body"]["threadId"]))
            client.join(DAP_TIMEOUT_S)
        finally:
            dap.close()
        output = server.output()
    assert announced, output
    assert stopped["body"]["reason"] == "breakpoint"
    assert not answered_while_stopped
    assert len(answers) == 1
    response = answers[0]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    assert response.json()["data"] == "debug me"
