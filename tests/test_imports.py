"""What `policy eval` imports (SPEC §9: the hook's cost is mostly its imports), and the import layering of
STYLE.md: every module imports only from its own layer or the layers below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT, event_bytes, traced_hook, write

HEAVY = {"typer", "click", "rich", "yaml", "jsonschema", "sqlite_utils", "simpleeval", "jmespath", "re", "json",
         "dataclasses", "typing", "enum", "sqlite3", "hashlib", "argparse", "inspect", "psycopg", "threading",
         "socket", "policy.boards.postgres"}

RULES = """
version: 1
pack: guard
params:
  limit: 3
facts:
  denials:
    sql: select count(*) from decisions where agent_session = :session_id and verdict = 'deny'
    value: true
rules:
  - id: no-terraform
    events: PreToolUse
    tools: [Bash, 'mcp__.*']
    match:
      tool_input.command: '^terraform (apply|destroy)'
      cwd: {glob: '**/billing'}
      tool_input.timeout: {equals: 120000}
    when: "facts.denials < params.limit and matches('apply', input.command) and jp('tool_input.timeout', event) > 1"
    decision: deny
    reason: "No {{ input.command }} at {{ now.hour }}h, {{ mmss(90) }}."
    do:
      - record: {table: audit, values: {command: "{{ input.command }}", verdict: "{{ verdict }}"}}
      - set: {key: last, value: "{{ tool }}", ttl: 60}
  - id: prompt-context
    events: [UserPromptSubmit, SessionStart]
    when: facts.kv.get('mode') != 'quiet'
    context: "Branch main."
  - id: stop-gate
    events: Stop
    decision: deny
    reason: Run the tests.
"""


def modules_of_a_warm_run(env, payload, entry="hook"):
    for _ in range(2):  # the first run compiles and writes the cache, and creates the audit table
        result, modules = traced_hook(env, "eval" if entry == "main" else "--rules", *(
            ("--rules", "rules.yaml") if entry == "main" else ("rules.yaml",)), stdin=event_bytes(payload),
            entry=entry)
        assert result.returncode == 0 and result.stderr == b"", result.stderr
    return result, modules


@pytest.mark.parametrize("payload", ["PreToolUse-Bash", "PreToolUse-Bash-ls", "UserPromptSubmit", "SessionStart",
                                     "Stop", "Stop-active", "Notification-idle"])
def test_warm_hook_imports_nothing_heavy(env, payload):
    write(env.root / "rules.yaml", RULES)
    result, modules = modules_of_a_warm_run(env, payload)
    assert HEAVY & modules == set()
    assert not any(name.startswith(("policy.compiler", "policy.loader", "policy.schema", "policy.cli",
                                    "policy.commands")) for name in modules)


def test_warm_policy_eval_imports_nothing_heavy(env):
    write(env.root / "rules.yaml", RULES)
    result, modules = modules_of_a_warm_run(env, "PreToolUse-Bash", entry="main")
    assert result.stdout.startswith(b'{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny"')
    # (the console-script wrapper pip generates imports `re` before policy runs; policy-hook exists to avoid it)
    assert HEAVY & modules == set()


@pytest.mark.parametrize("host, payload", [("claude-code", None), ("codex", "PreToolUse-Bash")])
def test_a_hook_imports_only_its_own_hosts_adapter(env, host, payload):
    from policy.adapters import ADAPTERS

    write(env.root / "rules.yaml", RULES)
    stdin = event_bytes("PreToolUse-Bash") if payload is None else (
        ROOT / "examples" / "events" / host / f"{payload}.json").read_bytes()
    for _ in range(2):  # warm: the second run reads the compiled rules from the cache
        result, modules = traced_hook(env, "--agent", host, "--rules", "rules.yaml", stdin=stdin)
        assert result.returncode == 0 and result.stderr == b"", result.stderr
    # (common is every adapter's; claude_settings holds the hook-timeout bounds every host's deadline uses)
    adapters = {name for name in modules if name.startswith("policy.adapters.")} - {
        "policy.adapters.common", "policy.adapters.claude_settings"}
    assert adapters == {ADAPTERS[host]}
    assert HEAVY & modules == set()


def test_a_cold_hook_without_a_shared_store_never_imports_psycopg(env):
    # the presence pack reads and writes claims on this event: the local board, not the PostgreSQL one
    result, modules = traced_hook(env, "--rules", str(ROOT / "rules"), stdin=event_bytes("PreToolUse-Bash"))
    assert result.returncode == 0, result.stderr
    assert "policy.boards.local" in modules
    assert {"psycopg", "policy.boards.postgres"} & modules == set()


def test_the_trace_sees_heavy_imports_when_there_are_some(env):
    # the cold run compiles: the check above would notice these
    write(env.root / "rules.yaml", RULES)
    result, modules = traced_hook(env, "--rules", "rules.yaml", stdin=event_bytes("Stop"))
    assert result.returncode == 0
    assert {"yaml", "jsonschema", "simpleeval", "re", "json"} <= modules


# ---- layering -----------------------------------------------------------------------------------------------------------

LAYERS = [
    ("__main__",),
    ("cli", "commands", "pytest_plugin"),
    ("adapters", "tester", "report", "hook", "server"),
    ("engine", "effects", "compiler", "cache", "config", "layering"),
    ("conditions", "expressions", "loader", "schema", "facts", "boards", "store", "migrations", "sources", "labels"),
    ("model", "errors", "lean", "times", "vocabulary", "client", "redact", ""),  # "" is the package itself (policy/__init__.py: __version__)
]
LAYER = {name: len(LAYERS) - index for index, names in enumerate(LAYERS) for name in names}
# Imported by the code but not written yet: `policy validate` of a *.test.yaml file and a config with `sources:`
# reach them. Remove a name once its module exists (the test below fails until then).
NOT_YET_WRITTEN: set[str] = set()

PACKAGE = ROOT / "policy"
# The hook client (policy/client.py) is a script of the lowest layer: it imports no policy module, and the server
# shares its definitions (the socket's name, the framing). When no server answers, it enters the package from the
# top, as `python -m policy` does through __main__: that one import, inside its fall-back function, goes up.
ENTRY_IMPORTS = {("policy.client", "policy.server")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def component(module: str) -> str:
    """policy.facts.kv -> facts; policy -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                skipped |= {id(inner) for inner in ast.walk(child)}
    return skipped


def policy_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every run-time import of a policy module in `path` (module level or in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "policy"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "policy":
                continue
            for alias in node.names:  # `from policy import lean` imports the module policy.lean
                submodule = f"{target}.{alias.name}"
                is_module = (ROOT / Path(*submodule.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*submodule.split(".")) / "__init__.py").exists()
                found.append((node.lineno, submodule if is_module else target))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            pass  # registries (adapters, effects, families) import by name: checked below
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert {component(module_name(path)) for path in SOURCES} <= set(LAYER)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: module_name(path))
def test_imports_go_down_only(path):
    here = module_name(path)
    upward = [f"{here}:{line} imports {target} ({component(target) or 'policy'} is above "
              f"{component(here) or 'policy'})"
              for line, target in policy_imports(path)
              if LAYER[component(target)] > LAYER[component(here)] and (here, target) not in ENTRY_IMPORTS]
    assert upward == []


def _exists(module: str) -> bool:
    base = ROOT / Path(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_imported_policy_modules_exist():
    missing = {target for path in SOURCES for _, target in policy_imports(path) if not _exists(target)}
    assert missing == NOT_YET_WRITTEN


def test_registries_name_modules_of_their_own_package():
    from policy.adapters import ADAPTERS
    from policy.effects import effect_modules
    from policy.facts import family_class, family_names

    for registry, package in ((ADAPTERS, "policy.adapters"), (effect_modules(), "policy.effects")):
        for module in registry.values():
            assert module.startswith(package + ".") and _exists(module), module
    for name in family_names():
        assert family_class(name).__module__ == f"policy.facts.{name}"


def test_the_engine_imports_no_io():
    imported = {target for _, target in policy_imports(PACKAGE / "engine.py")}
    assert imported <= {"policy.conditions", "policy.lean", "policy.errors", "policy.model"}
    tree = ast.parse((PACKAGE / "engine.py").read_text())
    skipped = _type_checking_blocks(tree)
    stdlib = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) and id(node) not in skipped
              for alias in node.names}
    assert stdlib <= {"datetime"}
