"""The published JSON Schemas, `policy schema`, and `policy validate` (text, JSON, exit codes)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, write

from policy import schema
from policy.commands.validate import validate
from policy.effects import effect_modules, effect_schemas

PUBLISHED = ROOT / "schemas"
SHIPPED = ROOT / "policy" / "schemas"


def test_published_schemas_are_the_shipped_ones_byte_for_byte():
    published = sorted(path.name for path in PUBLISHED.glob("*.json"))
    assert published == sorted(path.name for path in SHIPPED.glob("*.json"))
    assert published == sorted(schema.SCHEMA_FILES.values())
    for name in published:
        assert (PUBLISHED / name).read_bytes() == (SHIPPED / name).read_bytes(), name


@pytest.mark.parametrize("kind", sorted(schema.SCHEMA_FILES))
def test_shipped_schemas_are_what_the_code_builds(kind):
    expected = schema.build_schema(kind, effect_schemas())
    assert (SHIPPED / schema.SCHEMA_FILES[kind]).read_text(encoding="utf-8") == expected, \
        "run `python scripts/gen_schemas.py`"


@pytest.mark.parametrize("kind", sorted(schema.SCHEMA_FILES))
def test_shipped_schemas_are_valid_json_schemas(kind):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema.load_schema(kind))
    assert schema.schema_text(kind) == (SHIPPED / schema.SCHEMA_FILES[kind]).read_text(encoding="utf-8")


def test_effect_kinds_in_the_schema_are_the_implemented_ones():
    rules = schema.load_schema("rules")
    effect = rules["$defs"]["effect"]
    in_mapping = {name for branch in effect["anyOf"] for name in branch.get("properties", {})} - {"if"}
    bare = {name for branch in effect["anyOf"] for name in branch.get("enum", ())}
    one_of = {required for branch in effect["anyOf"] for alternative in branch.get("oneOf", ())
              for required in alternative["required"]}
    implemented = set(effect_modules())
    assert in_mapping == one_of == set(rules["$defs"]["effects"]) == implemented
    assert bare <= implemented


def test_event_names_in_the_schema_are_the_models():
    from policy.model import EVENTS
    from policy.vocabulary import NEUTRAL_EVENTS

    events = schema.load_schema("rules")["$defs"]["rule"]["properties"]["events"]["anyOf"]
    assert events[0]["enum"] == [*EVENTS, *NEUTRAL_EVENTS] == events[1]["items"]["enum"]
    assert set(NEUTRAL_EVENTS.values()) <= set(EVENTS)


# ---- policy schema ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rules", "config"])
def test_policy_schema_prints_the_shipped_schema(env, kind):
    result = env.run("schema", kind)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == (SHIPPED / f"{kind}.schema.json").read_bytes()


def test_policy_schema_defaults_to_rules_and_refuses_unknown_kinds(env):
    assert env.run("schema").stdout == (SHIPPED / "rules.schema.json").read_bytes()
    assert env.run("schema", "tests").stdout == (SHIPPED / "tests.schema.json").read_bytes()
    result = env.run("schema", "test")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, b"", b"policy: usage: no schema named 'test' (choose rules or tests or config)\n")


# ---- policy validate --------------------------------------------------------------------------------------------------

GOOD = "version: 1\npack: good\nrules:\n  - id: a\n    events: Stop\n    decision: deny\n"
BAD = "version: 1\npack: bad\nrules:\n  - id: a\n    events: Stp\n    when: toool\n  - id: b\n    events: Stop\n" \
      "    block_cap: 2\n"


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "rules" / "good.yaml", GOOD)
    write(tmp_path / "rules" / "bad.yaml", BAD)
    write(tmp_path / "policy.yaml", "version: 1\nfial: open\n")
    write(tmp_path / "rules" / "good.test.yaml", "version: 1\n")
    return tmp_path


def test_validate_valid_files(files, capsys):
    assert validate(["rules/good.yaml"]) == 0
    assert capsys.readouterr().out == "ok: 1 file valid\n"


def test_validate_text(files, capsys):
    assert validate(["rules", "policy.yaml", "missing.yaml"]) == 1
    assert capsys.readouterr().out == (
        "missing.yaml: not-found: no such file\n"
        "    hint: check the path\n"
        "policy.yaml:2:1: unknown-key: unknown key 'fial' in the top level\n"
        "    hint: did you mean 'fail'?\n"
        "rules/bad.yaml:5:13: bad-value: 'Stp' is not a valid value for rules[0].events\n"
        "    hint: did you mean 'Stop'?\n"
        "rules/bad.yaml:6:11: unknown-name: unknown name 'toool'\n"
        "    hint: did you mean 'tool'?\n"
        "rules/bad.yaml:9:5: warning: useless-block-cap: block_cap only applies to Stop or SubagentStop rules that "
        "keep the agent working (a deny or a context)\n"
        "    hint: remove it\n"
        "rules/good.test.yaml:1:1: missing-key: the top level needs the key 'tests'\n"
        "    hint: add `tests:`\n"
        "rules/good.test.yaml:1:1: missing-key: the top level needs the key 'pack'\n"
        "    hint: add `pack:`\n"
        "6 errors, 1 warning in 5 files\n")


def test_validate_json(files, capsys):
    assert validate(["rules/bad.yaml"], output_format="json") == 1
    assert json.loads(capsys.readouterr().out) == {
        "files": ["rules/bad.yaml"], "errors": 2, "warnings": 1, "diagnostics": [
            {"file": "rules/bad.yaml", "line": 5, "col": 13, "path": "rules[0].events", "code": "bad-value",
             "severity": "error", "message": "'Stp' is not a valid value for rules[0].events",
             "hint": "did you mean 'Stop'?"},
            {"file": "rules/bad.yaml", "line": 6, "col": 11, "path": "rules[0].when", "code": "unknown-name",
             "severity": "error", "message": "unknown name 'toool'", "hint": "did you mean 'tool'?"},
            {"file": "rules/bad.yaml", "line": 9, "col": 5, "path": "rules[1].block_cap", "code": "useless-block-cap",
             "severity": "warning", "message": "block_cap only applies to Stop or SubagentStop rules that keep the agent "
                                               "working (a deny or a context)",
             "hint": "remove it"}]}


def test_validate_warnings_alone_pass(files, capsys):
    write(files / "warn.yaml", "version: 1\npack: w\nrules:\n  - id: a\n    events: Stop\n    block_cap: 2\n")
    assert validate(["warn.yaml"]) == 0
    assert capsys.readouterr().out.endswith("0 errors, 1 warning in 1 file\n")


def test_validate_the_effective_configuration(files, capsys, isolated_environ):
    write(files / "policy.yaml", "version: 1\nrules: [rules/good.yaml]\n")
    # the test file next to the pack is checked too
    assert validate([], cwd=str(files), environ=isolated_environ) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "rules/good.test.yaml:1:1: missing-key: the top level needs the key 'tests'")
    write(files / "rules" / "good.test.yaml", "version: 1\npack: good\ntests:\n  - name: t\n    steps:\n"
                                              "      - {event: {hook_event_name: Stop}, expect: {verdict: deny}}\n")
    assert validate([], cwd=str(files), environ=isolated_environ) == 0
    assert capsys.readouterr().out == "ok: 3 files valid\n"
    write(files / "policy.yaml", "version: 1\nrules: [rules/bad.yaml]\n")
    assert validate([], cwd=str(files), environ=isolated_environ) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "rules/bad.yaml:5:13: bad-value: 'Stp' is not a valid value for rules[0].events")


def test_policy_validate_command(env):
    write(env.root / "good.yaml", GOOD)
    write(env.root / "bad.yaml", BAD)
    result = env.run("validate", "good.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"ok: 1 file valid\n", b"")
    result = env.run("validate", "--format", "json", "bad.yaml", "good.yaml")
    assert (result.returncode, json.loads(result.stdout)["errors"], result.stderr) == (1, 2, b"")
    result = env.run("validate", "--format", "xml", "good.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, b"", b"policy: usage: --format must be text or json, not 'xml'\n")
