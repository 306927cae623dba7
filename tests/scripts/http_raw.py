"""@rawhttp run(request): reports what the request object offers; ?mode= picks the report."""

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    mode = request.args.get("mode", "info")
    if mode == "info":
        return {
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "url": request.url,
            "args": request.args.to_dict(flat=False),
            "headers": dict(request.headers),
            "custom_lower": request.headers.get("x-custom-header"),
            "custom_upper": request.headers["X-CUSTOM-HEADER"],
            "custom_in": "x-cUsToM-header" in request.headers,
            "data": request.data.decode("utf-8"),
            "get_data": request.get_data(as_text=True),
            "content_type": request.content_type,
            "mimetype": request.mimetype,
        }
    if mode == "json":
        return {"get_json": request.get_json(), "json": request.json}
    if mode == "form":
        raw = request.get_data(as_text=True)
        return {"form": request.form.to_dict(flat=False), "get_data": raw}
    if mode == "files":
        upload = request.files["upload"]
        return {
            "filename": upload.filename,
            "content": upload.read().decode("utf-8"),
            "file_content_type": upload.content_type,
            "form": request.form.to_dict(flat=False),
            "mimetype": request.mimetype,
        }
    if mode == "stream":
        return {"stream": request.stream.read().decode("utf-8")}
    if mode == "text":
        return {"text": request.get_data(as_text=True)}
    if mode == "response":
        return AMLResponse({"created": True}, 201, {"X-Raw": "yes"}, json_str=True)
    if mode == "raise":
        raise RuntimeError("raw boom")
    return {"unknown": mode}
