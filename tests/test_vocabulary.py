"""The host-neutral vocabulary: neutral event names and tool kinds in rules, `agents:`, rules that can fire on no
enabled host, and the hooks each host needs for a ruleset (what `policy install --agent NAME` writes)."""

from __future__ import annotations

import json

from conftest import ROOT, event_bytes, host_output, write

from policy.compiler import PackSource, build_ruleset, compile_files
from policy.model import Settings
from policy.vocabulary import HOSTS, canonical_tool, host_hooks, normalised_input


def ruleset_of(tmp_path, text):
    path = write(tmp_path / "rules.yaml", text)
    compiled = compile_files([PackSource(path=str(path), display="rules.yaml", trusted=True)])
    assert [d.render() for d in compiled.errors] == []
    return build_ruleset(compiled, Settings())


NEUTRAL = """
version: 1
pack: neutral
rules:
  - id: no-rm
    events: [before_tool, PreToolUse]
    tools: shell
    match: {tool_input.command: '^rm '}
    decision: deny
    reason: no rm
  - id: codex-only
    events: before_tool
    tools: [shell]
    agents: [codex]
    decision: deny
    reason: codex only
  - id: prompt-note
    events: prompt
    context: noted
"""


def test_neutral_names_and_claude_names_compile_to_the_same_events(tmp_path):
    ruleset = ruleset_of(tmp_path, NEUTRAL)
    rules = {rule.id: rule for rule in ruleset.packs[0].rules}
    assert rules["no-rm"].events == ("PreToolUse",)
    assert rules["no-rm"].tools == "^(?:(?:Bash|PowerShell))$"
    assert rules["codex-only"].agents == ("codex",)
    assert rules["prompt-note"].events == ("UserPromptSubmit",)
    assert sorted(ruleset.by_event) == ["PreToolUse", "UserPromptSubmit"]


def test_a_neutral_rule_denies_a_claude_code_call_and_agents_leave_out_the_other_hosts(env):
    write(env.root / "rules.yaml", NEUTRAL.replace("'^rm '", "'^npm '"))
    payload = json.loads(event_bytes("PreToolUse-Bash"))
    payload["tool_input"]["command"] = "npm install"
    result = env.eval("--rules", "rules.yaml", stdin=json.dumps(payload).encode())
    assert result.returncode == 0, result.stderr
    answer = host_output("PreToolUse", result.stdout.decode())
    # codex-only is for Codex: only no-rm's reason
    assert answer == {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                             "permissionDecisionReason": "no rm"}}


def test_validate_reports_a_rule_that_can_fire_on_no_enabled_host(env):
    write(env.root / "rules.yaml", """
version: 1
pack: p
rules:
  - id: gemini-teammates
    events: TeammateIdle
    agents: [gemini]
    decision: deny
    reason: x
  - id: codex-rule
    events: before_tool
    agents: codex
    decision: deny
    reason: y
""")
    result = env.run_text("validate", "rules.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "rules.yaml:4:5: never-fires: rule p/gemini-teammates cannot fire on any enabled host: Gemini CLI "
        "never raises TeammateIdle",
        "    hint: docs/hosts.md lists each host's events; change the rule's events or `agents:`",
        "1 error, 0 warnings in 1 file",
    ]
    # a config that enables only Claude Code leaves the Codex rule nowhere to run
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nagents: [claude-code]\n")
    result = env.run_text("validate", "policy.yaml")
    assert result.returncode == 1
    assert ("rules.yaml:9:5: never-fires: rule p/codex-rule cannot fire on any enabled host: it is for "
            "codex, and the enabled hosts are claude-code") in result.stdout


HOOKED = """
version: 1
pack: hooked
rules:
  - id: shell
    events: before_tool
    tools: shell
    decision: deny
    reason: r
  - id: edits
    events: before_tool
    tools: [Edit, Write]
    decision: ask
    reason: r
  - id: after
    events: after_tool
    context: c
  - id: stop
    events: stop
    decision: deny
    reason: r
  - id: teammates
    events: TeammateIdle
    decision: deny
    reason: r
  - id: switched-off
    events: session_start
    enabled: false
    context: c
"""


def test_host_hooks_lists_each_hosts_events_and_matchers(tmp_path):
    ruleset = ruleset_of(tmp_path, HOOKED)
    found = {host: [(hook.event, hook.canonical, hook.matcher, [rule.id for rule in hook.rules])
                    for hook in host_hooks(ruleset, host)] for host in HOSTS}
    before = ["shell", "edits"]
    assert found == {
        "claude-code": [("PreToolUse", "PreToolUse", "Bash|Edit|PowerShell|Write", before),
                        ("PostToolUse", "PostToolUse", "*", ["after"]), ("Stop", "Stop", None, ["stop"]),
                        ("TeammateIdle", "TeammateIdle", None, ["teammates"])],
        "codex": [("PreToolUse", "PreToolUse", "Bash|apply_patch", before),
                  ("PostToolUse", "PostToolUse", ".*", ["after"]), ("Stop", "Stop", None, ["stop"])],
        "gemini": [("AfterAgent", "Stop", None, ["stop"]),
                   ("BeforeTool", "PreToolUse", "replace|run_shell_command|write_file", before),
                   ("AfterTool", "PostToolUse", ".*", ["after"])],
        # one call reaches policy once: shell through beforeShellExecution, the rest through preToolUse
        "cursor": [("beforeShellExecution", "PreToolUse", None, before),
                   ("preToolUse", "PreToolUse", "Edit|StrReplace|Write", before),
                   ("afterShellExecution", "PostToolUse", None, ["after"]),
                   ("afterMCPExecution", "PostToolUse", None, ["after"]),
                   ("afterFileEdit", "PostToolUse", None, ["after"]),
                   ("postToolUse", "PostToolUse", "Glob|Grep|Read|WebFetch|WebSearch|Write", ["after"]),
                   ("stop", "Stop", None, ["stop"])],
        "copilot": [("preToolUse", "PreToolUse", None, before), ("postToolUse", "PostToolUse", None, ["after"]),
                    ("agentStop", "Stop", None, ["stop"])],
    }


def test_agents_keep_a_rule_off_other_hosts_hooks(tmp_path):
    ruleset = ruleset_of(tmp_path, NEUTRAL)
    assert [(hook.event, [rule.id for rule in hook.rules]) for hook in host_hooks(ruleset, "gemini")] == [
        ("BeforeAgent", ["prompt-note"]), ("BeforeTool", ["no-rm"])]
    assert [(hook.event, [rule.id for rule in hook.rules]) for hook in host_hooks(ruleset, "codex")] == [
        ("UserPromptSubmit", ["prompt-note"]), ("PreToolUse", ["no-rm", "codex-only"])]


def test_host_tools_become_canonical_with_canonical_fields():
    assert canonical_tool("gemini", "run_shell_command") == ("Bash", {"dir_path": "path"})
    assert canonical_tool("gemini", "mcp_github_create_issue") == ("mcp__github__create_issue", {})
    assert canonical_tool("copilot", "edit") == ("Edit", {"path": "file_path", "old_str": "old_string",
                                                          "new_str": "new_string"})
    assert canonical_tool("codex", "mcp__fs__read") == ("mcp__fs__read", {})
    assert normalised_input({"path": "/a", "file_text": "x"}, canonical_tool("copilot", "create")[1]) == {
        "file_path": "/a", "content": "x"}


def test_validate_warns_on_tools_and_fields_no_host_has_with_the_closest_name(env):
    write(env.root / "rules.yaml", """
version: 1
pack: typo
rules:
  - id: one
    events: before_tool
    tools: [Bsh, run_shell_command, shell]
    match: {tool_input.comand: '^rm', tool_input.command: y, host_payload.tool_input.dir_path: z}
    when: "input.descripton == 'x' and event.sesion_id != ''"
    decision: deny
    reason: r
  - id: mcp-inputs-are-not-known
    events: before_tool
    tools: 'mcp__github__.*'
    match: {tool_input.owner: dev}
    decision: deny
    reason: r
""")
    result = env.run_text("validate", "rules.yaml")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "rules.yaml:4:5: warning: unknown-tool: rule typo/one: no enabled host has a tool 'Bsh', so `tools:` never "
        "matches it",
        "    hint: did you mean 'Bash'?",
        "rules.yaml:7:32: warning: unknown-field: rule typo/one: tool_input.comand: no known tool input of the "
        "rule's tools has 'comand'",
        "    hint: did you mean 'command'?",
        "rules.yaml:8:11: warning: unknown-field: rule typo/one: input.descripton: no known tool input of the "
        "rule's tools has 'descripton'",
        "    hint: did you mean 'description'?",
        "rules.yaml:8:11: warning: unknown-field: rule typo/one: event.sesion_id: 'sesion_id' is no field of the "
        "rule's events (in Claude Code's names, which every host's payload is given)",
        "    hint: did you mean 'session_id'?",
        "0 errors, 4 warnings in 1 file",
    ]
    # a host's own tool name is known only while that host is enabled
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nagents: [claude-code, codex]\n")
    result = env.run_text("validate", "policy.yaml")
    assert "no enabled host has a tool 'run_shell_command'" in result.stdout


def test_per_host_warnings_are_for_the_hosts_the_config_names(env):
    write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n  - id: note\n    events: before_tool\n"
                                   "    context: careful\n")
    assert env.run_text("validate", "rules.yaml").stdout == "ok: 1 file valid\n"
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nagents: [claude-code, gemini]\n")
    result = env.run_text("validate", "policy.yaml")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "rules.yaml:4:5: warning: inert-field: context does nothing on PreToolUse in Gemini CLI",
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the context, "
        "limit the rule with `agents:`, or leave gemini out of the config's `agents:` if you do not use it",
        "0 errors, 1 warning in 1 file",
    ]


def test_fail_modes_may_name_events_neutrally(env):
    write(env.root / "rules.yaml", "version: 1\npack: broken\nrules:\n  - id: x\n    events: stop\n"
                                   "    when: \"1/0 > 1\"\n    decision: deny\n    reason: r\n")
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nfail: {stop: closed}\n")
    gemini = (ROOT / "examples" / "events" / "gemini" / "AfterAgent.json").read_bytes()
    done = env.eval("--agent", "gemini", "--config", "policy.yaml", stdin=gemini)
    assert (done.stdout, done.returncode) == (b"", 2)  # closed, where Stop's default is open
    assert done.stderr.decode().startswith("policy: rules.yaml:6:11: runtime-error: rule broken/x: when `1/0 > 1`")


def test_the_transcript_facts_are_claude_codes_only(env):
    write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n  - id: t\n    events: stop\n"
                                   "    context: \"available={{ facts.transcript.available }}\"\n")
    transcript = env.root / "t.jsonl"
    transcript.write_text('{"type": "assistant", "message": {"content": [{"type": "text", "text": "hi"}]}}\n')
    claude = json.loads(event_bytes("Stop"))
    codex = json.loads((ROOT / "examples" / "events" / "codex" / "Stop.json").read_text())
    for payload in (claude, codex):
        payload["transcript_path"] = str(transcript)
    done = env.eval("--rules", "rules.yaml", stdin=json.dumps(claude).encode())
    assert json.loads(done.stdout)["hookSpecificOutput"]["additionalContext"] == "available=True"
    done = env.eval("--agent", "codex", "--rules", "rules.yaml", stdin=json.dumps(codex).encode())
    assert json.loads(done.stdout) == {"decision": "block", "reason": "available=False"}
