"""run(data, request_headers): both arguments sent back."""


def init():
    pass


def run(data, request_headers):
    return {"data": data, "request_headers": request_headers}
