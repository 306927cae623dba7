"""run(request_headers) with no input parameter: the server must refuse to start."""


def init():
    pass


def run(request_headers):
    return "never"
