"""`policy eval` end to end: the installed command, run as Claude Code runs it, on the real payloads in
examples/events/, against rule files written here. Exact stdout, exit code, stderr, and the rows written."""

from __future__ import annotations

import json
import time

import pytest
from conftest import all_event_files, event_bytes, event_payload, write

from policy.adapters import ADAPTERS

SESSION = "8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f"
NOW = "2026-11-20T10:00:00+01:00"
NOW_EPOCH = 1795165200.0

RULES = """
version: 1
pack: guard
revision: r1
rules:
  - id: no-terraform
    events: PreToolUse
    tools: Bash
    match:
      tool_input.command: '^terraform (apply|destroy)\\b'
    when: "'billing' in event.cwd"
    decision: deny
    reason: "No {{ input.command }} in {{ basename(event.cwd) }}."
    do:
      - record: {table: audit, values: {command: "{{ input.command }}", session: "{{ session }}", verdict: "{{ verdict }}"}}
  - id: npm-install
    events: PermissionRequest
    match:
      tool_input.command: '^npm install'
    decision: deny
    reason: npm installs need a ticket.
  - id: prompt-context
    events: [UserPromptSubmit, SessionStart]
    context: "Branch main, {{ now.hour }}h."
  - id: run-tests
    events: Stop
    decision: deny
    reason: Run the tests first.
  - id: lint-feedback
    events: PostToolUse
    tools: Edit
    decision: deny
    reason: "Lint {{ input.file_path }}."
"""
TERRAFORM_DENY = {"hookSpecificOutput": {
    "hookEventName": "PreToolUse", "permissionDecision": "deny",
    "permissionDecisionReason": "No terraform apply -auto-approve in billing."}}
KNOWN = ", ".join(sorted(ADAPTERS))  # the hosts policy eval knows, as its usage errors list them


@pytest.fixture
def rules(env):
    return write(env.root / "rules.yaml", RULES)


def run(env, payload, *args, extra_env=None, hook=False):
    stdin = payload if isinstance(payload, bytes) else event_bytes(payload)
    arguments = ["--rules", "rules.yaml", *args] if "--rules" not in args and "--config" not in args else list(args)
    if hook:
        return env.run(*arguments, stdin=stdin, extra_env=extra_env, hook=True)
    return env.eval(*arguments, stdin=stdin, extra_env=extra_env)


def output(result):
    """stdout as JSON (None when empty); stdout is never anything but one JSON object or nothing."""
    assert "Traceback" not in result.stdout.decode() + result.stderr.decode()
    if not result.stdout:
        return None
    text = result.stdout.decode()
    assert text.endswith("\n") and text.count("\n") == 1, text
    return json.loads(text)


def decisions(env):
    return env.rows("SELECT * FROM decisions ORDER BY id") if env.db.exists() else []


# ---- decisions on real payloads -------------------------------------------------------------------------------------

def test_deny_with_its_effect_and_decision_row(env, rules):
    result = run(env, "PreToolUse-Bash", "--now", NOW)
    assert (result.returncode, output(result), result.stderr) == (0, TERRAFORM_DENY, b"")
    (row,) = decisions(env)
    assert len(row.pop("ruleset")) == 32 and row.pop("latency_ms") > 0
    # the payload is kept (redacted of secrets; this one has none: whole)
    assert json.loads(row.pop("payload")) == event_payload("PreToolUse-Bash")
    assert row == {
        "id": 1, "at": NOW_EPOCH, "host": "claude-code", "event": "PreToolUse", "agent_session": SESSION,
        "tool": "Bash", "verdict": "deny", "rule_ids": '["guard/no-terraform"]',
        "reason": "No terraform apply -auto-approve in billing.", "delay": 0.0, "packs": '{"guard":"r1"}',
        "effects": '[{"rule":"guard/no-terraform","effect":"record","result":"recorded a row in audit"}]',
        "error": None, "agent_id": None, "stop_hook_active": 0, "continued": 0, "payload_form": "full"}
    assert env.rows("SELECT * FROM audit") == [
        {"command": "terraform apply -auto-approve", "session": SESSION, "verdict": "deny"}]


def test_no_matching_rule_prints_nothing_and_logs_the_event(env, rules):
    result = run(env, "PreToolUse-Bash-ls")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    (row,) = decisions(env)
    assert (row["event"], row["tool"], row["verdict"], row["rule_ids"], row["reason"], row["effects"]) == (
        "PreToolUse", "Bash", None, "[]", None, None)


@pytest.mark.parametrize("payload, expected", [
    ("PermissionRequest-Bash", {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "deny", "message": "npm installs need a ticket."}}}),
    ("UserPromptSubmit", {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit",
                                                  "additionalContext": "Branch main, 10h."}}),
    ("SessionStart", {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "Branch main, 10h."}}),
    ("Stop", {"decision": "block", "reason": "Run the tests first."}),
    ("PostToolUse-Edit", {"decision": "block", "reason": "Lint /home/dev/shop/src/cart.py."}),
    ("PostToolUse-Bash", None),
    ("PreToolUse-Bash-session2", TERRAFORM_DENY),
])
def test_real_payloads(env, rules, payload, expected):
    result = run(env, payload, "--now", NOW)
    assert (result.returncode, output(result), result.stderr) == (0, expected, b"")
    (row,) = decisions(env)
    assert (row["event"], row["agent_session"]) == (event_payload(payload)["hook_event_name"],
                                                    event_payload(payload)["session_id"])


def test_stop_block_is_not_repeated_while_stop_hook_active(env, rules):
    first = run(env, "Stop")
    assert output(first) == {"decision": "block", "reason": "Run the tests first."}
    again = run(env, "Stop-active", "--explain")
    assert (again.returncode, again.stdout) == (0, b"")
    assert again.stderr.decode() == (
        "explain: Stop: verdict none\n"
        "  skipped:\n"
        "    guard/run-tests: 1 consecutive blocks reached block_cap 1 "
        "[stop_hook_active = True, consecutive_blocks = 1]\n")
    assert [(row["event"], row["verdict"]) for row in decisions(env)] == [("Stop", "deny"), ("Stop", None)]
    # a new prompt starts a new count
    run(env, "UserPromptSubmit")
    assert output(run(env, "Stop-active")) == {"decision": "block", "reason": "Run the tests first."}


@pytest.mark.parametrize("path", [path for path in all_event_files() if path.stem != "WorktreeCreate"],
                         ids=lambda path: path.stem)
def test_every_payload_without_rules_passes_through(env, path):
    write(env.root / "rules.yaml", "version: 1\npack: empty\nrules: []\n")
    result = run(env, path.read_bytes())
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    (row,) = decisions(env)
    assert (row["event"], row["verdict"], row["error"]) == (event_payload(path.stem)["hook_event_name"], None, None)


def test_worktree_create_is_never_passed_through(env):
    """Printing nothing there would fail the creation with "no worktree path": policy says why instead."""
    write(env.root / "rules.yaml", "version: 1\npack: empty\nrules: []\n")
    result = run(env, "WorktreeCreate")
    assert (result.returncode, result.stdout, result.stderr.decode()) == (
        2, b"", "policy: unsupported-event: policy cannot answer WorktreeCreate (a WorktreeCreate hook must create the "
                "worktree itself and print its path, which policy does not do; drop WorktreeCreate from the rule)\n")


def test_unknown_event_passes_through(env, rules):
    result = run(env, b'{"hook_event_name": "SomethingNew", "session_id": "s1"}')
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_policy_hook_launcher_behaves_like_policy_eval(env, rules):
    result = run(env, "PreToolUse-Bash", hook=True)
    assert (result.returncode, output(result), result.stderr) == (0, TERRAFORM_DENY, b"")
    assert len(decisions(env)) == 1


# ---- bad stdin --------------------------------------------------------------------------------------------------------

TEN_MB = json.dumps({**event_payload("PreToolUse-Write"), "tool_input": {
    "file_path": "/home/dev/shop/big.txt", "content": "x" * (10 * 1024 * 1024)}}).encode()

BAD_STDIN = [
    ("not-json", b"this is not json", None,
     "bad-input: stdin is not valid JSON: Expecting value: line 1 column 1 (char 0) "
     "(the hook payload must be one JSON object)"),
    ("truncated", event_bytes("PreToolUse-Bash")[:40], None,
     "bad-input: stdin is not valid JSON: Unterminated string starting at: line 2 column 17 (char 18) "
     "(the hook payload must be one JSON object)"),
    ("array", b"[1, 2]", None,
     "bad-input: the hook payload must be a JSON object, not an array (see examples/events/ for real payloads)"),
    ("wrong-types", b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "rm -rf /"}', "PreToolUse",
     "bad-input: field 'tool_input' must be an object, not a string"),
    ("invalid-utf8", b'{"hook_event_name": "PreToolUse", "x": "\xff"}', None,
     "bad-input: stdin is not valid UTF-8 (byte 0xff at offset 40) (the hook payload must be UTF-8 JSON)"),
    ("empty", b"", None, "bad-input: stdin is empty (pipe a hook event (JSON) into `policy eval`)"),
    ("ten-mb", TEN_MB, "PreToolUse",
     "bad-input: the hook payload is larger than 8388608 bytes "
     "(raise max_event_bytes in the config if such payloads are expected)"),
]


@pytest.mark.parametrize("name, stdin, event_name, line", BAD_STDIN, ids=[case[0] for case in BAD_STDIN])
def test_bad_stdin_fails_closed_by_default(env, rules, name, stdin, event_name, line):
    result = run(env, stdin)
    assert (result.returncode, result.stdout, result.stderr.decode()) == (2, b"", f"policy: {line}\n")
    if name == "ten-mb":  # a payload that parses is an event: its failed attempt is logged like any other
        assert [(row["event"], row["verdict"], row["error"]) for row in decisions(env)] == [
            ("PreToolUse", None, line.split(" (", 1)[0])]
    else:
        assert decisions(env) == []


@pytest.mark.parametrize("name, stdin, event_name, line", BAD_STDIN, ids=[case[0] for case in BAD_STDIN])
def test_bad_stdin_with_fail_open(env, rules, name, stdin, event_name, line):
    write(env.root / "policy.yaml", "version: 1\nfail: open\nrules: [rules.yaml]\n")
    result = env.eval(stdin=stdin)
    assert result.returncode == 0
    assert output(result) == {"systemMessage": f"policy: {line} - policy is NOT enforcing rules"}
    assert result.stderr.decode() == f"policy: {line}\n"


def test_bad_payload_of_an_event_that_fails_open_by_default(env, rules):
    result = run(env, b'{"hook_event_name": "Stop", "stop_hook_active": "yes"}')
    line = "policy: bad-input: field 'stop_hook_active' must be a boolean, not a string"
    assert (result.returncode, output(result), result.stderr.decode()) == (
        0, {"systemMessage": line + " - policy is NOT enforcing rules"}, line + "\n")


def test_bad_payload_on_permission_request_fails_closed_as_a_json_deny(env, rules):
    result = run(env, b'{"hook_event_name": "PermissionRequest", "tool_name": "Bash", "tool_input": []}')
    line = "policy: bad-input: field 'tool_input' must be an object, not an array"
    assert (result.returncode, output(result), result.stderr.decode()) == (0, {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": line}}}, line + "\n")


def test_max_event_bytes_can_be_raised(env, rules):
    write(env.root / "policy.yaml", f"version: 1\nmax_event_bytes: {16 * 1024 * 1024}\nrules: [rules.yaml]\n")
    result = env.eval(stdin=TEN_MB)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_unknown_agent(env, rules):
    """Answered for the event, in its fail mode (Stop: open), with the default host's protocol."""
    result = env.eval("--agent", "nano", stdin=event_bytes("Stop"))
    line = f"policy: usage: unknown agent 'nano' (known: {KNOWN})"
    assert (result.returncode, output(result), result.stderr.decode()) == (
        0, {"systemMessage": line + " - policy is NOT enforcing rules"}, line + "\n")


def test_usage_errors(env, rules):
    result = env.eval("--bogus", stdin=event_bytes("PreToolUse-Bash"))
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == (
        "policy: usage: unknown argument '--bogus' (usage: policy eval [--agent claude-code] [--event NAME] "
        "[--config FILE] [--rules PATH]... [--db FILE] [--now ISO] [--dry-run] [--explain] [--format host|json] "
        "[--timeout SECONDS] < event.json)\n")
    result = env.eval("--timeout", "0", stdin=event_bytes("PreToolUse-Bash"))  # fails closed, as any usage error
    assert (result.returncode, result.stderr.decode().split(" (")[0]) == (
        2, "policy: usage: --timeout must be a number of seconds above 0")
    result = env.eval("--now", "tomorrow", stdin=event_bytes("PreToolUse-Bash"))
    assert (result.returncode, result.stderr.decode()) == (
        2, "policy: usage: --now 'tomorrow' is not an ISO 8601 time (e.g. 2026-11-20T10:00:00+01:00)\n")
    assert decisions(env) == []  # nothing was evaluated


def test_a_usage_error_at_a_terminal_does_not_wait_for_stdin(env, rules):
    """Someone typing `policy eval --bogus` gets the error at once (no hook event is coming from a terminal)."""
    import os
    import pty
    import subprocess

    from conftest import POLICY

    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([str(POLICY), "eval", "--bogus"], stdin=terminal, capture_output=True, env=env.vars,
                              cwd=str(env.root), timeout=30)
    finally:
        os.close(terminal)
        os.close(controller)
    assert (done.returncode, done.stdout, done.stderr.decode().startswith("policy: usage: unknown argument")) == (
        2, b"", True)


# ---- broken rule files ----------------------------------------------------------------------------------------------

BROKEN = "version: 1\npack: guard\nrules:\n  - id: a\n    events: PreToolUs\n    when: toool\n"
BROKEN_LINE = ("policy: rules.yaml:5:13: bad-value: 'PreToolUs' is not a valid value for rules[0].events "
               "(did you mean 'PreToolUse'?)")


def test_broken_rule_file_fails_closed_with_the_located_error(env):
    write(env.root / "rules.yaml", "version: 1\npack: guard\nrules:\n  - id: a\n    events: PreToolUs\n"
                                   "  - id: b\n    events: Stop\n    when: toool\n")
    result = run(env, "PreToolUse-Bash")
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == (
        "policy: rules.yaml:5:13: bad-value: 'PreToolUs' is not a valid value for rules[0].events (and 1 "
        "more: run `policy validate`) (did you mean 'PreToolUse'?)\n")
    assert decisions(env) == []


def test_broken_rule_file_with_fail_open_in_the_config(env):
    write(env.root / "rules.yaml", "version: 1\npack: guard\nrules:\n  - id: a\n    events: PreToolUs\n")
    write(env.root / "policy.yaml", "version: 1\nfail: open\nrules: [rules.yaml]\n")
    result = env.eval(stdin=event_bytes("PreToolUse-Bash"))
    line = ("policy: rules.yaml:5:13: bad-value: 'PreToolUs' is not a valid value for rules[0].events "
            "(did you mean 'PreToolUse'?)")
    assert (result.returncode, output(result), result.stderr.decode()) == (
        0, {"systemMessage": line + " - policy is NOT enforcing rules"}, line + "\n")


def test_runtime_error_in_a_rule_applies_the_fail_mode_and_is_logged(env):
    write(env.root / "rules.yaml", "version: 1\npack: guard\nrules:\n  - id: a\n    events: [PreToolUse, Stop]\n"
                                   "    when: 1 + 'x'\n    decision: deny\n")
    line = ("policy: rules.yaml:6:11: runtime-error: rule guard/a: when `1 + 'x'` failed: TypeError: "
            "unsupported operand type(s) for +: 'int' and 'str' (guard against missing values, e.g. `(x or 0) > 5`; "
            "test with `policy test`)")
    result = run(env, "PreToolUse-Bash")
    assert (result.returncode, result.stdout, result.stderr.decode()) == (2, b"", line + "\n")
    result = run(env, "Stop")  # Stop fails open by default
    assert (result.returncode, output(result)) == (0, {"systemMessage": line + " - policy is NOT enforcing rules"})
    assert [(row["event"], row["verdict"], row["error"]) for row in decisions(env)] == [
        ("PreToolUse", None, line.removeprefix("policy: rules.yaml:6:11: ").split(" (guard")[0]),
        ("Stop", None, line.removeprefix("policy: rules.yaml:6:11: ").split(" (guard")[0])]


# ---- flags and switches ---------------------------------------------------------------------------------------------

def test_dry_run_writes_nothing_and_says_what_it_would_do(env, rules):
    result = run(env, "PreToolUse-Bash", "--dry-run")
    assert (result.returncode, output(result)) == (0, TERRAFORM_DENY)
    assert result.stderr.decode() == (
        "dry run: verdict deny; would sleep 0s; 1 effect(s) not applied\n"
        '  would guard/no-terraform: record {"table": "audit", "values": {"command": "terraform apply -auto-approve", '
        f'"session": "{SESSION}", "verdict": "deny"}}}}\n')
    assert decisions(env) == []
    assert env.rows("SELECT name FROM sqlite_master WHERE name = 'audit'") == []


def test_dry_run_with_policy_disable_writes_nothing(env, rules):
    result = run(env, "PreToolUse-Bash", "--dry-run", extra_env={"POLICY_DISABLE": "1"})
    assert (result.returncode, result.stdout) == (0, b"")
    assert decisions(env) == []


def test_explain(env, rules):
    result = run(env, "PreToolUse-Bash-ls", "--explain")
    assert (result.returncode, result.stdout) == (0, b"")
    assert result.stderr.decode() == (
        "explain: PreToolUse: verdict none\n"
        "  not matched:\n"
        "    guard/no-terraform: tool_input.command does not match /^terraform (apply|destroy)\\b/ "
        "[tool_input.command = 'ls -la']\n")
    result = run(env, "PreToolUse-Bash", "--explain")
    assert result.stderr.decode() == (
        "explain: PreToolUse: verdict deny\n"
        "  reason: No terraform apply -auto-approve in billing.\n"
        "  matched:\n"
        "    guard/no-terraform: decision deny [event.cwd = '/home/dev/shop/infra/stacks/billing']\n")


def test_format_json(env, rules):
    result = run(env, "PreToolUse-Bash", "--format", "json", "--explain", "--now", NOW)
    assert (result.returncode, result.stderr) == (0, b"")
    report = json.loads(result.stdout)
    assert report == {
        "event": "PreToolUse", "verdict": "deny", "reason": "No terraform apply -auto-approve in billing.",
        "context": None, "message": None, "stop": None, "updated_input": None, "updated_output": None, "delay": 0.0,
        "rules": ["guard/no-terraform"],
        "output": {"stdout": json.dumps(TERRAFORM_DENY, separators=(",", ":")) + "\n", "stderr": "", "exit_code": 0},
        "effects": ['guard/no-terraform: record {"table": "audit", "values": {"command": "terraform apply '
                    f'-auto-approve", "session": "{SESSION}", "verdict": "deny"}}}}'],
        "applied": [{"rule": "guard/no-terraform", "effect": "record", "result": "recorded a row in audit"}],
        "dry_run": False, "error": None,
        "trace": [{"pack": "guard", "rule_id": "no-terraform", "outcome": "matched", "detail": "decision deny",
                   "values": [["event.cwd", "/home/dev/shop/infra/stacks/billing"]], "location": "rules.yaml:5:5"}]}


def test_format_json_of_a_failure_exits_0_with_the_error(env):
    write(env.root / "rules.yaml", "version: 1\npack: guard\nrules:\n  - id: a\n    events: PreToolUs\n")
    report = json.loads(run(env, "PreToolUse-Bash", "--format", "json").stdout)
    assert report["error"] == {"code": "bad-value",
                               "message": "'PreToolUs' is not a valid value for rules[0].events",
                               "hint": "did you mean 'PreToolUse'?"}
    assert report["output"]["exit_code"] == 2


def test_now_sets_the_clock_and_its_zone(env, rules):
    result = run(env, "UserPromptSubmit", "--now", "2026-11-20T23:30:00Z")
    assert output(result)["hookSpecificOutput"]["additionalContext"] == "Branch main, 23h."
    result = run(env, "UserPromptSubmit", "--now", "2026-11-20T23:30:00-05:00")
    assert output(result)["hookSpecificOutput"]["additionalContext"] == "Branch main, 23h."
    assert [row["at"] for row in decisions(env)] == [1795217400.0, 1795235400.0]


def test_policy_disable(env, rules):
    result = run(env, "PreToolUse-Bash", extra_env={"POLICY_DISABLE": "1"})
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    (row,) = decisions(env)
    assert (row["event"], row["verdict"], row["rule_ids"], row["error"]) == (
        "PreToolUse", None, "[]", "POLICY_DISABLE=1: no rules evaluated")
    assert env.rows("SELECT name FROM sqlite_master WHERE name = 'audit'") == []


def test_policy_disable_works_when_the_rules_are_broken(env):
    write(env.root / "rules.yaml", BROKEN)
    result = run(env, "PreToolUse-Bash", extra_env={"POLICY_DISABLE": "1"})
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert [(row["event"], row["verdict"], row["error"], row["ruleset"]) for row in decisions(env)] == [
        ("PreToolUse", None, "POLICY_DISABLE=1: no rules evaluated", None)]


def test_policy_disable_works_when_the_store_is_corrupt(env, rules):
    env.db.parent.mkdir(parents=True)
    env.db.write_bytes(b"not a database" * 100)
    result = run(env, "PreToolUse-Bash", extra_env={"POLICY_DISABLE": "1"})
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert env.db.read_bytes() == b"not a database" * 100


def test_policy_disable_works_on_bad_stdin(env, rules):
    result = run(env, b"[not json", extra_env={"POLICY_DISABLE": "1"})
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


@pytest.mark.parametrize("value, switched_off", [("off", True), ("OFF", True), ("0", True), ("false", True),
                                                 ("on", False), ("", False)])
def test_pack_kill_switch(env, rules, value, switched_off):
    result = run(env, "PreToolUse-Bash", extra_env={"POLICY_GUARD": value})
    assert output(result) == (None if switched_off else TERRAFORM_DENY)


def test_delay_is_slept_and_logged(env):
    write(env.root / "rules.yaml", "version: 1\npack: pace\nrules:\n  - id: slow\n    events: PreToolUse\n"
                                   "    delay: 0.3\n    context: slowed down\n")
    started = time.monotonic()
    result = run(env, "PreToolUse-Bash")
    elapsed = time.monotonic() - started
    assert (result.returncode, output(result)) == (0, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "additionalContext": "slowed down"}})
    assert elapsed >= 0.3
    assert decisions(env)[0]["delay"] == 0.3


def test_delay_is_not_slept_in_a_dry_run(env):
    write(env.root / "rules.yaml", "version: 1\npack: pace\nrules:\n  - id: slow\n    events: PreToolUse\n"
                                   "    delay: 0.3\n")
    result = run(env, "PreToolUse-Bash", "--dry-run")
    assert result.stderr.decode() == "dry run: verdict none; would sleep 0.3s; 0 effect(s) not applied\n"


def test_db_flag_and_policy_db(env, rules):
    run(env, "Stop", "--db", str(env.root / "flag.db"))
    run(env, "Stop", extra_env={"POLICY_DB": str(env.root / "env.db")})
    assert len(env.rows("SELECT * FROM decisions", db=env.root / "flag.db")) == 1
    assert len(env.rows("SELECT * FROM decisions", db=env.root / "env.db")) == 1
    assert not env.db.exists()
