"""run(data, /): positional-only parameters are refused."""


def init():
    pass


def run(data, /):
    return 1
