"""run(data, **kw): the server cannot tell how to call it."""


def init():
    pass


def run(data, **kw):
    return 1
