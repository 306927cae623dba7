"""run() with no parameter for the input."""


def init():
    pass


def run():
    return 1
