"""The JSON Schemas of policy's files (rule files, test files, the config) and checking documents against them.

The schemas are built from the code (event names from the model, effect arguments from the effect modules) by
`build_schema`; `python scripts/gen_schemas.py` writes them to `policy/schemas/*.json` (package data, what validation
and editors use) and `schemas/*.json` (published). A test keeps all three identical. jsonschema's errors are
turned into located diagnostics with a hint ("did you mean ...").
"""

from __future__ import annotations

from policy.errors import Diagnostic, did_you_mean
from policy.loader import Document, render_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from jsonschema.exceptions import ValidationError

# The test-file schema ("tests": "tests.schema.json") joins these with `policy test`.
SCHEMA_FILES = {
    "rules": "rules.schema.json",
    "tests": "tests.schema.json",
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
    return did_you_mean(word, choices) or "expected one of: " + ", ".join(sorted(choices))


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
        candidates = list(error.context)
        if isinstance(error.instance, dict):
            # A mapping failed every branch: "not one of these names" (the bare-name form of an argless effect)
            # or "not a string" says less than what is wrong inside the branch for mappings.
            inner = [sub for sub in candidates if not (sub.validator in ("enum", "type", "const")
                                                        and sub.absolute_path == error.absolute_path)]
            candidates = inner or candidates
        error = min(candidates, key=relevance)
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
    value = error.validator_value
    choices = [str(choice) for choice in value] if isinstance(value, (list, tuple)) else []
    if validator == "enum" and "propertyNames" in error.relative_schema_path:
        return [Diagnostic(document.location((*path, instance), key=True), "unknown-key",
                           f"unknown key {instance!r} in {where}", suggest(str(instance), choices))]
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Diagnostic(document.location(path), "missing-key", f"{where} needs the key {missing!r}",
                           f"add `{missing}:`")]
    # `reason: no`, `decision: off`: YAML 1.1 read a word as a boolean
    word = document.bool_words.get(path) if isinstance(instance, bool) else None
    yaml_hint = f"YAML 1.1 reads `{word}` as the boolean {str(instance).lower()}: quote it ('{word}')" if word else ""
    if validator == "enum":
        return [Diagnostic(document.location(path), "bad-value",
                           f"{instance!r} is not a valid value for {where}",
                           yaml_hint or suggest(str(instance), choices))]
    if validator == "type":
        return [Diagnostic(document.location(path), "bad-type",
                           f"{where} must be {_describe_types(error.validator_value)}, not {_type_of(instance)}",
                           yaml_hint)]
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


# ---- building the schemas from the code --------------------------------------------------------------------------

_NAME = "^[a-z_][a-z0-9_]*$"
_IDENT = "^[a-z0-9]+(-[a-z0-9]+)*$"


def _one_or_many(item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description,
            "anyOf": [item, {"type": "array", "items": item, "minItems": 1, "uniqueItems": True}]}


def _rules_schema(effects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from policy.model import EVENTS
    from policy.vocabulary import HOSTS, NEUTRAL_EVENTS, TOOL_KINDS

    argless = sorted(kind for kind, spec in effects.items() if "null" in spec.get("type", ()))
    template = {"type": "string", "description": "A template: literal text with `{{ expression }}` parts."}
    expression = {"type": "string", "description": "An expression (docs/expressions.md)."}
    event_name = {"enum": [*EVENTS, *NEUTRAL_EVENTS]}
    rule = {
        "type": "object", "required": ["id", "events"], "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": _IDENT,
                   "description": "Unique in the pack: lower-case letters, digits and dashes."},
            "description": {"type": "string", "description": "What the rule is for."},
            "events": _one_or_many(event_name, "The events the rule applies to (required: a rule never applies "
                                               "to every event by accident), by Claude Code's name or the "
                                               "neutral one (" + ", ".join(NEUTRAL_EVENTS) + ")."),
            "tools": _one_or_many({"type": "string", "minLength": 1},
                                  "Tool events only: an anchored regex on the tool name (a list is joined with |); "
                                  "a tool kind (" + ", ".join(TOOL_KINDS) + ") stands for its tools."),
            "agents": _one_or_many({"enum": list(HOSTS)}, "The hosts the rule is for (default: every host)."),
            "match": {"type": "object", "minProperties": 1,
                      "description": "JMESPath selector on the event -> a regex (searched), or {glob: ...} / "
                                     "{equals: ...}. All must hold.",
                      "additionalProperties": {"anyOf": [
                          {"type": "string"},
                          {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                           "properties": {"regex": {"type": "string"}, "glob": {"type": "string"}, "equals": {}}}]}},
            "when": {"type": ["string", "boolean"], "description": "An expression that must be true."},
            "decision": {"enum": ["deny", "defer", "ask", "allow"],
                         "description": "The verdict when the rule matches; omit for rules that only add context, "
                                        "delay or effects."},
            "reason": {**template, "description": "Why (shown to the agent or the user, as the host does)."},
            "context": {**template, "description": "Text injected into the agent's context where the host allows."},
            "message": {**template, "description": "A message shown to the user."},
            "delay": {"description": "Seconds to wait before answering: a number or an expression.",
                      "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
            "do": {"type": "array", "items": {"$ref": "#/$defs/effect"},
                   "description": "Effects, run after the final decision."},
            "enabled": {"type": "boolean", "description": "Default true."},
            "final": {"type": "boolean", "description": "When this rule matches, skip the later rules of this pack."},
            "block_cap": {"description": "Stop/SubagentStop rules that keep the agent working (a deny or a "
                                         "context): how many times in a row this rule may do so (default 1: "
                                         "never again while stop_hook_active). An integer, or an expression over "
                                         "params (e.g. params.max_blocks), fixed when the rules are compiled.",
                          "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]},
            "block_time_cap": {"description": "Next to block_cap: the seconds this rule may keep a stopping agent "
                                              "working, counted from the first stop of the current run that was "
                                              "kept going; then it lets the agent stop. A number, or an expression "
                                              "over params (null: no time cap), fixed when the rules are compiled.",
                               "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"},
                                         {"type": "null"}]},
            "update_input": {"type": "object", "minProperties": 1,
                             "description": "Tool events, with decision allow or ask: fields of the tool input to "
                                            "replace before the tool runs (strings are templates; a one-expression "
                                            "template keeps its value's type; null removes the field). The other "
                                            "fields are kept."},
            "update_output": {"description": "PostToolUse: what the agent sees instead of the tool's output: a "
                                             "mapping of fields to replace in it (as update_input), or a template "
                                             "for the whole output.",
                              "anyOf": [{"type": "object", "minProperties": 1}, {"type": "string", "minLength": 1}]},
            "stop": {**template, "minLength": 1,
                     "description": "Stop the agent outright (it ends its work; the text is shown to the user). "
                                    "Stronger than any decision."},
        },
    }
    effect = {
        "description": "An effect: a mapping with one effect kind (and an optional `if:` expression), or the bare "
                       "name of an effect that takes no arguments.",
        "anyOf": [
            {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": False,
             "properties": {**{kind: {"$ref": f"#/$defs/effects/{kind}"} for kind in effects}, "if": expression},
             "oneOf": [{"required": [kind]} for kind in effects]},
        ] + ([{"enum": argless}] if argless else []),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:policy:schema:rules:1",
        "title": "policy rule file, format version 1",
        "description": "A pack of rules for `policy eval`. Reference: docs/rules.md.",
        "type": "object",
        "required": ["version", "pack", "rules"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "The rule-file format version."},
            "pack": {"type": "string", "pattern": _IDENT, "description": "The pack's name, unique among loaded files."},
            "revision": {"type": "string", "description": "The author's revision label, recorded with every decision."},
            "description": {"type": "string", "description": "What the pack is for."},
            "params": {"type": "object", "propertyNames": {"pattern": _NAME},
                       "description": "Parameters and their defaults; configs override them."},
            "facts": {"type": "object", "propertyNames": {"pattern": _NAME},
                      "additionalProperties": {"$ref": "#/$defs/sql_fact"},
                      "description": "Named read-only SQL facts, available as facts.<name>."},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}, "description": "The rules, in order."},
        },
        "$defs": {
            "rule": rule,
            "effect": effect,
            "effects": effects,
            "sql_fact": {
                "type": "object", "required": ["sql"], "additionalProperties": False,
                "not": {"required": ["value", "one"],
                        "properties": {"value": {"const": True}, "one": {"const": True}}},
                "properties": {
                    "sql": {"type": "string", "description": "One SELECT statement; binds :session_id, :now, "
                                                             ":tool, :cwd, :event and the pack's params by name."},
                    "value": {"type": "boolean", "description": "The fact is the first column of the first row "
                                                                "(None when there is no row)."},
                    "one": {"type": "boolean", "description": "The fact is the first row, as a mapping (None when "
                                                              "there is no row)."},
                    "description": {"type": "string", "description": "What the fact means."}}},
        },
    }


def _tests_schema() -> dict[str, Any]:
    from policy.model import EVENTS
    from policy.vocabulary import HOSTS, NEUTRAL_EVENTS

    hosts = _one_or_many({"enum": list(HOSTS)}, "The hosts to run on (`policy test --agent NAME`); on others it "
                                                "is skipped. Default: every host. `output` and `exit_code` are the "
                                                "first one's wire format (claude-code when none is named), checked "
                                                "on that host only.")
    text = {"description": "Text: a string (must be equal), null (must be absent), or one of equals / contains / "
                           "regex / not_contains.",
            "anyOf": [{"type": ["string", "null"]},
                      {"type": "object", "additionalProperties": False, "minProperties": 1,
                       "properties": {"equals": {"type": "string"}, "contains": {"type": "string"},
                                      "regex": {"type": "string"}, "not_contains": {"type": "string"}}}]}
    fact_check = {
        "type": "object", "required": ["table"], "additionalProperties": False,
        "properties": {"table": {"type": "string", "description": "A built-in table or one the packs record into."},
                       "where": {"type": "object", "description": "Column -> value (times and booleans as in "
                                                                  "`given`)."},
                       "count": {"type": "integer", "minimum": 0, "description": "How many rows match."},
                       "rows": {"type": "array", "items": {"type": "object"},
                                "description": "The matching rows, in insertion order, compared on the columns "
                                               "given."}},
        "anyOf": [{"required": ["count"]}, {"required": ["rows"]}]}
    expect = {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {
            "verdict": {"enum": ["deny", "defer", "ask", "allow", "none"]},
            "reason": text, "context": text, "message": text,
            "rules": {"type": "array", "items": {"type": "string"},
                      "description": "The ids of the rules that matched (bare or pack/id), in any order."},
            "delay": {"description": "Seconds: a number (exact) or {min, max}.",
                      "anyOf": [{"type": "number"},
                                {"type": "object", "additionalProperties": False, "minProperties": 1,
                                 "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}]},
            "output": {"type": ["object", "null"],
                       "description": "The exact JSON the host receives on stdout (null: no output)."},
            "exit_code": {"type": "integer"},
            "effects": {"type": "array", "items": {"type": "string"},
                        "description": "The kinds of the effects applied, in order."},
            "facts": {"type": "array", "items": {"$ref": "#/$defs/fact_check"}},
        }}
    step = {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {
            "name": {"type": "string"},
            "event": {"type": "object", "required": ["hook_event_name"],
                      "description": "A hook payload; fields the host always sends may be left out "
                                     "(docs/testing.md lists the defaults).",
                      "properties": {"hook_event_name": {"enum": [*EVENTS, *NEUTRAL_EVENTS]}}},
            "expect": expect,
            "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Environment variables for this step (e.g. POLICY_PACING: 'off')."},
            "advance": {"description": "Move the clock: seconds, or 30s / 5m / 1h / 1h30m.",
                        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
            "do": {"type": "object", "minProperties": 1, "maxProperties": 1,
                   "description": "An action: an effect applied as a rule would (docs/effects.md), e.g. "
                                  "{session_start: {...}}."},
            "transcript": {"type": "array", "items": {"type": ["object", "string"]}, "minItems": 1,
                           "description": "Lines to append to the session's transcript, which the events' "
                                          "transcript_path points to: Claude Code's JSONL entries (a string is "
                                          "written as it is). docs/testing.md#transcripts."},
            "session": {"type": "string",
                        "description": "The agent session the action or transcript is for (default: the test's "
                                       "session)."},
        },
        "oneOf": [{"required": ["event"]}, {"required": ["advance"]}, {"required": ["do"]},
                  {"required": ["transcript"]}]}
    test = {
        "type": "object", "required": ["name", "steps"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "description": "What the scenario shows."},
            "now": {"type": "string", "description": "The fake clock's start, ISO 8601 with an offset (the offset "
                                                     "is the local time zone)."},
            "params": {"type": "object", "description": "Param overrides for this test."},
            "given": {"type": "object",
                      "description": "Rows per table before the first step; `kv` may be a mapping of key -> value.",
                      "additionalProperties": {"anyOf": [{"type": "array", "items": {"type": "object"}},
                                                         {"type": "object"}]}},
            "steps": {"type": "array", "items": step, "minItems": 1, "description": "What happens, in order."},
            "expect_facts": {"type": "array", "items": fact_check,
                             "description": "Checks of the store after the last step."},
            "skip": {"type": ["boolean", "string"], "description": "Skip this test (a string says why)."},
            "git": {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                    "description": "Run the events in a git checkout (their default cwd) on this branch, or at this "
                                   "detached commit: {branch: NAME} or {head: SHA} (for facts.git).",
                    "properties": {"branch": {"type": "string", "minLength": 1},
                                   "head": {"type": "string", "pattern": "^[0-9a-f]{7,64}$"}}},
            "agents": hosts,
        }}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:policy:schema:tests:1",
        "title": "policy test file, format version 1",
        "description": "Stateful scenario tests for rules, run by `policy test`. Reference: docs/testing.md.",
        "type": "object", "required": ["version", "tests"], "additionalProperties": False,
        "properties": {
            "version": {"const": 1},
            "agents": hosts,
            "pack": {"type": "string", "description": "The pack under test: <pack>.yaml next to this file, else "
                                                      "the shipped pack of that name."},
            "packs": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                      "description": "Several packs under test, each found as `pack:` is."},
            "rules": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                      "description": "Rule files or directories, relative to this file."},
            "params": {"type": "object", "description": "Param overrides: {param: value} with `pack:`, "
                                                        "{pack: {param: value}} otherwise."},
            "settings": {"type": "object", "additionalProperties": False,
                         "description": "Engine settings as in the config file.",
                         "properties": {"fail": {"description": "As `fail` in the config."},
                                        "max_delay": {"type": "number", "minimum": 0,
                                                      "description": "As `max_delay` in the config."},
                                        "defer_as": {"enum": ["ask", "defer", "deny"]},
                                        "ask_in_bypass": {"enum": ["ask", "deny"]}}},
            "now": {"type": "string", "description": "The default start of the fake clock for every test."},
            "session": {"type": "string", "description": "The default agent session id of events and actions "
                                                         "(default test-session)."},
            "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}, "minItems": 1,
                      "description": "The scenarios."},
        },
        "oneOf": [{"required": ["pack"]}, {"required": ["packs"]}, {"required": ["rules"]}],
        "$defs": {"test": test, "fact_check": fact_check},
    }


def _config_schema() -> dict[str, Any]:
    from policy.model import EVENTS
    from policy.vocabulary import HOSTS, NEUTRAL_EVENTS
    from policy.sources import KINDS as SOURCE_KINDS

    pack_entry = {
        "description": "A shipped pack's name (focus, presence, pacing, activity) or a path to a rule file (relative "
                       "to this config file), or a mapping with one of them.",
        "type": ["string", "object"],
        # if/then/else rather than anyOf, so that a mistake inside the mapping is reported as such
        "if": {"type": "object"},
        "then": {
            "additionalProperties": False, "minProperties": 1,
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "A shipped pack's name."},
                "path": {"type": "string", "minLength": 1,
                         "description": "A rule file (relative to this config file)."},
                "params": {"type": "object", "description": "Overrides of the pack's params."},
                "enabled": {"type": "boolean", "description": "false switches the pack off (a project config "
                                                              "cannot switch off a user-level pack unless the "
                                                              "project is trusted)."}},
            "oneOf": [{"required": ["name"]}, {"required": ["path"]}]},
        "else": {"minLength": 1}}
    source = {
        "type": "object", "required": ["kind", "feeds"], "additionalProperties": False,
        "properties": {
            "kind": {"enum": list(SOURCE_KINDS)},
            "feeds": {"type": "string", "pattern": "^(usage|kv:[A-Za-z0-9_][A-Za-z0-9_.-]*)$",
                      "description": "Where the value goes: `usage` (usage samples, read as facts.usage), or "
                                     "`kv:<prefix>` (each key of the value as kv `<prefix>.<key>`, read as "
                                     "facts.kv['<prefix>.<key>'], plus `<prefix>.stale`)."},
            "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                     "description": "command: the program and its arguments (no shell)."},
            "url": {"type": "string", "description": "http: the URL to GET."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "http: request headers; `{file:PATH}` inside a value is replaced by the "
                                       "file's contents (e.g. a bearer token)."},
            "path": {"type": "string", "description": "file: a JSON, YAML or Markdown checklist file (relative "
                                                      "to this config file)."},
            "format": {"enum": ["json", "yaml", "checklist", "claude-usage"],
                       "description": "How to read the value (default json; a file's by its extension: .md "
                                      "checklist, .yaml yaml; claude-usage: JSON of the shape {five_hour: "
                                      "{utilization, resets_at}, seven_day: {...}})."},
            "ttl": {"type": "number", "minimum": 0, "description": "Seconds a fetched value is fresh (default 60)."},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds to wait at most "
                                                                                  "(default 2)."},
            "breaker_failures": {"type": "integer", "minimum": 1,
                                 "description": "Failures in a row that open the circuit breaker (default 3)."},
            "breaker_cooldown": {"type": "number", "minimum": 0,
                                 "description": "Seconds the breaker stays open the first time (default 300); "
                                                "doubled each time it opens again, with jitter."},
            "breaker_max_cooldown": {"type": "number", "minimum": 0,
                                     "description": "The longest the breaker stays open (default 3600)."},
            "max_stale": {"type": "number", "minimum": 0,
                          "description": "Seconds past `ttl` the last good value is kept while the source fails; "
                                         "then it is absent (kv keys expire, usage is not available) and rules "
                                         "that need it fail closed. Default: kept until the next good value."}},
        "allOf": [{"if": {"properties": {"kind": {"const": kind}}}, "then": {"required": [option]}}
                  for kind, option in (("command", "argv"), ("http", "url"), ("file", "path"))]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:policy:schema:config:1",
        "title": "policy configuration (policy.yaml, .policy/config.yaml, ~/.config/policy/config.yaml)",
        "description": "Which packs run and how. Nothing is required; see docs/config.md.",
        "type": "object", "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "The config format version (default 1)."},
            "packs": {"type": "array", "items": pack_entry, "description": "Packs to load, in order."},
            "rules": {"type": "array", "items": {"type": "string", "minLength": 1},
                      "description": "More rule files or directories (relative to this config file)."},
            "db": {"type": "string", "minLength": 1,
                   "description": "The fact store path, relative to this config file (default $POLICY_DB, else "
                                  "$XDG_STATE_HOME/policy/facts.db)."},
            "fail": {"description": "What happens when no decision can be made: closed (block) or open (let the "
                                    "host decide), for all events or per event (`*` for the rest). Default: closed "
                                    "for PreToolUse, PermissionRequest and UserPromptSubmit, open for the others.",
                     # if/then/else rather than anyOf, so that a misspelt event is reported as such
                     "if": {"not": {"type": "object"}}, "then": {"enum": ["open", "closed"]},
                     "else": {"minProperties": 1, "propertyNames": {"enum": ["*", *EVENTS, *NEUTRAL_EVENTS]},
                              "additionalProperties": {"enum": ["open", "closed"]}}},
            "max_delay": {"type": "number", "minimum": 0,
                          "description": "The longest delay any rule may cause, in seconds (default 60)."},
            "defer_as": {"enum": ["ask", "defer", "deny"],
                         "description": "How `defer` is rendered on PreToolUse (default ask; `defer` needs "
                                        "claude -p)."},
            "ask_in_bypass": {"enum": ["ask", "deny"],
                              "description": "How ask/defer render in bypassPermissions mode: ask (default: Claude "
                                             "Code still shows a hook's ask there) or deny. In dontAsk mode nobody "
                                             "is asked: they always render as deny."},
            "log": {"type": "object", "additionalProperties": False,
                    "description": "The decision log: how long rows are kept, and whether payloads are.",
                    "properties": {
                "retention_days": {"type": "number", "minimum": 0,
                                   "description": "Days decisions are kept (default 30; 0 keeps them forever)."},
                "keep_payload": {"enum": ["redacted", "full", "none", True, False],
                                 "description": "Keep each event's payload with its decision, for `policy replay`: "
                                                "redacted (default: secrets replaced by [REDACTED]), full, or "
                                                "none (true is full, false none)."}}},
            "sources": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9_-]*$"},
                        "additionalProperties": source,
                        "description": "Fact sources by name: where facts are refreshed from (a command, an HTTP "
                                       "GET, a file), with a timeout, a cache and a circuit breaker. "
                                       "docs/sources.md."},
            "trusted_projects": {"type": "array", "items": {"type": "string", "minLength": 1},
                                 "description": "User config only: project directories (absolute or ~/..., a "
                                                "trailing /* for every project below) whose configs may change "
                                                "user-level packs and settings, define sources and run commands."},
            "project_kv": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"},
                           "description": "User config only: the kv namespaces an untrusted project's files may "
                                          "write (its sources' `feeds: kv:...` and its rules' `set`), default "
                                          "[tasks]; a namespace a user-level source feeds is never granted."},
            "agents": {"type": "array", "items": {"enum": list(HOSTS)}, "minItems": 1, "uniqueItems": True,
                       "description": "The hosts you run policy under (default: all of " + ", ".join(HOSTS) + "): "
                                      "`policy validate` reports rules that can fire on none of them, and checks "
                                      "tool names and selectors against each."},
            "store": {"type": "object", "additionalProperties": False, "required": ["shared"],
                      "description": "User config only: the team's shared board (claims, heartbeats, agent "
                                     "sessions) on a PostgreSQL server; everything else stays in the local store. "
                                     "docs/team.md.",
                      "properties": {
                "shared": {"type": "string", "minLength": 1,
                           "description": "The server: a postgresql:// URI or a libpq key=value string (e.g. "
                                          "`service=team`), without a password (PGPASSWORD, ~/.pgpass or the "
                                          "service file give it)."},
                "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 30,
                            "description": "Seconds one use of the server may take (default 2; connecting waits "
                                           "at least 2, libpq's minimum)."},
                "on_outage": {"enum": ["ask", "fail"],
                              "description": "What a claim answers when the server does not answer in time: ask "
                                             "(default; the reason names the outage) or fail (the event's fail "
                                             "mode)."}}},
            "max_event_bytes": {"type": "integer", "minimum": 1024, "maximum": 64 * 1024 * 1024,
                                "description": "The largest hook payload accepted (default 8 MiB, at most 64 MiB)."},
        },
    }


def build_schema(kind: str, effects: dict[str, dict[str, Any]] | None = None) -> str:
    """The schema of `kind` as built from the code, in its shipped JSON form. The rule-file schema needs every
    effect's argument schema (`policy.effects.effect_schemas()`, passed in: effects are a layer above this one)."""
    import json

    if kind == "rules":
        if effects is None:
            raise ValueError("the rule-file schema is built from the effects' argument schemas: pass them")
        built = _rules_schema(effects)
    else:
        built = {"tests": _tests_schema, "config": _config_schema}[kind]()
    return json.dumps(built, indent=2) + "\n"


def error_paths(diagnostics: list[Diagnostic]) -> set[str]:
    """The rendered document paths that have schema errors (later stages skip them to avoid cascades)."""
    return {diagnostic.location.path for diagnostic in diagnostics}
