"""The error hierarchy: each error's parent, HTTP status, exit code and message."""

from __future__ import annotations

import re

import pytest

from scoreserver import errors
from scoreserver.errors import (
    BadRequestError,
    ClientError,
    ConfigurationError,
    EntryScriptError,
    HeaderTooLargeError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PortInUseError,
    ResponseEncodingError,
    RunFunctionError,
    ScoreServerError,
    ScoringError,
    ScoringTimeoutError,
    StartupError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)

ERRORS = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize(
    ("error", "parent"),
    [
        (ConfigurationError, ScoreServerError),
        (StartupError, ScoreServerError),
        (PortInUseError, StartupError),
        (EntryScriptError, StartupError),
        (ClientError, ScoreServerError),
        (BadRequestError, ClientError),
        (NotFoundError, ClientError),
        (MethodNotAllowedError, ClientError),
        (UnauthorizedError, ClientError),
        (PayloadTooLargeError, ClientError),
        (UnsupportedMediaTypeError, ClientError),
        (HeaderTooLargeError, ClientError),
        (ScoringError, ScoreServerError),
        (RunFunctionError, ScoringError),
        (ScoringTimeoutError, ScoringError),
        (ResponseEncodingError, ScoringError),
    ],
)
def test_hierarchy(error: type[ScoreServerError], parent: type[ScoreServerError]) -> None:
    assert error.__bases__ == (parent,)


def test_every_error_is_exported_and_derives_from_the_base() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert set(errors.__all__) == defined
    assert all(issubclass(error, ScoreServerError) for error in ERRORS)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadRequestError, 400),
        (UnauthorizedError, 401),
        (NotFoundError, 404),
        (MethodNotAllowedError, 405),
        (PayloadTooLargeError, 413),
        (UnsupportedMediaTypeError, 415),
        (HeaderTooLargeError, 431),
        (RunFunctionError, 500),
        (ScoringTimeoutError, 500),
        (ResponseEncodingError, 500),
        (ScoreServerError, 500),
    ],
)
def test_status_codes(error: type[ScoreServerError], status: int) -> None:
    assert error.status_code == status


def test_exit_codes() -> None:
    # The reference exits 3 when the script cannot be loaded or init() fails.
    assert EntryScriptError.exit_code == 3
    assert PortInUseError.exit_code == 1
    assert StartupError.exit_code == 1
    assert ConfigurationError.exit_code not in (0, 3)


def test_client_facing_messages_are_the_references() -> None:
    assert RunFunctionError().message == (
        "An unexpected error occurred in scoring script. Check the logs for more info."
    )
    assert ResponseEncodingError().message == (
        "An unexpected internal error occurred. Check the logs for more info."
    )
    assert MethodNotAllowedError().message == "Method not allowed"
    timeout = ScoringTimeoutError(500)
    assert timeout.message == "Scoring timeout after 500 ms"
    assert timeout.timeout_ms == 500


def test_message_is_also_the_exception_text() -> None:
    error = BadRequestError("POST body should be a JSON dictionary.")
    assert str(error) == error.message == "POST body should be a JSON dictionary."


def test_header_too_large_keeps_the_request_id_to_send_back() -> None:
    assert HeaderTooLargeError("too long", request_id="rid").request_id == "rid"
    assert HeaderTooLargeError("too long").request_id is None


def test_docstring_tree_matches_the_classes() -> None:
    doc = errors.__doc__ or ""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        match = re.match(r"^(?P<prefix>[ │├└─]*)(?P<name>[A-Z]\w*Error)\b", line)
        if not match:
            continue
        depth = len(match["prefix"]) // 4
        del stack[depth - 1 :]
        parents[match["name"]] = stack[-1] if stack else None
        stack.append(match["name"])
    assert set(parents) == set(errors.__all__)
    for name, parent in parents.items():
        base = getattr(errors, name).__bases__[0]
        assert base.__name__ == (parent or "Exception"), name
