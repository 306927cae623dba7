"""The module cli_driver.py exposes as driver_module: it has the run() the server must call."""


def run(data):
    return {"called": "driver_module.run", "data": data}
