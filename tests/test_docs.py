"""The reference docs are generated from the code and must be current; nothing may be left undocumented."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_generated_blocks_are_current():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"run `python scripts/gen_docs.py`:\n{done.stdout}{done.stderr}"


def test_every_function_is_documented():
    from policy.conditions import FUNCTIONS, SCOPE_DOCS, EFFECT_SCOPE_NAMES

    assert [name for name, function in FUNCTIONS.items() if len(function.doc) < 10] == []
    assert set(SCOPE_DOCS) == set(EFFECT_SCOPE_NAMES)


def test_every_effect_and_argument_is_documented():
    from policy.effects import effect_schemas

    for kind, schema in effect_schemas().items():
        assert schema.get("description"), kind
        for name, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{kind}.{name}"


def test_every_table_and_family_field_is_documented():
    from policy.facts import family_class, family_names
    from policy.migrations import TABLE_DOCS, table_columns

    assert set(TABLE_DOCS) == set(table_columns())
    for name in family_names():
        family = family_class(name)
        assert family.__doc__, name
        assert isinstance(family.fields, dict), f"facts.{name}.fields must map each field to its meaning"
        assert [field for field, doc in family.fields.items() if not doc] == [], name


def test_every_command_has_help_with_an_example():
    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_docs

    for path, command in gen_docs._walk(gen_docs._click_command(), ["policy"])[1:]:
        if hasattr(command, "list_commands"):
            assert command.help, " ".join(path)
            continue
        assert "Example: policy" in (command.help or ""), " ".join(path)


def test_schema_descriptions_cover_every_key():
    import json

    from policy.effects import effect_schemas
    from policy.schema import build_schema

    def walk(schema, where):
        for name, spec in schema.get("properties", {}).items():
            if name not in ("version",):
                assert spec.get("description") or spec.get("$ref") or "enum" in spec, f"{where}.{name}"
            walk(spec, f"{where}.{name}")
        for name, spec in schema.get("$defs", {}).items():
            walk(spec, f"{where}#{name}")

    for kind in ("rules", "config"):
        walk(json.loads(build_schema(kind, effect_schemas())), kind)


def test_index_links_resolve():
    index = (ROOT / "docs" / "index.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", index):
        assert (ROOT / "docs" / target).exists(), target


def error_codes_in_the_code() -> dict[str, str]:
    """Every code a Diagnostic or a PolicyError can carry, read from the source: the second argument of
    `Diagnostic(...)`, the first of a checker's `error(...)`, any `code=` argument, and class-level `code = "..."`."""
    import ast

    found: dict[str, str] = {}
    for path in sorted((ROOT / "policy").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "Diagnostic" and len(node.args) >= 2:
                    candidates.append(node.args[1])
                elif name == "error" and node.args:
                    candidates.append(node.args[0])
                candidates += [keyword.value for keyword in node.keywords if keyword.arg == "code"]
            elif isinstance(node, ast.ClassDef):
                candidates += [statement.value for statement in node.body if isinstance(statement, ast.Assign)
                               and [getattr(target, "id", None) for target in statement.targets] == ["code"]]
            for candidate in candidates:
                if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                    found.setdefault(candidate.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_error_code_is_documented():
    in_code = error_codes_in_the_code()
    assert len(in_code) > 60  # the scan sees the codes (or it proves nothing)
    documented = set()
    for line in (ROOT / "docs" / "errors.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| code"):
            documented |= set(re.findall(r"`([a-z][a-z0-9-]*)`", line.split(" | ")[0]))
    assert {code: where for code, where in in_code.items() if code not in documented} == {}
    assert documented - set(in_code) == set()  # and nothing is documented that no longer exists
