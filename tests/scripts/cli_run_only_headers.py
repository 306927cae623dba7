"""run(request_headers) only: no parameter for the input."""


def init():
    pass


def run(request_headers):
    return 1
