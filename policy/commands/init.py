"""`policy init [--packs focus,presence,…] [--force]`: start using policy in a project.

Writes a commented `policy.yaml`, a starter rule file with its scenario tests (`.policy/rules/project.yaml`,
`project.test.yaml`) and copies of the JSON Schemas (`.policy/schemas/`) that the files' `yaml-language-server`
modelines point at by relative path: editors validate offline, for everyone who clones the project, against the
schema of the policy version that wrote them (docs/config.md#editors). As written, the files pass `policy validate`
and `policy test`. An existing file is kept unless --force; one whose content is already right is left alone.
"""

from __future__ import annotations

import os

import typer

from policy.config import PROJECT_CONFIG_NAMES, SHIPPED_PACKS
from policy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RULES_DIR = os.path.join(".policy", "rules")
SCHEMAS_DIR = os.path.join(".policy", "schemas")
STARTER = os.path.join(RULES_DIR, "project.yaml")
STARTER_TESTS = os.path.join(RULES_DIR, "project.test.yaml")

CONFIG_TEMPLATE = """\
# policy: which rules Claude Code's hooks enforce in this project. Reference: docs/config.md.
# Check it with `policy validate`. Your user config (~/.config/policy/config.yaml) is read first; this file adds to it
# and may tighten, never loosen, what the user config sets (docs/config.md#trust-what-a-project-config-cannot-weaken).
version: 1

# Shipped packs ({shipped}), each with optional param overrides.
packs:{packs}

# This project's own rule files and directories, relative to this file. Tests: `policy test .policy`.
rules:
  - {rules_dir}

# The settings below show their defaults; uncomment to change one.

# The longest delay a rule may cause, in seconds. `policy install` sets the hook timeout above it.
# max_delay: 60

# When no decision can be made (broken rules, unreadable fact store): `closed` blocks, `open` lets Claude Code's
# own permission flow decide and tells the user. Per event too, e.g. {{Stop: closed, "*": open}}.
# Default: closed for PreToolUse, PermissionRequest and UserPromptSubmit; open for the others.
# fail: closed

# How a `defer` verdict is rendered on PreToolUse: ask, defer (honoured by `claude -p` and the Agent SDK,
# ignored by interactive sessions) or deny.
# defer_as: ask

# How ask and defer are rendered in bypassPermissions mode: ask (Claude Code still asks there) or deny.
# In dontAsk mode, where nobody is asked, they are always a deny.
# ask_in_bypass: ask

# The decision log: how many days decisions are kept (0: forever), and whether whole payloads are kept.
# log:
#   retention_days: 30
#   keep_payload: redacted     # for `policy replay`; full keeps secrets too, none keeps no payload

# The fact store. Default: $POLICY_DB, else ~/.local/state/policy/facts.db (shared by all your projects).
# db: ~/.local/state/policy/facts.db
"""

STARTER_TEMPLATE = """\
# This project's rules. Format: docs/rules.md. Tests: project.test.yaml next to this file (`policy test .policy`).
version: 1
pack: project
revision: "1"
description: Rules for this repository.

rules:
  - id: no-force-push
    description: A force push rewrites history others may have pulled; the user decides, not the agent.
    events: PreToolUse
    tools: Bash
    match:
      tool_input.command: '\\bgit\\s+push\\b[^;&|]*\\s(--force|-f)(\\s|$)'
    decision: deny
    reason: Force-pushing is blocked by this project's policy (.policy/rules/project.yaml); ask the user to do it.

  # More examples: uncomment one, then add a test for it to project.test.yaml.
  #
  # - id: ask-before-editing-env-files
  #   description: Environment files hold secrets.
  #   events: PreToolUse
  #   tools: [Edit, Write]
  #   match:
  #     tool_input.file_path: {glob: "**/.env*"}
  #   decision: ask
  #   reason: "{{ basename(input.file_path) }} may hold secrets: confirm this edit."
  #
  # - id: conventions
  #   description: Remind the agent of the project's conventions at the start of each session.
  #   events: SessionStart
  #   context: This project runs its tests with `make test`; run them before you finish.
"""

STARTER_TESTS_TEMPLATE = """\
# Scenario tests for project.yaml. Format: docs/testing.md. Run: policy test .policy
version: 1
pack: project

tests:
  - name: a force push is denied
    steps:
      - event:
          hook_event_name: PreToolUse
          tool_name: Bash
          tool_input: {command: "git push --force origin main"}
        expect:
          verdict: deny
          reason: Force-pushing is blocked by this project's policy (.policy/rules/project.yaml); ask the user to do it.
          rules: [no-force-push]

  - name: other pushes are left to Claude Code's own permissions
    steps:
      - event:
          hook_event_name: PreToolUse
          tool_name: Bash
          tool_input: {command: "git push origin main"}
        expect: {verdict: none}
      - event:
          hook_event_name: PreToolUse
          tool_name: Bash
          tool_input: {command: "git push --force-with-lease origin feature"}
        expect: {verdict: none}
"""


def modeline(file: str, kind: str) -> str:
    """The comment yaml-language-server reads: the schema copy in .policy/schemas/, relative to `file`."""
    from policy.schema import SCHEMA_FILES

    target = os.path.join(SCHEMAS_DIR, SCHEMA_FILES[kind])
    relative = os.path.relpath(target, os.path.dirname(file) or ".")
    return f"# yaml-language-server: $schema={relative.replace(os.sep, '/')}"


def parse_packs(value: str | None) -> list[str]:
    """`focus,pacing` → the names, each a shipped pack."""
    if not value:
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if name not in SHIPPED_PACKS:
            from policy.schema import suggest

            raise UsageError(f"there is no shipped pack {name!r}", hint=suggest(name, set(SHIPPED_PACKS)))
    return list(dict.fromkeys(names))


def _yaml_value(value: Any) -> str:
    import yaml

    return str(yaml.safe_dump(value, default_flow_style=True, width=10_000)).strip().removesuffix("...").strip()


def pack_entries(names: list[str]) -> str:
    """The `packs:` list: each shipped pack with its params commented out at their defaults."""
    from policy.config import shipped_pack_path
    from policy.loader import load_yaml

    if not names:
        return " []\n#   - name: focus\n#     params: {}  # overrides of the pack's params: docs/packs/focus.md"
    lines = []
    for name in names:
        lines.append(f"  - name: {name}")
        data = load_yaml(shipped_pack_path(name)).data
        params = data.get("params") if isinstance(data, dict) else None
        if isinstance(params, dict) and params:
            lines.append("    # params:  (the defaults; uncomment the ones to change)")
            lines += [f"    #   {key}: {_yaml_value(value)}" for key, value in params.items()]
    return "\n" + "\n".join(lines)


def config_file(directory: str) -> str:
    """The project's config file: an existing one (either name), else policy.yaml."""
    for name in PROJECT_CONFIG_NAMES:
        if os.path.isfile(os.path.join(directory, name)):
            return name
    return PROJECT_CONFIG_NAMES[0]


def planned_files(directory: str, packs: list[str]) -> list[tuple[str, str]]:
    """(path relative to `directory`, content) of every file init writes."""
    from policy.schema import SCHEMA_FILES, schema_text

    config = config_file(directory)
    rules_dir = os.path.relpath(RULES_DIR, os.path.dirname(config) or ".").replace(os.sep, "/")
    config_text = CONFIG_TEMPLATE.format(shipped=", ".join(SHIPPED_PACKS), packs=pack_entries(packs),
                                         rules_dir=rules_dir)
    files = [(path, modeline(path, kind) + "\n" + text) for path, kind, text in (
        (config, "config", config_text), (STARTER, "rules", STARTER_TEMPLATE),
        (STARTER_TESTS, "tests", STARTER_TESTS_TEMPLATE))]
    files += [(os.path.join(SCHEMAS_DIR, name), schema_text(kind)) for kind, name in SCHEMA_FILES.items()]
    return files


def write_files(directory: str, files: list[tuple[str, str]], *, force: bool) -> list[tuple[str, str]]:
    """Write each file unless it exists with other content (and not --force). Returns (path, what happened)."""
    outcomes = []
    for relative, content in files:
        path = os.path.join(directory, relative)
        existing = None
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                existing = handle.read()
        if existing == content:
            outcomes.append((relative, "unchanged"))
            continue
        if existing is not None and not force:
            outcomes.append((relative, "kept"))
            continue
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
        outcomes.append((relative, "overwrote" if existing is not None else "created"))
    return outcomes


def with_packs(text: str, file: str, names: list[str]) -> tuple[str, list[str]]:
    """The config text with the shipped packs `names` added to its `packs:` (block or flow list, or a new key),
    every other byte kept; and the names it added (those not there already)."""
    from policy.loader import parse_yaml

    document = parse_yaml(text, file)
    data = document.data if isinstance(document.data, dict) else None
    if data is None or document.diagnostics:
        raise UsageError(f"{file} cannot be read as a config, so no pack is added to it",
                         hint="`policy validate` shows what is wrong")
    present = data.get("packs")
    if present is not None and not isinstance(present, list):
        raise UsageError(f"`packs:` in {file} is not a list", hint="packs: [focus, presence]")
    have = {item if isinstance(item, str) else item.get("name") for item in present or ()
            if isinstance(item, (str, dict))}
    added = [name for name in names if name not in have]
    if not added:
        return text, []
    lines = text.splitlines(keepends=True)
    if present is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + \
            "packs:\n" + "".join(f"  - name: {name}\n" for name in added), added
    key_line = document.keys[("packs",)][0] - 1
    value_line, value_col = document.values[("packs",)]
    line = lines[value_line - 1]
    if line[value_col - 1:].startswith("["):  # a flow list: add inside its brackets, on its line
        close = line.index("]", value_col - 1) if "]" in line[value_col - 1:] else -1
        if close < 0:
            raise UsageError(f"`packs:` in {file} spans lines in [...] form", hint="add the packs by hand")
        inside = line[value_col:close].strip()
        lines[value_line - 1] = line[:close] + (", " if inside else "") + ", ".join(added) + line[close:]
        return "".join(lines), added
    first = lines[document.values[("packs", 0)][0] - 1]
    indent = first[:len(first) - len(first.lstrip())]
    end = key_line + 1  # after the last line of the block (its items are indented, or start with "-")
    for index in range(key_line + 1, len(lines)):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#") and not lines[index][0].isspace() and \
                not lines[index].startswith("-"):
            break
        if stripped and (lines[index][0].isspace() or lines[index].startswith("-")):  # (its comments too)
            end = index + 1
    if end and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines[end:end] = [f"{indent}- name: {name}\n" for name in added]
    return "".join(lines), added


def add_packs(directory: str, names: list[str]) -> tuple[str, list[str]] | None:
    """Add the packs to the existing project config; (its path, the packs added), or None when there is none."""
    relative = config_file(directory)
    path = os.path.join(directory, relative)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    changed, added = with_packs(text, relative, names)
    if added:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(changed)
    return relative, added


def init(directory: str, *, packs: list[str], force: bool = False) -> int:
    extended = add_packs(directory, packs) if packs and not force else None
    if extended is not None:  # an existing config gains the packs; the rest of it stays as it is
        relative, added = extended
        typer.echo(f"{'added' if added else 'unchanged':<9}  {relative}"
                   + (f" (packs: {', '.join(added)})" if added else f" (it has {', '.join(packs)} already)"))
    outcomes = write_files(directory, [(path, text) for path, text in planned_files(directory, packs)
                                       if extended is None or path != extended[0]], force=force)
    for relative, what in outcomes:
        typer.echo(f"{what:<9}  {relative}")
    kept = [relative for relative, what in outcomes if what == "kept"]
    if kept:
        typer.echo(f"{len(kept)} file{'s' * (len(kept) != 1)} already existed with other content and "
                   f"{'were' if len(kept) != 1 else 'was'} kept; --force overwrites them.")
    typer.echo("next: policy validate && policy test && policy install --agent claude-code")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init_command(
        packs: str = typer.Option(None, "--packs", help="Shipped packs to enable, comma-separated: "
                                                         + ",".join(SHIPPED_PACKS) + "."),
        force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
    ) -> None:
        """Set up policy in the current directory: policy.yaml, a starter rule with its tests, editor schemas.

        With --packs and a config that exists, the packs are added to its `packs:` (the rest stays as it is).

        Example: policy init --packs focus,pacing
        """
        raise typer.Exit(init(os.getcwd(), packs=parse_packs(packs), force=force))
