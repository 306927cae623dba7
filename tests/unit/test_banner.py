"""The start-up banner: the reference's text for given settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoreserver import __version__
from scoreserver.banner import render_banner
from scoreserver.settings import Settings, known_keys

SCRIPT = Path("/srv/app/score.py")


@pytest.fixture(autouse=True)
def no_setting_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in known_keys():
        monkeypatch.delenv(name, raising=False)


def _rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            rows[name] = value
    return rows


def test_default_banner_is_the_reference_text_naming_scoreserver() -> None:
    text = render_banner(Settings(entry_script=SCRIPT, port=5301))
    assert text == (
        "\n"
        f"Azure ML Inferencing HTTP server v{__version__}\n"
        f"Served by scoreserver {__version__}, not by azureml-inference-server-http\n"
        "\n"
        "\n"
        "Server Settings\n"
        "---------------\n"
        f"Entry Script Name: {SCRIPT}\n"
        "Model Directory: None\n"
        "Config File: None\n"
        "Worker Count: 1\n"
        "Worker Timeout (seconds): None\n"
        "Server Port: 5301\n"
        "Health Port: 5301\n"
        "Application Insights Enabled: false\n"
        "Application Insights Key: None\n"
        f"Inferencing HTTP server version: azmlinfsrv/{__version__}\n"
        "CORS for the specified origins: None\n"
        "Create dedicated endpoint for health: None\n"
        "\n"
        "\n"
        "Server Routes\n"
        "---------------\n"
        "Liveness Probe: GET   127.0.0.1:5301/\n"
        "Score:          POST  127.0.0.1:5301/score\n"
        f"{OTHER_PROTOCOL_ROUTES.format(port=5301)}"
        "Metrics:        GET   127.0.0.1:5301/metrics\n"
        "\n"
    )


# The reference's banner lists its two routes; the other protocols' routes follow them.
OTHER_PROTOCOL_ROUTES = (
    "V2 Live:        GET   127.0.0.1:{port}/v2/health/live\n"
    "V2 Ready:       GET   127.0.0.1:{port}/v2/health/ready\n"
    "V2 Server:      GET   127.0.0.1:{port}/v2\n"
    "V2 Metadata:    GET   127.0.0.1:{port}/v2/models/model\n"
    "V2 Model Ready: GET   127.0.0.1:{port}/v2/models/model/ready\n"
    "V2 Infer:       POST  127.0.0.1:{port}/v2/models/model/infer\n"
    "V2 Metadata:    GET   127.0.0.1:{port}/v2/models/model/versions/1\n"
    "V2 Model Ready: GET   127.0.0.1:{port}/v2/models/model/versions/1/ready\n"
    "V2 Infer:       POST  127.0.0.1:{port}/v2/models/model/versions/1/infer\n"
    "V1 Models:      GET   127.0.0.1:{port}/v1/models\n"
    "V1 Model:       GET   127.0.0.1:{port}/v1/models/model\n"
    "V1 Predict:     POST  127.0.0.1:{port}/v1/models/model:predict\n"
    "SageMaker Ping: GET   127.0.0.1:{port}/ping\n"
    "SageMaker Run:  POST  127.0.0.1:{port}/invocations\n"
)


def test_vertex_routes_and_the_model_name_show_when_configured() -> None:
    settings = Settings(
        entry_script=SCRIPT,
        port=8080,
        model_name="iris",
        vertex_health_route="/health",
        vertex_predict_route="/v1/endpoints/1/deployedModels/2:predict",
    )
    text = render_banner(settings)
    assert "V2 Infer:       POST  127.0.0.1:8080/v2/models/iris/infer\n" in text
    assert "V1 Predict:     POST  127.0.0.1:8080/v1/models/iris:predict\n" in text
    assert "Vertex Health:  GET   127.0.0.1:8080/health\n" in text
    assert "Vertex Predict: POST  127.0.0.1:8080/v1/endpoints/1/deployedModels/2:predict\n" in text


def test_the_metrics_line_names_the_metrics_port_or_is_left_out_when_off() -> None:
    own_port = Settings(entry_script=SCRIPT, port=8080, metrics_port=9090)
    assert "Metrics:        GET   127.0.0.1:9090/metrics\n" in render_banner(own_port)
    off = Settings(entry_script=SCRIPT, port=8080, metrics=False)
    assert "/metrics" not in render_banner(off)


def test_rows_show_the_configured_values() -> None:
    settings = Settings(
        entry_script=SCRIPT,
        model_dir="model",
        config_file=SCRIPT.with_name("config.json"),
        worker_count=4,
        worker_timeout=77,
        port=6001,
    )
    rows = _rows(render_banner(settings))
    assert rows["Model Directory"] == "model"
    assert rows["Config File"] == str(SCRIPT.with_name("config.json"))
    assert rows["Worker Count"] == "4"
    assert rows["Worker Timeout (seconds)"] == "77"
    assert rows["Server Port"] == "6001"


def test_separate_health_endpoint_moves_the_probe_to_the_health_port() -> None:
    settings = Settings(
        entry_script=SCRIPT, port=6001, health_port=6002, separate_health_endpoint=True
    )
    text = render_banner(settings)
    rows = _rows(text)
    assert rows["Health Port"] == "6002"
    assert rows["Create dedicated endpoint for health"] == "true"
    assert "Liveness Probe: GET   127.0.0.1:6002/\n" in text
    assert "Score:          POST  127.0.0.1:6001/score\n" in text


def test_health_port_is_the_main_port_without_the_separate_endpoint() -> None:
    text = render_banner(Settings(entry_script=SCRIPT, port=6001, health_port=6002))
    assert _rows(text)["Health Port"] == "6001"
    assert "Liveness Probe: GET   127.0.0.1:6001/\n" in text


def test_appinsights_key_is_never_shown() -> None:
    key = "12345678-1234-1234-1234-123456789abc"
    text = render_banner(
        Settings(entry_script=SCRIPT, appinsights_enabled=True, appinsights_key=key)
    )
    rows = _rows(text)
    assert rows["Application Insights Enabled"] == "true"
    assert rows["Application Insights Key"] == "AppInsights key provided"
    assert key not in text


def test_server_version_row_is_none_when_the_header_is_off() -> None:
    text = render_banner(Settings(entry_script=SCRIPT, server_version_log_response_enabled=False))
    assert _rows(text)["Inferencing HTTP server version"] == "None"


def test_cors_row_names_the_origins_as_given() -> None:
    text = render_banner(Settings(entry_script=SCRIPT, cors_origins="http://a.com, http://b.com"))
    assert _rows(text)["CORS for the specified origins"] == (
        "Enabling CORS for http://a.com, http://b.com"
    )
