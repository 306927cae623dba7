"""Compatibility package: the import paths of azureml-inference-server-http, served by scoreserver."""

from scoreserver._version import __version__

__all__ = ["__version__"]
