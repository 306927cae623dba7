"""Fixtures for the in-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from inference_schema import schema_util


@pytest.fixture
def fresh_schema_registry() -> Iterator[None]:
    """inference-schema registers each decorated run() globally; forget this test's scripts."""
    registry = schema_util.__functions_schema__
    saved = dict(registry)
    yield
    registry.clear()
    registry.update(saved)
