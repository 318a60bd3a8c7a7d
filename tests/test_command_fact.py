"""`policy fact set|get|list|unset` against a real store, and rules reading what it writes."""

from __future__ import annotations

import json
import sqlite3

from conftest import example, run_policy


def test_set_get_list_unset(env):
    assert run_policy(["fact", "set", "hr.bpm", "128"], env).stdout == "hr.bpm = 128\n"
    assert run_policy(["fact", "set", "note", "hello world"], env).stdout == 'note = "hello world"\n'
    assert run_policy(["fact", "set", "flag", "true", "--string"], env).stdout == 'flag = "true"\n'
    got = run_policy(["fact", "get", "hr.bpm"], env)
    assert (got.returncode, got.stdout) == (0, "128\n")
    assert run_policy(["fact", "get", "note"], env).stdout == "hello world\n"
    assert run_policy(["fact", "get", "note", "--json"], env).stdout == '"hello world"\n'
    listed = json.loads(run_policy(["fact", "list", "--json"], env).stdout)
    assert [(row["key"], row["value"], row["expires_at"]) for row in listed] == [
        ("flag", "true", None), ("hr.bpm", 128, None), ("note", "hello world", None)]
    removed = run_policy(["fact", "unset", "note"], env)
    assert (removed.returncode, removed.stdout) == (0, "removed note\n")
    missing = run_policy(["fact", "get", "note"], env)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "policy: no fact 'note' (or it expired)\n")


def test_ttl_expiry_and_rows(env):
    out = run_policy(["fact", "set", "hr.ok", "false", "--ttl", "60"], env)
    assert out.stdout == "hr.ok = false (expires in 60)\n"
    db = f"{env['XDG_STATE_HOME']}/policy/facts.db"
    with sqlite3.connect(db) as connection:
        value, updated, expires = connection.execute(
            "SELECT value, updated_at, expires_at FROM kv WHERE key = 'hr.ok'").fetchone()
    assert value == "false"
    assert expires - updated == 60
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE kv SET expires_at = updated_at - 1 WHERE key = 'hr.ok'")
    assert run_policy(["fact", "get", "hr.ok"], env).returncode == 1
    assert run_policy(["fact", "list"], env).stdout == "no facts\n"


def test_bad_ttl_is_a_usage_error(env):
    out = run_policy(["fact", "set", "x", "1", "--ttl", "soon"], env)
    assert out.returncode == 2
    assert out.stderr == "policy: usage: --ttl 'soon' is not a duration (e.g. 90, 30s, 5m, 1h30m, 2d)\n"


def test_rules_read_what_fact_set_wrote(env, tmp_path):
    rules = tmp_path / "gate.yaml"
    rules.write_text(
        "version: 1\npack: gate\nrules:\n"
        "  - id: hr-gate\n    events: PreToolUse\n    when: \"facts.kv['hr.ok'] == false\"\n"
        "    decision: deny\n    reason: \"Heart rate too high ({{ facts.kv['hr.bpm'] }} bpm)\"\n")
    run_policy(["fact", "set", "hr.ok", "false"], env)
    run_policy(["fact", "set", "hr.bpm", "171"], env)
    out = run_policy(["eval", "--rules", str(rules)], env, stdin=json.dumps(example("PreToolUse-Edit")))
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "Heart rate too high (171 bpm)"}}
    run_policy(["fact", "set", "hr.ok", "true"], env)
    out = run_policy(["eval", "--rules", str(rules)], env, stdin=json.dumps(example("PreToolUse-Edit")))
    assert (out.returncode, out.stdout) == (0, "")
