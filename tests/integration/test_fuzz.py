"""Fuzzing the HTTP surface: odd methods, paths, queries, headers, bodies and content types sent to a
running server never produce a 5xx or a non-JSON error, and never cost the worker its life."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.integration.cli_support import SCRIPTS, records, scrubbed_environ
from tests.integration.server import RunningServer, serving

# Methods the HTTP parser knows, safe and not; CONNECT is left out (it asks for a tunnel).
KNOWN_METHODS = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND",
    "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "PURGE",
    "MERGE", "NOTIFY", "SUBSCRIBE", "LINK", "UNLINK", "QUERY",
]  # fmt: skip
ROUTES = ["/", "/score", "/swagger.json"]
NEAR_ROUTES = ["/score/", "//score", "/SCORE", "/sc%6Fre", "/swagger.json/", "/score%00", "/%2e"]
# RFC 3986 path characters; "%" may start a valid or an invalid escape.
PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%/"
QUERY_CHARS = PATH_CHARS + '?[]{}"<>^`|\\'
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Headers that frame the message: set at random they make the request itself invalid.
FRAMING = {"content-length", "transfer-encoding", "host", "connection", "upgrade", "te", "expect"}
KNOWN_HEADERS = [
    "content-type", "accept", "x-request-id", "x-ms-request-id", "x-ms-client-request-id",
    "traceid", "authorization", "origin", "access-control-request-method",
    "access-control-request-headers", "cookie", "user-agent", "accept-encoding",
    "content-encoding", "range", "if-none-match", "x-forwarded-for", "accept-charset",
]  # fmt: skip
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
    "application/problem+json", "text/plain", "text/plain; charset=latin-1",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
    "multipart/form-data", "application/octet-stream", "", ";", "json", "*/*",
    "application/json; charset=\u00ff",
]  # fmt: skip

FuzzRequest = tuple[str, bytes, list[tuple[bytes, bytes]], bytes]
"""Method, request target, headers and body."""


@dataclass
class Fuzzed:
    """A server under fuzzing and what identifies its worker."""

    server: RunningServer
    client: httpx.Client
    pid: int


def _start(script: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    cwd = tmp_path_factory.mktemp("fuzz")
    args = ["--entry_script", str(SCRIPTS / script)]
    with (
        scrubbed_environ(),
        serving(args, cwd=cwd) as server,
        server.client() as client,
    ):
        yield Fuzzed(server, client, _pid(client))


def _pid(client: httpx.Client) -> int:
    response = client.post("/score", json={"text": "who", "count": 1})
    assert response.status_code == 200, response.text
    return int(response.json()["pid"])


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    yield from _start("ops_echo.py", tmp_path_factory)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    yield from _start("ops_schema.py", tmp_path_factory)


# ---------------------------------------------------------------------------------------------
# Strategies

header_value = st.binary(max_size=200).map(
    # Any byte a header value may carry (tab, visible ASCII, obs-text), no edge whitespace.
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip(b" \t")
)
header_name = st.one_of(
    st.sampled_from(KNOWN_HEADERS),
    st.text(TOKEN_CHARS, min_size=1, max_size=30).filter(lambda n: n.lower() not in FRAMING),
)
headers = st.lists(
    st.tuples(header_name.map(str.encode), header_value)
    | st.tuples(st.just(b"content-type"), st.sampled_from(CONTENT_TYPES).map(str.encode)),
    max_size=8,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
schema_objects = st.one_of(
    st.fixed_dictionaries(
        {"text": json_values},
        optional={"count": json_values, "extra": json_values, "request_headers": json_values},
    ),
    st.dictionaries(
        st.sampled_from(["text", "count", "extra", "request_headers", ""]) | st.text(max_size=8),
        json_values,
        max_size=4,
    ),
)
bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    schema_objects.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4).map(
        lambda d: httpx.QueryParams(d).__str__().encode()
    ),
)
# Weighted towards the routes that do something: most requests should get past routing.
paths = st.one_of(
    st.just("/score"),
    st.just("/score"),
    st.just("/score"),
    st.sampled_from(ROUTES),
    st.sampled_from(NEAR_ROUTES),
    st.text(PATH_CHARS, max_size=40).map(lambda p: "/" + p),
)
common_methods = st.sampled_from(["GET", "POST"])
methods = st.one_of(common_methods, common_methods, common_methods, st.sampled_from(KNOWN_METHODS))
queries = st.one_of(
    st.just(""),
    st.text(QUERY_CHARS, max_size=60),
    st.dictionaries(st.text(max_size=8), json_values.map(json.dumps), max_size=4).map(
        lambda d: str(httpx.QueryParams(d))
    ),
)


@st.composite
def requests(draw: st.DrawFn, methods: st.SearchStrategy[str]) -> FuzzRequest:
    method = draw(methods)
    path = draw(paths)
    query = draw(queries)
    target = (path + ("?" + query if query else "")).encode()
    header_list = draw(headers)
    if draw(st.booleans()):
        # Often a JSON object with a JSON content type, so that @input_schema reaches run().
        header_list.insert(0, (b"content-type", b"application/json"))
        return method, target, header_list, json.dumps(draw(schema_objects)).encode()
    return method, target, header_list, draw(bodies)


# ---------------------------------------------------------------------------------------------
# Checks


def _check(
    fuzzed: Fuzzed, method: str, target: bytes, header_list: list[tuple[bytes, bytes]], body: bytes
) -> None:
    url = httpx.URL(fuzzed.server.url).copy_with(raw_path=target)
    request = httpx.Request(method, url, headers=header_list, content=body)
    response = fuzzed.client.send(request)
    where = f"{method} {target!r} -> {response.status_code} {response.content[:200]!r}"
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    # The only documented 500s come from run() failing or timing out; these scripts do neither.
    assert response.status_code < 500, where
    assert b"Traceback" not in response.content, where
    if response.status_code >= 400 and method != "HEAD":
        assert response.headers.get("content-type", "").startswith("application/json"), where
        message = json.loads(response.content)
        assert isinstance(message, dict) and isinstance(message.get("message"), str), where


def _assert_same_worker(fuzzed: Fuzzed) -> None:
    inits = [r for r in records(fuzzed.server.output()) if r.text.startswith("ops init in pid")]
    assert fuzzed.server.process.poll() is None
    assert _pid(fuzzed.client) == fuzzed.pid
    assert len(inits) == 1, inits


FUZZ = settings(
    max_examples=1500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(request=requests(methods))
def test_fuzz_undecorated_run(echo: Fuzzed, request: FuzzRequest) -> None:
    _check(echo, *request)


@FUZZ
@given(request=requests(methods))
def test_fuzz_input_schema_run(schema: Fuzzed, request: FuzzRequest) -> None:
    _check(schema, *request)


@settings(FUZZ, max_examples=200)
@given(
    method=st.text(TOKEN_CHARS, min_size=1, max_size=12).filter(lambda m: m not in KNOWN_METHODS),
    path=st.sampled_from(ROUTES),
)
def test_fuzz_any_method_token_gets_a_json_answer(echo: Fuzzed, method: str, path: str) -> None:
    _check(echo, method, path.encode(), [], b"")


@settings(FUZZ, max_examples=50)
@given(
    method=st.text(string.ascii_uppercase, min_size=3, max_size=12).filter(
        lambda m: m not in KNOWN_METHODS and m != "CONNECT"
    ),
    path=st.sampled_from(ROUTES),
)
def test_fuzz_unknown_methods_get_405(echo: Fuzzed, method: str, path: str) -> None:
    """A method the routes do not take is a JSON 405, whether or not the HTTP parser knows it."""
    response = echo.client.request(method, path)
    assert response.status_code == 405, (method, path, response.status_code, response.text)
    assert isinstance(response.json()["message"], str)


def test_workers_survived_the_fuzzing(echo: Fuzzed, schema: Fuzzed) -> None:
    _assert_same_worker(echo)
    _assert_same_worker(schema)
