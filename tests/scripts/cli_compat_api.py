"""Imports the request and response types the way scripts written for azmlinfsrv do."""

from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = {"method": request.method, "request_type": AMLRequest.__name__}
    return AMLResponse(body, 201, {"X-Compat": "api"}, json_str=True)
