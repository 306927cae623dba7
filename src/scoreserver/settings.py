"""The one typed configuration object, built once at start-up from flags, environment and config file.

Precedence is command line > environment > config file > defaults. Environment variable names are
the reference server's, and each appears once, as the alias (msgspec's encoded name) of its field.

Settings is a frozen msgspec Struct, and msgspec converts and checks each value given. It was a
pydantic model: importing this module cost 18.0 MiB of memory then (pydantic and the model's
validators), 3.5 MiB now (VmRSS, Linux, CPython 3.11: `import scoreserver.cli` 33.5 -> 20.9 MiB;
the idle server with one worker, RSS summed, 69.5 -> 55.2 MiB: supervisor 33.7 -> 22.0, worker
35.9 -> 33.1). The three sources are layered here, by key, and each field's text is read the way
the server always read it (pydantic's lax rules: blanks around numbers, yes/no/on/off switches,
"true"-only switches).
"""

import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional, Union, get_args, get_origin

import msgspec
from msgspec import Meta, field

from scoreserver.errors import ConfigurationError

__all__ = ["Settings", "find_config_file", "known_keys", "load_settings", "read_config_file"]


class _Reads:
    """Annotated metadata: how a field reads a value given as text, before msgspec checks it."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        self.read = read


def _true_only(text: str) -> bool:
    """The reference switches these on only for the word "true" (any case); "yes" or "1" is off."""
    return text.strip().lower() == "true"


TrueOnly = Annotated[bool, _Reads(_true_only)]
UpperCase = Annotated[str, _Reads(str.upper)]
Port = Annotated[int, Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, Meta(ge=1)]


DEFAULT_SCRIPT_NAME = "main.py"
"""Served from the app root when no entry script is named anywhere."""


# Optional[X], not `X | None`, and no `from __future__ import annotations` in this module: msgspec
# evaluates these annotations at run time, and Python 3.9 cannot evaluate `X | None`.
class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server needs to know, frozen after start-up."""

    entry_script: Optional[Path] = field(default=None, name="AZUREML_ENTRY_SCRIPT")
    """The user's score.py, made absolute."""

    model_dir: Optional[str] = field(default=None, name="AZUREML_MODEL_DIR")
    """Where the model files live; passed to the script as given."""

    config_file: Optional[Path] = field(default=None, name="AZUREML_CONFIG_FILE")
    """The JSON config file that was read, if any."""

    port: Port = field(default=5001, name="SCORESERVER_PORT")
    """The port /score is served on. SERVER_PORT is deliberately not read, as in the reference."""

    health_port: Port = field(default=5000, name="HEALTH_PORT")
    """The port of the dedicated liveness endpoint, when SEPERATE_HEALTH_ENDPOINT is on."""

    separate_health_endpoint: TrueOnly = field(default=False, name="SEPERATE_HEALTH_ENDPOINT")
    """Serve the liveness probe on its own port too (the variable's spelling is the reference's)."""

    host: str = field(default="0.0.0.0", name="SCORESERVER_HOST")
    """The address to listen on."""

    worker_count: PositiveInt = field(default=1, name="WORKER_COUNT")
    """How many worker processes serve requests, each with its own init()."""

    worker_timeout: Optional[PositiveInt] = field(default=None, name="WORKER_TIMEOUT")
    """Seconds a worker's event loop may stay unresponsive before it is replaced (unset: 300)."""

    graceful_timeout: PositiveInt = field(default=30, name="SCORESERVER_GRACEFUL_TIMEOUT")
    """Seconds the requests already received get to finish after SIGTERM."""

    worker_preload: TrueOnly = field(default=False, name="WORKER_PRELOAD")
    """Import the entry script once in the supervisor before starting workers."""

    concurrency: PositiveInt = field(default=1, name="SCORESERVER_CONCURRENCY")
    """How many run() calls one worker makes at once; above 1 only for thread-safe scripts."""

    max_request_body_bytes: PositiveInt = field(
        default=100 * 1024 * 1024, name="SCORESERVER_MAX_REQUEST_BODY_BYTES"
    )
    """Larger request bodies are refused with 413 before run() sees them."""

    auth_key: Optional[str] = field(default=None, name="SCORESERVER_AUTH_KEY")
    """When set, /score and /swagger.json need "Authorization: Bearer <key>"; never logged."""

    scoring_timeout_ms: int = field(default=3_600_000, name="SCORING_TIMEOUT_MS")
    """How long run() may take before the client gets a 500 timeout answer; 0 or less, no limit
    (the reference serves on with such a value)."""

    app_root: Path = field(default_factory=Path.cwd, name="AML_APP_ROOT")
    """The application's root folder: importable, and searched for config and swagger files."""

    source_directory: Optional[Path] = field(default=None, name="AZUREML_SOURCE_DIRECTORY")
    """An extra importable folder, relative to app_root."""

    service_name: str = field(default="ML service", name="SERVICE_NAME")
    """The title of the generated API description."""

    service_version: str = field(default="1.0", name="SERVICE_VERSION")
    """The version of the generated API description."""

    service_path_prefix: str = field(default="", name="SERVICE_PATH_PREFIX")
    """A path prefix the generated API description puts before each route."""

    workspace_name: str = field(default="", name="WORKSPACE_NAME")
    """The Azure ML workspace, recorded in telemetry."""

    log_level: UpperCase = field(default="INFO", name="AZUREML_LOG_LEVEL")
    """The level of the server's own loggers."""

    cors_origins: Optional[str] = field(default=None, name="AML_CORS_ORIGINS")
    """Comma-separated origins allowed by CORS; none means no CORS headers at all."""

    debug_port: Optional[Port] = field(default=None, name="AZUREML_DEBUG_PORT")
    """Start debugpy listening on this port."""

    server_version_log_response_enabled: TrueOnly = field(
        default=True, name="SERVER_VERSION_LOG_RESPONSE_ENABLED"
    )
    """Send the x-ms-server-version header."""

    appinsights_enabled: TrueOnly = field(default=False, name="AML_APP_INSIGHTS_ENABLED")
    """Send telemetry to Application Insights."""

    appinsights_key: Optional[str] = field(default=None, name="AML_APP_INSIGHTS_KEY")
    """The Application Insights instrumentation key; never logged."""

    appinsights_log_response_enabled: TrueOnly = field(
        default=True, name="APP_INSIGHTS_LOG_RESPONSE_ENABLED"
    )
    """Record run()'s output in telemetry, not only its input."""

    reload: bool = field(default=False, name="SCORESERVER_RELOAD")
    """Watch the app root and move traffic to workers on the new code when files change."""

    reload_model_dir: bool = field(default=False, name="SCORESERVER_RELOAD_MODEL_DIR")
    """With reload, also watch the model directory."""

    swagger_ui: bool = field(default=True, name="SCORESERVER_SWAGGER_UI")
    """Serve the Swagger UI page at /swagger (false turns it off)."""

    model_name: Annotated[str, Meta(min_length=1)] = field(
        default="model", name="SCORESERVER_MODEL_NAME"
    )
    """The model's name in the V2, KServe V1 paths and metadata; another name there is a 404."""

    readiness_drain_s: Annotated[float, Meta(ge=0)] = field(
        default=0.0, name="SCORESERVER_READINESS_DRAIN_S"
    )
    """Seconds between a stop signal and the drain during which readiness says "not ready"."""

    vertex_http_port: Optional[Port] = field(default=None, name="AIP_HTTP_PORT")
    """Vertex AI's port for the container; used when no port is given otherwise."""

    vertex_health_route: Optional[str] = field(default=None, name="AIP_HEALTH_ROUTE")
    """Vertex AI's health check path, served as a readiness probe when set."""

    vertex_predict_route: Optional[str] = field(default=None, name="AIP_PREDICT_ROUTE")
    """Vertex AI's prediction path ({"instances": [...]} → {"predictions": [...]}) when set."""

    vertex_storage_uri: Optional[str] = field(default=None, name="AIP_STORAGE_URI")
    """Vertex AI's model location: a local path (or file:// URI) is the model directory."""

    header_timeout: Annotated[float, Meta(gt=0)] = field(
        default=30.0, name="SCORESERVER_HEADER_TIMEOUT"
    )
    """Seconds a connection has to send a whole request head (like nginx's client_header_timeout)."""

    portable_processes: TrueOnly = field(default=False, name="SCORESERVER_PORTABLE_PROCESSES")
    """Start workers by spawn and pass connections over a stream socket, as on macOS, even where
    fork and SOCK_SEQPACKET exist: for tests, so that the macOS paths are exercised on Linux."""

    metrics: bool = field(default=True, name="SCORESERVER_METRICS")
    """Serve Prometheus metrics at /metrics (false turns them off, and their cost with them)."""

    metrics_port: Optional[Port] = field(default=None, name="SCORESERVER_METRICS_PORT")
    """Serve /metrics on this port only (and nothing else there), instead of on the main port."""

    ray_replicas: PositiveInt = field(default=1, name="SCORESERVER_RAY_REPLICAS")
    """scoreserver ray: replicas of the script (the lower bound when autoscaling)."""

    ray_max_replicas: Optional[PositiveInt] = field(
        default=None, name="SCORESERVER_RAY_MAX_REPLICAS"
    )
    """scoreserver ray: autoscale up to this many replicas (unset: a fixed number)."""

    ray_num_cpus: Annotated[float, Meta(gt=0)] = field(default=1.0, name="SCORESERVER_RAY_NUM_CPUS")
    """scoreserver ray: CPUs Ray reserves for each replica."""

    max_batch_size: Optional[PositiveInt] = field(default=None, name="SCORESERVER_MAX_BATCH_SIZE")
    """For a run() marked @scoreserver.batch: the most requests per call (overrides the script's)."""

    max_batch_latency_ms: Optional[Annotated[float, Meta(ge=0)]] = field(
        default=None, name="SCORESERVER_MAX_BATCH_LATENCY_MS"
    )
    """For a run() marked @scoreserver.batch: how long a lone request waits for company."""

    @classmethod
    def from_sources(
        cls,
        flags: Optional[Mapping[str, Any]] = None,
        environ: Optional[Mapping[str, str]] = None,
        config: Optional[Mapping[str, Any]] = None,
    ) -> "Settings":
        """Layer the sources: flags (by field name) over environment over config file (by alias)."""
        return _validated(_layered(flags, environ, config))

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
    return {f.name: f.encode_name for f in msgspec.structs.fields(Settings)}


def known_keys() -> set[str]:
    """The config-file keys that mean something: every field's alias."""
    return set(_aliases().values())


def _layered(
    flags: Optional[Mapping[str, Any]],
    environ: Optional[Mapping[str, str]],
    config: Optional[Mapping[str, Any]],
) -> dict[str, Any]:
    """The value each source gives, by field name: flags over environment over config file."""
    environ = os.environ if environ is None else environ
    names = {alias: name for name, alias in _aliases().items()}
    layered = {names[k]: v for k, v in (config or {}).items() if k in names}
    layered.update({names[k]: v for k, v in environ.items() if k in names})
    names.update({name: name for name in names.values()})
    layered.update({names[k]: v for k, v in (flags or {}).items() if k in names and v is not None})
    return layered


def _validated(given: Mapping[str, Any]) -> Settings:
    """Settings from the values given by field name, each read and checked; every problem named."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for info in msgspec.structs.fields(Settings):
        if info.name not in given:
            continue
        value = given[info.name]
        try:
            values[info.name] = _read(value, info.type)
        except msgspec.ValidationError as exc:
            problems.append(f"{info.encode_name}: {exc} (given {value!r})")
    if problems:
        raise ConfigurationError(f"Invalid configuration: {'; '.join(problems)}")
    return Settings(**values)


def _read(value: Any, hint: Any) -> Any:
    """One value as its field's type; text is read as pydantic did, so old settings keep working."""
    # A value given is never "unset": "" or "null" for an optional number is an error, not None.
    if get_origin(hint) is Union:
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    base, *extras = get_args(hint) if get_origin(hint) is Annotated else (hint,)
    if isinstance(value, str):
        readers = [extra.read for extra in extras if isinstance(extra, _Reads)]
        reader = readers[0] if readers else _TEXT_READERS.get(base)
        value = reader(value) if reader else value
    # Strict: text the readers did not turn into a value is refused, not read by msgspec's own rules.
    return msgspec.convert(value, hint)


def _switch(text: str) -> Union[bool, str]:
    """The words pydantic read as a bool (any case); any other text is refused by msgspec."""
    return _SWITCH_WORDS.get(text.lower(), text)


_SWITCH_WORDS = dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True)
_SWITCH_WORDS.update(dict.fromkeys(("0", "false", "f", "no", "n", "off"), False))


def _whole_number(text: str) -> Union[int, str]:
    """Blanks around, a sign, leading zeros, digit groups (1_000) and "3.00" are fine, as in pydantic."""
    text = text.strip()
    whole, dot, fraction = text.partition(".")
    if dot and fraction and not fraction.strip("0"):
        text = whole
    try:
        return int(text) if text.isascii() else text
    except ValueError:
        return text


def _number(text: str) -> Union[float, str]:
    """Blanks around, digit groups, "inf" and "Infinity" are fine, as in pydantic."""
    text = text.strip()
    try:
        return float(text) if text.isascii() else text
    except ValueError:
        return text


_TEXT_READERS: dict[Any, Callable[[str], Any]] = {
    bool: _switch,
    int: _whole_number,
    float: _number,
    Path: Path,
}


def find_config_file(
    flag: Optional[str], environ: Mapping[str, str], app_root: Path, entry_script: Optional[Path]
) -> Optional[Path]:
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
    given = _layered(init, environ, config_values)
    return _resolved(_validated(given), given), warnings


def _resolved(settings: Settings, given: Collection[str]) -> Settings:
    """Make the script path absolute and the source directory relative to the app root."""
    updates: dict[str, Any] = {}
    if settings.entry_script is not None and not settings.entry_script.is_absolute():
        # Normalised, as the reference has it: ../scripts/score.py names no "..".
        updates["entry_script"] = Path(os.path.abspath(settings.app_root / settings.entry_script))
    if settings.source_directory is not None and not settings.source_directory.is_absolute():
        updates["source_directory"] = settings.app_root / settings.source_directory
    updates.update(_vertex_defaults(settings, given))
    resolved = msgspec.structs.replace(settings, **updates) if updates else settings
    _check_metrics_port(resolved)
    return resolved


def _check_metrics_port(settings: Settings) -> None:
    """A metrics port that is another of the server's own ports would be "already in use"."""
    port = settings.metrics_port
    if port is None:
        return
    if port == settings.port:
        other = "the server's port"
    elif settings.separate_health_endpoint and port == settings.health_port:
        other = "the health port"
    else:
        return
    raise ConfigurationError(
        f"SCORESERVER_METRICS_PORT is {port}, {other}: give /metrics a port of its own, or "
        "leave the variable unset to serve /metrics on the server's port."
    )


def _vertex_defaults(settings: Settings, given: Collection[str]) -> dict[str, Any]:
    """Vertex AI's port and local model location, where nothing more specific was given; its
    routes as paths (Vertex takes `predict` for `/predict`)."""
    updates: dict[str, Any] = {}
    if settings.vertex_http_port is not None and "port" not in given:
        updates["port"] = settings.vertex_http_port
    for name in ("vertex_health_route", "vertex_predict_route"):
        route = getattr(settings, name)
        if route and not route.startswith("/"):
            updates[name] = "/" + route
    uri = settings.vertex_storage_uri
    if uri and settings.model_dir is None:
        scheme, _, rest = uri.partition("://")
        if not rest:
            updates["model_dir"] = uri
        elif scheme == "file":
            updates["model_dir"] = rest
    return updates
