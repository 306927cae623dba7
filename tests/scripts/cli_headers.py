"""run(data, request_headers): the headers come as a dict."""


def init():
    pass


def run(data, request_headers):
    return {"data": data, "headers": request_headers}
