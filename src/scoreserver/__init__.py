"""scoreserver: a fast, drop-in replacement for the Azure ML inference HTTP server (azmlinfsrv)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoreserver._version import __version__
from scoreserver.script.rawhttp import rawhttp

if TYPE_CHECKING:
    from scoreserver.script.aml_request import AMLRequest
    from scoreserver.script.aml_response import AMLResponse
    from scoreserver.script.batching import batch

__all__ = ["AMLRequest", "AMLResponse", "__version__", "batch", "rawhttp"]

# Loaded on first use: they bring in werkzeug, which scripts that never touch them do not need.
_LAZY = {
    "AMLRequest": "scoreserver.script.aml_request",
    "AMLResponse": "scoreserver.script.aml_response",
    # scoreserver.script.batching brings in the scoring core, which a script importing rawhttp skips.
    "batch": "scoreserver.script.batching",
}


def __getattr__(name: str) -> Any:
    """AMLRequest and AMLResponse, imported when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scoreserver' has no attribute {name!r}")
