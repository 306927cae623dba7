"""run(data) returning AMLResponse and werkzeug responses; the POST body names the case."""

import time

from werkzeug.wrappers import Response

from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


def _slow_chunks(prefix):
    for i in range(3):
        yield f"{prefix}{i}\n"
        time.sleep(0.4)


def run(data):
    if data == "json_true":
        return AMLResponse({"a": 1, "u": "é"}, 201, json_str=True)
    if data == "json_true_str":
        return AMLResponse("a string", 200, json_str=True)
    if data == "text":
        return AMLResponse("plain text é", 200)
    if data == "bytes":
        return AMLResponse(b"\x00\x01\xff", 200, {"Content-Type": "application/octet-stream"})
    if data == "none":
        return AMLResponse(None, 200)
    if data == "none204":
        return AMLResponse(None, 204)
    if data == "headers":
        return AMLResponse(
            "x", 200, {"X-Multi": "a, b,c", "Content-Type": "text/plain", "X-Single": "one"}
        )
    if data == "s500":
        return AMLResponse("fail", 500)
    if data == "s503_header":
        return AMLResponse("fail", 503, {"x-ms-run-function-failed": "nope"})
    if data == "s418":
        return AMLResponse("teapot", 418)
    if data == "s404_json":
        return AMLResponse({"message": "custom"}, 404, json_str=True)
    if data == "generator":
        return AMLResponse(_slow_chunks("chunk"), 200)
    if data == "werkzeug":
        return Response("werkzeug body", status=202, headers={"X-F": "1"})
    if data == "werkzeug500":
        return Response("werkzeug fail", status=500)
    if data == "werkzeug_generator":
        return Response(_slow_chunks("w"), mimetype="text/plain")
    if data == "list_body":
        return AMLResponse(["a", "b"], 200)
    if data == "s999":
        return AMLResponse("x", 999)
    if data == "s0":
        return AMLResponse("x", 0)
    if data == "int_header":
        return AMLResponse("x", 200, {"X-Count": 5})
    if data == "int_body":
        return AMLResponse(5, 200)
    return {"unknown": data}
