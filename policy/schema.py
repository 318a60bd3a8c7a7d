"""The JSON Schemas of policy's files (rule files, test files, the config) and checking documents against them.

The schemas ship as package data (`policy/schemas/*.json`) and are published in `schemas/`; a test keeps the two
identical. jsonschema's errors are turned into located diagnostics with a hint ("did you mean ...").
"""

from __future__ import annotations

import difflib

from policy.errors import Diagnostic
from policy.loader import Document, render_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from jsonschema.exceptions import ValidationError

# The test-file schema ("tests": "tests.schema.json") joins these with `policy test`.
SCHEMA_FILES = {
    "rules": "rules.schema.json",
    "config": "config.schema.json",
}

_cache: dict[str, dict[str, Any]] = {}


def schema_text(kind: str) -> str:
    """The schema of `kind` (a key of SCHEMA_FILES) exactly as shipped."""
    from importlib.resources import files

    return files("policy.schemas").joinpath(SCHEMA_FILES[kind]).read_text(encoding="utf-8")


def load_schema(kind: str) -> dict[str, Any]:
    if kind not in _cache:
        from policy.lean import json_loads

        _cache[kind] = json_loads(schema_text(kind))
    return _cache[kind]


def suggest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A "did you mean" hint, or a list of the valid choices."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + ", ".join(sorted(choices))


_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "nothing (null)",
}


def _type_of(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _describe_types(types: object) -> str:
    names = [types] if isinstance(types, str) else list(types)  # type: ignore[call-overload]
    return " or ".join(_TYPE_NAMES.get(name, name) for name in names)


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the most relevant sub-error (as check-jsonschema does).

    Among the alternatives, the one that got furthest into the instance and matches its type is the one the
    author meant: for `events: [Stop, PreToolUs]` that is the list branch's error about the second item, not the
    single-name branch's "the whole list is not one of these names"; for `delay: -3` it is "must be >= 0", not
    "must be a string".
    """
    from jsonschema.exceptions import relevance

    # (best_match(error.context) would rank the alternatives as top-level errors, preferring the shallowest
    # and those whose type does not even match; descending by `min` is how best_match itself descends.)
    while error.context:
        error = min(error.context, key=relevance)
    return error


def _effect_diagnostics(document: Document, error: ValidationError) -> list[Diagnostic] | None:
    """An item of `do:` that matches no effect. jsonschema's best match among the effect's `anyOf` branches is
    usually the list of bare effect names, which says nothing useful; say which effect is unknown instead, or
    report what is wrong inside the arguments of the one effect named."""
    path = tuple(error.absolute_path)
    instance = error.instance
    branches = error.schema.get("anyOf", []) if isinstance(error.schema, dict) else []
    kinds: set[str] = set()
    for branch in branches:
        kinds |= {str(name) for name in branch.get("enum", ())}
        kinds |= set(branch.get("properties", {})) - {"if"}
    if isinstance(instance, str):
        return [Diagnostic(document.location(path), "unknown-effect", f"unknown effect {instance!r}",
                           suggest(instance, kinds))]
    if not isinstance(instance, dict):
        return None
    named = [key for key in instance if key != "if"]
    unknown = [key for key in named if key not in kinds]
    if unknown:
        return [Diagnostic(document.location((*path, key), key=True), "unknown-effect", f"unknown effect {key!r}",
                           suggest(key, kinds)) for key in unknown]
    if len(named) != 1:
        return [Diagnostic(document.location(path), "bad-effect",
                           f"{render_path(path)} must name exactly one effect, not {len(named)}",
                           "write each effect as its own list item, e.g. `- record: {...}`")]
    mapping_branch = next((index for index, branch in enumerate(branches) if "properties" in branch), None)
    inner = [sub for sub in error.context or () if sub.relative_schema_path and
             sub.relative_schema_path[0] == mapping_branch]
    if not inner:
        return None
    from jsonschema.exceptions import best_match

    best = best_match(inner)
    return _diagnostics(document, best) if best is not None else None


def _diagnostics(document: Document, error: ValidationError) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    if error.validator == "anyOf" and len(path) >= 2 and path[-2] == "do" and isinstance(path[-1], int):
        effect = _effect_diagnostics(document, error)
        if effect is not None:
            return effect
    error = _leaf(error)
    path = tuple(error.absolute_path)
    where = render_path(path) or "the top level"
    validator = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(schema.get("properties", {}))
        pattern_ok = schema.get("patternProperties", {})
        found = []
        for key in instance:
            if key in allowed or pattern_ok:
                continue
            found.append(Diagnostic(
                document.location((*path, key), key=True), "unknown-key",
                f"unknown key {key!r} in {where}", suggest(key, allowed) if allowed else ""))
        if found:
            return found
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Diagnostic(document.location(path), "missing-key", f"{where} needs the key {missing!r}",
                           f"add `{missing}:`")]
    if validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        return [Diagnostic(document.location(path), "bad-value",
                           f"{instance!r} is not a valid value for {where}",
                           suggest(str(instance), choices))]
    if validator == "type":
        return [Diagnostic(document.location(path), "bad-type",
                           f"{where} must be {_describe_types(error.validator_value)}, not {_type_of(instance)}",
                           "")]
    if validator == "pattern":
        return [Diagnostic(document.location(path), "bad-value",
                           f"{instance!r} is not a valid {where.rsplit('.', 1)[-1]}",
                           f"it must match {error.validator_value}")]
    if validator == "const":
        return [Diagnostic(document.location(path), "bad-value",
                           f"{where} must be {error.validator_value!r}, not {instance!r}", "")]
    if validator in ("oneOf", "anyOf") and isinstance(instance, dict) and path and path[-2:-1] == ("do",):
        return [Diagnostic(document.location(path), "bad-effect",
                           f"{where} is not a valid effect", "see docs/effects.md for the effects and their arguments")]
    return [Diagnostic(document.location(path), "schema", f"{where}: {error.message}", "")]


def check(document: Document, kind: str) -> list[Diagnostic]:
    """Every schema violation in `document`, as located diagnostics."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema(kind))
    seen: set[tuple[str, int, int, str, str]] = set()
    diagnostics: list[Diagnostic] = []
    for error in validator.iter_errors(document.data):
        for diagnostic in _diagnostics(document, error):
            key = (diagnostic.location.file, diagnostic.location.line, diagnostic.location.col,
                   diagnostic.code, diagnostic.message)
            if key not in seen:
                seen.add(key)
                diagnostics.append(diagnostic)
    return diagnostics


def error_paths(diagnostics: list[Diagnostic]) -> set[str]:
    """The rendered document paths that have schema errors (later stages skip them to avoid cascades)."""
    return {diagnostic.location.path for diagnostic in diagnostics}
