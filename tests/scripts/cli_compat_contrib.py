"""Imports the request and response types from the older azureml.contrib.services modules."""

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = {"method": request.method, "request_type": AMLRequest.__name__}
    return AMLResponse(body, 202, {"X-Compat": "contrib"}, json_str=True)
