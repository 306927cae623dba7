"""Settings: defaults, the reference's variable names, precedence, and the config file."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from scoreserver.errors import ConfigurationError
from scoreserver.settings import (
    Settings,
    find_config_file,
    known_keys,
    load_settings,
    read_config_file,
)

# Every variable the reference reads, by the name the contract gives it.
REFERENCE_VARIABLES = {
    "AZUREML_ENTRY_SCRIPT",
    "AZUREML_MODEL_DIR",
    "AZUREML_CONFIG_FILE",
    "AML_APP_ROOT",
    "AZUREML_SOURCE_DIRECTORY",
    "SCORING_TIMEOUT_MS",
    "WORKER_COUNT",
    "WORKER_TIMEOUT",
    "WORKER_PRELOAD",
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "SERVICE_PATH_PREFIX",
    "WORKSPACE_NAME",
    "AZUREML_LOG_LEVEL",
    "AML_CORS_ORIGINS",
    "AZUREML_DEBUG_PORT",
    "SEPERATE_HEALTH_ENDPOINT",
    "SERVER_VERSION_LOG_RESPONSE_ENABLED",
    "AML_APP_INSIGHTS_ENABLED",
    "AML_APP_INSIGHTS_KEY",
    "APP_INSIGHTS_LOG_RESPONSE_ENABLED",
}


@pytest.fixture(autouse=True)
def no_setting_in_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing any Settings field reads is set, and the cwd is an empty folder."""
    for name in known_keys() | {"SERVER_PORT"}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _config(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


# ---------------------------------------------------------------------------------------------
# Defaults and fields


def test_defaults_are_the_reference_defaults(tmp_path: Path) -> None:
    settings = Settings.from_sources()
    assert settings.port == 5001
    assert settings.health_port == 5000
    assert settings.host == "0.0.0.0"
    assert settings.worker_count == 1
    assert settings.worker_timeout is None
    assert settings.scoring_timeout_ms == 3_600_000
    assert settings.app_root == tmp_path
    assert settings.entry_script is None
    assert settings.model_dir is None
    assert settings.config_file is None
    assert settings.service_name == "ML service"
    assert settings.service_version == "1.0"
    assert settings.service_path_prefix == ""
    assert settings.separate_health_endpoint is False
    assert settings.server_version_log_response_enabled is True
    assert settings.appinsights_enabled is False
    assert settings.appinsights_key is None
    assert settings.appinsights_log_response_enabled is True
    assert settings.cors_origins is None
    assert settings.log_level == "INFO"


def test_settings_are_frozen() -> None:
    settings = Settings.from_sources()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    assert settings.port == 5001


def test_every_reference_variable_is_a_config_key() -> None:
    assert known_keys() >= REFERENCE_VARIABLES


def test_environment_variables_fill_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "3")
    monkeypatch.setenv("SCORING_TIMEOUT_MS", "1500")
    monkeypatch.setenv("SERVICE_NAME", "svc")
    monkeypatch.setenv("AZUREML_MODEL_DIR", "model")
    monkeypatch.setenv("AML_CORS_ORIGINS", "http://a.com")
    monkeypatch.setenv("AZUREML_LOG_LEVEL", "debug")
    settings = Settings.from_sources()
    assert settings.worker_count == 3
    assert settings.scoring_timeout_ms == 1500
    assert settings.service_name == "svc"
    assert settings.model_dir == "model"
    assert settings.cors_origins == "http://a.com"
    assert settings.log_level == "DEBUG"


def test_server_port_in_the_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_PORT", "5399")
    assert Settings.from_sources().port == 5001


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("false", False),
        ("yes", False),
        ("1", False),
        ("on", False),
        ("", False),
    ],
)
def test_server_version_header_is_on_only_for_the_word_true(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    # The reference compares case-insensitively with "true"; "yes" or "1" switch it off.
    monkeypatch.setenv("SERVER_VERSION_LOG_RESPONSE_ENABLED", value)
    assert Settings.from_sources().server_version_log_response_enabled is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("yes", False), ("1", False)]
)
def test_separate_health_endpoint_is_on_for_true_only(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("SEPERATE_HEALTH_ENDPOINT", value)
    assert Settings.from_sources().separate_health_endpoint is expected


@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        (None, []),
        ("", []),
        ("http://a.com", ["http://a.com"]),
        ("http://a.com, http://b.com", ["http://a.com", "http://b.com"]),
        (" http://a.com ,, http://b.com ,", ["http://a.com", "http://b.com"]),
    ],
)
def test_cors_origin_list_splits_on_commas(origins: str | None, expected: list[str]) -> None:
    assert Settings(cors_origins=origins).cors_origin_list == expected


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("port", 0, "SCORESERVER_PORT"),
        ("port", 65536, "SCORESERVER_PORT"),
        ("health_port", 0, "HEALTH_PORT"),
        ("worker_count", 0, "WORKER_COUNT"),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: int, variable: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_sources({field: value}, environ={})
    assert caught.value.message.startswith(f"Invalid configuration: {variable}: ")
    assert f"(given {value})" in caught.value.message


# ---------------------------------------------------------------------------------------------
# Precedence: flags > environment > config file > defaults (one test per pair)


def test_flag_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "3")
    settings, _ = load_settings({"worker_count": 2})
    assert settings.worker_count == 2


def test_flag_beats_config_file(tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"WORKER_COUNT": 3})
    settings, _ = load_settings({"worker_count": 2, "config_file": str(config)})
    assert settings.worker_count == 2


def test_environment_beats_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"SCORING_TIMEOUT_MS": 1000})
    monkeypatch.setenv("SCORING_TIMEOUT_MS", "2000")
    settings, _ = load_settings({"config_file": str(config)})
    assert settings.scoring_timeout_ms == 2000


def test_config_file_beats_default(tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"SCORING_TIMEOUT_MS": 1000})
    settings, _ = load_settings({"config_file": str(config)})
    assert settings.scoring_timeout_ms == 1000


def test_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "4")
    settings, _ = load_settings({})
    assert settings.worker_count == 4


def test_flag_left_unset_does_not_hide_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "3")
    monkeypatch.setenv("AML_CORS_ORIGINS", "http://env.com")
    settings, _ = load_settings({"worker_count": None, "cors_origins": None})
    assert settings.worker_count == 3
    assert settings.cors_origins == "http://env.com"


# ---------------------------------------------------------------------------------------------
# load_settings: paths, warnings, errors


def test_relative_entry_script_is_made_absolute_from_the_cwd(tmp_path: Path) -> None:
    settings, _ = load_settings({"entry_script": "src/score.py"})
    assert settings.entry_script == tmp_path / "src" / "score.py"


def test_model_dir_is_kept_as_given() -> None:
    settings, _ = load_settings({"model_dir": "model"})
    assert settings.model_dir == "model"


def test_config_file_is_recorded_absolute(tmp_path: Path) -> None:
    _config(tmp_path / "conf" / "c.json", {})
    settings, _ = load_settings({"config_file": "conf/c.json"})
    assert settings.config_file == tmp_path / "conf" / "c.json"


def test_app_root_defaults_to_the_cwd_and_follows_aml_app_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings({})[0].app_root == tmp_path
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path / "root"))
    assert load_settings({})[0].app_root == tmp_path / "root"


def test_source_directory_is_relative_to_the_app_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("AZUREML_SOURCE_DIRECTORY", "src")
    settings, _ = load_settings({})
    assert settings.source_directory == tmp_path / "root" / "src"


def test_config_file_can_name_the_entry_script(tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"AZUREML_ENTRY_SCRIPT": str(tmp_path / "s.py")})
    settings, _ = load_settings({"config_file": str(config)})
    assert settings.entry_script == tmp_path / "s.py"


def test_unknown_config_keys_are_warned_about_by_name(tmp_path: Path) -> None:
    config = _config(
        tmp_path / "c.json", {"SCORING_TIMEOUT_MS": 10, "NOT_A_KEY": 1, "OTHER_KEY": "x"}
    )
    settings, warnings = load_settings({"config_file": str(config)})
    assert settings.scoring_timeout_ms == 10
    assert len(warnings) == 2
    assert any("NOT_A_KEY" in w for w in warnings)
    assert any("OTHER_KEY" in w for w in warnings)


def test_known_config_keys_give_no_warning(tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"SCORING_TIMEOUT_MS": 10, "SERVICE_NAME": "s"})
    _, warnings = load_settings({"config_file": str(config)})
    assert warnings == []


def test_invalid_value_is_a_configuration_error_naming_the_variable(tmp_path: Path) -> None:
    config = _config(tmp_path / "c.json", {"SCORING_TIMEOUT_MS": "abc"})
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"config_file": str(config)})
    assert "SCORING_TIMEOUT_MS" in caught.value.message


def test_invalid_environment_value_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_COUNT", "many")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({})
    assert "WORKER_COUNT" in caught.value.message


# ---------------------------------------------------------------------------------------------
# find_config_file and read_config_file


def test_config_flag_comes_first(tmp_path: Path) -> None:
    _config(tmp_path / "config.json", {})
    found = find_config_file(
        "flag.json", {"AZUREML_CONFIG_FILE": str(tmp_path / "env.json")}, tmp_path, None
    )
    assert found == tmp_path / "flag.json"


def test_azureml_config_file_comes_second(tmp_path: Path) -> None:
    _config(tmp_path / "config.json", {})
    found = find_config_file(None, {"AZUREML_CONFIG_FILE": "env.json"}, tmp_path, None)
    assert found == tmp_path / "env.json"


def test_config_json_in_app_root_comes_before_the_one_next_to_the_script(tmp_path: Path) -> None:
    root_config = _config(tmp_path / "root" / "config.json", {})
    _config(tmp_path / "app" / "config.json", {})
    found = find_config_file(None, {}, tmp_path / "root", tmp_path / "app" / "score.py")
    assert found == root_config


def test_config_json_next_to_the_script_is_found(tmp_path: Path) -> None:
    script_config = _config(tmp_path / "app" / "config.json", {})
    (tmp_path / "root").mkdir()
    found = find_config_file(None, {}, tmp_path / "root", tmp_path / "app" / "score.py")
    assert found == script_config


def test_no_config_file_anywhere(tmp_path: Path) -> None:
    assert find_config_file(None, {}, tmp_path, tmp_path / "score.py") is None
    assert find_config_file(None, {"AZUREML_CONFIG_FILE": ""}, tmp_path, None) is None


def test_config_values_are_read_as_environment_strings(tmp_path: Path) -> None:
    config = _config(
        tmp_path / "c.json", {"A": 1, "B": True, "C": "text", "D": [1, 2], "E": None, "F": 1.5}
    )
    assert read_config_file(config) == {
        "A": "1",
        "B": "true",
        "C": "text",
        "D": "[1, 2]",
        "E": "null",
        "F": "1.5",
    }


def test_config_file_that_is_not_json_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"SCORING_TIMEOUT_MS": 1,')
    with pytest.raises(ConfigurationError) as caught:
        read_config_file(path)
    assert str(path) in caught.value.message


def test_config_file_that_is_not_an_object_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        read_config_file(_config(tmp_path / "c.json", [1, 2]))


def test_developer_loop_settings_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings.from_sources()
    assert (defaults.reload, defaults.reload_model_dir, defaults.swagger_ui) == (False, False, True)
    monkeypatch.setenv("SCORESERVER_RELOAD", "true")
    monkeypatch.setenv("SCORESERVER_RELOAD_MODEL_DIR", "1")
    monkeypatch.setenv("SCORESERVER_SWAGGER_UI", "false")
    settings = Settings.from_sources()
    assert (settings.reload, settings.reload_model_dir, settings.swagger_ui) == (True, True, False)


def loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str], **flags: Any
) -> Any:
    """Settings as load_settings builds them from these variables, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return load_settings(flags)[0]


def test_vertex_port_applies_only_when_no_port_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert loaded(monkeypatch, tmp_path, {"AIP_HTTP_PORT": "8081"}).port == 8081
    assert loaded(monkeypatch, tmp_path, {}, port=6000).port == 6000
    assert loaded(monkeypatch, tmp_path, {"SCORESERVER_PORT": "7000"}).port == 7000


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AIP_STORAGE_URI": "/models/iris"}, "/models/iris"),
        ({"AIP_STORAGE_URI": "file:///models/iris"}, "/models/iris"),
        ({"AIP_STORAGE_URI": "gs://bucket/iris"}, None),
        ({"AIP_STORAGE_URI": "/a", "AZUREML_MODEL_DIR": "/b"}, "/b"),
    ],
)
def test_vertex_storage_uri_is_the_model_dir_when_local(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str], expected: str | None
) -> None:
    assert loaded(monkeypatch, tmp_path, environ).model_dir == expected


def test_model_name_defaults_to_model() -> None:
    assert Settings.from_sources(environ={}).model_name == "model"
    assert Settings.from_sources(environ={"SCORESERVER_MODEL_NAME": "iris"}).model_name == "iris"
    assert Settings.from_sources({"model_name": "a"}, environ={}).model_name == "a"


def test_header_timeout_is_30_s_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_sources().header_timeout == 30.0
    monkeypatch.setenv("SCORESERVER_HEADER_TIMEOUT", "2.5")
    assert Settings.from_sources().header_timeout == 2.5
    with pytest.raises(ConfigurationError, match="SCORESERVER_HEADER_TIMEOUT"):
        Settings.from_sources({"header_timeout": 0}, environ={})


# ---------------------------------------------------------------------------------------------
# Reading text: the rules the server has always used (pydantic's lax ones), now through msgspec


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(word, True) for word in ("true", "TRUE", "1", "yes", "Y", "on", "t")],
        *[(word, False) for word in ("false", "False", "0", "no", "n", "OFF", "f")],
    ],
)
def test_plain_switches_read_the_usual_words(value: str, expected: bool) -> None:
    environ = {name: value for name in ("SCORESERVER_RELOAD", "SCORESERVER_SWAGGER_UI")}
    settings = Settings.from_sources(environ=environ)
    assert (settings.reload, settings.swagger_ui) == (expected, expected)


@pytest.mark.parametrize("value", ["maybe", "", " true", "2", "1.0"])
def test_a_plain_switch_refuses_other_words(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_sources(environ={"SCORESERVER_METRICS": value})
    assert caught.value.message.startswith("Invalid configuration: SCORESERVER_METRICS: ")
    assert f"(given {value!r})" in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (" 3 ", 3), ("+3", 3), ("03", 3), ("1_000", 1000), ("3.00", 3)],
)
def test_whole_numbers_are_read_leniently(value: str, expected: int) -> None:
    assert Settings.from_sources(environ={"WORKER_COUNT": value}).worker_count == expected


@pytest.mark.parametrize("value", ["3.5", "1e3", "3.", "", "three", "\uff13"])
def test_text_that_is_not_a_whole_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="WORKER_COUNT"):
        Settings.from_sources(environ={"WORKER_COUNT": value})


@pytest.mark.parametrize("value", ["", "null", "None"])
def test_an_optional_number_given_as_empty_or_null_is_refused_not_unset(value: str) -> None:
    with pytest.raises(ConfigurationError, match="WORKER_TIMEOUT"):
        Settings.from_sources(environ={"WORKER_TIMEOUT": value})
    assert Settings.from_sources(environ={"AML_CORS_ORIGINS": "null"}).cors_origins == "null"


def test_decimal_numbers_accept_blanks_and_infinity() -> None:
    settings = Settings.from_sources(
        environ={"SCORESERVER_HEADER_TIMEOUT": " 2.5 ", "SCORESERVER_RAY_NUM_CPUS": "Infinity"}
    )
    assert (settings.header_timeout, settings.ray_num_cpus) == (2.5, float("inf"))
    with pytest.raises(ConfigurationError, match="SCORESERVER_HEADER_TIMEOUT"):
        Settings.from_sources(environ={"SCORESERVER_HEADER_TIMEOUT": "nan"})


def test_every_invalid_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_COUNT", "0")
    monkeypatch.setenv("SCORESERVER_PORT", "http")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({})
    message = caught.value.message
    assert message.startswith("Invalid configuration: ")
    assert "SCORESERVER_PORT: Expected `int`" in message
    assert "(given 'http')" in message
    assert "WORKER_COUNT: Expected `int` >= 1 (given '0')" in message


def test_settings_survive_pickling_for_spawned_workers(tmp_path: Path) -> None:
    settings, _ = load_settings({"entry_script": "score.py", "port": 6100})
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_a_metrics_port_that_is_another_server_port_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Binding it twice would say "already in use", as if another process held it.
    monkeypatch.setenv("SCORESERVER_METRICS_PORT", "7001")
    with pytest.raises(ConfigurationError, match="7001, the server's port: give /metrics a port"):
        load_settings({"port": 7001})
    monkeypatch.setenv("SEPERATE_HEALTH_ENDPOINT", "true")
    with pytest.raises(ConfigurationError, match="7001, the health port"):
        load_settings({"port": 7002, "health_port": 7001})
    settings, _ = load_settings({"port": 7002, "health_port": 7003})
    assert settings.metrics_port == 7001


def test_a_timeout_of_zero_or_less_is_read_as_given() -> None:
    settings, _ = load_settings({"scoring_timeout_ms": 0})
    assert settings.scoring_timeout_ms == 0
