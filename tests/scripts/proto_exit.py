"""run(data) ends its own process when the request's text says "exit" (any protocol's form)."""

import os


def init():
    pass


def run(data):
    if "exit" in data:
        os._exit(1)
    return [1]
