"""Compatibility: ``from azureml.contrib.services.aml_request import rawhttp, AMLRequest``."""

from scoreserver.aml_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
