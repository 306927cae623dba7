"""async def run(data)."""


def init():
    pass


async def run(data):
    return {"async": data}
