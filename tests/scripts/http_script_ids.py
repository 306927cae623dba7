"""run() answers with an AMLResponse that sets the id headers itself."""

from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


def run(data):
    headers = {
        "x-request-id": "script-rid",
        "x-ms-request-id": "script-legacy",
        "x-ms-client-request-id": "script-client",
        "TraceId": "script-trace",
        "x-custom": "kept",
    }
    return AMLResponse({"ok": True}, 200, headers, json_str=True)
