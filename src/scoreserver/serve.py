"""`scoreserver serve`: start the way SageMaker starts a container (`docker run IMAGE serve`).

The same server and flags, with SageMaker's defaults: port 8080 unless SAGEMAKER_BIND_TO_PORT
(or --port) says otherwise, the model in /opt/ml/model unless --model_dir (or AZUREML_MODEL_DIR)
says otherwise, and score.py found in the model's code/ folder (or the model folder itself) when
no entry script is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from scoreserver import cli

__all__ = ["main", "sagemaker_arguments"]

SAGEMAKER_PORT = "8080"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


def sagemaker_arguments(argv: Sequence[str], environ: Mapping[str, str], prog: str) -> list[str]:
    """The server's flags: the ones given, plus SageMaker's defaults for those that are not."""
    given = cli.build_parser(prog).parse_args(argv)
    arguments = list(argv)
    if given.port is None:
        port = environ.get("SAGEMAKER_BIND_TO_PORT") or environ.get("SCORESERVER_PORT")
        arguments += ["--port", port or SAGEMAKER_PORT]
    model_dir = given.model_dir or environ.get("AZUREML_MODEL_DIR")
    if model_dir is None:
        model_dir = SAGEMAKER_MODEL_DIR
        arguments += ["--model_dir", model_dir]
    if not (given.entry_script or given.config_file or environ.get("AZUREML_CONFIG_FILE")):
        for candidate in (Path(model_dir) / "code" / "score.py", Path(model_dir) / "score.py"):
            if candidate.is_file():
                arguments += ["--entry_script", str(candidate)]
                break
    return arguments


def main(argv: Sequence[str], prog: str) -> NoReturn:
    """Serve as a SageMaker container does."""
    cli.main(sagemaker_arguments(argv, os.environ, prog), prog)
