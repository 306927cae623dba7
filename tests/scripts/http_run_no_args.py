"""run() without any parameter: the server must refuse to start."""


def init():
    pass


def run():
    return "never"
