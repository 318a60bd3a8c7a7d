"""`policy log`: the decision log written by real `policy eval` runs, filtered and printed."""

from __future__ import annotations

import json

from conftest import event_payload

RULES = """version: 1
pack: demo
revision: r7
rules:
  - id: no-rm
    events: PreToolUse
    tools: Bash
    match: {tool_input.command: '^rm '}
    decision: deny
    reason: No rm.
"""


def _eval(env, rules, payload, now):
    return env.run_text("eval", "--rules", str(rules), "--now", now, stdin=json.dumps(payload))


def test_log_lists_filters_and_serialises(env, tmp_path):
    rules = tmp_path / "demo.yaml"
    rules.write_text(RULES)
    ls = event_payload("PreToolUse-Bash-ls")
    rm = dict(ls, tool_input={"command": "rm -rf build"})
    other = dict(rm, session_id="other-session")
    _eval(env, rules, ls, "2026-11-20T10:00:00+00:00")
    _eval(env, rules, rm, "2026-11-20T10:01:00+00:00")
    _eval(env, rules, other, "2026-11-20T10:02:00+00:00")

    rows = json.loads(env.run_text("log", "--json").stdout)
    assert [(row["agent_session"], row["verdict"], row["rule_ids"], row["reason"]) for row in rows] == [
        ("other-session", "deny", ["demo/no-rm"], "No rm."),
        (ls["session_id"], "deny", ["demo/no-rm"], "No rm."),
        (ls["session_id"], "none", [], None),
    ]
    assert rows[0]["packs"] == {"demo": "r7"}
    denies = json.loads(env.run_text("log", "--json", "--verdict", "deny", "--session", "other-session").stdout)
    assert [row["at"] for row in denies] == [rows[0]["at"]]
    nones = json.loads(env.run_text("log", "--json", "--verdict", "none").stdout)
    assert len(nones) == 1 and nones[0]["tool"] == "Bash"
    text = env.run_text("log", "--limit", "1").stdout.splitlines()
    assert text[0].split() == ["time", "event", "session", "tool", "verdict", "rules", "delay", "reason"]
    assert max(len(line) for line in text) <= 80  # the reason gets what is left of 80 columns
    assert text[2].split()[2:] == ["PreToolUse", "other-se", "Bash", "deny", "demo/no-rm", "No", "rm."]


def test_log_rejects_an_unknown_verdict(env):
    out = env.run_text("log", "--verdict", "block")
    assert out.returncode == 2
    assert out.stderr == "policy: usage: --verdict must be one of deny, defer, ask, allow, none, not 'block'\n"
