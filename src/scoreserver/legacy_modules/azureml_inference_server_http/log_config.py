"""Compatibility: the formatter and filter that logging.json files copied from the reference name."""

from scoreserver.logs import AMLLogFormatter, RootAccessFilter

__all__ = ["AMLLogFormatter", "RootAccessFilter"]
