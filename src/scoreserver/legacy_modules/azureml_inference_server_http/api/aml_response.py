"""Compatibility: ``from azureml_inference_server_http.api.aml_response import AMLResponse``."""

from scoreserver.script.aml_response import AMLResponse

__all__ = ["AMLResponse"]
