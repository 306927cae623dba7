"""init() raises: the server must not start."""


def init():
    raise RuntimeError("boom in init")


def run(data):
    return data
