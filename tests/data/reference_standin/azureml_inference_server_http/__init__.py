"""A stand-in for an installed azureml-inference-server-http: only what score.py files import."""

__version__ = "1.5.1"
