"""`policy doctor`: one line per check, what to fix, exit 1 when policy is not really enforcing the rules. Each
problem is made for real (a moved virtualenv, a short timeout, a rule on an unhooked event, a shared fact store…)
in a temporary HOME and project."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import BIN, CLIENT, IS_ROOT, POLICY_HOOK, ROOT, Env, write

from policy.commands import install
from policy.migrations import LATEST

HOOK = f"{POLICY_HOOK} --agent claude-code"
OK_CONFIG = "ok    config  policy.yaml: 1 pack (project), rules on PreToolUse"
# what `policy install` writes (the hook client), and what earlier versions wrote and users may have (HOOK)
INSTALLED = f"{BIN}/python3 -I -S {CLIENT} --agent claude-code"
OK_RUNS = f"ok    hooks   `{HOOK}` runs and decides (checked with a dry-run event)"
FIX_PROJECT = "; fix: policy install --scope project"


@pytest.fixture
def project(env: Env) -> Path:
    assert env.run("init").returncode == 0
    return env.root


def settings(project: Path) -> Path:
    return project / ".claude" / "settings.json"


def doctor(env: Env, *args: str) -> tuple[int, list[str]]:
    result = env.run("doctor", *args)
    assert result.stderr == b""
    return result.returncode, result.stdout.decode().splitlines()


def store_line(env: Env, state: str = "does not exist yet; the first hook creates it (0600)") -> str:
    return f"ok    store   {env.db}: {state}"


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("fail", "warn"))]


def edit_settings(project: Path, change) -> None:
    data = json.loads(settings(project).read_text())
    change(data)
    settings(project).write_text(json.dumps(data, indent=2))


def test_not_installed(env, project):
    assert doctor(env) == (1, [
        OK_CONFIG,
        store_line(env),
        "fail  hooks   policy's hook is not installed in any agent's settings file ("
        + ", ".join(install.title(agent) for agent in install.agents()) + "); fix: policy install --agent auto (or "
        "--agent NAME)",
        "1 problem: policy is not fully enforcing your rules here"])


def test_all_good_after_init_and_install(env, project):
    env.run("install", "--scope", "project")
    assert doctor(env) == (0, [
        OK_CONFIG,
        store_line(env),
        "ok    hooks   .claude/settings.json (project): PreToolUse (Bash)",
        OK_RUNS.replace(HOOK, INSTALLED),
        "policy is enforcing your rules here"])
    assert doctor(env)[1][1] == store_line(env, f"opens, writable, schema version {LATEST}, private (0600)")


def test_json_output(env, project):
    env.run("install", "--scope", "local")
    result = env.run("doctor", "--json")
    report = json.loads(result.stdout)
    assert (result.returncode, report["ok"]) == (0, True)
    assert report["checks"][:3] == [
        {"area": "config", "status": "ok", "message": OK_CONFIG[14:], "fix": ""},
        {"area": "store", "status": "ok", "message": store_line(env)[14:], "fix": ""},
        {"area": "hooks", "status": "ok", "message": ".claude/settings.local.json (local): PreToolUse (Bash)",
         "fix": ""}]


# ---- hooks -----------------------------------------------------------------------------------------------------

def test_a_hook_pointing_at_a_removed_virtualenv(env, project):
    env.run("install", "--scope", "project")
    gone = "/nonexistent/venv/bin/policy-hook --agent claude-code"
    edit_settings(project, lambda data: data["hooks"]["PreToolUse"][0]["hooks"][0].update(command=gone))
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == [(f"fail  hooks   the installed command `{gone}` (project): /nonexistent/venv/bin/policy-hook "
                        "does not exist or is not executable (Claude Code then runs without policy)" + FIX_PROJECT)]


@pytest.mark.parametrize("script, problem", [
    ("#!/nonexistent/python3\nprint('hi')\n",
     "its interpreter /nonexistent/python3 does not exist (the virtualenv was moved or removed)"),
    ("#!/bin/sh\necho 'policy: broken install' >&2\nexit 1\n", "it exits 1: policy: broken install"),
])
def test_a_launcher_that_cannot_decide(env, project, tmp_path, script, problem):
    launcher = write(tmp_path / "old" / "bin" / "policy-hook", script)
    launcher.chmod(0o755)
    env.run("install", "--scope", "project")
    edit_settings(project, lambda data: data["hooks"]["PreToolUse"][0]["hooks"][0].update(
        command=f"{launcher} --agent claude-code"))
    assert problems(doctor(env)[1]) == [
        f"fail  hooks   the installed command `{launcher} --agent claude-code` (project): {problem}" + FIX_PROJECT]


def test_a_timeout_below_max_delay(env, project):
    env.run("install", "--scope", "project")
    write(project / "policy.yaml", "rules: [.policy/rules]\nmax_delay: 120\n")
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == ["fail  hooks   .claude/settings.json: the PreToolUse hook times out after 75 s, before a "
                               "rule's delay can end (max_delay 120 s needs 135 s)" + FIX_PROJECT]
    env.run("install", "--scope", "project")
    assert doctor(env)[0] == 0


def test_a_rule_on_an_event_or_tool_the_hooks_miss(env, project):
    env.run("install", "--scope", "project")
    write(project / ".policy" / "rules" / "more.yaml", """
        version: 1
        pack: more
        rules:
          - {id: env-files, events: PreToolUse, tools: [Edit, Write], decision: ask, reason: Secrets.}
          - {id: tests-first, events: Stop, when: "False", decision: deny, reason: Tests.}
    """)
    code, lines = doctor(env)
    assert code == 1
    assert lines[0] == "ok    config  policy.yaml: 2 packs (more, project), rules on PreToolUse, Stop"
    assert problems(lines) == [
        "fail  hooks   the PreToolUse hook's matcher 'Bash' misses tools that more/env-files, project/no-force-push "
        "look at (needed: 'Bash|Edit|Write')" + FIX_PROJECT,
        "fail  hooks   no hook for Stop, so more/tests-first never run" + FIX_PROJECT]
    env.run("install", "--scope", "project")
    assert doctor(env)[0] == 0


def test_a_hook_on_an_event_no_rule_uses_is_a_warning(env, project):
    env.run("install", "--scope", "project")
    edit_settings(project, lambda data: data["hooks"].update(Notification=[{"hooks": [
        {"type": "command", "command": HOOK, "timeout": 75}]}]))
    code, lines = doctor(env)
    assert code == 0
    assert "warn  hooks   hooked but no rule uses Notification (a process start each time, for nothing)" \
           + FIX_PROJECT in lines
    assert lines[-1] == "policy is enforcing your rules here (1 warning)"


def test_hooks_in_two_scopes_with_different_commands_run_twice(env, project):
    env.run("install", "--scope", "project")
    write(Path(env.vars["HOME"]) / ".claude" / "settings.json", json.dumps({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [
        {"type": "command", "command": f"'{POLICY_HOOK.parent}/../bin/policy-hook' --agent claude-code",
         "timeout": 75}]}]}}))
    code, lines = doctor(env)
    assert code == 0
    assert ("warn  hooks   PreToolUse is hooked in user and project settings with different commands: policy runs "
            "twice on every PreToolUse; fix: policy uninstall --scope user") in lines


@pytest.mark.parametrize("handler", [
    {"type": "command", "command": f"POLICY_PACING=off {HOOK}", "timeout": 75},
    {"type": "command", "command": "/usr/bin/env", "args": ["POLICY_PACING=off", str(POLICY_HOOK)], "timeout": 75},
    {"type": "command", "command": str(POLICY_HOOK), "args": ["--agent", "claude-code"], "timeout": 75},
])
def test_a_hook_the_user_wrapped_is_checked_like_ours(env, project, handler):
    write(settings(project), json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [handler]}]}}))
    code, lines = doctor(env)
    shown = handler["command"] if "args" not in handler else json.dumps([handler["command"], *handler["args"]])
    assert (code, lines[2:]) == (0, [
        "ok    hooks   .claude/settings.json (project): PreToolUse (Bash)",
        f"ok    hooks   `{shown}` runs and decides (checked with a dry-run event)",
        "policy is enforcing your rules here"])


def test_a_wrapped_hook_whose_program_is_gone(env, project):
    write(settings(project), json.dumps({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "FOO=1 /nowhere/bin/policy-hook --agent claude-code", "timeout": 75}]}]}}))
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == [
        "fail  hooks   the installed command `FOO=1 /nowhere/bin/policy-hook --agent claude-code` (project): "
        "/nowhere/bin/policy-hook does not exist or is not executable (Claude Code then runs without policy)"
        + FIX_PROJECT]


def test_a_policy_hook_on_worktree_create_fails(env, project):
    env.run("install", "--scope", "project")
    edit_settings(project, lambda data: data["hooks"].update(WorktreeCreate=[{"hooks": [
        {"type": "command", "command": HOOK, "timeout": 75}]}]))
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == [
        "fail  hooks   .claude/settings.json hooks policy on WorktreeCreate, which it cannot answer: every worktree "
        "creation fails" + FIX_PROJECT,
        "warn  hooks   hooked but no rule uses WorktreeCreate (a process start each time, for nothing)" + FIX_PROJECT]
    env.run("install", "--scope", "project")
    assert doctor(env)[0] == 0


def test_a_rule_on_worktree_create_is_a_config_error(env, project):
    env.run("install", "--scope", "project")
    write(project / ".policy" / "rules" / "wt.yaml", "version: 1\npack: wt\nrules:\n  - {id: w, events: "
                                                      "[WorktreeCreate], decision: deny}\n")
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == [
        "fail  config  .policy/rules/wt.yaml:4:5: unsupported-event: rule wt/w: policy cannot answer WorktreeCreate "
        "in Claude Code; fix: a WorktreeCreate hook must create the worktree itself and print its path, which "
        "policy does not do; drop WorktreeCreate from the rule"]


def test_disable_all_hooks_and_unreadable_settings(env, project):
    env.run("install", "--scope", "project")
    write(project / ".claude" / "settings.local.json", '{"disableAllHooks": true}\n')
    write(Path(env.vars["HOME"]) / ".claude" / "settings.json", "{oops\n")
    code, lines = doctor(env)
    assert code == 1
    home_settings = env.vars["HOME"] + "/.claude/settings.json"
    assert problems(lines) == [
        f"fail  hooks   {home_settings}:1:2: not valid JSON (Expecting property name enclosed in double quotes) "
        "(Claude Code ignores it); fix: fix it (Claude Code cannot read it either) or move it aside; nothing was "
        "changed",
        "fail  hooks   .claude/settings.local.json sets disableAllHooks: no hook runs, policy enforces nothing; fix: "
        "remove disableAllHooks from .claude/settings.local.json"]


# ---- config --------------------------------------------------------------------------------------------------------

def test_config_errors_and_warnings_one_line_each(env, project):
    env.run("install", "--scope", "project")
    write(env.config / "policy" / "config.yaml", "rules: [mine.yaml]\n")
    write(env.config / "policy" / "mine.yaml", "version: 1\npack: mine\nrules: [{id: a, events: Stop}]\n")
    write(project / "policy.yaml", "rules: [.policy/rules, missing]\nmax_delay: 1\n")
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines)[:2] == [
        f"fail  config  policy.yaml:1:24: not-found: no such file or directory: missing ({project}/missing); fix: "
        "fix the path; it is relative to the config file's directory",
        "warn  config  policy.yaml:2:1: not-trusted: the project config cannot lower max_delay below 60s (it caps "
        f"the user-level delays): ignored; fix: add {project} to `trusted_projects` in "
        f"{env.config}/policy/config.yaml to allow it"]
    assert "ok    hooks   .claude/settings.json (project): PreToolUse (Bash)" in lines
    # the hook is installed right and reports the config's error: the fix is the config, not a reinstall
    assert problems(lines)[2] == (
        f"fail  hooks   the installed command `{INSTALLED}` (project): it runs, but fails: not-found: no such file or "
        f"directory: missing ({project}/missing); fix: fix the config errors above (`policy validate` lists them)")
    assert len(problems(lines)) == 3


def test_no_rules_enabled(env):
    write(env.root / "policy.yaml", "version: 1\n")
    assert doctor(env)[1][0] == ("fail  config  policy.yaml: no rules are enabled, so nothing is enforced; fix: "
                                 "policy init, or add packs to policy.yaml")


# ---- the fact store --------------------------------------------------------------------------------------------------

def make_store(env: Env, project: Path) -> None:
    env.run("install", "--scope", "project")
    assert env.run("eval", stdin=b'{"hook_event_name": "Stop", "session_id": "s"}').returncode == 0
    assert env.db.is_file()


def test_a_store_readable_by_others(env, project):
    make_store(env, project)
    env.db.chmod(0o644)
    code, lines = doctor(env)
    assert code == 1
    assert problems(lines) == [
        f"fail  store   {env.db} is readable by other users (mode 0644); it holds your prompts' decisions and "
        f"sessions; fix: chmod 600 {env.db}"]
    assert f"ok    store   {env.db}: opens, writable, schema version {LATEST}" in lines


def test_a_store_from_a_newer_policy(env, project):
    make_store(env, project)
    connection = sqlite3.connect(env.db)
    connection.execute("PRAGMA user_version=9")
    connection.close()
    assert problems(doctor(env)[1])[0] == (f"fail  store   {env.db} has schema version 9, newer than this policy "
                                           f"({LATEST}); fix: upgrade policy")


def test_a_corrupt_store(env, project):
    make_store(env, project)
    for suffix in ("-wal", "-shm"):
        Path(str(env.db) + suffix).unlink(missing_ok=True)
    env.db.write_bytes(b"this is not a database" * 100)
    env.db.chmod(0o600)
    lines = doctor(env)[1]
    assert f"fail  store   the fact store {env.db} is corrupt (file is not a database); fix: move it aside " \
           f"(mv {env.db} {env.db}.corrupt); a fresh one is created on the next run" in lines


@pytest.mark.skipif(IS_ROOT, reason="root can write anywhere")
def test_a_store_in_a_directory_that_cannot_be_written(env, project):
    env.run("install", "--scope", "project")
    env.state.chmod(0o500)
    try:
        lines = doctor(env)[1]
    finally:
        env.state.chmod(0o700)
    assert f"fail  store   {env.db} does not exist and {env.state} is not writable; fix: chmod u+w {env.state}, or " \
           "set db in the config" in lines


def test_the_store_named_by_the_config_comes_before_policy_db(env, project):
    write(project / "policy.yaml", "rules: [.policy/rules]\ndb: facts.db\n")
    line = "ok    store   facts.db: does not exist yet; the first hook creates it (0600)"
    assert line in doctor(env)[1]
    result = env.run("doctor", extra_env={"POLICY_DB": str(env.root / "other.db")})
    assert line in result.stdout.decode().splitlines()


# ---- editor schemas -------------------------------------------------------------------------------------------------

def test_stale_editor_schemas_are_a_warning(env, project):
    env.run("install", "--scope", "project")
    schema = project / ".policy" / "schemas" / "rules.schema.json"
    schema.write_text(schema.read_text().replace("The pack's name", "The name"))
    lines = doctor(env)[1]
    assert lines[-2:] == [
        "warn  schemas rules.schema.json in .policy/schemas are from another policy version; editors check your files "
        "against outdated schemas; fix: rm .policy/schemas/rules.schema.json && policy init",
        "policy is enforcing your rules here (1 warning)"]
    assert os.system(f"cd {project} && rm .policy/schemas/rules.schema.json") == 0
    env.run("init")
    assert doctor(env)[1][-1] == "policy is enforcing your rules here"
