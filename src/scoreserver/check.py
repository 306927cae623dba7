"""`scoreserver check`: validate a score.py as the server would serve it, without opening a port.

The script is loaded and its init() run exactly as in a worker; the API description is built;
then each request (the @input_schema sample, and those of the request files) goes through the
same ASGI application the server runs, in this process. Exit codes: 0 when every check passed,
EntryScriptError's (3) when the script cannot be served, ExpectationFailedError's (4) when an
answer was not the expected one, ConfigurationError's (2) for a bad request file.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from inference_schema import schema_util

from scoreserver.check_requests import (
    NOTHING,
    CheckRequest,
    load_request_file,
    sample_request,
    type_mismatch,
)
from scoreserver.cli import export_script_environment
from scoreserver.errors import (
    ConfigurationError,
    EntryScriptError,
    ExpectationFailedError,
)
from scoreserver.http.app import create_app
from scoreserver.http.openapi import SwaggerDocuments
from scoreserver.logs import (
    EXCEPTION_ATTRIBUTE,
    SERVER_LOGGER,
    configure_startup_logging,
    install_print_capture,
)
from scoreserver.metrics import MetricsMemory, WorkerMeters
from scoreserver.processes.worker import import_paths, load_script
from scoreserver.script.batching import batch_policy, scorer_for
from scoreserver.script.entry_script import EntryScript, InputMode, script_location
from scoreserver.script.scoring import Scorer
from scoreserver.settings import Settings, load_settings
from scoreserver.types import ASGIApp

__all__ = ["CaseResult", "build_parser", "main", "run_checks", "write_junit"]

logger = logging.getLogger("azmlinfsrv")


@dataclass(frozen=True)
class CaseResult:
    """One check: what ran, how long it took, and what went wrong, if anything."""

    name: str
    seconds: float
    failure: str | None = None
    broken: bool = False
    """The failure means the script cannot be served at all (import, init(), swagger)."""


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The flags of `scoreserver check`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Load score.py, run init(), and score its schema sample and the given "
        "request files in-process, as the server would answer them. No port is opened.",
    )
    parser.add_argument("--entry_script", required=True, help="The score.py to check.")
    parser.add_argument("--model_dir", help="The model directory (AZUREML_MODEL_DIR).")
    parser.add_argument("--config_file", help="A config file, as the server takes it.")
    parser.add_argument(
        "--request",
        action="extend",
        nargs="+",
        default=[],
        metavar="FILE",
        help="A JSON request file (method, path, headers, body, expect); may be repeated.",
    )
    parser.add_argument("--junit-xml", dest="junit_xml", help="Also write a JUnit XML report.")
    return parser


def main(argv: Sequence[str], prog: str) -> int:
    """Run the checks and print the report; return the exit code for cli.py."""

    args = build_parser(prog).parse_args(list(argv))
    configure_startup_logging(args.entry_script)
    try:
        flags = {
            "entry_script": args.entry_script,
            "model_dir": args.model_dir,
            "config_file": args.config_file,
        }
        settings, _warnings = load_settings(flags)
        export_script_environment(settings)
        install_print_capture()
        results = asyncio.run(run_checks(settings, [Path(p) for p in args.request]))
    except ConfigurationError as exc:
        logger.error("%s", exc.message)
        return exc.exit_code
    finally:
        _flush_logs()  # the script's log lines come before the report, not after it
    sys.stdout.write(render_report(settings, results))
    sys.stdout.flush()
    if args.junit_xml:
        try:
            write_junit(results, Path(args.junit_xml))
        except OSError as exc:
            logger.error("Cannot write the JUnit report to %s: %s", args.junit_xml, exc)
            return ConfigurationError.exit_code
    return exit_code(results)


def _flush_logs() -> None:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for each in loggers:
        for handler in getattr(each, "handlers", []):
            handler.flush()


def exit_code(results: list[CaseResult]) -> int:
    """0 when all passed; the script's failure outranks a wrong answer."""
    if any(r.broken for r in results):
        return EntryScriptError.exit_code
    if any(r.failure for r in results):
        return ExpectationFailedError.exit_code
    return 0


async def run_checks(settings: Settings, request_files: list[Path]) -> list[CaseResult]:
    """Load the script as a worker does, then send every request through the server's app."""

    assert settings.entry_script is not None
    folders = [Path(p) for p in import_paths(settings)]
    results: list[CaseResult] = []
    started = time.perf_counter()
    try:
        script = load_script(settings)
    except EntryScriptError as exc:
        failure = _with_location(exc.message, exc, folders)
        return [CaseResult(f"load {settings.entry_script.name}", _since(started), failure, True)]
    results.append(CaseResult(f"load {settings.entry_script.name} and run init()", _since(started)))
    started = time.perf_counter()
    try:
        swagger = SwaggerDocuments(settings, script)
    except EntryScriptError as exc:
        return [*results, CaseResult("swagger", _since(started), exc.message, True)]
    versions = ", ".join(swagger.supported_versions) or "none"
    results.append(CaseResult(f"swagger (versions {versions})", _since(started)))

    schemas = _schemas(script)
    requests: list[CheckRequest] = []
    if schemas is not None and script.mode is InputMode.SCHEMA:
        requests.append(sample_request(*schemas))
    output_schema = schemas[1] if schemas is not None else None
    for path in request_files:
        requests += load_request_file(path, output_schema)
    raised: list[BaseException] = []
    # A batched run() is checked as it is served (wrapping it would hide its schema decorators
    # from the batching scorer): what it raises is known from the exceptions the server logs.
    if batch_policy(script.run) is None:
        script = replace(script, run=_recording(script, raised))
    started = time.perf_counter()
    try:
        app, scorer = _app(settings, script, swagger)
    except EntryScriptError as exc:  # refused as the server refuses it at start (batching)
        return [*results, CaseResult("serve run()", _since(started), exc.message, True)]
    logged = _LoggedExceptions(raised)
    logging.getLogger(SERVER_LOGGER).addHandler(logged)
    try:
        for request in requests:
            raised.clear()
            results.append(await _run_case(app, request, raised, folders))
    finally:
        logging.getLogger(SERVER_LOGGER).removeHandler(logged)
        scorer.close()
    return results


class _LoggedExceptions(logging.Handler):
    """Keeps the exceptions the server logs while it answers (run()'s, and a batch's)."""

    def __init__(self, into: list[BaseException]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's exception, if it carries one."""
        exc = getattr(record, EXCEPTION_ATTRIBUTE, None)
        if isinstance(exc, BaseException) and exc not in self.into:
            self.into.append(exc)


def _schemas(script: EntryScript) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """run()'s input and output schemas from inference-schema, when it is decorated."""

    if not schema_util.is_schema_decorated(script.run):
        return None
    return schema_util.get_input_schema(script.run), schema_util.get_output_schema(script.run)


def _app(
    settings: Settings, script: EntryScript, swagger: SwaggerDocuments
) -> tuple[ASGIApp, Scorer]:
    """The worker's application for this script, without telemetry or connection custody (with
    /metrics, counting this check's requests, when metrics are on, as in the server)."""

    meters = WorkerMeters(MetricsMemory(1), 0, os.getpid()) if settings.metrics else None
    scorer = scorer_for(script, settings, None if meters is None else meters.run())
    return create_app(settings, script, swagger, scorer, meters=meters), scorer


def _recording(script: EntryScript, raised: list[BaseException]) -> Callable[..., Any]:
    """run(), unchanged except that what it raises is kept, to say where it failed."""
    run = script.run
    if script.is_async:

        @functools.wraps(run)
        async def async_run(*args: Any, **kwargs: Any) -> Any:
            try:
                return await run(*args, **kwargs)
            except BaseException as exc:
                raised.append(exc)
                raise

        return async_run

    @functools.wraps(run)
    def sync_run(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except BaseException as exc:
            raised.append(exc)
            raise

    return sync_run


async def _run_case(
    app: ASGIApp, request: CheckRequest, raised: list[BaseException], folders: list[Path]
) -> CaseResult:
    """Send one request through the app and compare its answer with the expectations."""

    name = f"{request.name}: {request.method} {request.path}"
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.request(
            request.method, request.path, headers=request.headers, content=request.body
        )
    seconds = _since(started)
    problem = _judge(request, response.status_code, response.content)
    if problem is None:
        return CaseResult(name, seconds)
    if raised:
        error = raised[-1]
        problem += f"\nrun() raised {type(error).__name__}: {error}"
        problem = _with_location(problem, error, folders)
    return CaseResult(name, seconds, problem)


def _judge(request: CheckRequest, status: int, body: bytes) -> str | None:
    """What is wrong with the answer, or None."""
    shown = body[:300].decode("utf-8", "replace")
    if status != request.expect_status:
        return f"expected status {request.expect_status}, got {status}: {shown}"
    try:
        value = json.loads(body)
    except ValueError:
        value = NOTHING
    if request.expect_body is not NOTHING:
        matches = (
            value == request.expect_body
            if value is not NOTHING
            else body.decode("utf-8", "replace") == request.expect_body
        )
        if not matches:
            return f"expected body {json.dumps(request.expect_body)}, got {shown}"
    if request.output_schema is not None and status == 200 and value is not NOTHING:
        return type_mismatch(value, request.output_schema)
    return None


def _with_location(message: str, error: BaseException, folders: list[Path]) -> str:
    location = script_location(error, folders)
    return message if location is None else f"{message}\nat {location}"


def _since(started: float) -> float:
    return time.perf_counter() - started


def render_report(settings: Settings, results: list[CaseResult]) -> str:
    """The report a person reads: one line per check, the failures in full, a summary."""
    lines = [f"scoreserver check: {settings.entry_script}"]
    for result in results:
        status = "ERROR" if result.broken else "FAIL " if result.failure else "ok   "
        lines.append(f"  {status} {result.name} ({result.seconds:.3f} s)")
        if result.failure:
            lines += [f"        {line}" for line in result.failure.rstrip().splitlines()]
    failed = sum(1 for r in results if r.failure)
    total = sum(r.seconds for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed ({total:.3f} s)")
    return "\n".join(lines) + "\n"


def write_junit(results: list[CaseResult], path: Path) -> None:
    """The results as JUnit XML, the format CI systems show test results in."""
    # Written with the standard library: the format is a handful of elements, and a JUnit
    # package would be one more dependency for every user of the command.
    import xml.etree.ElementTree as ET

    failures = sum(1 for r in results if r.failure and not r.broken)
    errors = sum(1 for r in results if r.broken)
    suite = ET.Element(
        "testsuite",
        name="scoreserver check",
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="scoreserver.check", name=result.name)
        case.set("time", f"{result.seconds:.3f}")
        if result.failure:
            kind = "error" if result.broken else "failure"
            element = ET.SubElement(case, kind, message=result.failure.splitlines()[0])
            element.text = result.failure
    document = ET.Element("testsuites")
    document.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(document).write(path, encoding="utf-8", xml_declaration=True)
