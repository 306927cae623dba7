"""A driver script: its own init(), and run() in the module exposed as driver_module."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "cli_driver_target", Path(__file__).with_name("cli_driver_target.py")
)
driver_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(driver_module)

INIT_CALLS = []


def init():
    INIT_CALLS.append("driver init")


def run(data):
    raise RuntimeError("the driver's own run() must not be called")
