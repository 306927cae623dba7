"""reload: what is watched, how many worker slots there are, and that workers skip watchfiles."""

from __future__ import annotations

import json
import py_compile
import subprocess
import sys
from pathlib import Path

import msgspec

from scoreserver.reload import forget_bytecode, reload_slots, watched_paths
from scoreserver.settings import Settings


def test_the_app_root_and_the_scripts_folder_are_watched(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    settings = Settings(app_root=tmp_path / "src", entry_script=tmp_path / "score.py")
    # The script's folder holds the app root: watching it covers both.
    assert watched_paths(settings) == [tmp_path]


def test_the_model_dir_is_watched_only_with_the_flag(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "app").mkdir()
    base = Settings(app_root=tmp_path / "app", model_dir="../models", reload=True)
    assert watched_paths(base) == [tmp_path / "app"]
    with_models = msgspec.structs.replace(base, reload_model_dir=True)
    assert watched_paths(with_models) == [tmp_path / "app", tmp_path / "models"]


def test_a_folder_that_does_not_exist_is_not_watched(tmp_path: Path) -> None:
    settings = Settings(app_root=tmp_path, model_dir="gone", reload_model_dir=True)
    assert watched_paths(settings) == [tmp_path]


def test_reload_gives_each_worker_three_slots() -> None:
    assert reload_slots(Settings(worker_count=2)) == 2
    assert reload_slots(Settings(worker_count=2, reload=True)) == 6


def test_workers_load_uvicorn_without_watchfiles_but_scripts_may_import_it() -> None:
    # uvicorn imports watchfiles whenever it is installed; a worker must not pay for it.
    code = (
        "import json, sys\n"
        "from scoreserver.reload import import_worker\n"
        "import_worker()\n"
        "loaded = {m: m in sys.modules for m in ('uvicorn', 'watchfiles')}\n"
        "import watchfiles\n"
        "print(json.dumps(loaded))\n"
    )
    output = subprocess.check_output([sys.executable, "-c", code], text=True)
    assert json.loads(output) == {"uvicorn": True, "watchfiles": False}


def test_a_changed_scripts_cached_bytecode_is_forgotten(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text("VERSION = 1\n")
    cached = Path(py_compile.compile(str(script), doraise=True))
    notes = tmp_path / "notes.txt"
    notes.write_text("not Python")
    forget_bytecode([str(script), str(notes), str(tmp_path / "gone.py")])
    assert not cached.exists()
    assert notes.exists()
