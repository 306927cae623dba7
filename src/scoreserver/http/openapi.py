"""The API description served at /swagger.json: Swagger 2.0 and OpenAPI 3.0/3.1, rendered once.

Each version's document is either the user's own file from the app root, served re-encoded as
``json.dumps`` writes it, or one generated here from the service settings and, when run() is
decorated with inference-schema, its input and output schemas. The generated documents match the
reference server's byte for byte, key order included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scoreserver.errors import EntryScriptError, NotFoundError
from scoreserver.script.entry_script import EntryScript
from scoreserver.settings import Settings

__all__ = ["VERSIONS", "ServiceFacts", "SwaggerDocuments", "openapi3_document", "swagger2_document"]

logger = logging.getLogger("azmlinfsrv.swagger")

JSONObject = dict[str, Any]

VERSIONS = ("2", "3", "3.1")
"""Every version the server can describe itself in, in the order messages list them."""

_ALIASES = {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}
"""The ?version= values accepted, and the version each one means."""

_DEFAULT_VERSION = "2"

_SCHEMA_LIBRARY_VERSIONS = {"2.0": "2", "3.0": "3", "3.1": "3.1"}
"""inference-schema's names for the versions; names it may add later are ignored."""

_USER_FILES = {
    "2": ("swagger.json", "swagger2.json"),
    "3": ("swagger3.json",),
    "3.1": ("swagger3.1.json",),
}
"""The user's own documents in the app root, per version; the first file found wins."""

_ROOT, _SCORE, _SWAGGER = "", "score", "swagger.json"

_ERROR_DESCRIPTION = "The service failed to execute due to an error."
_BEARER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}
_HEALTH = {
    "operationId": "ServiceHealthCheck",
    "description": "Simple health check endpoint to ensure the service is up at any given point.",
    "ok": "If service is up and running, this response will be returned with the content 'Healthy'",
}
_RUN = {
    "operationId": "RunMLService",
    "description": "Run web service's model and get the prediction output",
    "input": "The input payload for executing the real-time machine learning service.",
    "ok": "The service processed the input correctly and provided a result prediction, if applicable.",
}
_SPEC = {
    "operationId": "GetSwaggerSpec",
    "description": "Get the Swagger specification.",
    "ok": "The Swagger specification.",
}


def _error_response_schema() -> JSONObject:
    """The body of every error answer: {"message": ...}."""
    return {"type": "object", "properties": {"message": {"type": "string"}}}


def _undecorated_schema() -> JSONObject:
    """What an undecorated run() takes and returns, as far as anyone can tell: some object."""
    return {"type": "object", "example": {}}


@dataclass(frozen=True)
class ServiceFacts:
    """What a generated document says: the service's name, version, route prefix and schemas."""

    name: str = "ML service"
    version: str = "1.0"
    path_prefix: str = ""
    input_schema: JSONObject = field(default_factory=_undecorated_schema)
    output_schema: JSONObject = field(default_factory=_undecorated_schema)

    def path(self, route: str) -> str:
        """A route as the document names it: behind the prefix, which loses its outer slashes."""
        # The reference does this, so "/" as a prefix gives "//score"; clients may rely on it.
        if not self.path_prefix:
            return "/" + route
        return f"/{self.path_prefix.strip('/')}/{route}"

    def info(self) -> JSONObject:
        """The document's info object."""
        return {
            "title": self.name,
            "description": f"API specification for the Azure Machine Learning service {self.name}",
            "version": self.version,
        }


def swagger2_document(facts: ServiceFacts) -> JSONObject:
    """The Swagger 2.0 description of the service."""
    error = {"description": _ERROR_DESCRIPTION, "schema": {"$ref": "#/definitions/ErrorResponse"}}
    health = {
        "operationId": _HEALTH["operationId"],
        "description": _HEALTH["description"],
        "responses": {
            "200": {
                "description": _HEALTH["ok"],
                "schema": {"type": "string"},
                "examples": {"application/json": "Healthy"},
            },
            "default": error,
        },
    }
    score = {
        "operationId": _RUN["operationId"],
        "description": _RUN["description"],
        "security": [{"Bearer": []}],
        "parameters": [
            {
                "name": "serviceInputPayload",
                "in": "body",
                "description": _RUN["input"],
                "schema": {"$ref": "#/definitions/ServiceInput"},
            }
        ],
        "responses": {
            "200": {"description": _RUN["ok"], "schema": {"$ref": "#/definitions/ServiceOutput"}},
            "default": error,
        },
    }
    spec = {
        "operationId": _SPEC["operationId"],
        "description": _SPEC["description"],
        "parameters": [
            {"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}
        ],
        "responses": {
            "200": {"description": _SPEC["ok"], "schema": {"type": "string"}},
            "default": error,
        },
    }
    return {
        "swagger": "2.0",
        "info": facts.info(),
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": _BEARER},
        "paths": {
            facts.path(_ROOT): {"get": health},
            facts.path(_SCORE): {"post": score},
            facts.path(_SWAGGER): {"get": spec},
        },
        "definitions": {
            "ServiceInput": facts.input_schema,
            "ServiceOutput": facts.output_schema,
            "ErrorResponse": _error_response_schema(),
        },
    }


def _content(media_type: str, schema: JSONObject) -> JSONObject:
    """An OpenAPI 3 content map with one media type."""
    return {media_type: {"schema": schema}}


def openapi3_document(facts: ServiceFacts, openapi: str) -> JSONObject:
    """The OpenAPI 3.x description of the service; 3.0 and 3.1 differ only in the version field."""
    error = {
        "description": _ERROR_DESCRIPTION,
        "content": _content("application/json", {"$ref": "#/components/schemas/ErrorResponse"}),
    }
    health = {
        "operationId": _HEALTH["operationId"],
        "description": _HEALTH["description"],
        "responses": {
            "200": {
                "description": _HEALTH["ok"],
                "content": _content("text/plain", {"type": "string", "example": "Healthy"}),
            },
            "default": error,
        },
    }
    score = {
        "operationId": _RUN["operationId"],
        "description": _RUN["description"],
        "security": [{"Bearer": []}],
        "requestBody": {
            "description": _RUN["input"],
            "content": _content("application/json", {"$ref": "#/components/schemas/ServiceInput"}),
        },
        "responses": {
            "200": {
                "description": _RUN["ok"],
                "content": _content(
                    "application/json", {"$ref": "#/components/schemas/ServiceOutput"}
                ),
            },
            "default": error,
        },
    }
    version_schema = {"type": "integer", "enum": [2, 3]}
    spec = {
        "operationId": _SPEC["operationId"],
        "description": _SPEC["description"],
        "parameters": [
            {"name": "version", "in": "query", "required": False, "schema": version_schema}
        ],
        "responses": {
            "200": {
                "description": _SPEC["ok"],
                "content": _content("text/plain", {"type": "string"}),
            },
            "default": error,
        },
    }
    return {
        "openapi": openapi,
        "info": facts.info(),
        "security": [{"Bearer": []}],
        "paths": {
            facts.path(_ROOT): {"get": health},
            facts.path(_SCORE): {"post": score},
            facts.path(_SWAGGER): {"get": spec},
        },
        "components": {
            "schemas": {
                "ServiceInput": facts.input_schema,
                "ServiceOutput": facts.output_schema,
                "ErrorResponse": _error_response_schema(),
            },
            "securitySchemes": {"Bearer": _BEARER},
        },
    }


_BUILDERS: dict[str, Callable[[ServiceFacts], JSONObject]] = {
    "2": swagger2_document,
    "3": lambda facts: openapi3_document(facts, "3.0.3"),
    "3.1": lambda facts: openapi3_document(facts, "3.1.0"),
}


@dataclass(frozen=True)
class _ScriptSchemas:
    """What inference-schema knows about run(): its schemas and the versions they can be shown in."""

    input_schema: JSONObject
    output_schema: JSONObject
    versions: frozenset[str]


def _script_schemas(run: Callable[..., Any]) -> _ScriptSchemas | None:
    """run()'s inference-schema schemas, or None when it is not decorated."""
    try:
        from inference_schema import schema_util
    except ImportError:  # a broken install only costs the schemas, as in entry_script.py
        return None
    if not schema_util.is_schema_decorated(run):
        return None
    versions = {_SCHEMA_LIBRARY_VERSIONS.get(v) for v in schema_util.get_supported_versions(run)}
    return _ScriptSchemas(
        input_schema=schema_util.get_input_schema(run),
        output_schema=schema_util.get_output_schema(run),
        versions=frozenset(v for v in versions if v is not None),
    )


def _read_user_documents(app_root: Path) -> dict[str, bytes]:
    """The user's own documents found in the app root, by version, re-encoded as JSON."""
    documents: dict[str, bytes] = {}
    for version, names in _USER_FILES.items():
        path = next((app_root / n for n in names if (app_root / n).is_file()), None)
        if path is None:
            continue
        try:
            # Read as text first: json.loads(bytes) would accept a BOM the reference refuses.
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EntryScriptError(
                f"The swagger file {path} cannot be read as JSON, so the server cannot start: {exc}"
            ) from exc
        documents[version] = _render(document, path)
        logger.info("Loaded user's swagger file for version [%s] from %s", version, path)
    return documents


def _render(document: Any, source: object) -> bytes:
    """The document as the server sends it: json.dumps with its default separators."""
    try:
        return json.dumps(document).encode()
    except (TypeError, ValueError) as exc:
        raise EntryScriptError(
            f"The API description from {source} cannot be written as JSON: {exc}"
        ) from exc


def _listing(versions: Iterable[str]) -> str:
    """Versions as the messages list them: "2, 3, 3.1"."""
    return ", ".join(versions)


def _summary(prepared: list[str], skipped: list[str]) -> str:
    """The start-up log line that says which versions can be asked for."""
    if not prepared:
        return "No swagger is prepared."
    if not skipped:
        return f"Swaggers are prepared for the following versions: [{_listing(prepared)}]."
    return (
        f"Swaggers are prepared for versions [{_listing(prepared)}] "
        f"and skipped for versions [{_listing(skipped)}]."
    )


class SwaggerDocuments:
    """Every supported version of the API description, rendered once at start-up."""

    def __init__(self, settings: Settings, script: EntryScript) -> None:
        user_documents = _read_user_documents(settings.app_root)
        schemas = _script_schemas(script.run)
        facts = ServiceFacts(
            name=settings.service_name,
            version=settings.service_version,
            path_prefix=settings.service_path_prefix,
        )
        generated_versions = set(VERSIONS)
        if schemas is not None:
            facts = replace(
                facts, input_schema=schemas.input_schema, output_schema=schemas.output_schema
            )
            generated_versions = set(schemas.versions)
        self._documents: dict[str, bytes] = {}
        for version in VERSIONS:
            if version in user_documents:
                self._documents[version] = user_documents[version]
            elif version in generated_versions:
                self._documents[version] = _render(_BUILDERS[version](facts), script.path)
        self.supported_versions = [v for v in VERSIONS if v in self._documents]
        """The versions that can be asked for, in the order messages list them."""
        self.skipped_versions = [v for v in VERSIONS if v not in self._documents]
        """The versions run()'s schemas cannot be described in (and no user file covers)."""
        self.summary = _summary(self.supported_versions, self.skipped_versions)
        """The start-up log line for the azmlinfsrv.swagger logger, worded as the reference's."""

    def document(self, version: str | None) -> bytes:
        """The document for the version asked for (2 when none is)."""
        asked = _DEFAULT_VERSION if version is None else version
        canonical = _ALIASES.get(asked)
        if canonical is None:
            raise NotFoundError(
                f"Swagger version [{asked}] is not valid. "
                f"Supported versions: [{_listing(self.supported_versions)}]."
            )
        try:
            return self._documents[canonical]
        except KeyError:
            raise NotFoundError(
                f"Swagger version [{asked}] is not supported for the scoring script. "
                f"Supported swagger versions: [{_listing(self.supported_versions)}]."
            ) from None
