"""@rawhttp run(request) on the protocols: reports the body and the headers that describe it."""

from azureml_inference_server_http.api.aml_request import rawhttp


def init():
    pass


@rawhttp
def run(request):
    return {
        "encoding": request.headers.get("Content-Encoding", "none"),
        "length": request.content_length,
        "body": request.get_data(as_text=True),
    }
