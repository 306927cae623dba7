"""The import paths of azureml-inference-server-http, for scripts written against it.

scoreserver owns none of the reference's files. Its stand-ins for ``azureml_inference_server_http``
and ``azureml.contrib.services`` live in ``scoreserver/legacy_modules``, a directory that goes on
sys.path *after* site-packages (a .pth file does it at interpreter start; the server does it again
before importing score.py, for interpreters that skip .pth files). An installed reference is found
first, so its own AMLResponse and rawhttp are what score.py gets; the server serves both kinds.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = [
    "LEGACY_MODULES",
    "REFERENCE_REQUEST_MODULE",
    "make_legacy_imports_available",
    "reference_rawhttp_requested",
]

LEGACY_MODULES = Path(__file__).resolve().parent / "legacy_modules"

REFERENCE_REQUEST_MODULE = "azureml_inference_server_http.api.aml_request"
# The reference's @rawhttp marks nothing on the function: it sets this flag in its module.
_REFERENCE_RAWHTTP_FLAG = "_rawHttpRequested"


def make_legacy_imports_available() -> None:
    """Put the stand-in modules at the end of sys.path, where anything installed wins over them."""
    entry = str(LEGACY_MODULES)
    if entry not in sys.path:
        sys.path.append(entry)


def reference_rawhttp_requested() -> bool:
    """Whether score.py applied the installed reference's own @rawhttp decorator."""
    module = sys.modules.get(REFERENCE_REQUEST_MODULE)
    return getattr(module, _REFERENCE_RAWHTTP_FLAG, False) is True
