"""The benchmark harness behind bench/run.py: scoreserver against the reference and a raw ASGI limit."""
