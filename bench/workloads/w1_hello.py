"""W1: the hello example's run(); init() is trivial so cold start measures the server alone."""


def init():
    pass


def run(data):
    return {"message": "Hello, World!"}
