"""scoreserver: a fast, drop-in replacement for the Azure ML inference HTTP server (azmlinfsrv)."""

from scoreserver._version import __version__
from scoreserver.aml_request import AMLRequest, rawhttp
from scoreserver.aml_response import AMLResponse

__all__ = ["AMLRequest", "AMLResponse", "__version__", "rawhttp"]
