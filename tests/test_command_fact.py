"""`policy fact set|get|list|unset` against a real store, and rules reading what it writes."""

from __future__ import annotations

import json
import sqlite3

from conftest import event_payload


def test_set_get_list_unset(env):
    assert env.run_text("fact", "set", "hr.bpm", "128").stdout == "hr.bpm = 128\n"
    assert env.run_text("fact", "set", "note", "hello world").stdout == 'note = "hello world"\n'
    assert env.run_text("fact", "set", "flag", "true", "--string").stdout == 'flag = "true"\n'
    got = env.run_text("fact", "get", "hr.bpm")
    assert (got.returncode, got.stdout) == (0, "128\n")
    assert env.run_text("fact", "get", "note").stdout == "hello world\n"
    assert env.run_text("fact", "get", "note", "--json").stdout == '"hello world"\n'
    listed = json.loads(env.run_text("fact", "list", "--json").stdout)
    assert [(row["key"], row["value"], row["expires_at"]) for row in listed] == [
        ("flag", "true", None), ("hr.bpm", 128, None), ("note", "hello world", None)]
    removed = env.run_text("fact", "unset", "note")
    assert (removed.returncode, removed.stdout) == (0, "removed note\n")
    missing = env.run_text("fact", "get", "note")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "policy: no fact 'note' (or it expired)\n")


def test_ttl_expiry_and_rows(env):
    out = env.run_text("fact", "set", "hr.ok", "false", "--ttl", "60")
    assert out.stdout == "hr.ok = false (expires in 60)\n"
    db = env.db
    with sqlite3.connect(db) as connection:
        value, updated, expires = connection.execute(
            "SELECT value, updated_at, expires_at FROM kv WHERE key = 'hr.ok'").fetchone()
    assert value == "false"
    assert expires - updated == 60
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE kv SET expires_at = updated_at - 1 WHERE key = 'hr.ok'")
    assert env.run_text("fact", "get", "hr.ok").returncode == 1
    assert env.run_text("fact", "list").stdout == "no facts\n"


def test_bad_ttl_is_a_usage_error(env):
    out = env.run_text("fact", "set", "x", "1", "--ttl", "soon")
    assert out.returncode == 2
    assert out.stderr == "policy: usage: --ttl 'soon' is not a duration (e.g. 90, 30s, 5m, 1h30m, 2d)\n"


def test_rules_read_what_fact_set_wrote(env, tmp_path):
    rules = tmp_path / "gate.yaml"
    rules.write_text(
        "version: 1\npack: gate\nrules:\n"
        "  - id: hr-gate\n    events: PreToolUse\n    when: \"facts.kv['hr.ok'] == false\"\n"
        "    decision: deny\n    reason: \"Heart rate too high ({{ facts.kv['hr.bpm'] }} bpm)\"\n")
    env.run_text("fact", "set", "hr.ok", "false")
    env.run_text("fact", "set", "hr.bpm", "171")
    out = env.run_text("eval", "--rules", str(rules), stdin=json.dumps(event_payload("PreToolUse-Edit")))
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "Heart rate too high (171 bpm)"}}
    env.run_text("fact", "set", "hr.ok", "true")
    out = env.run_text("eval", "--rules", str(rules), stdin=json.dumps(event_payload("PreToolUse-Edit")))
    assert (out.returncode, out.stdout) == (0, "")
