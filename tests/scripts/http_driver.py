"""A driver script: init() here, run() in the module it exposes as driver_module."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "http_driver_target", Path(__file__).with_name("http_driver_target.py")
)
driver_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(driver_module)


def init():
    driver_module.STATE["init"] = "done by the driver"


def run(data):
    raise RuntimeError("the driver's own run() must not be called")
