"""Compatibility: ``from azureml_inference_server_http.api.aml_request import rawhttp, AMLRequest``."""

from scoreserver.script.aml_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
