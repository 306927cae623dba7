"""serve: SageMaker's defaults for port, model directory and entry script."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoreserver.errors import EntryScriptError
from scoreserver.serve import sagemaker_arguments


def test_defaults_are_port_8080_and_opt_ml_model() -> None:
    args = sagemaker_arguments(["--entry_script", "s.py"], {}, "scoreserver serve")
    assert args == ["--entry_script", "s.py", "--port", "8080", "--model_dir", "/opt/ml/model"]


def test_sagemaker_bind_to_port_and_given_flags_win() -> None:
    env = {"SAGEMAKER_BIND_TO_PORT": "9000", "SCORESERVER_PORT": "7000"}
    args = sagemaker_arguments(["--entry_script", "s.py"], env, "serve")
    assert args[args.index("--port") + 1] == "9000"
    given = sagemaker_arguments(["--entry_script", "s.py", "--port", "1234"], env, "serve")
    assert given.count("--port") == 1 and "1234" in given
    given = sagemaker_arguments(["--entry_script", "s.py", "--model_dir", "/m"], env, "serve")
    assert given.count("--model_dir") == 1 and "/m" in given


def test_inherited_server_variables_move_neither_port_nor_model() -> None:
    """SageMaker sends to 8080 and mounts the model at /opt/ml/model, whatever the image set."""
    env = {"SCORESERVER_PORT": "5001", "AZUREML_MODEL_DIR": "/models"}
    args = sagemaker_arguments(["--entry_script", "s.py"], env, "serve")
    assert args == ["--entry_script", "s.py", "--port", "8080", "--model_dir", "/opt/ml/model"]


def test_score_py_is_found_in_the_models_code_folder(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("")
    args = sagemaker_arguments(["--model_dir", str(tmp_path)], {}, "serve")
    assert args[-2:] == ["--entry_script", str(tmp_path / "code" / "score.py")]
    (tmp_path / "code" / "score.py").unlink()
    (tmp_path / "score.py").write_text("")
    args = sagemaker_arguments(["--model_dir", str(tmp_path)], {}, "serve")
    assert args[-2:] == ["--entry_script", str(tmp_path / "score.py")]


def test_score_py_in_the_app_root_comes_after_the_models(tmp_path: Path) -> None:
    """The repository's Dockerfile puts score.py in AML_APP_ROOT (/app), not in the model."""
    model, app = tmp_path / "model", tmp_path / "app"
    model.mkdir()
    app.mkdir()
    (app / "score.py").write_text("")
    env = {"AML_APP_ROOT": str(app)}
    args = sagemaker_arguments(["--model_dir", str(model)], env, "serve")
    assert args[-2:] == ["--entry_script", str(app / "score.py")]
    (model / "score.py").write_text("")
    args = sagemaker_arguments(["--model_dir", str(model)], env, "serve")
    assert args[-2:] == ["--entry_script", str(model / "score.py")]


def test_no_score_py_anywhere_names_every_place_looked_in(tmp_path: Path) -> None:
    env = {"AML_APP_ROOT": str(tmp_path / "app")}
    with pytest.raises(EntryScriptError) as raised:
        sagemaker_arguments(["--model_dir", str(tmp_path)], env, "serve")
    places = ("code/score.py", "score.py", "app/score.py")
    for place in places:
        assert str(tmp_path / place) in raised.value.message
    assert raised.value.exit_code == EntryScriptError.exit_code


def test_an_entry_script_or_config_file_given_is_not_looked_for(tmp_path: Path) -> None:
    for argv, env in (
        (["--config_file", "c.json"], {}),
        ([], {"AZUREML_CONFIG_FILE": "c.json"}),
    ):
        args = sagemaker_arguments(["--model_dir", str(tmp_path), *argv], env, "serve")
        assert "--entry_script" not in args
        assert args[args.index("--config_file") + 1] == "c.json"
