"""Compatibility: ``from azureml.contrib.services.aml_response import AMLResponse``."""

from scoreserver.aml_response import AMLResponse

__all__ = ["AMLResponse"]
