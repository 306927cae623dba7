"""Logging: the reference's line format in UTC, logging.json overrides, and print() capture.

This is the one module that touches builtins: print() to stdout from the user's script becomes a
record of the ``azmlinfsrv.print`` logger, so script output and server logs share one format.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import logging.config
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = [
    "ACCESS_LOGGER",
    "EXCEPTION_ATTRIBUTE",
    "LOG_FORMAT",
    "SERVER_LOGGER",
    "AMLLogFormatter",
    "AccessLog",
    "RootAccessFilter",
    "ServerStreamHandler",
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
EXCEPTION_ATTRIBUTE = "scoreserver_exception"
"""The attribute of a log_exception() record that holds the exception itself (for `check`)."""


class AMLLogFormatter(logging.Formatter):
    """The reference's formatter: timestamps in UTC, milliseconds after a comma."""

    def converter(self, timestamp: float | None) -> time.struct_time:
        """Timestamps are UTC, whatever the machine's time zone."""
        return time.gmtime(timestamp)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The default layout, YYYY-MM-DD HH:MM:SS,mmm, with the seconds part made once a second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.timestamp(record.created, record.msecs)

    def timestamp(self, created: float, msecs: float) -> str:
        """YYYY-MM-DD HH:MM:SS,mmm in UTC for a time.time() value and its milliseconds."""
        second = int(created)
        if second != self._cached_second:
            self._cached_second = second
            self._cached_text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(created))
        return f"{self._cached_text},{int(msecs):03d}"

    _cached_second = -1
    _cached_text = ""


class ServerStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes every line at once and outlives a closed stdout.

    Nothing is held back: tools (and the reference's own test habits) read the log the moment a
    response arrives, so a request's lines must be out before its last byte, and a worker that
    dies must not take lines it logged with it.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line)

    def write_line(self, line: str) -> None:
        """Write an already formatted line, and flush it."""
        with self.lock or contextlib.nullcontext():
            try:
                self.stream.write(line + self.terminator)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must not take the server down with it


class AccessLog:
    """Writes the access line of each scored request to the azmlinfsrv logger.

    When the server's own default handler is the logger's only one, the line is formatted here,
    exactly as that handler's formatter would, and written through it directly: building a LogRecord
    and running the formatter cost a noticeable share of a fast request. Any other logging
    configuration (a logging.json, filters, more handlers) gets an ordinary log record.
    """

    def __init__(self, logger_name: str = SERVER_LOGGER) -> None:
        self._logger = logging.getLogger(logger_name)
        self._pid = os.getpid()

    def write(self, method: str, path: str, status: int, elapsed_ms: float, length: str) -> None:
        """Log `METHOD path status N.NNNms length`."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._direct_handler()
        if handler is None:
            logger.handle(
                logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s %s %d %.3fms %s",
                    (method, path, status, elapsed_ms, length),
                    None,
                )
            )
            return
        formatter = handler.formatter
        assert isinstance(formatter, AMLLogFormatter)
        now = time.time()
        stamp = formatter.timestamp(now, (now - int(now)) * 1000)
        handler.write_line(
            f"{stamp} I [{self._pid}] {logger.name} - "
            f"{method} {path} {status} {elapsed_ms:.3f}ms {length}"
        )

    def _direct_handler(self) -> ServerStreamHandler | None:
        """The default handler, when the line may bypass logging's record machinery."""
        logger = self._logger
        handlers = logger.handlers
        if len(handlers) != 1 or logger.filters or logger.propagate:
            return None
        handler = handlers[0]
        if (
            type(handler) is ServerStreamHandler
            and not handler.filters
            and handler.level <= logging.INFO
            and type(handler.formatter) is AMLLogFormatter
            and handler.formatter._fmt == LOG_FORMAT
        ):
            return handler
        return None


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
                "()": ServerStreamHandler,
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


def is_level(level: str) -> bool:
    """Whether the name is one of logging's levels (DEBUG, INFO, WARNING, ERROR, CRITICAL...)."""
    return isinstance(logging.getLevelName(level), int)


def configure_logging(level: str, user_config: Path | None = None) -> None:
    """Apply the user's logging.json if there is one, else the default configuration (at INFO
    when level names no level: the reference starts whatever AZUREML_LOG_LEVEL says)."""
    if user_config is not None:
        logging.config.dictConfig(json.loads(user_config.read_text(encoding="utf-8")))
        logging.getLogger(SERVER_LOGGER).info("Loaded logging config from %s", user_config)
        return
    logging.config.dictConfig(default_logging_config(level if is_level(level) else "INFO"))


def configure_startup_logging(entry_script: str | None) -> None:
    """Logging for a command's start, before its settings exist: the user's logging.json (from
    AML_APP_ROOT, else beside the entry script), else the default at AZUREML_LOG_LEVEL."""
    app_root = Path(os.environ.get("AML_APP_ROOT") or os.getcwd())
    entry = Path(os.path.abspath(entry_script)) if entry_script else None
    level = os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper()
    configure_logging(level, find_logging_config(app_root, entry))
    if not is_level(level):
        logging.getLogger(SERVER_LOGGER).warning(
            "AZUREML_LOG_LEVEL %r is not a logging level (DEBUG, INFO, WARNING, ERROR or "
            "CRITICAL): logging at INFO.",
            level,
        )


def log_exception(exc: BaseException, prefix: str = "Encountered Exception: ") -> None:
    """Log a traceback as one record, "Encountered Exception: Traceback ...", as the reference does."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logging.getLogger(SERVER_LOGGER).error("%s%s", prefix, text, extra={EXCEPTION_ATTRIBUTE: exc})


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
