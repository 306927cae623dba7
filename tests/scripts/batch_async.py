"""A batched async run(data) with its numbers set low, for the environment to override."""

import asyncio
import json

import scoreserver


def init():
    pass


@scoreserver.batch(max_batch_size=2, max_latency_ms=1)
async def run(data, request_headers):
    await asyncio.sleep(0.01)
    return [
        {"n": json.loads(text)["n"], "size": len(data), "trace": headers.get("Traceid")}
        for text, headers in zip(data, request_headers)
    ]
