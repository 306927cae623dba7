"""Fails at import: a module that is not installed."""

import nonexistent_module_xyz  # noqa: F401


def init():
    pass


def run(data):
    return data
