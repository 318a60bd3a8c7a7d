"""`policy lint [PATH]...`: rules that are valid but cannot do what they seem to (docs/rules.md#lint).

`policy validate` says whether rule files can run; lint says whether each rule can ever decide anything:

- `never-matches`: its `when` is a constant that is false (`when: false`, `when: "1 > 2"`): nothing it reads can
  change that.
- `shadowed-rule`: an earlier rule of the same pack is `final` and matches whenever this one would (the same or
  more events, tools and hosts; no condition this one lacks): the pack ends before this rule is looked at.
- `duplicate-rule`: another rule (in another pack, or the same) matches exactly the same calls (events, tools,
  hosts, `match`, `when`) and decides the same: one of them is redundant, or one was meant to differ.

Without paths it lints the packs of the configuration here (what `policy eval` runs), with their configured params;
with paths, those rule files. Exit 1 when there is a finding, 0 when there is none.
"""

from __future__ import annotations

import os

import typer

from policy.errors import Diagnostic, PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.model import Pack, Rule


def _conditions(rule: Rule) -> frozenset[tuple[Any, ...]]:
    """What must hold besides events, tools and hosts: each `match` entry and the `when` (by their source)."""
    from policy.lean import json_dumps

    found = {("match", condition.selector.source, condition.kind, condition.pattern,
              json_dumps(condition.value) if condition.kind == "equals" else None) for condition in rule.match}
    if rule.when is not None:
        found.add(("when", " ".join(rule.when.source.split())))
    return frozenset(found)


def _tools_cover(wider: Rule, narrower: Rule) -> bool:
    from policy.vocabulary import plain_tool_names

    if wider.tools is None or wider.tools == narrower.tools:
        return True
    if narrower.tools is None:
        return False
    wide, narrow = plain_tool_names(wider), plain_tool_names(narrower)
    return wide is not None and narrow is not None and set(narrow) <= set(wide)


def covers(first: Rule, later: Rule) -> bool:
    """Whether `first` matches every call `later` matches."""
    return (set(later.events) <= set(first.events) and _tools_cover(first, later)
            and (not first.agents or (bool(later.agents) and set(later.agents) <= set(first.agents)))
            and _conditions(first) <= _conditions(later))


def constant_false(rule: Rule) -> bool:
    """A `when` that reads nothing and is false."""
    from policy import conditions

    if rule.when is None or rule.when.names:
        return False
    try:
        return not conditions.evaluate(rule.when, conditions.make_scope({}))
    except conditions.ExpressionError:
        return False


def lint_packs(packs: tuple[Pack, ...] | list[Pack]) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    for pack in packs:
        rules = [rule for rule in pack.rules if rule.enabled]
        for index, rule in enumerate(rules):
            if constant_false(rule):
                diagnostics.append(Diagnostic(
                    rule.when.location if rule.when is not None else rule.location, "never-matches",
                    f"rule {pack.name}/{rule.id} can never match: `when: "
                    f"{' '.join(rule.when.source.split()) if rule.when else ''}` is always false",
                    "remove the rule, or `enabled: false` to keep it switched off", "warning"))
                continue
            shadow = next((earlier for earlier in rules[:index] if earlier.final and covers(earlier, rule)), None)
            if shadow is not None:
                diagnostics.append(Diagnostic(
                    rule.location, "shadowed-rule",
                    f"rule {pack.name}/{rule.id} never runs: the `final` rule {shadow.id} (line "
                    f"{shadow.location.line}) matches whenever it would, and ends the pack first",
                    f"move {rule.id} above {shadow.id}, or narrow {shadow.id}", "warning"))
    seen: dict[tuple[Any, ...], Rule] = {}
    for pack in packs:
        for rule in pack.rules:
            if not rule.enabled or (rule.decision is None and rule.context is None and rule.stop is None):
                continue
            key = (frozenset(rule.events), rule.tools, frozenset(rule.agents), _conditions(rule), rule.decision)
            first = seen.setdefault(key, rule)
            if first is not rule:
                diagnostics.append(Diagnostic(
                    rule.location, "duplicate-rule",
                    f"rule {rule.pack}/{rule.id} matches exactly what {first.pack}/{first.id} matches "
                    f"({first.location.file}:{first.location.line}) and decides the same "
                    f"({rule.decision or 'no verdict'})", "keep one of them, or make them differ", "warning"))
    return diagnostics


def lint(paths: list[str], *, as_json: bool) -> int:
    from policy.commands.validate import effective, render_json, render_text
    from policy.compiler import PackSource, compile_files

    cwd = os.getcwd()
    if paths:
        from policy.loader import yaml_files

        files = [path for path in yaml_files(paths) if not path.endswith((".test.yaml", ".test.yml"))
                 and os.path.basename(path) not in ("policy.yaml", "config.yaml")]
        if not files:
            raise PolicyError(f"no rule files in {', '.join(paths)}", code="nothing-to-check",
                              hint="name rule files (*.yaml) or directories holding them")
        compiled = compile_files([PackSource(path=path, display=path, trusted=True) for path in files])
    else:
        refs, resolved, compiled = effective(cwd, dict(os.environ))
        files = [source.path for source in resolved.sources]
        if not files:
            raise PolicyError(f"no config file applies in {cwd}, so there are no rules to lint",
                              code="nothing-to-check", hint="name rule files: policy lint rules/")
    if compiled.errors:
        raise PolicyError(f"the rules do not compile ({len(compiled.errors)} error"
                          f"{'s' * (len(compiled.errors) != 1)}): {compiled.errors[0].render().splitlines()[0]}",
                          code="invalid", hint="`policy validate` lists them; lint runs on rules that compile")
    diagnostics = lint_packs(compiled.packs)
    if as_json:
        from policy.commands._shared import emit_json

        emit_json(render_json(files, diagnostics))
    else:
        import sys

        from policy.report import colors_on

        text = render_text(files, diagnostics, color=colors_on(sys.stdout))
        typer.echo(text.replace(" valid", " clean") if not diagnostics else text)
    return 1 if diagnostics else 0


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint_command(
        paths: list[str] = typer.Argument(None, help="Rule files or directories (default: the packs of the "
                                                     "configuration here)."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    ) -> None:
        """Find rules that can never match, rules shadowed by an earlier `final` rule, and duplicate rules.

        Example: policy lint rules/
        """
        raise typer.Exit(lint(list(paths or []), as_json=as_json))
