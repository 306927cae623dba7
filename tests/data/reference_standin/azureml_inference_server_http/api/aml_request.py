"""Like the reference's: @rawhttp marks nothing on run(), it sets a flag in this module."""

from werkzeug.wrappers import Request

_rawHttpRequested = False


def rawhttp(func):
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


class AMLRequest(Request):
    """A request class of its own, unrelated to scoreserver's."""
