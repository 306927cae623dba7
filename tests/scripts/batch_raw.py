"""A batched @rawhttp run(request): a list of requests in, a list of answers out."""

import scoreserver
from scoreserver import AMLResponse, rawhttp


def init():
    pass


@scoreserver.batch(max_batch_size=8, max_latency_ms=300)
@rawhttp
def run(requests):
    return [AMLResponse(f"{r.method} {r.args.get('n')} of {len(requests)}", 200) for r in requests]
