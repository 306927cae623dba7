"""The score script behind http_driver.py's driver_module."""

STATE = {"init": "not run"}


def run(data):
    return {"called": "driver_module.run", "data": data, "init": STATE["init"]}
