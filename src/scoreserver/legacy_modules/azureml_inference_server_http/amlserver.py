"""Compatibility: ``python -m azureml_inference_server_http.amlserver``, as VS Code launch files name it."""

from scoreserver.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main(prog="azmlinfsrv")
