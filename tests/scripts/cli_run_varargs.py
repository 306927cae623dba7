"""run(*args): the server cannot tell how to call it."""


def init():
    pass


def run(*args):
    return 1
