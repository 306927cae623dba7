"""Run on Windows (under Wine): the server's supervisor ended outright, as Task Manager or an
IDE's stop button ends a process (TerminateProcess), must not leave its workers serving.

    python.exe killed_supervisor.py PORT    (exit code 0: the workers stopped)
"""

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent


def _live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _post(url: str, body: dict, answers: list) -> None:
    request = urllib.request.Request(url + "/score", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        answers.append(answer.status)


def main(port: int) -> int:
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "scoreserver", "--entry_script", str(HERE / "score.py")]
    server = subprocess.Popen([*command, "--port", str(port), "--worker_count", "2"])
    deadline = time.monotonic() + 120
    while not _live(url):
        assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
        time.sleep(0.5)
    answers: list = []
    in_flight = threading.Thread(target=_post, args=(url, {"sleep": 2}, answers))
    in_flight.start()
    time.sleep(0.5)
    server.terminate()
    server.wait()
    in_flight.join(30)
    deadline = time.monotonic() + 10
    while _live(url):
        assert time.monotonic() < deadline, "the workers kept serving after their supervisor ended"
        time.sleep(0.2)
    assert answers == [200], answers
    print("the supervisor ended: its workers answered the request in hand, then left the port")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
