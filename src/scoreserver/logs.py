"""Logging: the reference's line format in UTC, logging.json overrides, and print() capture.

This is the one module that touches builtins: print() to stdout from the user's script becomes a
record of the ``azmlinfsrv.print`` logger, so script output and server logs share one format.
"""

from __future__ import annotations

import atexit
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
    "LOG_FORMAT",
    "SERVER_LOGGER",
    "AMLLogFormatter",
    "AccessLog",
    "BatchedStreamHandler",
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


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that batches the lines of a busy event loop into few writes.

    A write system call per access line costs more than the rest of a fast request. On an event
    loop, a line is written at once when nothing was written in the last BATCH_S seconds, and
    otherwise with the other lines of that interval, at most BATCH_S later. Lines from other
    threads, warnings and errors are written immediately, after anything queued, in order.
    """

    BATCH_S = 0.01

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False
        self._last_write = 0.0
        atexit.register(self.flush)
        # Lines queued before a fork are written by the parent, not once more by each child.
        os.register_at_fork(before=self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted record and arrange for it to be written."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.queue_line(line, record.levelno)

    def queue_line(self, line: str, level: int) -> None:
        """Queue an already formatted line and arrange for it to be written."""
        self._pending.append(line + self.terminator)
        if self._scheduled and level < logging.WARNING:
            return
        now = time.monotonic()
        if level >= logging.WARNING or now - self._last_write >= self.BATCH_S:
            self.flush()
            return
        # Without asyncio imported there is no event loop to batch on.
        asyncio = sys.modules.get("asyncio")
        try:
            loop = asyncio.get_running_loop() if asyncio is not None else None
        except RuntimeError:
            loop = None
        if loop is None:
            self.flush()
            return
        self._scheduled = True
        loop.call_later(self._last_write + self.BATCH_S - now, self.flush)

    def flush(self) -> None:
        """Write what is queued."""
        with self.lock or contextlib.nullcontext():
            self._scheduled = False
            if not self._pending:
                return
            text, self._pending = "".join(self._pending), []
            self._last_write = time.monotonic()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must not take the server down with it


class AccessLog:
    """Writes the access line of each scored request to the azmlinfsrv logger.

    When the server's own default handler is the logger's only one, the line is formatted here,
    exactly as that handler's formatter would, and queued to it directly: building a LogRecord
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
        handler.queue_line(
            f"{stamp} I [{self._pid}] {logger.name} - "
            f"{method} {path} {status} {elapsed_ms:.3f}ms {length}",
            logging.INFO,
        )

    def _direct_handler(self) -> BatchedStreamHandler | None:
        """The default handler, when the line may bypass logging's record machinery."""
        logger = self._logger
        handlers = logger.handlers
        if len(handlers) != 1 or logger.filters or logger.propagate:
            return None
        handler = handlers[0]
        if (
            type(handler) is BatchedStreamHandler
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
                "()": BatchedStreamHandler,
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
