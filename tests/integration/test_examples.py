"""The bundled examples start and answer as the README says."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.integration.server import serving

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_hello_example_greets_after_its_slow_init() -> None:
    started = time.monotonic()
    with serving(["--entry_script", str(EXAMPLES / "hello" / "score.py")]) as server:
        # init() sleeps 1 s and the liveness probe only answers once init() is done.
        assert time.monotonic() - started >= 1.0
        response = server.client().post("/score", json={"anything": 1})
    assert response.status_code == 200
    assert response.content == b'{"message": "Hello, World!"}'


def test_sklearn_example_predicts_iris_classes(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "sklearn" / "train.py"), str(model_dir)], check=True
    )
    assert (model_dir / "model.joblib").is_file()
    args = ["--entry_script", str(EXAMPLES / "sklearn" / "score.py"), "--model_dir", str(model_dir)]
    with serving(args) as server:
        client = server.client()
        posted = client.post("/score", json={"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
        queried = client.get("/score", params={"data": "[[5.0, 3.4, 1.5, 0.2]]"})
        wrong_type = client.post("/score", content=b"{}", headers={"content-type": "text/plain"})
        swagger = client.get("/swagger.json", params={"version": "3"}).json()
    assert posted.status_code == 200
    assert posted.json() == [0, 2]
    assert queried.json() == [0]
    assert wrong_type.status_code == 415
    schema = swagger["components"]["schemas"]["ServiceInput"]
    assert schema["properties"]["data"]["format"] == "numpy.ndarray"


def test_batched_example_answers_each_request_with_its_own_labels(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "sklearn" / "train.py"), str(model_dir)], check=True
    )
    args = ["--entry_script", str(EXAMPLES / "batched" / "score.py"), "--model_dir", str(model_dir)]
    bodies = [
        {"data": [[5.1, 3.5, 1.4, 0.2]]},
        {"data": [[6.7, 3.0, 5.2, 2.3], [5.0, 3.4, 1.5, 0.2]]},
        {"data": [[5.9, 2.8, 4.5, 1.3]]},
    ]
    with serving(args) as server, ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: server.client().post("/score", json=body), bodies))
        queried = server.client().get("/score", params={"data": "[[5.0, 3.4, 1.5, 0.2]]"})
    assert [a.json() for a in answers] == [[0], [2, 0], [1]]
    assert queried.json() == [0]
