"""Legacy import path, served by scoreserver where azureml-inference-server-http is not installed."""

from scoreserver._version import __version__

__all__ = ["__version__"]
