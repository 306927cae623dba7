"""A score.py written for azmlinfsrv: request and response types from the legacy import paths."""

from azureml.contrib.services.aml_response import AMLResponse as ContribResponse
from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = {
        "method": request.method,
        "data": request.get_data(as_text=True),
        # Which package's classes the legacy imports gave this script.
        "response_module": AMLResponse.__module__,
        "request_module": AMLRequest.__module__,
        "contrib_is_the_same_class": ContribResponse is AMLResponse,
    }
    return AMLResponse(body, 201, {"X-Legacy": "yes"}, json_str=True)
