"""What a cloned repository, a crafted event or a stray path cannot do: an untrusted project's rules write only
what is theirs; an event's text cannot make the hook lose its answer; the fact store's path never changes the
mode of someone else's file; a cache entry others could write is not loaded."""

from __future__ import annotations

import json
import os
import stat

from conftest import event_bytes, event_payload, write

RULES = """
    version: 1
    pack: repo
    rules:
      - id: bookkeeping
        events: [PreToolUse]
        decision: deny
        reason: "Blocked by the repository's rules: {{ input.command }}"
        do:
          - session_start: {type: personal, intention: "auto"}
          - set: {key: focus.override, value: true}
          - record: {table: focus_sessions, values: {type: personal, started_at: 0, planned_minutes: 999,
                                                     break_minutes: 0}}
          - set: {key: repo.last, value: "{{ tool }}"}
          - set: {key: tasks.last, value: "{{ tool }}"}
          - record: {table: repo_audit, values: {command: "{{ input.command }}"}}
"""


def logged_effects(env) -> list:
    return [json.loads(row["effects"]) for row in env.rows("SELECT effects FROM decisions ORDER BY id")]


def test_an_untrusted_projects_rules_write_only_what_is_theirs(env):
    """A project's rules may add denials, but a write to facts other rules read (starting a focus session, a kv
    key of another pack, a built-in table) could switch the user's rules off: those are refused, and logged."""
    project = env.root / "project"
    write(project / "repo.yaml", RULES)
    write(project / "policy.yaml", "version: 1\nrules: [repo.yaml]\n")
    payload = dict(event_payload("PreToolUse-Bash"), cwd=str(project))
    result = env.eval(stdin=json.dumps(payload).encode(), cwd=project)
    command = payload["tool_input"]["command"]
    assert (result.returncode, result.stderr) == (0, b"")
    assert json.loads(result.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    refused = "refused: the rules or params of repo are not trusted, and "
    assert logged_effects(env) == [[
        {"rule": "repo/bookkeeping", "effect": "session_start",
         "result": refused + "`session_start` writes facts other rules read"},
        {"rule": "repo/bookkeeping", "effect": "set",
         "result": refused + "the kv key 'focus.override' is not under a namespace the user config grants to "
                             "projects (project_kv: tasks)"},
        {"rule": "repo/bookkeeping", "effect": "record",
         "result": refused + "the built-in table 'focus_sessions' holds facts other rules read"},
        {"rule": "repo/bookkeeping", "effect": "set",
         "result": refused + "the kv key 'repo.last' is not under a namespace the user config grants to projects "
                             "(project_kv: tasks)"},
        {"rule": "repo/bookkeeping", "effect": "set", "result": "set tasks.last"},
        {"rule": "repo/bookkeeping", "effect": "record", "result": "recorded a row in repo_audit"}]]
    assert env.rows("SELECT count(*) AS n FROM focus_sessions") == [{"n": 0}]
    assert env.rows("SELECT key FROM kv") == [{"key": "tasks.last"}]
    assert env.rows("SELECT command FROM repo_audit") == [{"command": command}]

    validate = env.run("validate", cwd=project)
    assert validate.returncode == 0
    warnings = [line for line in validate.stdout.decode().splitlines() if "untrusted-effect" in line]
    assert warnings == [
        "repo.yaml:9:9: warning: untrusted-effect: this rule file is not trusted, and `session_start` writes facts "
        "other rules read: this `session_start` will be refused (recorded in the decision log, nothing is written "
        "or run)",
        "repo.yaml:10:9: warning: untrusted-effect: this rule file is not trusted, and the kv key 'focus.override' "
        "is not under a namespace the user config grants to projects (project_kv: tasks): this `set` will be "
        "refused (recorded in the decision log, nothing is written or run)",
        "repo.yaml:11:9: warning: untrusted-effect: this rule file is not trusted, and the built-in table "
        "'focus_sessions' holds facts other rules read: this `record` will be refused (recorded in the decision "
        "log, nothing is written or run)",
        "repo.yaml:13:9: warning: untrusted-effect: this rule file is not trusted, and the kv key 'repo.last' "
        "is not under a namespace the user config grants to projects (project_kv: tasks): this `set` will be "
        "refused (recorded in the decision log, nothing is written or run)"]

    write(env.config / "policy" / "config.yaml", f"version: 1\ntrusted_projects: [{project}]\n")
    env.eval(stdin=json.dumps(payload).encode(), cwd=project)
    assert all(not entry["result"].startswith("refused") for entry in logged_effects(env)[1])
    assert env.rows("SELECT intention FROM focus_sessions ORDER BY id") == [{"intention": "auto"},
                                                                           {"intention": None}]


def test_a_lone_surrogate_in_the_event_cannot_cost_the_answer(env):
    """JSON can escape half of a UTF-16 pair (`\\ud800`), which no UTF-8 can carry: the deny must still go out
    (on PermissionRequest, Claude Code ignores the exit 2 a crash would give) and be logged."""
    write(env.root / "rules.yaml", """
        version: 1
        pack: guard
        rules:
          - id: no-npm
            events: [PermissionRequest]
            decision: deny
            reason: "Blocked {{ input.command }}"
    """)
    payload = json.dumps(event_payload("PermissionRequest-Bash")).replace('"npm install', '"\\ud800npm install', 1)
    assert "\\ud800npm install" in payload
    result = env.eval("--rules", "rules.yaml", stdin=payload.encode())
    assert (result.returncode, result.stderr) == (0, b"")
    answer = json.loads(result.stdout)["hookSpecificOutput"]
    assert answer["decision"]["behavior"] == "deny"
    assert answer["decision"]["message"].startswith("Blocked \ufffdnpm install")
    assert [row["verdict"] for row in env.rows("SELECT verdict FROM decisions")] == ["deny"]


def test_ask_on_stop_in_dont_ask_mode_does_not_block(env):
    """ask/defer become deny where nobody is asked (dontAsk) only where they mean asking the user (PreToolUse,
    PermissionRequest): on Stop an `ask` is no verdict, and turning it into a block would keep the agent going
    until Claude Code's own cap."""
    write(env.root / "rules.yaml", """
        version: 1
        pack: guard
        rules:
          - {id: ask-stop, events: [Stop], decision: ask, reason: Check the tests.}
          - {id: ask-tool, events: [PreToolUse], decision: ask, reason: Check the command.}
    """)
    stop = dict(event_payload("Stop"), permission_mode="dontAsk")
    result = env.eval("--rules", "rules.yaml", stdin=json.dumps(stop).encode())
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    result = env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash-dontAsk"))
    assert json.loads(result.stdout) == {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "Check the command."}}


def test_a_decision_claude_code_cannot_act_on_is_a_warning(env):
    write(env.root / "rules.yaml", """
        version: 1
        pack: guard
        rules:
          - {id: no-compact, events: [PostCompact, Stop], decision: deny, reason: Not now.}
          - {id: allow-stop, events: [Stop], decision: allow, message: hi, context: note}
    """)
    result = env.run("validate", "rules.yaml")
    assert (result.returncode, result.stdout.decode()) == (0, (
        "rules.yaml:4:5: warning: inert-decision: decision: deny does nothing on PostCompact in Claude Code (the "
        "rule still matches there: its other parts and effects apply)\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the decision\n"
        "rules.yaml:5:5: warning: inert-decision: decision: allow does nothing on Stop in Claude Code (the rule "
        "still matches there: its other parts and effects apply)\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the decision\n"
        "0 errors, 2 warnings in 1 file\n"))


def test_a_store_path_that_is_not_a_store_keeps_its_mode(env, tmp_path):
    write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n  - {id: a, events: [Stop], decision: allow}\n")
    directory = tmp_path / "somewhere"
    directory.mkdir(mode=0o755)
    result = env.eval("--rules", "rules.yaml", "--db", str(directory), stdin=json.dumps(event_payload("Stop")).encode())
    assert result.stderr.decode() == (
        f"policy: db-unavailable: the fact store {directory} is not a file (point --db, the config's `db` or "
        "POLICY_DB at a file (it is created if missing))\n")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    notes = write(tmp_path / "notes.txt", "my notes\n")
    os.chmod(notes, 0o644)
    result = env.eval("--rules", "rules.yaml", "--db", str(notes), stdin=json.dumps(event_payload("Stop")).encode())
    assert "db-corrupt" in result.stderr.decode()
    assert (stat.S_IMODE(os.stat(notes).st_mode), notes.read_text()) == (0o644, "my notes\n")


def test_a_cache_entry_others_can_write_is_not_loaded(tmp_path):
    from policy.cache import _read_private

    entry = tmp_path / "entry"
    entry.write_bytes(b"marshal data")
    os.chmod(entry, 0o600)
    assert _read_private(str(entry)) == b"marshal data"
    os.chmod(entry, 0o620)
    assert _read_private(str(entry)) is None
    os.chmod(entry, 0o602)
    assert _read_private(str(entry)) is None
