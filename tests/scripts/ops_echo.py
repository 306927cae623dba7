"""Undecorated run(data): answers with the worker's pid and what it received."""

import os


def init():
    print(f"ops init in pid {os.getpid()}")


def run(data):
    return {"pid": os.getpid(), "length": len(data), "data": data}
