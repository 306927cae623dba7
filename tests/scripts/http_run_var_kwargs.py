"""run(data, **kwargs): the server must refuse to start."""


def init():
    pass


def run(data, **kwargs):
    return "never"
