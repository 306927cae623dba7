"""The command line: flags → Settings, the banner, then the supervisor. The only place that exits."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec

from scoreserver._version import __version__
from scoreserver.banner import render_banner
from scoreserver.errors import ConfigurationError, ScoreServerError
from scoreserver.logs import configure_startup_logging
from scoreserver.processes.server import Supervisor
from scoreserver.protocols import displaced_routes
from scoreserver.settings import Settings, load_settings

if TYPE_CHECKING:
    pass

__all__ = ["build_parser", "main"]

logger = logging.getLogger("azmlinfsrv")

USAGE_EXIT = 1

_SUBCOMMANDS: dict[str, str] = {
    "check": "scoreserver.check:main",
    "serve": "scoreserver.serve:main",
    "ray": "scoreserver.integrations.ray:main",
}
"""Subcommands by name, as "module:function(argv, prog)" imported only when used."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 as the reference's does."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message}\n")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port value: {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"Specified port '{value}' is invalid. Please specify a port within the [1, 65535] range."
        )
    return port


def _worker_count(value: str) -> int:
    return _positive(value, "worker count")


def _concurrency(value: str) -> int:
    return _positive(value, "concurrency")


def _positive(value: str, what: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {what} value: {value!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"Specified {what} '{value}' is invalid. Please specify a {what} greater than zero."
        )
    return count


def build_parser(prog: str = "azmlinfsrv") -> argparse.ArgumentParser:
    """The flags of azmlinfsrv, plus scoreserver's own additions."""
    parser = _Parser(prog=prog, description=f"Azure ML Inferencing HTTP server v{__version__}")
    parser.add_argument(
        "--entry_script", help="The relative or absolute path to the scoring script."
    )
    parser.add_argument(
        "--model_dir",
        help="The relative or absolute path to the model directory; the script sees it as "
        "AZUREML_MODEL_DIR.",
    )
    parser.add_argument(
        "--port", type=_port, help="The serving port of the server. Default is 5001."
    )
    parser.add_argument(
        "--health_port", type=_port, help="The health port of the server. Default is 5000."
    )
    parser.add_argument(
        "--worker_count",
        type=_worker_count,
        help="The number of worker processes, each with its own init(). Default is 1.",
    )
    parser.add_argument(
        "--appinsights_instrumentation_key",
        help="The Application Insights instrumentation key to send telemetry to.",
    )
    parser.add_argument(
        "--access_control_allow_origins",
        help="Comma-separated origins allowed by CORS, e.g. 'https://a.com, https://b.com'.",
    )
    parser.add_argument(
        "--config_file", help="The relative or absolute path to the JSON configuration file."
    )
    parser.add_argument("--host", help="The address to listen on. Default is 0.0.0.0.")
    parser.add_argument(
        "--debug_port",
        type=_port,
        help="Start debugpy on this port in the worker so a debugger can attach "
        "(as AZUREML_DEBUG_PORT). Use with --worker_count 1.",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        help="How many requests one worker scores at once. Default is 1; raise it only for a "
        "thread-safe run() (an async def run() is awaited on the event loop either way).",
    )
    parser.add_argument(
        "--model_name",
        help="The model's name in the V2 and KServe V1 paths and metadata. Default is 'model'.",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        default=None,
        help="Watch the app root; on a change, move traffic to workers on the new code (for "
        "local work; the port stays open, a version that fails to start is not switched to).",
    )
    parser.add_argument(
        "--reload_model_dir",
        action="store_true",
        default=None,
        help="With --reload, also watch the model directory.",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="Show which server this is, and exit."
    )
    return parser


class _VersionAction(argparse.Action):
    """--version: the implementation and how it sits beside the reference, looked up only now."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from scoreserver.coexistence import arrangement, implementation, installed_reference

        lines = [f"scoreserver {__version__}", implementation(), arrangement(installed_reference())]
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        parser.exit(0)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """Parsed flags under the names of the Settings fields."""
    flags: dict[str, Any] = {
        "entry_script": args.entry_script,
        "config_file": args.config_file,
        "model_dir": args.model_dir,
        "port": args.port,
        "health_port": args.health_port,
        "worker_count": args.worker_count,
        "cors_origins": args.access_control_allow_origins,
        "host": args.host,
        "concurrency": args.concurrency,
        "debug_port": args.debug_port,
        "reload": args.reload,
        "reload_model_dir": args.reload_model_dir,
        "model_name": args.model_name,
    }
    if args.appinsights_instrumentation_key is not None:
        flags["appinsights_key"] = args.appinsights_instrumentation_key
        flags["appinsights_enabled"] = True
    return flags


def _checked_appinsights(settings: Settings, out: list[str]) -> Settings:
    """An App Insights key that is not a UUID disables telemetry, with the reference's words."""
    if not settings.appinsights_enabled:
        return settings
    try:
        uuid.UUID(settings.appinsights_key or "")
    except ValueError:
        out.append("Invalid Application Insights instrumentation key provided.")
        out.append("Application Insights has been disabled.")
        return msgspec.structs.replace(settings, appinsights_enabled=False)
    out.append("Valid Application Insights instrumentation key provided.")
    return settings


def export_script_environment(settings: Settings) -> None:
    """Set the variables scripts read, once, before any worker starts."""
    values = {
        "AZUREML_ENTRY_SCRIPT": str(settings.entry_script) if settings.entry_script else None,
        "AZUREML_MODEL_DIR": settings.model_dir,
        "AML_APP_ROOT": str(settings.app_root),
        "AML_APP_INSIGHTS_ENABLED": "true" if settings.appinsights_enabled else "false",
        "AML_APP_INSIGHTS_KEY": settings.appinsights_key,
        # As the reference exports them: a script may size its own threads by the workers.
        "WORKER_COUNT": str(settings.worker_count),
        "AZUREML_CONFIG_FILE": str(settings.config_file) if settings.config_file else None,
    }
    os.environ.update({k: v for k, v in values.items() if v is not None})


def _run_subcommand(name: str, argv: list[str], prog: str) -> int:
    """Import the subcommand's module only now, so serving imports nothing more, and run it."""
    module, function = _SUBCOMMANDS[name].split(":")
    code: int = getattr(importlib.import_module(module), function)(argv, prog)
    return code


def _log_arrangement() -> None:
    """One line at start when the reference is installed too, saying which command runs which."""
    from scoreserver.coexistence import arrangement, installed_reference

    reference = installed_reference()
    if reference is not None:
        logger.info("%s", arrangement(reference))


def _vertex_notes(settings: Settings) -> list[str]:
    """What a Vertex AI deployment should know: a port Vertex does not send to, a route moved."""
    notes = displaced_routes(settings)
    if settings.vertex_http_port is not None and settings.port != settings.vertex_http_port:
        notes.append(
            f"AIP_HTTP_PORT is {settings.vertex_http_port}, but the server listens on "
            f"{settings.port} (given by a flag, the config file or the environment): Vertex AI "
            "sends its requests to AIP_HTTP_PORT, so make the two the same."
        )
    return notes


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> NoReturn:
    """Start the server as the azmlinfsrv/scoreserver command does."""
    prog = prog or os.path.basename(sys.argv[0]) or "azmlinfsrv"
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _SUBCOMMANDS:
        sys.exit(_run_subcommand(arguments[0], arguments[1:], f"{prog} {arguments[0]}"))
    parser = build_parser(prog)
    args = parser.parse_args(arguments)
    configure_startup_logging(args.entry_script)
    if not args.entry_script and not args.config_file:
        logger.error(
            "Either provide an entry_script using --entry_script or provide a path to the "
            "configuration file using --config_file"
        )
        sys.exit(USAGE_EXIT)
    try:
        settings, warnings = load_settings(_flags(args))
    except ConfigurationError as exc:
        logger.error("%s", exc.message)
        sys.exit(exc.exit_code)
    if warnings:
        logger.warning(
            "Found extra keys in the config file that are not supported by the server.\n"
            "Extra keys = %s",
            warnings,
        )
    notes: list[str] = []
    if not settings.model_dir:
        notes.append("The environment variable 'AZUREML_MODEL_DIR' has not been set.")
        notes.append("Use the --model_dir command line argument to set it.")
        if settings.vertex_storage_uri:  # set, but not a local directory (those are model_dir)
            notes.append(
                f"AIP_STORAGE_URI ({settings.vertex_storage_uri}) is not a local directory: "
                "copy the model from it in init() (gs://: google-cloud-storage), or give "
                "--model_dir."
            )
    notes += _vertex_notes(settings)
    settings = _checked_appinsights(settings, notes)
    if settings.reload and importlib.util.find_spec("watchfiles") is None:
        logger.error("--reload needs watchfiles: pip install 'scoreserver[reload]'.")
        sys.exit(ConfigurationError.exit_code)
    if settings.reload and settings.worker_preload:
        logger.warning("WORKER_PRELOAD is ignored with --reload: each worker loads the new code.")
        settings = msgspec.structs.replace(settings, worker_preload=False)
    export_script_environment(settings)
    sys.stdout.write("".join(f"{line}\n" for line in notes) + render_banner(settings))
    sys.stdout.flush()
    _log_arrangement()
    try:
        code = Supervisor(settings).run()
    except ScoreServerError as exc:
        logger.error("%s", exc.message)
        sys.exit(exc.exit_code)
    sys.exit(code)
