"""Has init() but no run()."""


def init():
    pass
