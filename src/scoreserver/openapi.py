"""The API description served at /swagger.json (placeholder until the generator lands)."""

from __future__ import annotations

import json

from scoreserver.entry_script import EntryScript
from scoreserver.errors import NotFoundError
from scoreserver.settings import Settings

__all__ = ["SwaggerDocuments"]


class SwaggerDocuments:
    """Every supported version of the API description, rendered once at start-up."""

    def __init__(self, settings: Settings, script: EntryScript) -> None:
        self.supported_versions = ["2", "3", "3.1"]
        self._documents = {"2": json.dumps({"swagger": "2.0"}).encode()}

    def document(self, version: str | None) -> bytes:
        """The document for the version asked for (2 when none is)."""
        try:
            return self._documents[version or "2"]
        except KeyError:
            raise NotFoundError(
                f"Swagger version [{version}] is not valid. Supported versions: [2, 3, 3.1]."
            ) from None
