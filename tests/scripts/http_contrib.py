"""@rawhttp and AMLResponse imported from the older azureml.contrib.services modules."""

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = {"method": request.method, "data": request.get_data(as_text=True)}
    return AMLResponse(body, 202, {"X-Contrib": AMLRequest.__name__}, json_str=True)
