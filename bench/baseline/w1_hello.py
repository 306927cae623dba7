"""W1 on raw ASGI: the hello reply, encoded per request as run()'s result would be."""

import json

from rawasgi import score_app


async def _score(body: bytes) -> bytes:
    return json.dumps({"message": "Hello, World!"}).encode()


app = score_app(_score)
