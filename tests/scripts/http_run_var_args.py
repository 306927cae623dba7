"""run(*args): the server must refuse to start."""


def init():
    pass


def run(*args):
    return "never"
