"""init() records that it ran; run() says whether it did."""

CALLS = []


def init():
    CALLS.append("init")


def run(data):
    return {"init_calls": len(CALLS)}
