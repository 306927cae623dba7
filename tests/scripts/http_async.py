"""async def run(data)."""

import asyncio


def init():
    pass


async def run(data):
    await asyncio.sleep(0.01)
    return {"async": True, "data": data}
