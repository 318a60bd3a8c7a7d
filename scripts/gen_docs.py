"""Regenerate the reference parts of docs/ from the code: `python scripts/gen_docs.py` (or `--check`).

A docs file holds hand-written prose and generated blocks between
`<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`. This script fills every block from the code
(the function whitelist, the effect registry, the JSON Schemas, the store's tables, the fact families, the CLI), so
the references cannot go stale; tests/test_docs.py runs it with --check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _type_of(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if "anyOf" in schema:
        return " or ".join(_type_of(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and "items" in schema:
        return f"list of {_type_of(schema['items'])}"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1].replace("_", " ")
    return kind or "any"


def _properties(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = [[f"`{name}`" + (" (required)" if name in required else ""), _type_of(spec), spec.get("description", "")]
            for name, spec in schema.get("properties", {}).items()]
    return _table(["key", "type", "description"], rows)


# ---- the blocks ---------------------------------------------------------------------------------------------------

def block_functions() -> str:
    from policy.conditions import FUNCTIONS

    return _table(["function", "description"],
                  [[f"`{function.signature}`", function.doc] for function in FUNCTIONS.values()])


def block_scope() -> str:
    from policy.conditions import EFFECT_SCOPE_NAMES, SCOPE_DOCS

    return _table(["name", "what it is"], [[f"`{name}`", SCOPE_DOCS[name]] for name in EFFECT_SCOPE_NAMES])


def block_methods() -> str:
    from policy.conditions import DATETIME_FIELDS, SAFE_METHODS

    rows: list[list[object]] = [[f"`{kind.__name__}`", ", ".join(f"`{name}`" for name in sorted(names))]
                                for kind, names in SAFE_METHODS.items()]
    rows.append(["`now` (datetime)", ", ".join(f"`{name}`" for name in sorted(DATETIME_FIELDS))])
    return _table(["value", "methods and attributes"], rows)


def block_limits() -> str:
    from policy import conditions

    return _table(["limit", "value"], [
        ["longest string or list an operation may build", f"{conditions.MAX_STRING_LENGTH:,}"],
        ["items a comprehension may visit", f"{conditions.MAX_COMPREHENSION_LENGTH:,}"],
        ["largest base or exponent of `**`", f"{conditions.MAX_POWER:,}"],
        ["largest integer `**`, `*` or `int()` can make (bits)", f"{conditions.MAX_INTEGER_BITS:,}"],
        ["most digits `round()` takes, either way", f"{conditions.MAX_ROUND_DIGITS:,}"],
        ["largest shift of `<<` / `>>`", f"{conditions.MAX_SHIFT:,}"],
        ["longest expression (characters)", f"{conditions.MAX_EXPRESSION_LENGTH:,}"],
    ])


def _schema(kind: str) -> dict[str, Any]:
    import json

    from policy.effects import effect_schemas
    from policy.schema import build_schema

    return json.loads(build_schema(kind, effect_schemas()))


def block_rule_file() -> str:
    return _properties(_schema("rules"))


def block_rule_fields() -> str:
    return _properties(_schema("rules")["$defs"]["rule"])


def block_sql_fact() -> str:
    return _properties(_schema("rules")["$defs"]["sql_fact"])


def block_effects() -> str:
    from policy.effects import effect_modules, effect_schemas

    modules = effect_modules()
    parts = []
    for kind, schema in sorted(effect_schemas().items()):
        outage = getattr(__import__(modules[kind], fromlist=["KINDS"]), "ON_OUTAGE", {}).get(kind)
        parts.append(f"### `{kind}`\n\n{schema.get('description', '')}\n\n"
                     + (f"While a team's shared store does not answer (docs/team.md#outages): {outage}\n\n"
                        if outage else "")
                     + f"Implemented in `{modules[kind].replace('.', '/')}.py`.")
        if schema.get("properties"):
            parts.append(_properties(schema))
        else:
            parts.append("No arguments: write `- " + kind + "`.")
    return "\n\n".join(parts)


def block_tables() -> str:
    from policy.migrations import TABLE_DOCS, table_columns

    parts = []
    for table, columns in sorted(table_columns().items()):
        doc = TABLE_DOCS.get(table, "")
        parts.append(f"### `{table}`\n\n{doc}\n\nColumns: " + ", ".join(f"`{column}`" for column in columns) + ".")
    return "\n\n".join(parts)


def block_families() -> str:
    import inspect

    from policy.facts import family_class, family_names

    parts = []
    for name in family_names():
        family = family_class(name)
        fields = family.fields
        docs = fields if isinstance(fields, dict) else {}
        rows = [[f"`facts.{name}.{field}`", docs.get(field, "")] for field in fields]
        outage = (f"While a team's shared store does not answer (docs/team.md#outages): {family.on_outage}\n\n"
                  if family.on_outage else "")
        parts.append(f"### `facts.{name}`\n\n{inspect.getdoc(family) or ''}\n\n{outage}"
                     + _table(["field", "meaning"], rows))
    return "\n\n".join(parts)


def block_test_file() -> str:
    return _properties(_schema("tests"))


def block_test_fields() -> str:
    return _properties(_schema("tests")["$defs"]["test"])


def block_test_step() -> str:
    return _properties(_schema("tests")["$defs"]["test"]["properties"]["steps"]["items"])


def block_test_expect() -> str:
    step = _schema("tests")["$defs"]["test"]["properties"]["steps"]["items"]
    return _properties(step["properties"]["expect"])


def block_test_defaults() -> str:
    from policy import tester

    rows = [["every event", f"`session_id` = the file's `session` or `{tester.DEFAULT_SESSION}`, "
                            f"`transcript_path`, `cwd` = `{tester.DEFAULT_CWD}`"],
            [", ".join(sorted(tester.PERMISSION_MODE_EVENTS)), "`permission_mode` = `default`"],
            [", ".join(sorted(tester.TOOL_USE_ID_EVENTS)), "`tool_use_id` = `toolu_test_NNNN`"],
            ["tool events", "`tool_input` = `{}`"], ["Stop, SubagentStop", "`stop_hook_active` = `false`"],
            ["UserPromptSubmit", "`prompt` = `\"\"`"]]
    rows += [[f"`given` rows of `{table}`", ", ".join(f"`{column}` = {value}" for column, value in values.items())]
             for table, values in tester.GIVEN_DEFAULTS.items()]
    return _table(["where", "default"], rows) + f"\n\nThe clock starts at `{tester.DEFAULT_NOW}` unless the file " \
                                                f"or the test sets `now`."


def _protocol_table(parts: tuple[str, ...], host: str = "claude-code") -> str:
    """One host's table: a row per canonical event it raises (named as the host names it, when it differs)."""
    from policy.adapters import get_adapter
    from policy.adapters.common import RULE_KEYS
    from policy.vocabulary import host_events

    names: dict[str, list[str]] = {}
    for event in host_events(host):
        names.setdefault(event.canonical, []).append(event.name)

    def title(event: str) -> str:
        spelled = [name for name in names.get(event, ()) if name != event]
        return f"`{event}`" + (f" ({', '.join(f'`{name}`' for name in spelled)})" if spelled else "")

    return _table(["event", *(f"`{RULE_KEYS[part]}`" for part in parts)],
                  [[title(event), *(getattr(protocol, part).doc for part in parts)]
                   for event, protocol in get_adapter(host).protocol_table().items()])


def block_protocol_verdicts() -> str:
    from policy.adapters.common import VERDICT_PARTS

    return _protocol_table(VERDICT_PARTS)


def block_protocol_parts() -> str:
    from policy.adapters.common import OTHER_PARTS

    return _protocol_table(OTHER_PARTS)


def _host_blocks() -> None:
    """protocol-<host>-verdicts and protocol-<host>-parts for every host but Claude Code."""
    from policy.adapters import ADAPTERS
    from policy.adapters.common import OTHER_PARTS, VERDICT_PARTS

    for host in ADAPTERS:
        if host != "claude-code":
            globals()[f"block_protocol_{host}_verdicts"] = lambda host=host: _protocol_table(VERDICT_PARTS, host)
            globals()[f"block_protocol_{host}_parts"] = lambda host=host: _protocol_table(OTHER_PARTS, host)


_host_blocks()


def block_neutral_events() -> str:
    from policy.vocabulary import HOSTS, HOST_TITLES, NEUTRAL_EVENTS, host_events

    rows = []
    for neutral, canonical in NEUTRAL_EVENTS.items():
        cells = [", ".join(f"`{event.name}`" + (f" ({event.kind})" if event.kind else "")
                           for event in host_events(host) if event.canonical == canonical) or "—"
                 for host in HOSTS]
        rows.append([f"`{neutral}`", f"`{canonical}`", *cells[1:]])
    return _table(["neutral", HOST_TITLES["claude-code"], *(HOST_TITLES[host] for host in HOSTS[1:])], rows)


def block_tool_kinds() -> str:
    from policy.vocabulary import HOSTS, HOST_TITLES, TOOL_FIELDS, TOOL_KINDS, host_tools

    rows = []
    for kind, tools in TOOL_KINDS.items():
        for tool in tools or ("mcp__<server>__<tool>",):
            fields = ", ".join(f"`input.{name}`" for name in TOOL_FIELDS.get(tool, ())) or "the tool's arguments"
            cells = []
            for host in HOSTS[1:]:
                names = [f"`{found.name}`" + (" (" + ", ".join(f"{theirs}→{ours}" for ours, theirs in found.fields)
                                              + ")" if found.fields else "")
                         for found in host_tools(host) if found.canonical == tool]
                cells.append(", ".join(names) or "—")
            rows.append([f"`{kind}`", f"`{tool}`", fields, *cells])
    return _table(["kind", "tool (Claude Code)", "normalised input", *(HOST_TITLES[host] for host in HOSTS[1:])],
                  rows)


def _click_command() -> Any:
    from policy.cli import click_command

    return click_command()


def _walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    from policy.cli import walk

    return walk(command, path)


def _param_rows(command: Any, context: Any) -> list[list[str]]:
    """The rows of the help screen's Arguments and Options (policy.cli.help_records: the help and the reference
    cannot say different things)."""
    from policy.cli import help_records

    return [[f"`{names}`", text + "".join(f" ({note.replace('default: ', 'default: `')}`)" if
                                          note.startswith("default: ") else f" ({note})" for note in notes)]
            for _, names, text, notes in help_records(command, context)
            if command is context.find_root().command or not names.endswith("--help")]  # (-h, --help: everywhere)


def block_install_hosts() -> str:
    """docs/install.md: each host's settings files and how `policy install` writes its hook, from the settings
    modules (policy/adapters/<host>_settings.py)."""
    import json

    from policy.adapters import SETTINGS, get_settings
    from policy.vocabulary import HOST_TITLES

    rows = []
    for name in SETTINGS:
        host = get_settings(name)
        files = "<br>".join(
            f"{scope}: `{host.SCOPE_HELP[scope].partition(' (')[0]}`"
            + (f" ({host.SCOPE_HELP[scope].partition(' (')[2]}" if " (" in host.SCOPE_HELP[scope] else "")
            + (", the default" if scope == host.DEFAULT_SCOPE else "") for scope in host.INSTALL_SCOPES)
        layout = "event → matcher groups → handlers" if host.LAYOUT == "groups" else "event → handlers"
        unit = {"s": "seconds", "ms": "milliseconds"}[host.TIMEOUT_UNIT]
        new = f"`{json.dumps(host.SKELETON)}` + `hooks`" if host.SKELETON else "`{\"hooks\": ...}`"
        rows.append([f"{HOST_TITLES[name]} (`--agent {name}`)", files, layout, f"`{host.TIMEOUT_FIELD}` in {unit}",
                     "yes" if host.COMMENTS else "no", new])
    return _table(["agent", "files (scope: path)", "layout", "timeout", "comments kept", "a new file"], rows)


def block_cli() -> str:
    from policy.cli import help_context, usage_pieces

    root = _click_command()
    context = help_context(root, ["policy"])
    parts = [f"### `policy`\n\n```\npolicy {' '.join(usage_pieces(root, context))}\n```",
             _table(["option", "meaning"], _param_rows(root, context))]
    for path, command in _walk(root, ["policy"])[1:]:
        context = help_context(root, path)
        help_text = (command.help or "").strip()
        parts.append(f"### `{' '.join(path)}`\n\n```\n{' '.join(path)} {' '.join(usage_pieces(command, context))}"
                     f"\n```\n\n{help_text}")
        rows = _param_rows(command, context)
        if rows:
            parts.append(_table(["argument / option", "meaning"], rows))
    return "\n\n".join(parts)


BLOCKS = {name[len("block_"):].replace("_", "-"): function for name, function in dict(globals()).items()
          if name.startswith("block_")}


def render(text: str) -> str:
    """`text` with every generated block refilled."""
    out, rest = [], text
    while True:
        start = rest.find("<!-- BEGIN GENERATED: ")
        if start == -1:
            out.append(rest)
            return "".join(out)
        header_end = rest.index("-->", start) + 3
        name = rest[start + len("<!-- BEGIN GENERATED: "):header_end - 3].strip()
        end_marker = f"<!-- END GENERATED: {name} -->"
        end = rest.index(end_marker, header_end)
        if name not in BLOCKS:
            raise SystemExit(f"unknown generated block {name!r}; known: {', '.join(sorted(BLOCKS))}")
        out.append(rest[:header_end] + "\n" + BLOCKS[name]().strip() + "\n" + end_marker)
        rest = rest[end + len(end_marker):]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if any generated block is out of date")
    options = parser.parse_args()
    stale = []
    texts = {path: path.read_text(encoding="utf-8") for path in sorted(DOCS.rglob("*.md"))}
    unused = [name for name in BLOCKS if not any(f"<!-- BEGIN GENERATED: {name} -->" in text for text in texts.values())]
    if unused:  # a generator nothing shows is code no check runs
        raise SystemExit(f"generated blocks that no page uses: {', '.join(unused)}")
    for path, text in texts.items():
        new = render(text)
        if new != text:
            stale.append(path)
            if not options.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if options.check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
