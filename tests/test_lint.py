"""`policy lint` (issue 20): rules that can never match, rules shadowed by an earlier `final`, duplicate rules
across packs; on rule files named, or on the packs of the configuration here. A real `policy` process each time."""

from __future__ import annotations

import json

from conftest import ROOT, Env, write

L1 = """\
version: 1
pack: a
rules:
  - id: everything-bash
    events: PreToolUse
    tools: Bash
    decision: ask
    final: true
  - id: git-push
    events: PreToolUse
    tools: Bash
    match:
      tool_input.command: '^git push'
    decision: deny
  - id: never
    events: Stop
    when: "1 > 2"
    context: never
  - id: env
    events: PreToolUse
    tools: [Edit, Write]
    match:
      tool_input.file_path: {glob: "**/.env"}
    decision: ask
"""
L2 = """\
version: 1
pack: b
rules:
  - id: env-files
    events: PreToolUse
    tools: [Edit, Write]
    match:
      tool_input.file_path: {glob: "**/.env"}
    decision: ask
  - id: env-edits-only
    events: PreToolUse
    tools: Edit
    match:
      tool_input.file_path: {glob: "**/.env"}
    decision: ask
"""


def test_lint_finds_never_matching_shadowed_and_duplicate_rules(env: Env) -> None:
    write(env.root / "l1.yaml", L1)
    write(env.root / "l2.yaml", L2)
    result = env.run_text("lint", "l1.yaml", "l2.yaml")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        "l1.yaml:9:5: warning: shadowed-rule: rule a/git-push never runs: the `final` rule everything-bash (line 4) "
        "matches whenever it would, and ends the pack first\n"
        "    hint: move git-push above everything-bash, or narrow everything-bash\n"
        "l1.yaml:17:11: warning: never-matches: rule a/never can never match: `when: 1 > 2` is always false\n"
        "    hint: remove the rule, or `enabled: false` to keep it switched off\n"
        "l2.yaml:4:5: warning: duplicate-rule: rule b/env-files matches exactly what a/env matches (l1.yaml:19) and "
        "decides the same (ask)\n"
        "    hint: keep one of them, or make them differ\n"
        "0 errors, 3 warnings in 2 files\n")
    # b/env-edits-only is narrower (Edit only), not a duplicate; --json has the same findings
    report = json.loads(env.run_text("lint", "--json", "l1.yaml", "l2.yaml").stdout)
    assert [d["code"] for d in report["diagnostics"]] == ["shadowed-rule", "never-matches", "duplicate-rule"]


def test_a_final_rule_with_a_condition_the_later_one_lacks_shadows_nothing(env: Env) -> None:
    write(env.root / "p.yaml", """\
        version: 1
        pack: p
        rules:
          - {id: first, events: PreToolUse, tools: Bash, match: {tool_input.command: '^git'}, decision: ask,
             final: true}
          - {id: later, events: PreToolUse, tools: [Bash, Edit], decision: deny}
          - {id: narrower, events: PreToolUse, tools: Bash, match: {tool_input.command: '^git', cwd: '/srv'},
             decision: deny}
        """)
    result = env.run_text("lint", "p.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "p.yaml:7:5: warning: shadowed-rule: rule p/narrower never runs: the `final` rule first (line 4) matches "
        "whenever it would, and ends the pack first",
        "    hint: move narrower above first, or narrow first",
        "0 errors, 1 warning in 1 file"]


def test_the_shipped_packs_and_the_configuration_here_lint_clean(env: Env) -> None:
    result = env.run_text("lint", str(ROOT / "rules"))
    assert (result.returncode, result.stdout) == (0, "ok: 4 files clean\n")
    assert env.run("init").returncode == 0
    assert env.run_text("lint").stdout == "ok: 1 file clean\n"
    result = env.run_text("lint", "nowhere-empty-dir") if (env.root / "nowhere-empty-dir").mkdir() is None else None
    assert (result.returncode, result.stderr) == (
        1, "policy: nothing-to-check: no rule files in nowhere-empty-dir\n"
           "    hint: name rule files (*.yaml) or directories holding them\n")


def test_lint_refuses_rules_that_do_not_compile(env: Env) -> None:
    write(env.root / "bad.yaml", "version: 1\npack: p\nrules:\n  - {id: a, events: Stp}\n")
    result = env.run_text("lint", "bad.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "policy: invalid: the rules do not compile (1 error): bad.yaml:4:21: bad-value: 'Stp' is not a valid value "
        "for rules[0].events\n"
        "    hint: `policy validate` lists them; lint runs on rules that compile\n")
