"""A @rawhttp run(request): described like an undecorated one."""

from typing import Any

from azureml_inference_server_http.api.aml_request import rawhttp


def init() -> None:
    """Nothing to load."""


@rawhttp
def run(request: Any) -> str:
    """Answer any request."""
    return "x"
