"""The /swagger.json documents, compared byte for byte with what the reference server sent.

The files in tests/data/swagger/ are the reference's response bodies (azmlinfsrv 1.5.1) for the
fixture scripts of the same name in tests/scripts/swagger_*.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

import inference_schema.schema_decorators  # noqa: F401
import numpy  # noqa: F401
import pytest

from scoreserver.errors import EntryScriptError, NotFoundError
from scoreserver.http.openapi import ServiceFacts, SwaggerDocuments
from scoreserver.script.entry_script import EntryScript, load_entry_script
from scoreserver.settings import Settings

TESTS = Path(__file__).resolve().parents[1]
DATA = TESTS / "data" / "swagger"
SCRIPTS = TESTS / "scripts"
ALL_VERSIONS = ["2", "3", "3.1"]

# inference-schema and numpy are imported above, at collection, so that the per-test clean-up of
# sys.modules in tests/conftest.py keeps them: the schema registry must outlive a test, and numpy
# cannot be imported a second time.


@functools.cache
def fixture_script(name: str) -> EntryScript:
    """A tests/scripts/swagger_<name>.py, imported once per session.

    inference-schema keys its registry by module and function name and merges a second import
    into the first, so each script is imported only once and then dropped from sys.modules.
    """
    script = load_entry_script(SCRIPTS / f"swagger_{name}.py")
    sys.modules.pop(script.module.__name__, None)
    return script


def documents(name: str, app_root: Path, **settings: Any) -> SwaggerDocuments:
    """The documents for a fixture script, with the given settings."""
    script = fixture_script(name)
    flags = {"entry_script": script.path, "app_root": app_root, **settings}
    return SwaggerDocuments(Settings.from_sources(flags), script)


def reference(name: str) -> bytes:
    """A body the reference server sent, as saved in tests/data/swagger/."""
    return (DATA / f"{name}.json").read_bytes()


# --- generated documents against the reference's ---------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("plain", "plain"),
        ("raw", "plain"),
        ("numpy", "numpy"),
        ("std", "std"),
        ("output_only", "output_only"),
        ("input_only", "input_only"),
        ("headers", "headers"),
        ("unicode", "unicode"),
    ],
)
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_generated_document_equals_the_reference(
    tmp_path: Path, script: str, expected: str, version: str
) -> None:
    assert documents(script, tmp_path).document(version) == reference(f"{expected}_v{version}")


@pytest.mark.parametrize(
    ("query", "expected"), [(None, "2"), ("2", "2"), ("2.0", "2"), ("3", "3"), ("3.0", "3")]
)
def test_version_aliases(tmp_path: Path, query: str | None, expected: str) -> None:
    assert documents("std", tmp_path).document(query) == reference(f"std_v{expected}")


def test_openapi_31_differs_from_30_only_in_its_version_field(tmp_path: Path) -> None:
    docs = documents("numpy", tmp_path)
    v3, v31 = json.loads(docs.document("3")), json.loads(docs.document("3.1"))
    assert (v3.pop("openapi"), v31.pop("openapi")) == ("3.0.3", "3.1.0")
    assert v3 == v31


def test_mixed_list_sample_is_described_in_3_and_31_only(tmp_path: Path) -> None:
    docs = documents("mixed_list", tmp_path)
    assert docs.document("3") == reference("mixed_list_v3")
    assert docs.document("3.1") == reference("mixed_list_v3.1")
    assert docs.supported_versions == ["3", "3.1"]


def test_documents_are_rendered_once(tmp_path: Path) -> None:
    docs = documents("std", tmp_path)
    assert docs.document("3") is docs.document("3.0")
    assert docs.document(None) is docs.document("2")


# --- SERVICE_NAME, SERVICE_VERSION, SERVICE_PATH_PREFIX --------------------------------------


@pytest.mark.parametrize("version", ["2", "3"])
def test_service_settings_shape_the_document(tmp_path: Path, version: str) -> None:
    docs = documents(
        "numpy",
        tmp_path,
        service_name="my-svc",
        service_version="2.5",
        service_path_prefix="/api/v1/",
    )
    assert docs.document(version) == reference(f"numpy_service_env_v{version}")


def test_service_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_NAME", "my-svc")
    monkeypatch.setenv("SERVICE_VERSION", "2.5")
    monkeypatch.setenv("SERVICE_PATH_PREFIX", "/api/v1/")
    assert documents("numpy", tmp_path).document("2") == reference("numpy_service_env_v2")


@pytest.mark.parametrize(
    ("prefix", "base"),
    [  # each observed on the reference
        ("", "/"),
        ("api", "/api/"),
        ("/", "//"),
        ("/a", "/a/"),
        ("a/", "/a/"),
        ("/a/", "/a/"),
        ("//a//", "/a/"),
        ("a/b", "/a/b/"),
        ("a//b/", "/a//b/"),
        (" x ", "/ x /"),
        ("\u00e9", "/\u00e9/"),
    ],
)
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_path_prefix(tmp_path: Path, prefix: str, base: str, version: str) -> None:
    body = documents("plain", tmp_path, service_path_prefix=prefix).document(version)
    assert list(json.loads(body)["paths"]) == [base, f"{base}score", f"{base}swagger.json"]


def test_path_prefix_is_ascii_escaped(tmp_path: Path) -> None:
    body = documents("plain", tmp_path, service_path_prefix="\u00e9").document("2")
    assert b'"/\\u00e9/score"' in body


@pytest.mark.parametrize(
    ("settings", "info"),
    [
        (
            {"service_name": ""},
            '{"title": "", "description": "API specification for the Azure Machine Learning '
            'service ", "version": "1.0"}',
        ),
        (
            {"service_version": ""},
            '{"title": "ML service", "description": "API specification for the Azure Machine '
            'Learning service ML service", "version": ""}',
        ),
        (
            {"service_name": "h\u00e9", "service_version": "3"},
            '{"title": "h\\u00e9", "description": "API specification for the Azure Machine '
            'Learning service h\\u00e9", "version": "3"}',
        ),
    ],
)
def test_info_as_the_reference_writes_it(
    tmp_path: Path, settings: dict[str, str], info: str
) -> None:
    body = documents("plain", tmp_path, **settings).document("2")
    assert body.startswith(b'{"swagger": "2.0", "info": ' + info.encode() + b', "schemes": ')


@pytest.mark.parametrize("name", ['say "hi"', "a\\tb"])
def test_quotes_and_backslashes_in_the_name_stay_literal(tmp_path: Path, name: str) -> None:
    # Deliberately better: the reference fails to start on a quote and reads "\t" as a tab.
    for version in ALL_VERSIONS:
        info = json.loads(documents("plain", tmp_path, service_name=name).document(version))
        assert info["info"]["title"] == name


def test_service_facts_path() -> None:
    assert ServiceFacts().path("score") == "/score"
    assert ServiceFacts(path_prefix="x/y/").path("") == "/x/y/"


# --- versions that cannot be served ----------------------------------------------------------


@pytest.mark.parametrize("asked", ["4", "abc", "", "4.0", " 3", "3 ", "3.10", "3.00", "02", "2.1"])
def test_unknown_version(tmp_path: Path, asked: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        documents("plain", tmp_path).document(asked)
    assert caught.value.message == (
        f"Swagger version [{asked}] is not valid. Supported versions: [2, 3, 3.1]."
    )
    assert caught.value.status_code == 404


@pytest.mark.parametrize(
    ("script", "asked", "message"),
    [
        (
            "mixed_list",
            None,
            "Swagger version [2] is not supported for the scoring script. "
            "Supported swagger versions: [3, 3.1].",
        ),
        (
            "mixed_list",
            "2.0",
            "Swagger version [2.0] is not supported for the scoring script. "
            "Supported swagger versions: [3, 3.1].",
        ),
        (
            "mixed_list",
            "4",
            "Swagger version [4] is not valid. Supported versions: [3, 3.1].",
        ),
        (
            "only_31",
            "3.0",
            "Swagger version [3.0] is not supported for the scoring script. "
            "Supported swagger versions: [3.1].",
        ),
        (
            "no_versions",
            "3.1",
            "Swagger version [3.1] is not supported for the scoring script. "
            "Supported swagger versions: [].",
        ),
        ("no_versions", "", "Swagger version [] is not valid. Supported versions: []."),
    ],
)
def test_version_the_script_cannot_be_described_in(
    tmp_path: Path, script: str, asked: str | None, message: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        documents(script, tmp_path).document(asked)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("script", "supported", "summary"),
    [
        ("plain", ALL_VERSIONS, "Swaggers are prepared for the following versions: [2, 3, 3.1]."),
        ("numpy", ALL_VERSIONS, "Swaggers are prepared for the following versions: [2, 3, 3.1]."),
        (
            "mixed_list",
            ["3", "3.1"],
            "Swaggers are prepared for versions [3, 3.1] and skipped for versions [2].",
        ),
        (
            "only_31",
            ["3.1"],
            "Swaggers are prepared for versions [3.1] and skipped for versions [2, 3].",
        ),
        ("no_versions", [], "No swagger is prepared."),
    ],
)
def test_supported_versions_and_summary(
    tmp_path: Path, script: str, supported: list[str], summary: str
) -> None:
    docs = documents(script, tmp_path)
    assert docs.supported_versions == supported
    assert docs.summary == summary


def test_only_31_document_is_the_input_only_one(tmp_path: Path) -> None:
    # Same input schema as swagger_input_only.py; the reference's body had the same length.
    assert documents("only_31", tmp_path).document("3.1") == reference("input_only_v3.1")


# --- the user's own documents ----------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    """A file in folder, written as UTF-8 (bytes as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode())
    return path


def swagger_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the azmlinfsrv.swagger logger said."""
    return [r.getMessage() for r in caplog.records if r.name == "azmlinfsrv.swagger"]


def test_swagger_json_and_swagger3_json(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="azmlinfsrv.swagger")
    v2 = write(tmp_path, "swagger.json", '{"swagger": "2.0", "info": {"title": "USER"}}\n')
    v3 = write(tmp_path, "swagger3.json", '{"openapi": "3.0.0", "info": {"title": "USER3"}}\n')
    docs = documents("plain", tmp_path)
    for asked in (None, "2", "2.0"):
        assert docs.document(asked) == b'{"swagger": "2.0", "info": {"title": "USER"}}'
    for asked in ("3", "3.0"):
        assert docs.document(asked) == b'{"openapi": "3.0.0", "info": {"title": "USER3"}}'
    assert docs.document("3.1") == reference("plain_v3.1")
    assert swagger_log(caplog) == [
        f"Loaded user's swagger file for version [2] from {v2}",
        f"Loaded user's swagger file for version [3] from {v3}",
    ]
    assert docs.summary == "Swaggers are prepared for the following versions: [2, 3, 3.1]."


def test_swagger2_json_and_swagger31_json(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="azmlinfsrv.swagger")
    v2 = write(tmp_path, "swagger2.json", '{"swagger": "2.0"}')
    v31 = write(tmp_path, "swagger3.1.json", '{"openapi": "3.1.0"}')
    docs = documents("plain", tmp_path)
    assert docs.document(None) == b'{"swagger": "2.0"}'
    assert docs.document("3") == reference("plain_v3")
    assert docs.document("3.1") == b'{"openapi": "3.1.0"}'
    assert swagger_log(caplog) == [
        f"Loaded user's swagger file for version [2] from {v2}",
        f"Loaded user's swagger file for version [3.1] from {v31}",
    ]


def test_swagger_json_wins_over_swagger2_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="azmlinfsrv.swagger")
    first = write(tmp_path, "swagger.json", '{"from": "swagger.json"}')
    write(tmp_path, "swagger2.json", '{"from": "swagger2.json"}')
    assert documents("plain", tmp_path).document("2") == b'{"from": "swagger.json"}'
    assert swagger_log(caplog) == [f"Loaded user's swagger file for version [2] from {first}"]


def test_user_document_is_re_encoded_as_json_dumps_writes_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "swagger.json",
        '{\n  "zeta": 1,\n  "alpha": {"t": "h\u00e9", "f": 1e5, "g": 1.50, "n": NaN},\n'
        '  "dup": 1, "dup": 2\n}\n',
    )
    write(tmp_path, "swagger3.json", '{"openapi":"3.0.0","x":[1,2]}')
    docs = documents("plain", tmp_path)
    assert docs.document("2") == (
        b'{"zeta": 1, "alpha": {"t": "h\\u00e9", "f": 100000.0, "g": 1.5, "n": NaN}, "dup": 2}'
    )
    assert docs.document("3") == b'{"openapi": "3.0.0", "x": [1, 2]}'


def test_user_document_need_not_be_an_object(tmp_path: Path) -> None:
    write(tmp_path, "swagger2.json", '[1, 2, "three"]\n')
    write(tmp_path, "swagger3.json", '"just a string"\n')
    docs = documents("plain", tmp_path)
    assert docs.document("2") == b'[1, 2, "three"]'
    assert docs.document("3") == b'"just a string"'


def test_user_documents_cover_versions_the_script_cannot(tmp_path: Path) -> None:
    write(tmp_path, "swagger2.json", '{"title": "user2"}')
    docs = documents("mixed_list", tmp_path)
    assert docs.document(None) == b'{"title": "user2"}'
    assert docs.document("3") == reference("mixed_list_v3")
    assert docs.supported_versions == ALL_VERSIONS
    assert docs.summary == "Swaggers are prepared for the following versions: [2, 3, 3.1]."


def test_user_document_for_3_with_a_script_limited_to_31(tmp_path: Path) -> None:
    write(tmp_path, "swagger3.json", '{"u": 3}')
    docs = documents("only_31", tmp_path)
    assert docs.document("3.0") == b'{"u": 3}'
    assert docs.supported_versions == ["3", "3.1"]
    assert (
        docs.summary == "Swaggers are prepared for versions [3, 3.1] and skipped for versions [2]."
    )
    with pytest.raises(NotFoundError) as caught:
        docs.document(None)
    assert caught.value.message == (
        "Swagger version [2] is not supported for the scoring script. "
        "Supported swagger versions: [3, 3.1]."
    )


def test_other_file_names_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="azmlinfsrv.swagger")
    for name in ("swagger3.0.json", "swagger31.json", "swagger_2.json", "swagger30.json"):
        write(tmp_path, name, '{"name": "x"}')
    write(tmp_path, "openapi.json", '{"name": "x"}')
    docs = documents("plain", tmp_path)
    assert [docs.document(v) for v in ALL_VERSIONS] == [
        reference(f"plain_v{v}") for v in ALL_VERSIONS
    ]
    assert swagger_log(caplog) == []


def test_only_the_app_root_is_searched(tmp_path: Path) -> None:
    script_folder = tmp_path / "script"
    write(script_folder, "swagger.json", '{"where": "next to the script"}')
    script = dataclasses.replace(fixture_script("plain"), path=script_folder / "score.py")
    settings = Settings(entry_script=script.path, app_root=tmp_path / "app")
    assert SwaggerDocuments(settings, script).document("2") == reference("plain_v2")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"swagger": "2.0",\n', "Expecting property name enclosed in double quotes"),
        ("", "Expecting value"),
        ('\ufeff{"bom": true}', "Unexpected UTF-8 BOM"),
    ],
)
def test_unreadable_user_document_stops_start_up(tmp_path: Path, content: str, error: str) -> None:
    path = write(tmp_path, "swagger.json", content)
    with pytest.raises(EntryScriptError) as caught:
        documents("plain", tmp_path)
    assert str(path) in caught.value.message
    assert error in caught.value.message
    assert caught.value.exit_code == 3
