"""The one typed configuration object, built once at start-up from flags, environment and config file.

Precedence is command line > environment > config file > defaults. Environment variable names are
the reference server's, and each appears once, as the alias of its field.

The model is a plain pydantic model and the three sources are layered here, by key, rather than
by pydantic-settings: that package costs about 17 MB of memory in every process that imports it
(the supervisor and each worker), more than the rest of the server together, and all it would do
for us is this one dictionary merge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from scoreserver.errors import ConfigurationError

__all__ = ["Settings", "find_config_file", "known_keys", "load_settings", "read_config_file"]


def _true_only(value: object) -> bool:
    """The reference switches these on only for the word "true" (any case); "yes" or "1" is off."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


TrueOnly = Annotated[bool, BeforeValidator(_true_only)]


DEFAULT_SCRIPT_NAME = "main.py"
"""Served from the app root when no entry script is named anywhere."""


class Settings(BaseModel):
    """Everything the server needs to know, frozen after start-up."""

    # No protected "model_" namespace: model_dir and model_name are the reference's own names
    # (pydantic < 2.10 warns about them at import otherwise).
    model_config = ConfigDict(
        frozen=True, populate_by_name=True, extra="ignore", protected_namespaces=()
    )

    entry_script: Path | None = Field(None, alias="AZUREML_ENTRY_SCRIPT")
    """The user's score.py, made absolute."""

    model_dir: str | None = Field(None, alias="AZUREML_MODEL_DIR")
    """Where the model files live; passed to the script as given."""

    config_file: Path | None = Field(None, alias="AZUREML_CONFIG_FILE")
    """The JSON config file that was read, if any."""

    port: int = Field(5001, ge=1, le=65535, alias="SCORESERVER_PORT")
    """The port /score is served on. SERVER_PORT is deliberately not read, as in the reference."""

    health_port: int = Field(5000, ge=1, le=65535, alias="HEALTH_PORT")
    """The port of the dedicated liveness endpoint, when SEPERATE_HEALTH_ENDPOINT is on."""

    separate_health_endpoint: TrueOnly = Field(False, alias="SEPERATE_HEALTH_ENDPOINT")
    """Serve the liveness probe on its own port too (the variable's spelling is the reference's)."""

    host: str = Field("0.0.0.0", alias="SCORESERVER_HOST")
    """The address to listen on."""

    worker_count: int = Field(1, ge=1, alias="WORKER_COUNT")
    """How many worker processes serve requests, each with its own init()."""

    worker_timeout: int | None = Field(None, ge=1, alias="WORKER_TIMEOUT")
    """Seconds a worker's event loop may stay unresponsive before it is replaced (unset: 300)."""

    graceful_timeout: int = Field(30, ge=1, alias="SCORESERVER_GRACEFUL_TIMEOUT")
    """Seconds the requests already received get to finish after SIGTERM."""

    worker_preload: TrueOnly = Field(False, alias="WORKER_PRELOAD")
    """Import the entry script once in the supervisor before starting workers."""

    concurrency: int = Field(1, ge=1, alias="SCORESERVER_CONCURRENCY")
    """How many run() calls one worker makes at once; above 1 only for thread-safe scripts."""

    max_request_body_bytes: int = Field(
        100 * 1024 * 1024, ge=1, alias="SCORESERVER_MAX_REQUEST_BODY_BYTES"
    )
    """Larger request bodies are refused with 413 before run() sees them."""

    auth_key: str | None = Field(None, alias="SCORESERVER_AUTH_KEY")
    """When set, /score and /swagger.json need "Authorization: Bearer <key>"; never logged."""

    scoring_timeout_ms: int = Field(3_600_000, ge=1, alias="SCORING_TIMEOUT_MS")
    """How long run() may take before the client gets a 500 timeout answer."""

    app_root: Path = Field(default_factory=Path.cwd, alias="AML_APP_ROOT")
    """The application's root folder: importable, and searched for config and swagger files."""

    source_directory: Path | None = Field(None, alias="AZUREML_SOURCE_DIRECTORY")
    """An extra importable folder, relative to app_root."""

    service_name: str = Field("ML service", alias="SERVICE_NAME")
    """The title of the generated API description."""

    service_version: str = Field("1.0", alias="SERVICE_VERSION")
    """The version of the generated API description."""

    service_path_prefix: str = Field("", alias="SERVICE_PATH_PREFIX")
    """A path prefix the generated API description puts before each route."""

    workspace_name: str = Field("", alias="WORKSPACE_NAME")
    """The Azure ML workspace, recorded in telemetry."""

    log_level: str = Field("INFO", alias="AZUREML_LOG_LEVEL")
    """The level of the server's own loggers."""

    cors_origins: str | None = Field(None, alias="AML_CORS_ORIGINS")
    """Comma-separated origins allowed by CORS; none means no CORS headers at all."""

    debug_port: int | None = Field(None, ge=1, le=65535, alias="AZUREML_DEBUG_PORT")
    """Start debugpy listening on this port."""

    server_version_log_response_enabled: TrueOnly = Field(
        True, alias="SERVER_VERSION_LOG_RESPONSE_ENABLED"
    )
    """Send the x-ms-server-version header."""

    appinsights_enabled: TrueOnly = Field(False, alias="AML_APP_INSIGHTS_ENABLED")
    """Send telemetry to Application Insights."""

    appinsights_key: str | None = Field(None, alias="AML_APP_INSIGHTS_KEY")
    """The Application Insights instrumentation key; never logged."""

    appinsights_log_response_enabled: TrueOnly = Field(
        True, alias="APP_INSIGHTS_LOG_RESPONSE_ENABLED"
    )
    """Record run()'s output in telemetry, not only its input."""

    reload: bool = Field(False, alias="SCORESERVER_RELOAD")
    """Watch the app root and move traffic to workers on the new code when files change."""

    reload_model_dir: bool = Field(False, alias="SCORESERVER_RELOAD_MODEL_DIR")
    """With reload, also watch the model directory."""

    swagger_ui: bool = Field(True, alias="SCORESERVER_SWAGGER_UI")
    """Serve the Swagger UI page at /swagger (false turns it off)."""

    model_name: str = Field("model", min_length=1, alias="SCORESERVER_MODEL_NAME")
    """The model's name in the V2, KServe V1 paths and metadata; another name there is a 404."""

    readiness_drain_s: float = Field(0.0, ge=0, alias="SCORESERVER_READINESS_DRAIN_S")
    """Seconds between a stop signal and the drain during which readiness says "not ready"."""

    vertex_http_port: int | None = Field(None, ge=1, le=65535, alias="AIP_HTTP_PORT")
    """Vertex AI's port for the container; used when no port is given otherwise."""

    vertex_health_route: str | None = Field(None, alias="AIP_HEALTH_ROUTE")
    """Vertex AI's health check path, served as a readiness probe when set."""

    vertex_predict_route: str | None = Field(None, alias="AIP_PREDICT_ROUTE")
    """Vertex AI's prediction path ({"instances": [...]} → {"predictions": [...]}) when set."""

    vertex_storage_uri: str | None = Field(None, alias="AIP_STORAGE_URI")
    """Vertex AI's model location: a local path (or file:// URI) is the model directory."""

    header_timeout: float = Field(30.0, gt=0, alias="SCORESERVER_HEADER_TIMEOUT")
    """Seconds a connection has to send a whole request head (like nginx's client_header_timeout)."""

    portable_processes: TrueOnly = Field(False, alias="SCORESERVER_PORTABLE_PROCESSES")
    """Start workers by spawn and pass connections over a stream socket, as on macOS, even where
    fork and SOCK_SEQPACKET exist: for tests, so that the macOS paths are exercised on Linux."""

    metrics: bool = Field(True, alias="SCORESERVER_METRICS")
    """Serve Prometheus metrics at /metrics (false turns them off, and their cost with them)."""

    metrics_port: int | None = Field(None, ge=1, le=65535, alias="SCORESERVER_METRICS_PORT")
    """Serve /metrics on this port only (and nothing else there), instead of on the main port."""

    ray_replicas: int = Field(1, ge=1, alias="SCORESERVER_RAY_REPLICAS")
    """scoreserver ray: replicas of the script (the lower bound when autoscaling)."""

    ray_max_replicas: int | None = Field(None, ge=1, alias="SCORESERVER_RAY_MAX_REPLICAS")
    """scoreserver ray: autoscale up to this many replicas (unset: a fixed number)."""

    ray_num_cpus: float = Field(1.0, gt=0, alias="SCORESERVER_RAY_NUM_CPUS")
    """scoreserver ray: CPUs Ray reserves for each replica."""

    max_batch_size: int | None = Field(None, ge=1, alias="SCORESERVER_MAX_BATCH_SIZE")
    """For a run() marked @scoreserver.batch: the most requests per call (overrides the script's)."""

    max_batch_latency_ms: float | None = Field(None, ge=0, alias="SCORESERVER_MAX_BATCH_LATENCY_MS")
    """For a run() marked @scoreserver.batch: how long a lone request waits for company."""

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    @classmethod
    def from_sources(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Layer the sources: flags (by field name) over environment over config file (by alias)."""
        environ = os.environ if environ is None else environ
        aliases = _aliases()
        layered: dict[str, Any] = {k: v for k, v in (config or {}).items() if k in aliases.values()}
        layered.update({k: v for k, v in environ.items() if k in aliases.values()})
        for name, value in (flags or {}).items():
            if value is not None:
                layered[aliases.get(name, name)] = value
        return cls.model_validate(layered)

    @property
    def script_path(self) -> Path:
        """The script to serve: the entry script, else main.py in the app root (as the reference)."""
        return self.entry_script or self.app_root / DEFAULT_SCRIPT_NAME

    @property
    def stuck_timeout_s(self) -> int:
        """How long a worker may go without a heartbeat before it is replaced."""
        return self.worker_timeout or 300

    @property
    def cors_origin_list(self) -> list[str]:
        """The CORS origins as a list, blanks dropped."""
        if not self.cors_origins:
            return []
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def _aliases() -> dict[str, str]:
    """Each field's name and the environment variable (alias) it is read from."""
    return {name: f.alias or name for name, f in Settings.model_fields.items()}


def known_keys() -> set[str]:
    """The config-file keys that mean something: every field's alias."""
    return {f.alias for f in Settings.model_fields.values() if f.alias}


def find_config_file(
    flag: str | None, environ: Mapping[str, str], app_root: Path, entry_script: Path | None
) -> Path | None:
    """Where the config file is: the flag, else AZUREML_CONFIG_FILE, else a config.json nearby."""
    if flag:
        return Path(flag).absolute()
    if environ.get("AZUREML_CONFIG_FILE"):
        return Path(environ["AZUREML_CONFIG_FILE"]).absolute()
    candidates = [app_root / "config.json"]
    if entry_script is not None:
        candidates.append(entry_script.parent / "config.json")
    return next((c for c in candidates if c.is_file()), None)


def read_config_file(path: Path) -> dict[str, Any]:
    """The config file's keys and values, as strings like the environment's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"Config file {path} does not exist.") from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"Config file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"Config file {path} must hold a JSON object.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def load_settings(flags: Mapping[str, Any]) -> tuple[Settings, list[str]]:
    """Build the Settings from flags, os.environ and config file; also return config warnings."""
    environ = os.environ
    app_root = Path(environ.get("AML_APP_ROOT") or Path.cwd()).absolute()
    entry_flag = flags.get("entry_script")
    entry_script = Path(entry_flag).absolute() if entry_flag else None
    config_path = find_config_file(flags.get("config_file"), environ, app_root, entry_script)
    config_values = read_config_file(config_path) if config_path else {}
    warnings = [
        f"Unknown key {key!r} in config file {config_path} is ignored."
        for key in sorted(set(config_values) - known_keys())
    ]
    init: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    init["app_root"] = app_root
    if entry_script is not None:
        init["entry_script"] = entry_script
    if config_path is not None:
        init["config_file"] = config_path
    try:
        settings = Settings.from_sources(init, environ, config_values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"Invalid configuration: {problems}") from exc
    return _resolved(settings), warnings


def _resolved(settings: Settings) -> Settings:
    """Make the script path absolute and the source directory relative to the app root."""
    updates: dict[str, Any] = {}
    if settings.entry_script is not None and not settings.entry_script.is_absolute():
        updates["entry_script"] = (settings.app_root / settings.entry_script).absolute()
    if settings.source_directory is not None and not settings.source_directory.is_absolute():
        updates["source_directory"] = settings.app_root / settings.source_directory
    updates.update(_vertex_defaults(settings))
    return settings.model_copy(update=updates) if updates else settings


def _vertex_defaults(settings: Settings) -> dict[str, Any]:
    """Vertex AI's port and local model location, where nothing more specific was given."""
    updates: dict[str, Any] = {}
    if settings.vertex_http_port is not None and "port" not in settings.model_fields_set:
        updates["port"] = settings.vertex_http_port
    uri = settings.vertex_storage_uri
    if uri and settings.model_dir is None:
        scheme, _, rest = uri.partition("://")
        if not rest:
            updates["model_dir"] = uri
        elif scheme == "file":
            updates["model_dir"] = rest
    return updates
