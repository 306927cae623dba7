"""Undecorated run(): doubles "x" of a JSON body; a body without "x" makes it raise."""

import json


def init() -> None:
    """Nothing to load."""


def run(data: str) -> dict[str, int]:
    """{"x": n} -> {"doubled": 2n}."""
    value = json.loads(data)
    return {"doubled": value["x"] * 2}
