"""Security: the listening address (--host), and the optional bearer key (SCORESERVER_AUTH_KEY)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path

import httpx
import pytest

from tests.integration.cli_support import SCRIPTS
from tests.integration.server import serving

# /proc/net's sockets and addresses.
pytestmark = pytest.mark.linux

ECHO = SCRIPTS / "ops_echo.py"


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on port, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            found.add(str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1])))
    return found


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    for previous, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            address = previous.strip().removeprefix("|-- ")
            if not ipaddress.IPv4Address(address).is_loopback:
                return address
    return None


def _accepts(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def test_host_loopback_listens_on_loopback_only(tmp_path: Path) -> None:
    args = ["--entry_script", str(ECHO), "--host", "127.0.0.1"]
    with serving(args, cwd=tmp_path) as server:
        listening = _listening_addresses(server.port)
        other = _non_loopback_address()
        reachable_from_outside = other is not None and _accepts(other, server.port)
        scored = server.client().post("/score", content=b"local").status_code
    assert listening == {"127.0.0.1"}
    assert not reachable_from_outside
    assert scored == 200


def test_default_host_listens_on_all_interfaces(tmp_path: Path) -> None:
    with serving(["--entry_script", str(ECHO)], cwd=tmp_path) as server:
        listening = _listening_addresses(server.port)
        other = _non_loopback_address()
        answer = httpx.get(f"http://{other}:{server.port}/", timeout=5).text if other else "Healthy"
    assert listening == {"0.0.0.0"}
    assert answer == "Healthy"


def _auth_headers(value: str | None) -> dict[str, str]:
    return {} if value is None else {"Authorization": value}


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["message"], str)


def test_auth_key_guards_score_and_swagger_but_not_the_probe(tmp_path: Path) -> None:
    key = secrets.token_urlsafe(24)
    env = {"SCORESERVER_AUTH_KEY": key}
    wrong = ["", "Bearer", f"Bearer {key}x", f"Bearer {key[:-1]}", key, "Bearer wrong-key"]
    with serving(["--entry_script", str(ECHO)], env=env, cwd=tmp_path) as server:
        client = server.client()
        refused = []
        for header in [None, *wrong]:
            refused += [
                client.post("/score", content=b"x", headers=_auth_headers(header)),
                client.get("/score", params={"a": "1"}, headers=_auth_headers(header)),
                client.get("/swagger.json", headers=_auth_headers(header)),
            ]
        right = _auth_headers(f"Bearer {key}")
        scored = client.post("/score", content=b"with key", headers=right)
        scored_get = client.get("/score", params={"a": "1"}, headers=right)
        swagger = client.get("/swagger.json", headers=right)
        probe = client.get("/")
        output = server.output()
    for response in refused:
        _assert_401(response)
        assert key not in response.text
    assert scored.status_code == 200
    assert scored.json()["data"] == "with key"
    assert scored_get.status_code == 200
    assert swagger.status_code == 200
    assert "swagger" in swagger.json()
    assert probe.status_code == 200
    assert probe.text == "Healthy"
    assert key not in output
