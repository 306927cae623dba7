"""`scoreserver serve`: start the way SageMaker starts a container (`docker run IMAGE serve`).

The same server and flags, with SageMaker's defaults: port 8080 unless SAGEMAKER_BIND_TO_PORT (or
--port) says otherwise, the model in /opt/ml/model unless --model_dir says otherwise, and, when no
entry script is given (--entry_script, --config_file or AZUREML_CONFIG_FILE), score.py from the
model's code/ folder, else the model folder, else AML_APP_ROOT when that is set. SageMaker sends
to that port and mounts the model there whatever the image says, so an inherited
SCORESERVER_PORT or AZUREML_MODEL_DIR (the repository's Dockerfile sets one) moves neither; the
script still sees the model folder as AZUREML_MODEL_DIR.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from scoreserver import cli
from scoreserver.errors import EntryScriptError
from scoreserver.logs import SERVER_LOGGER, configure_startup_logging

__all__ = ["main", "sagemaker_arguments"]

SAGEMAKER_PORT = "8080"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
SCRIPT_NAME = "score.py"


def sagemaker_arguments(argv: Sequence[str], environ: Mapping[str, str], prog: str) -> list[str]:
    """The server's flags: the ones given, plus SageMaker's defaults for those that are not."""
    given = cli.build_parser(prog).parse_args(argv)
    arguments = list(argv)
    if given.port is None:
        arguments += ["--port", environ.get("SAGEMAKER_BIND_TO_PORT") or SAGEMAKER_PORT]
    model_dir = given.model_dir
    if model_dir is None:
        model_dir = SAGEMAKER_MODEL_DIR
        arguments += ["--model_dir", model_dir]
    if given.entry_script or given.config_file:
        return arguments
    config_file = environ.get("AZUREML_CONFIG_FILE")
    if config_file:
        # Given as the flag: the command line wants an entry script or a config file by flag.
        arguments += ["--config_file", config_file]
    else:
        arguments += ["--entry_script", str(_found_score_py(Path(model_dir), environ))]
    return arguments


def _score_py_candidates(model_dir: Path, environ: Mapping[str, str]) -> list[Path]:
    """Where score.py is looked for, in order: the model's code/ folder, the model, the app root."""
    candidates = [model_dir / "code" / SCRIPT_NAME, model_dir / SCRIPT_NAME]
    app_root = environ.get("AML_APP_ROOT")
    if app_root:
        candidates.append(Path(app_root) / SCRIPT_NAME)
    return candidates


def _found_score_py(model_dir: Path, environ: Mapping[str, str]) -> Path:
    """The first score.py that exists; none is an EntryScriptError naming every place tried."""
    candidates = _score_py_candidates(model_dir, environ)
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise EntryScriptError(
            f"No {SCRIPT_NAME} to serve: looked in {', '.join(str(p) for p in candidates)}. "
            "Give --entry_script, or put score.py in one of those places."
        )
    return found


def main(argv: Sequence[str], prog: str) -> int:
    """Serve as a SageMaker container does; a start-up error is logged, its exit code returned."""
    try:
        arguments = sagemaker_arguments(argv, os.environ, prog)
    except EntryScriptError as exc:
        # Logged as cli.main logs its start-up errors: the same format, and the user's logging.json.
        configure_startup_logging(None)
        logging.getLogger(SERVER_LOGGER).error("%s", exc.message)
        return exc.exit_code
    cli.main(arguments, prog)
