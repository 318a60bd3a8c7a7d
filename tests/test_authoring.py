"""Writing rules (issue 20): `policy validate` reports every problem at once, gives the YAML yes/no hint for
values, checks everything it finds without arguments (and fails when there is nothing), and `validate`/`test`
fail on an installed hook that would never run a rule. Each as a real `policy` process in a private HOME."""

from __future__ import annotations

import json

from conftest import Env, write

from policy.facts import family_fields

NEW_RULE = """\
  - id: env-files
    events: PreToolUse
    tools: [Edit, Write]
    match:
      tool_input.file_path: {glob: "**/.env*"}
    decision: ask
    reason: env files hold secrets
"""


def test_a_type_error_no_longer_hides_a_bad_regex_or_an_unknown_fact(env: Env) -> None:
    write(env.root / "bad.yaml", """\
        version: 1
        pack: bad
        rules:
          - id: r1
            events: PreToolUse
            tools: Bash
            match:
              tool_input.command: "git (push"
            when: facts.nosuch.thing
            decision: deny
            reason: no
        """)
    result = env.run_text("validate", "bad.yaml")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        "bad.yaml:8:27: bad-regex: invalid regex 'git (push': missing ), unterminated subpattern at position 4\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)\n"
        "bad.yaml:9:11: unknown-fact: unknown fact 'facts.nosuch'\n"
        f"    hint: facts are: {', '.join(sorted(family_fields()))}\n"
        "bad.yaml:11:13: bad-type: rules[0].reason must be a string, not a boolean\n"
        "    hint: YAML 1.1 reads `no` as the boolean false: quote it ('no')\n"
        "3 errors, 0 warnings in 1 file\n")


def test_the_yes_no_hint_for_values_and_no_cascade_from_a_broken_part(env: Env) -> None:
    # `decision: off` is an enum error with the YAML hint; the broken `events` does not add a
    # tools-without-tool-event error, and the broken `match` key is not checked twice
    write(env.root / "bad.yaml", """\
        version: 1
        pack: bad
        rules:
          - id: a
            events: PreToolUs
            tools: Bash
            decision: off
          - id: b
            events: Stop
            match:
              x: 3
              y: "("
        """)
    result = env.run_text("validate", "--format", "json", "bad.yaml")


    data = json.loads(result.stdout)
    assert [(d["line"], d["code"], d["message"], d["hint"]) for d in data["diagnostics"]] == [
        (5, "bad-value", "'PreToolUs' is not a valid value for rules[0].events", "did you mean 'PreToolUse'?"),
        (7, "bad-value", "False is not a valid value for rules[0].decision",
         "YAML 1.1 reads `off` as the boolean false: quote it ('off')"),
        (11, "bad-type", "rules[1].match.x must be a string, not an integer", ""),
        (12, "bad-regex", "invalid regex '(': missing ), unterminated subpattern at position 0",
         "regexes use Python syntax (docs/rules.md#match)")]
    assert result.returncode == 1


def test_validate_without_arguments_checks_config_packs_and_test_files(env: Env) -> None:
    assert env.run("init").returncode == 0
    result = env.run_text("validate")
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 3 files valid\n", "")
    # a broken test file next to the project's pack is found and reported
    tests = env.root / ".policy" / "rules" / "project.test.yaml"
    tests.write_text(tests.read_text().replace("tests:", "tset:", 1))
    result = env.run_text("validate")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(
        ".policy/rules/project.test.yaml:") and "unknown-key: unknown key 'tset'" in result.stdout
    assert result.stdout.endswith("in 3 files\n")


def test_validate_fails_when_there_is_nothing_to_check(env: Env) -> None:
    result = env.run_text("validate")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"policy: nothing-to-check: no config file applies in {env.root} (looked for policy.yaml and "
        ".policy/config.yaml upwards, and the user config)\n"
        "    hint: run `policy init`, or name files: policy validate rules/\n")
    (env.root / "empty").mkdir()
    result = env.run_text("validate", "empty")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "policy: nothing-to-check: no YAML files in empty\n"
               "    hint: name rule, test or config files (*.yaml), or directories holding them\n")


def test_validate_and_test_fail_on_a_stale_install_until_it_is_reinstalled(env: Env) -> None:
    assert env.run("init").returncode == 0
    assert env.run("install", "--scope", "project").returncode == 0
    pack = env.root / ".policy" / "rules" / "project.yaml"
    pack.write_text(pack.read_text() + NEW_RULE)
    line = next(number for number, text in enumerate(pack.read_text().splitlines(), 1) if "id: env-files" in text)
    stale = (f".policy/rules/project.yaml:{line}:5: stale-install: rule project/env-files looks at 'Edit|Write', "
             "but the installed PreToolUse hook's matcher 'Bash' leaves it out: Claude Code never runs the rule\n"
             "    hint: run `policy install --agent claude-code --scope project`\n")
    result = env.run_text("validate")
    assert (result.returncode, result.stdout) == (1, stale + "1 error, 0 warnings in 3 files\n")
    result = env.run_text("validate", ".policy/rules/project.yaml")
    assert (result.returncode, result.stdout) == (1, stale + "1 error, 0 warnings in 1 file\n")
    result = env.run_text("test", ".policy")
    assert (result.returncode, result.stderr) == (1, stale)
    assert result.stdout.endswith("2 passed in " + result.stdout.rsplit(" in ", 1)[1])
    # a rule on an event without any hook
    pack.write_text(pack.read_text() + "  - id: wrap-up\n    events: Stop\n    context: done?\n")
    result = env.run_text("validate")
    assert "stale-install: no installed policy hook runs on Stop, so project/wrap-up never runs\n" in result.stdout
    # the fix it names makes both pass
    assert env.run("install", "--agent", "claude-code", "--scope", "project").returncode == 0
    assert env.run_text("validate").stdout == "ok: 3 files valid\n"
    assert env.run_text("test", ".policy").returncode == 0
    # rule files the configuration does not load are not judged against this project's hooks
    write(env.root / "elsewhere" / "other.yaml", "version: 1\npack: other\nrules:\n"
                                                 "  - {id: x, events: PostToolUse, tools: Read, context: hi}\n")
    assert env.run_text("validate", "elsewhere").stdout == "ok: 1 file valid\n"


def test_validate_without_arguments_reports_a_rule_error_once(env: Env) -> None:
    """The pack is compiled for the config and again for its test file: the error is listed once."""
    assert env.run("init").returncode == 0
    pack = env.root / ".policy" / "rules" / "project.yaml"
    pack.write_text(pack.read_text().replace("    decision: deny", "    decison: deny", 1))
    result = env.run_text("validate")
    assert (result.returncode, result.stdout) == (1, (
        ".policy/rules/project.yaml:15:5: unknown-key: unknown key 'decison' in rules[0]\n"
        "    hint: did you mean 'decision'?\n"
        "1 error, 0 warnings in 3 files\n"))
