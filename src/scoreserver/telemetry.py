"""Application Insights through OpenTelemetry and the Azure Monitor exporters.

Each scored request becomes a request record (a server span), a trace record with the model's
input and output, and an exception record when run() failed; the custom dimensions carry the
names the reference server uses, so existing App Insights queries keep working. Export happens on
background threads in batches, so an unreachable ingestion endpoint never slows scoring.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from scoreserver.settings import Settings

__all__ = ["AppInsights", "ScoringRecord", "connection_string", "start_telemetry"]

logger = logging.getLogger("azmlinfsrv")

UNSERIALIZABLE = "Scoring request response payload is a non serializable object or raw binary"


@dataclass(frozen=True)
class ScoringRecord:
    """What telemetry needs to know about one scored request."""

    method: str
    path: str
    url: str
    status_code: int
    start_ns: int
    duration_ms: float
    request_id: str
    client_request_id: str
    model_input: Any
    prediction: Any
    error: BaseException | None = None


def connection_string(settings: Settings) -> str:
    """APPLICATIONINSIGHTS_CONNECTION_STRING if set (it may name a private ingestion endpoint),
    else one made from the instrumentation key."""
    explicit = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if explicit:
        return explicit
    return f"InstrumentationKey={settings.appinsights_key}"


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, default=_fallback)
    except (TypeError, ValueError):
        return UNSERIALIZABLE


def _fallback(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (bytes, bytearray)):
        raise TypeError("raw binary")
    return str(value)


class AppInsights:
    """Sends request, trace and exception records for each scored request."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: telemetry is off for most users, and these imports are heavy.
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorTraceExporter,
        )
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        conn = connection_string(settings)
        resource = Resource.create({"service.name": settings.service_name})
        self._tracer_provider = TracerProvider(resource=resource)
        self._tracer_provider.add_span_processor(
            BatchSpanProcessor(
                AzureMonitorTraceExporter(
                    connection_string=conn,
                    disable_offline_storage=True,
                    tracer_provider=self._tracer_provider,
                )
            )
        )
        self._logger_provider = LoggerProvider(resource=resource)
        self._logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                AzureMonitorLogExporter(connection_string=conn, disable_offline_storage=True)
            )
        )
        self._tracer = self._tracer_provider.get_tracer("scoreserver")
        self._records = logging.getLogger("scoreserver.appinsights")
        self._records.propagate = False
        self._records.setLevel(logging.INFO)
        self._records.addHandler(LoggingHandler(logger_provider=self._logger_provider))
        self._log_response = settings.appinsights_log_response_enabled
        self._common = {
            "Container Id": os.environ.get("HOSTNAME") or socket.gethostname(),
            "Workspace Name": settings.workspace_name,
            "Service Name": settings.service_name,
        }

    def record(self, record: ScoringRecord) -> None:
        """Queue the records of one request for export; never raises."""
        try:
            self._record(record)
        except Exception:  # telemetry must never fail a request
            logger.warning("Error logging to Application Insights:", exc_info=True)

    def _record(self, record: ScoringRecord) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        ids = {
            **self._common,
            "Request Id": record.request_id,
            "Client Request Id": record.client_request_id,
        }
        end_ns = record.start_ns + int(record.duration_ms * 1_000_000)
        attributes: dict[str, str | int] = {
            **ids,
            "http.method": record.method,
            "http.url": record.url,
            "http.route": record.path,
            "http.status_code": record.status_code,
        }
        if self._log_response:
            attributes["Response Value"] = _as_json(record.prediction)
        span = self._tracer.start_span(
            f"{record.method} {record.path}",
            kind=SpanKind.SERVER,
            start_time=record.start_ns,
            attributes=attributes,
        )
        failed = record.error is not None or record.status_code >= 500
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        with trace.use_span(span, end_on_exit=False):
            model_data = {**ids, "Input": _as_json(record.model_input)}
            if self._log_response:
                model_data["Prediction"] = _as_json(record.prediction)
            self._records.info("model_data_collection", extra=model_data)
            if record.error is not None:
                self._records.error(
                    "run() failed",
                    exc_info=(type(record.error), record.error, record.error.__traceback__),
                    extra=ids,
                )
        span.end(end_time=end_ns)

    def close(self) -> None:
        """Flush what is queued (briefly) and stop the export threads."""
        self._tracer_provider.shutdown()
        self._logger_provider.shutdown()


def start_telemetry(settings: Settings) -> AppInsights | None:
    """App Insights when enabled with a valid key, else None (and nothing is imported)."""
    # Logged at every start, enabled or not, as the reference does: log checks look for it.
    logger.info("Starting up app insights client")
    model_dir = settings.model_dir
    if not model_dir or not os.path.exists(model_dir):
        # The reference says so here too, where its client looks for the model's ids.
        logging.getLogger("azmlinfsrv.trace").warning(
            "Model directory is not set or does not exist: %s", model_dir or ""
        )
    if not settings.appinsights_enabled or not settings.appinsights_key:
        return None
    try:
        return AppInsights(settings)
    except Exception:
        logger.error("Encountered exception while initializing App Insights", exc_info=True)
        return None


def now_ns() -> int:
    """Wall-clock time in nanoseconds, as spans want it."""
    return time.time_ns()
