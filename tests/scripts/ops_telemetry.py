"""Undecorated run(data) for the telemetry tests: fails on the body "fail", else echoes it."""

PREDICTION_MARKER = "ops-prediction-marker"


def init():
    pass


def run(data):
    if data == "fail":
        raise ValueError("ops telemetry failure")
    return {"echo": data, "note": PREDICTION_MARKER}
