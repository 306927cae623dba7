"""The process layer: the supervisor, its workers, and what passes between them.

    server.py           the supervisor: binds the ports, starts and replaces workers, drains
    worker.py           a worker process: loads the script, serves it with uvicorn
    listener.py         accepting so that an idle worker gets the next connection
    messages.py         what supervisor and workers tell each other
    custody.py          the supervisor's copies of the workers' connections, to answer a dead
    custody_channels.py   worker's requests; the channel the copies travel on
    raw_responses.py    whole responses written straight to a socket (no ASGI app there)
    descriptors.py      each worker's budget of open files
    rebalancing.py      sharing keep-alive clients out again among the workers

What differs between Linux, macOS and Windows stays in scoreserver/platform.py.
"""
