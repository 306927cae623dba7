"""Loading the user's score.py: import it, find init() and run(), learn how run() wants its input."""

from __future__ import annotations

import enum
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from scoreserver.errors import EntryScriptError
from scoreserver.legacy_imports import make_legacy_imports_available, reference_rawhttp_requested
from scoreserver.script.rawhttp import is_rawhttp

__all__ = ["EntryScript", "InputMode", "failure_summary", "load_entry_script", "script_location"]

REQUEST_HEADERS_PARAM = "request_headers"


class InputMode(enum.Enum):
    """How run() receives the request."""

    PLAIN = "plain"
    SCHEMA = "schema"
    RAW = "raw"


@dataclass(frozen=True)
class EntryScript:
    """The loaded script: its init() and run(), and how run() is to be called."""

    path: Path
    module: ModuleType
    init: Callable[[], Any] | None
    run: Callable[..., Any]
    mode: InputMode
    parameters: tuple[inspect.Parameter, ...]
    """run()'s parameters other than request_headers, in order."""
    wants_headers: bool
    is_async: bool

    def call_init(self) -> None:
        """Run the script's init(); a failure becomes an EntryScriptError carrying the traceback."""
        if self.init is None:
            return
        try:
            self.init()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EntryScriptError(
                "User's init function failed: init() raised an exception, so the server cannot "
                f"start. Fix init() in {self.path}; the traceback follows.\n"
                f"{traceback.format_exc()}"
            ) from exc


def import_script(path: Path) -> ModuleType:
    """Import score.py from its path, under its own name unless that would shadow a module."""
    if not path.is_file():
        raise EntryScriptError(
            f"No such file or directory: the entry script {path} does not exist. Check the "
            f"--entry_script path; a relative path is taken from the current directory."
        )
    make_legacy_imports_available()
    name = path.stem if path.stem not in sys.modules else "entry_module"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EntryScriptError(f"The entry script {path} cannot be imported as Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise EntryScriptError(
            f"Failed to import user script because it raised an unhandled exception. Fix the "
            f"error in {path} (or install what it imports); the traceback follows.\n"
            f"{traceback.format_exc()}"
        ) from exc
    return module


def load_entry_script(path: Path) -> EntryScript:
    """Import the script and check that its init() and run() can be served."""
    module = import_script(path)
    driver = getattr(module, "driver_module", None)
    owner = driver if driver is not None and callable(getattr(driver, "run", None)) else module
    init = getattr(module, "init", None) or getattr(owner, "init", None)
    if not callable(init):
        raise EntryScriptError(
            f"User script at {path} does not have a init() function defined. "
            f"Add def init(): to load the model once at start-up."
        )
    run = getattr(owner, "run", None)
    if not callable(run):
        raise EntryScriptError(
            f"User script at {path} does not have a run() function defined. "
            f"Add def run(data): to score one request."
        )
    return describe_run(path, module, init, run)


def _is_schema_decorated(run: Callable[..., Any]) -> bool:
    """Whether inference-schema's @input_schema or @output_schema wraps run()."""
    try:
        from inference_schema.schema_util import is_schema_decorated
    except ImportError:  # inference-schema is a dependency, but a broken install should not crash
        return False
    try:
        return bool(is_schema_decorated(run))
    except Exception:
        return False


def _has_input_schema(run: Callable[..., Any]) -> bool:
    """Whether run() declares its inputs with @input_schema (output-only does not count)."""
    if not _is_schema_decorated(run):
        return False
    from inference_schema.schema_util import get_input_schema

    schema = get_input_schema(run)
    return bool(schema.get("properties"))


def describe_run(
    path: Path, module: ModuleType, init: Callable[[], Any] | None, run: Callable[..., Any]
) -> EntryScript:
    """Work out how run() is called, refusing signatures the server cannot serve."""
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError) as exc:
        raise EntryScriptError(f"The run() function in {path} has no readable signature.") from exc
    params = tuple(signature.parameters.values())
    bad = [
        p.name
        for p in params
        if p.kind
        in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.POSITIONAL_ONLY,
        )
    ]
    if bad:
        raise EntryScriptError(
            f"run() cannot accept positional-only arguments, *args, or **kwargs. In {path}, "
            f"name each input instead of {', '.join(bad)}, as in run(data)."
        )
    inputs = tuple(p for p in params if p.name != REQUEST_HEADERS_PARAM)
    if not params:
        raise EntryScriptError(
            f"run() needs to accept an argument for input data. In {path}, define run(data)."
        )
    if not inputs:
        raise EntryScriptError(
            'run() needs to accept an argument other than "request_headers". '
            f"In {path}, define run(data, request_headers)."
        )
    raw = is_rawhttp(run) or reference_rawhttp_requested()
    schema = _has_input_schema(run)
    if raw and schema:
        raise EntryScriptError(
            f"run() cannot be decorated with both @rawhttp and @input_schema (in {path}); "
            f"choose one."
        )
    mode = InputMode.RAW if raw else InputMode.SCHEMA if schema else InputMode.PLAIN
    return EntryScript(
        path=path,
        module=module,
        init=init,
        run=run,
        mode=mode,
        parameters=inputs,
        wants_headers=len(inputs) != len(params),
        is_async=inspect.iscoroutinefunction(inspect.unwrap(run)),
    )


def script_location(exc: BaseException, folders: list[Path]) -> str | None:
    """Where the user's code failed: "file:line (in function)" of the deepest frame in folders.

    Frames of libraries the script called are skipped, so the line shown is the user's; a
    SyntaxError points at the line that does not parse.
    """
    error = exc.__cause__ if isinstance(exc, EntryScriptError) and exc.__cause__ else exc
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return f"{error.filename}:{error.lineno}"
    roots = [f.resolve() for f in folders]
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        path = Path(frame.filename).resolve()
        inside = any(path.is_relative_to(root) for root in roots)
        if inside and "site-packages" not in path.parts:
            return f"{frame.filename}:{frame.lineno} (in {frame.name})"
    return None


def failure_summary(exc: BaseException) -> str:
    """What went wrong in one line: the user's exception if there is one, else the message."""
    cause = exc.__cause__ if isinstance(exc, EntryScriptError) and exc.__cause__ else exc
    if cause is exc and isinstance(exc, EntryScriptError):
        return exc.message.splitlines()[0]
    return traceback.format_exception_only(type(cause), cause)[-1].strip()
