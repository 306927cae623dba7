"""Reports the environment the server gives scripts, and imports modules by name on request."""

import importlib
import json
import os
import sys
import time

NAMES = (
    "AZUREML_MODEL_DIR",
    "AZUREML_ENTRY_SCRIPT",
    "AML_APP_ROOT",
    "AML_APP_INSIGHTS_ENABLED",
    "AML_APP_INSIGHTS_KEY",
    "WORKER_COUNT",
    "AZUREML_CONFIG_FILE",
)


def init():
    print("INIT-ENV " + json.dumps({name: os.environ.get(name) for name in NAMES}))


def run(data):
    if data.startswith("sleep "):
        time.sleep(float(data.removeprefix("sleep ")))
        return {"slept": True}
    if data.startswith("import "):
        module = importlib.import_module(data.removeprefix("import "))
        return {"module": module.__name__, "value": module.VALUE}
    return {
        "env": {name: os.environ.get(name) for name in NAMES},
        "cwd": os.getcwd(),
        "sys_path": sys.path,
    }
