"""policy.cache: a warm `policy eval` loads compiled rules without YAML; any change to what they were compiled
from is noticed; a bad entry is only a miss; entries are private."""

from __future__ import annotations

import json
import marshal
import os
import stat

import pytest
from conftest import event_bytes, traced_hook, write

RULE = """
version: 1
pack: guard
rules:
  - id: no-terraform
    events: PreToolUse
    match:
      tool_input.command: '^terraform'
    decision: {decision}
    reason: {reason}
"""


def deny_reason(result):
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout) if result.stdout else {}
    specific = body.get("hookSpecificOutput", {})
    return specific.get("permissionDecision"), specific.get("permissionDecisionReason")


def entries(env):
    directory = env.cache / "policy" / "rulesets"
    return sorted(directory.iterdir()) if directory.exists() else []


@pytest.fixture
def rules(env):
    return write(env.root / "rules.yaml", RULE.format(decision="deny", reason="first"))


def test_warm_cache_is_used_without_yaml(env, rules):
    cold, cold_modules = traced_hook(env, "--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    assert deny_reason(cold) == ("deny", "first")
    assert {"yaml", "jsonschema", "policy.compiler", "policy.loader"} <= cold_modules
    assert len(entries(env)) == 1
    warm, warm_modules = traced_hook(env, "--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    assert deny_reason(warm) == ("deny", "first")
    assert not {"yaml", "jsonschema", "policy.compiler", "policy.loader", "policy.schema"} & warm_modules
    assert len(entries(env)) == 1


def test_editing_a_rule_file_invalidates(env, rules):
    assert deny_reason(env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "first")
    write(rules, RULE.format(decision="ask", reason="second"))
    result, modules = traced_hook(env, "--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    assert deny_reason(result) == ("ask", "second")
    assert "yaml" in modules


def test_editing_the_config_invalidates(env, rules):
    write(rules, RULE.format(decision="defer", reason="later"))
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\n")
    assert deny_reason(env.eval(stdin=event_bytes("PreToolUse-Bash"))) == ("ask", "later")
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\ndefer_as: deny\n")
    assert deny_reason(env.eval(stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "later")


def test_adding_a_user_config_invalidates(env, rules):
    write(rules, RULE.format(decision="defer", reason="later"))
    assert deny_reason(env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))) == ("ask", "later")
    write(env.config / "policy" / "config.yaml", "version: 1\ndefer_as: deny\n")
    assert deny_reason(env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "later")


def test_adding_a_file_to_a_rules_directory_invalidates(env):
    write(env.root / "rules" / "a.yaml", "version: 1\npack: a\nrules: []\n")
    assert deny_reason(env.eval("--rules", "rules", stdin=event_bytes("PreToolUse-Bash"))) == (None, None)
    write(env.root / "rules" / "b.yaml", RULE.format(decision="deny", reason="from b"))
    assert deny_reason(env.eval("--rules", "rules", stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "from b")
    (env.root / "rules" / "b.yaml").unlink()
    assert deny_reason(env.eval("--rules", "rules", stdin=event_bytes("PreToolUse-Bash"))) == (None, None)


def test_adding_a_file_to_a_config_rules_directory_invalidates(env):
    write(env.root / "policy.yaml", "version: 1\nrules: [more]\n")
    write(env.root / "more" / "a.yaml", "version: 1\npack: a\nrules: []\n")
    assert deny_reason(env.eval(stdin=event_bytes("PreToolUse-Bash"))) == (None, None)
    write(env.root / "more" / "b.yaml", RULE.format(decision="deny", reason="from b"))
    assert deny_reason(env.eval(stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "from b")


@pytest.mark.parametrize("content", [
    b"", b"garbage", b"\x00" * 100,
    marshal.dumps((1, 2, 3)),                                  # the wrong shape
    marshal.dumps((1, 5, {}, (), ())),                         # the right shape, nonsense inside
    marshal.dumps((1, [], {}, (), (..., "NoSuchRecord", 1))),  # records of another build
])
def test_a_bad_cache_entry_is_ignored_and_replaced(env, rules, content):
    assert deny_reason(env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))) == ("deny", "first")
    (entry,) = entries(env)
    entry.write_bytes(content)
    result = env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    assert (deny_reason(result), result.stderr) == (("deny", "first"), b"")
    assert entry.read_bytes() != content


def test_no_cache_switch(env, rules):
    result = env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"),
                      extra_env={"POLICY_NO_CACHE": "1"})
    assert deny_reason(result) == ("deny", "first")
    assert entries(env) == []


def test_broken_rules_are_not_cached(env):
    write(env.root / "rules.yaml", "version: 1\npack: a\nrules: [{id: x, events: Nope}]\n")
    assert env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash")).returncode == 2
    assert entries(env) == []


def test_cache_entries_are_private(env, rules):
    env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    (entry,) = entries(env)
    assert stat.S_IMODE(os.stat(entry.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(entry).st_mode) == 0o600
    assert [path.name for path in entry.parent.iterdir() if path.name.endswith(".tmp")] == []


def test_records_of_another_shape_use_another_entry(tmp_path, isolated_environ, monkeypatch):
    # Entries are decoded positionally: code whose records have other fields (a new commit under the same version,
    # as in an editable install) must not find the entries of the old code.
    from policy import cache, model
    from policy.config import Request, discover

    request = Request(rules=(str(write(tmp_path / "rules.yaml", RULE.format(decision="deny", reason="x"))),),
                      cwd=str(tmp_path), environ=isolated_environ)
    before = cache._key(request, discover(request))
    assert cache._key(request, discover(request)) == before
    monkeypatch.setattr(model.Rule, "__policy_fields__", model.Rule.__policy_fields__ + ("added",))
    assert cache._key(request, discover(request)) != before
