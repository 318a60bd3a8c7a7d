"""`policy init`: the files it writes pass `policy validate` and `policy test` as written, carry schema modelines
that resolve offline, and are never overwritten without --force."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT, event_payload, write

from policy.config import shipped_pack_path
from policy.schema import schema_text

WRITTEN = [
    "policy.yaml",
    ".policy/rules/project.yaml",
    ".policy/rules/project.test.yaml",
    ".policy/schemas/rules.schema.json",
    ".policy/schemas/tests.schema.json",
    ".policy/schemas/config.schema.json",
]
NEXT = "next: policy validate && policy test && policy install --agent claude-code\n"


def test_init_writes_a_project_that_validates_and_passes_its_tests(env):
    result = env.run("init")
    assert (result.returncode, result.stdout.decode(), result.stderr) == (0, "".join(
        f"created    {path}\n" for path in WRITTEN) + NEXT, b"")
    assert sorted(str(path.relative_to(env.root)) for path in env.root.rglob("*") if path.is_file()) == \
        sorted(WRITTEN)
    validate = env.run("validate")
    assert (validate.returncode, validate.stdout.decode()) == (0, "ok: 3 files valid\n")
    validate_all = env.run("validate", "policy.yaml", ".policy")
    assert (validate_all.returncode, validate_all.stdout.decode()) == (0, "ok: 3 files valid\n")
    tests = env.run("test", "--coverage", "--min-coverage", "100")
    assert tests.returncode == 0, tests.stdout.decode()
    assert tests.stdout.decode().splitlines()[0] == ".policy/rules/project.test.yaml .."


@pytest.mark.parametrize("path, kind", [("policy.yaml", "config"), (".policy/rules/project.yaml", "rules"),
                                        (".policy/rules/project.test.yaml", "tests")])
def test_each_file_names_a_schema_copy_that_accepts_it(env, path, kind):
    env.run("init")
    file = env.root / path
    first_line = file.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first_line)
    assert match, first_line
    schema_file = (file.parent / match.group(1)).resolve()
    assert schema_file == (env.root / ".policy" / "schemas" / f"{kind}.schema.json").resolve()
    assert schema_file.read_text() == schema_text(kind)
    jsonschema.validate(yaml.safe_load(file.read_text()), json.loads(schema_file.read_text()))


def test_the_starter_rule_denies_a_force_push_through_policy_eval(env):
    env.run("init")
    payload = event_payload("PreToolUse-Bash")
    payload["tool_input"]["command"] = "git push -f origin main"
    result = env.eval(stdin=json.dumps(payload).encode())
    assert (result.returncode, json.loads(result.stdout), result.stderr) == (0, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "Force-pushing is blocked by this project's policy (.policy/rules/project.yaml); "
                                    "ask the user to do it."}}, b"")


def test_the_commented_examples_are_valid_when_uncommented(env):
    env.run("init")
    starter = env.root / ".policy" / "rules" / "project.yaml"
    text = starter.read_text()
    examples = text[text.index("  # - id:"):]
    uncommented = "\n".join(line.replace("  # ", "  ", 1) if line.strip() not in ("#", "") else ""
                            for line in examples.splitlines())
    starter.write_text(text[:text.index("  # More examples")] + uncommented + "\n")
    result = env.run("validate", ".policy/rules/project.yaml")
    assert (result.returncode, result.stdout.decode()) == (0, "ok: 1 file valid\n")
    assert [rule["id"] for rule in yaml.safe_load(starter.read_text())["rules"]] == \
        ["no-force-push", "ask-before-editing-env-files", "conventions"]


def test_existing_files_are_kept_unless_force(env):
    env.run("init")
    config = env.root / "policy.yaml"
    config.write_text("version: 1\nmax_delay: 5\n")
    again = env.run("init")
    assert (again.returncode, again.stdout.decode()) == (0, (
        "kept       policy.yaml\n"
        + "".join(f"unchanged  {path}\n" for path in WRITTEN[1:])
        + "1 file already existed with other content and was kept; --force overwrites them.\n" + NEXT))
    assert config.read_text() == "version: 1\nmax_delay: 5\n"
    forced = env.run("init", "--force")
    assert forced.stdout.decode().splitlines()[:2] == ["overwrote  policy.yaml", "unchanged  .policy/rules/project.yaml"]
    assert config.read_text().startswith("# yaml-language-server: $schema=.policy/schemas/config.schema.json\n")


def test_an_existing_dot_policy_config_is_the_config_init_writes(env):
    write(env.root / ".policy" / "config.yaml", "version: 1\n")
    result = env.run("init")
    assert result.stdout.decode().splitlines()[0] == "kept       .policy/config.yaml"
    assert not (env.root / "policy.yaml").exists()
    forced = env.run("init", "--force")
    assert forced.stdout.decode().splitlines()[0] == "overwrote  .policy/config.yaml"
    assert (env.root / ".policy" / "config.yaml").read_text().splitlines()[0] == \
        "# yaml-language-server: $schema=schemas/config.schema.json"
    assert env.run("validate").returncode == 0


def test_unknown_packs_are_a_usage_error(env):
    result = env.run("init", "--packs", "focus,pacng")
    assert (result.returncode, result.stdout, result.stderr.decode()) == (
        2, b"", "policy: usage: there is no shipped pack 'pacng' (did you mean 'pacing'?)\n")
    assert list(env.root.iterdir()) == []


def test_packs_are_listed_in_the_config(env):
    env.run("init", "--packs", "pacing, focus,pacing")
    data = yaml.safe_load((env.root / "policy.yaml").read_text())
    assert data == {"version": 1, "packs": [{"name": "pacing"}, {"name": "focus"}], "rules": [".policy/rules"]}


@pytest.mark.skipif(not Path(shipped_pack_path("focus")).is_file(), reason="the focus pack is not in this tree yet")
def test_a_shipped_pack_with_its_params_uncommented_validates(env):
    env.run("init", "--packs", "focus")
    config = env.root / "policy.yaml"
    lines = config.read_text().splitlines()
    uncommented = [line.replace("    #   ", "      ", 1).replace("    # params:  (the defaults; uncomment the ones "
                                                                  "to change)", "    params:")
                   for line in lines]
    config.write_text("\n".join(uncommented) + "\n")
    defaults = yaml.safe_load(Path(shipped_pack_path("focus")).read_text())["params"]
    assert yaml.safe_load(config.read_text())["packs"] == [{"name": "focus", "params": defaults}]
    result = env.run("validate")
    assert result.returncode == 0, result.stdout.decode()


def test_the_pre_commit_hooks_pass_on_what_init_writes_and_fail_on_a_broken_rule(env):
    """Runs each hook of .pre-commit-hooks.yaml the way pre-commit does: entry + args (+ the matching files)."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in hooks] == ["policy-validate", "policy-test"]
    assert all(hook["language"] == "python" for hook in hooks)
    env.run("init")
    files = sorted(str(path.relative_to(env.root)) for path in env.root.rglob("*") if path.is_file())
    write(env.root / "deploy" / "k8s.yaml", "kind: Deployment\n")
    write(env.root / "docs" / "policy.yaml", "not: ours\n")

    def run_hooks():
        results = {}
        for hook in hooks:
            matching = [path for path in files + ["deploy/k8s.yaml", "docs/policy.yaml"]
                        if re.search(hook["files"], path)]
            args = hook["entry"].split()[1:] + hook.get("args", []) + (
                matching if hook.get("pass_filenames", True) else [])
            results[hook["id"]] = env.run(*args).returncode
        return results

    assert [path for path in files if re.search(hooks[0]["files"], path)] == [
        ".policy/rules/project.test.yaml", ".policy/rules/project.yaml", "policy.yaml"]
    assert run_hooks() == {"policy-validate": 0, "policy-test": 0}
    starter = env.root / ".policy" / "rules" / "project.yaml"
    starter.write_text(starter.read_text().replace("decision: deny", "decision: refuse"))
    assert run_hooks() == {"policy-validate": 1, "policy-test": 1}
    result = env.run("validate", ".policy")  # the rule file is compiled for itself and for its tests: one report
    assert result.stdout.decode() == (
        ".policy/rules/project.yaml:15:15: bad-value: 'refuse' is not a valid value for rules[0].decision\n"
        "    hint: expected one of: allow, ask, defer, deny\n"
        "1 error, 0 warnings in 2 files\n")
