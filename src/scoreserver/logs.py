"""Logging: the reference's line format in UTC, logging.json overrides, and print() capture.

This is the one module that touches builtins: print() to stdout from the user's script becomes a
record of the ``azmlinfsrv.print`` logger, so script output and server logs share one format.
"""

from __future__ import annotations

import builtins
import json
import logging
import logging.config
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = [
    "ACCESS_LOGGER",
    "LOG_FORMAT",
    "SERVER_LOGGER",
    "AMLLogFormatter",
    "RootAccessFilter",
    "configure_logging",
    "find_logging_config",
    "install_print_capture",
    "log_exception",
]

LOG_FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"
SERVER_LOGGER = "azmlinfsrv"
PRINT_LOGGER = "azmlinfsrv.print"
# The reference's access records come from gunicorn's logger; log parsers key on the name.
ACCESS_LOGGER = "gunicorn.access"


class AMLLogFormatter(logging.Formatter):
    """The reference's formatter: timestamps in UTC, milliseconds after a comma."""

    def converter(self, timestamp: float | None) -> time.struct_time:
        """Timestamps are UTC, whatever the machine's time zone."""
        return time.gmtime(timestamp)


class RootAccessFilter(logging.Filter):
    """Drops access records of the liveness probe, which would otherwise flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except those about GET / and HEAD /."""
        path = getattr(record, "path", None)
        return path != "/"


def default_logging_config(level: str) -> dict[str, Any]:
    """The logging configuration used when the application brings no logging.json."""
    formatter = {"()": AMLLogFormatter, "format": LOG_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"azmlinfsrv": formatter},
        "filters": {"RootAccessFilter": {"()": RootAccessFilter}},
        "handlers": {
            "azmlinfsrv": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "azmlinfsrv",
            },
        },
        "loggers": {
            SERVER_LOGGER: {"level": level, "handlers": ["azmlinfsrv"], "propagate": False},
            ACCESS_LOGGER: {
                "level": "INFO",
                "handlers": ["azmlinfsrv"],
                "filters": ["RootAccessFilter"],
                "propagate": False,
            },
            "uvicorn.error": {"level": "WARNING", "handlers": ["azmlinfsrv"], "propagate": False},
        },
    }


def find_logging_config(app_root: Path, entry_script: Path | None) -> Path | None:
    """logging.json in the app root, else next to the entry script."""
    candidates = [app_root / "logging.json"]
    if entry_script is not None:
        candidates.append(entry_script.parent / "logging.json")
    return next((c for c in candidates if c.is_file()), None)


def configure_logging(level: str, user_config: Path | None = None) -> None:
    """Apply the user's logging.json if there is one, else the default configuration."""
    if user_config is not None:
        logging.config.dictConfig(json.loads(user_config.read_text(encoding="utf-8")))
        logging.getLogger(SERVER_LOGGER).info("Loaded logging config from %s", user_config)
        return
    logging.config.dictConfig(default_logging_config(level))


def log_exception(exc: BaseException, prefix: str = "Encountered Exception: ") -> None:
    """Log a traceback as one record, "Encountered Exception: Traceback ...", as the reference does."""
    text = "".join(traceback.format_exception(exc))
    logging.getLogger(SERVER_LOGGER).error("%s%s", prefix, text)


def install_print_capture() -> None:
    """Route print() calls that target stdout into the azmlinfsrv.print logger."""
    original = builtins.print
    if getattr(original, "__scoreserver_capture__", False):
        return
    print_logger = logging.getLogger(PRINT_LOGGER)

    def captured_print(
        *args: Any,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        if file is not None and file is not sys.stdout:
            original(*args, sep=sep, end=end, file=file, flush=flush)
            return
        message = (" " if sep is None else sep).join(str(a) for a in args)
        print_logger.info(message)

    captured_print.__scoreserver_capture__ = True  # type: ignore[attr-defined]
    builtins.print = captured_print
