"""Fixtures for the in-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from inference_schema import schema_util

from scoreserver.platform import CUSTODY_PACKETS, CUSTODY_STREAM


@pytest.fixture
def fresh_schema_registry() -> Iterator[None]:
    """inference-schema registers each decorated run() globally; forget this test's scripts."""
    registry = schema_util.__functions_schema__
    saved = dict(registry)
    yield
    registry.clear()
    registry.update(saved)


# SOCK_SEQPACKET is Linux's; macOS takes the framed stream.
@pytest.fixture(params=[pytest.param(CUSTODY_PACKETS, marks=pytest.mark.linux), CUSTODY_STREAM])
def custody_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of custody channel: Linux's SOCK_SEQPACKET and macOS's framed stream."""
    return str(request.param)
