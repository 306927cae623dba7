"""serve: SageMaker's defaults for port, model directory and entry script."""

from __future__ import annotations

from pathlib import Path

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
    assert "--model_dir" not in sagemaker_arguments(
        ["--entry_script", "s.py"], {"AZUREML_MODEL_DIR": "/m"}, "serve"
    )


def test_score_py_is_found_in_the_models_code_folder(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("")
    args = sagemaker_arguments(["--model_dir", str(tmp_path)], {}, "serve")
    assert args[-2:] == ["--entry_script", str(tmp_path / "code" / "score.py")]
    (tmp_path / "code" / "score.py").unlink()
    (tmp_path / "score.py").write_text("")
    args = sagemaker_arguments(["--model_dir", str(tmp_path)], {}, "serve")
    assert args[-2:] == ["--entry_script", str(tmp_path / "score.py")]
