"""The scoring core as every protocol sees it: run()'s arguments by name, the call, the answer.

Each protocol module only translates: its request into named values (or the raw request), and
run()'s result into its response. What happens in between (custody of the connection, the
scorer's threads and timeout, telemetry, the run-failed header, errors in the protocol's own
format) is the same for all, and lives here.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from scoreserver.errors import (
    BadRequestError,
    ClientError,
    ResponseEncodingError,
    ScoreServerError,
    ScoringError,
)
from scoreserver.http.routes import scoring_record
from scoreserver.logs import log_exception
from scoreserver.processes.custody import ConnectionReporter
from scoreserver.processes.raw_responses import RUN_FAILED_HEADER
from scoreserver.protocols.json_codec import loads
from scoreserver.protocols.model_schema import ModelSchema, read_model_schema
from scoreserver.script.entry_script import EntryScript, InputMode
from scoreserver.script.flask_context import RequestContext
from scoreserver.script.inputs import (
    ArgumentBuilder,
    IncomingRequest,
    RunArguments,
    headers_as_dict,
)
from scoreserver.script.outputs import is_werkzeug_response, to_response
from scoreserver.script.scoring import Scorer
from scoreserver.telemetry import AppInsights, now_ns

__all__ = ["ErrorFormat", "ModelHealth", "ModelService", "Readiness", "json_value"]

ErrorFormat = Callable[[int, str], Response]
"""A protocol's error response for a status code and message."""

_RUN_FAILED = RUN_FAILED_HEADER.encode()
_SERVER_RUN_HEADERS = frozenset({_RUN_FAILED, b"x-ms-run-fn-exec-ms"})


class Readiness:
    """Whether traffic should come here: once init() has completed in every worker the server
    starts with, and until the supervisor begins to stop (both shared memory it sets)."""

    def __init__(
        self,
        draining: ctypes.c_byte | None = None,
        started: ctypes.c_byte | None = None,
        starting: bool = False,
    ) -> None:
        self._draining = draining
        self._started = started
        self.starting = starting
        """This worker's init() runs: it answers only its probes, and everything else waits."""

    @property
    def ready(self) -> bool:
        """init() has completed in every worker and no stop has begun."""
        if self.starting or (self._started is not None and not self._started.value):
            return False
        return self._draining is None or not self._draining.value

    @property
    def why_not(self) -> str:
        """Why it is not ready, for protocols whose "not ready" carries a message."""
        if self._draining is not None and self._draining.value:
            return "the server is stopping."
        return "init() has not completed."


@dataclass(frozen=True)
class ModelHealth:
    """What the probe routes answer from: the model's name and whether it is ready. Known
    before the script is loaded, so a starting worker answers its probes with it."""

    model_name: str
    readiness: Readiness


def json_value(text: str) -> Any:
    """A result that is JSON text (Azure ML scripts often return json.dumps(...)) as its value."""
    try:
        return loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class ModelService:
    """The loaded script and how to call it, for the protocols."""

    script: EntryScript
    scorer: Scorer
    model_name: str
    raw_arguments: ArgumentBuilder
    """/score's argument builder: SageMaker's requests and @rawhttp scripts use it as is."""
    readiness: Readiness = field(default_factory=Readiness)
    custody: ConnectionReporter | None = None
    telemetry: AppInsights | None = None
    schema: ModelSchema = field(default_factory=ModelSchema)
    flask_context: RequestContext | None = None
    """Flask's request context for run(), when the script uses Flask."""

    @classmethod
    def build(
        cls,
        script: EntryScript,
        scorer: Scorer,
        model_name: str,
        raw_arguments: ArgumentBuilder,
        readiness: Readiness,
        custody: ConnectionReporter | None = None,
        telemetry: AppInsights | None = None,
        flask_context: RequestContext | None = None,
    ) -> ModelService:
        """The service, with the script's schema read once."""
        schema = read_model_schema(script.run) if script.mode is InputMode.SCHEMA else ModelSchema()
        return cls(
            script,
            scorer,
            model_name,
            raw_arguments,
            readiness,
            custody,
            telemetry,
            schema,
            flask_context,
        )

    @property
    def health(self) -> ModelHealth:
        """The model's name and readiness, for its probe routes."""
        return ModelHealth(self.model_name, self.readiness)

    def no_route(self, request: IncomingRequest, hint: str) -> str:
        """What a client asking for a path this protocol does not have is told."""
        return (
            f"No route {request.method} {request.scope['path']}: this server holds the model "
            f"{self.model_name!r} ({hint})."
        )

    def by_name(
        self,
        request: IncomingRequest,
        values: Mapping[str, Any],
        plain: Callable[[], str],
        options: Mapping[str, Any] | None = None,
    ) -> RunArguments:
        """run()'s arguments from named values: by parameter for @input_schema (options, the
        request's parameters, fill parameters the values do not name), plain()'s text for
        run(data), the request itself for @rawhttp."""
        mode = self.script.mode
        if mode is InputMode.RAW:
            return self.raw_arguments(request)
        if mode is InputMode.PLAIN:
            arguments = RunArguments(args=(plain(),))
        else:
            arguments = RunArguments(kwargs=self._schema_kwargs(values, options or {}))
        if self.script.wants_headers:
            arguments.kwargs["request_headers"] = headers_as_dict(request.headers)
        return arguments

    def _schema_kwargs(
        self, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        params = self.script.parameters
        required = [p.name for p in params if p.default is p.empty]
        # One unnamed value (instances, or a tensor named otherwise) is the one parameter run()
        # needs: its only parameter, or its only one without a default.
        single = required if required else [p.name for p in params]
        names = {p.name for p in params}
        if len(single) == 1 and len(values) == 1 and not names & values.keys():
            values = {single[0]: next(iter(values.values()))}
        if options:  # what the values name wins; options that name no parameter are not run()'s
            values = {**{k: v for k, v in options.items() if k in names}, **values}
        kwargs: dict[str, Any] = {}
        for param in params:
            if param.name in values:
                kwargs[param.name] = self.schema.convert(param.name, values[param.name])
            elif param.default is not param.empty:
                kwargs[param.name] = param.default
            else:
                raise BadRequestError(
                    f"run() needs inputs named {', '.join(repr(n) for n in required)} (its "
                    f"parameters); this request has {', '.join(repr(n) for n in values) or 'none'}."
                )
        return kwargs

    async def respond(
        self,
        request: IncomingRequest,
        arguments_of: Callable[[IncomingRequest], RunArguments],
        render: Callable[[Any], Response],
        error: ErrorFormat,
    ) -> Response:
        """Build run()'s arguments, call it, render its result; every failure in error's format."""
        telemetry = self.telemetry
        if telemetry is not None:
            started_ns, started = now_ns(), time.perf_counter()
        arguments: RunArguments | None = None
        prediction: Any = None
        failure: BaseException | None = None
        run_failed = b"False"
        try:
            arguments = arguments_of(request)
            if self.flask_context is not None:
                arguments.context = self.flask_context(request)
            if self.custody is None:
                result = await self.scorer.score(arguments)
            else:
                slot = self.custody.scoring(request.scope["client"], request.crash_headers)
                try:
                    result = await self.scorer.score(arguments)
                finally:
                    self.custody.answered(slot)
            prediction = result.value
            if is_werkzeug_response(result.value):
                response = to_response(result.value)  # the script answers in its own words
                # ...but these two headers are the server's: a client must get one of each.
                response.raw_headers = [
                    h for h in response.raw_headers if h[0] not in _SERVER_RUN_HEADERS
                ]
                if response.status_code >= 500:
                    run_failed = b"True"
            else:
                response = _rendered(render, result.value)
            response.raw_headers.append(
                (b"x-ms-run-fn-exec-ms", f"{result.elapsed_ms:.3f}".encode())
            )
        except ClientError as exc:
            response = error(exc.status_code, exc.message)
        except ScoringError as exc:
            if isinstance(exc, ResponseEncodingError):
                log_exception(exc.__cause__ or exc)
            else:
                run_failed = b"True"
            failure = exc.__cause__ or exc
            response = error(exc.status_code, exc.message)
        except ScoreServerError as exc:
            log_exception(exc)
            failure = exc
            response = error(exc.status_code, exc.message)
        response.raw_headers.append((_RUN_FAILED, run_failed))
        if telemetry is not None:
            telemetry.record(
                scoring_record(
                    request,
                    response.status_code,
                    (started_ns, started),
                    arguments,
                    prediction,
                    failure,
                )
            )
        return response


def _rendered(render: Callable[[Any], Response], value: Any) -> Response:
    """The protocol's rendering of run()'s result; a result it cannot express is a 500."""
    try:
        return render(value)
    except ClientError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise ResponseEncodingError(
            f"run()'s result cannot be expressed in this protocol's response: {exc}"
        ) from exc
