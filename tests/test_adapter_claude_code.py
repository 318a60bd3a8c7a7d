"""policy.adapters.claude_code: stdin → Event, Decision → exactly what Claude Code expects (SPEC §5,
hook-protocols.md §4-5). Every JSON it prints is checked against tests/schemas/claude-code-output.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EVENTS, OUTPUT_SCHEMA, all_event_files, event_bytes, event_payload, host_output
from jsonschema import Draft202012Validator

from policy.adapters import claude_code, get_adapter
from policy.errors import InputError, Location, PolicyError
from policy.lean import replace
from policy.model import EVENTS as EVENTS_NAMES, Decision, Event, HookOutput, Settings

def check_output(event_name: str, output: HookOutput) -> dict | None:
    """The parsed stdout (None when empty), checked against the output schema for the event."""
    return host_output(event_name, output.stdout)


def valid(event_name, payload):
    validator = Draft202012Validator({"$ref": f"#/$defs/events/{event_name}", "$defs": OUTPUT_SCHEMA["$defs"]})
    return validator.is_valid(payload)


def test_the_output_schema_is_itself_valid_and_refuses_wrong_shapes():
    Draft202012Validator.check_schema(OUTPUT_SCHEMA)
    assert set(OUTPUT_SCHEMA["$defs"]["events"]) == set(EVENTS_NAMES) | {"failure"}
    assert valid("PreToolUse", {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                                       "permissionDecisionReason": "x"}})
    assert not valid("PreToolUse", {"permissionDecision": "deny"})  # top level: silently ignored by Claude Code
    assert not valid("PreToolUse", {"hookSpecificOutput": {"hookEventName": "Stop", "permissionDecision": "deny"}})
    assert not valid("Stop", {"decision": "block"})  # a block needs its reason
    assert not valid("Stop", {"decision": "deny", "reason": "x"})
    assert not valid("PermissionRequest", {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                                  "decision": {"behavior": "deny", "message": None}}})
    assert not valid("PostToolUseFailure", {"decision": "block", "reason": "x"})  # context only (errata)
    assert not valid("TaskCompleted", {"decision": "block", "reason": "x"})  # exit 2 or continue: false only
    assert valid("TaskCompleted", {"continue": False, "stopReason": "x"})
    assert not valid("Stop", {"stopReason": "x"})  # a stop reason goes with continue: false
    assert not valid("Stop", {"continue": True, "stopReason": "x"})
    assert not valid("WorktreeCreate", {})  # its stdout is a path
    assert not valid("Notification", {"decision": "block", "reason": "x"})
    assert valid("Elicitation", {"hookSpecificOutput": {"hookEventName": "Elicitation", "action": "decline"}})


# ---- parse: every real payload ------------------------------------------------------------------------------------------

# file -> (event, tool, prompt, permission_mode, stop_hook_active)
EXPECTED_EVENTS = {
    "ConfigChange": ("ConfigChange", None, None, None, False),
    "CwdChanged": ("CwdChanged", None, None, None, False),
    "DirectoryAdded": ("DirectoryAdded", None, None, None, False),
    "Elicitation": ("Elicitation", None, None, None, False),
    "ElicitationResult": ("ElicitationResult", None, None, None, False),
    "FileChanged": ("FileChanged", None, None, None, False),
    "InstructionsLoaded": ("InstructionsLoaded", None, None, None, False),
    "MessageDisplay": ("MessageDisplay", None, None, None, False),
    "Notification-idle": ("Notification", None, None, None, False),
    "Notification-permission": ("Notification", None, None, None, False),
    "PermissionDenied": ("PermissionDenied", "Bash", None, "auto", False),
    "PermissionRequest-Bash": ("PermissionRequest", "Bash", None, "default", False),
    "PostCompact": ("PostCompact", None, None, None, False),
    "PostToolBatch": ("PostToolBatch", None, None, "default", False),
    "PostToolUse-Bash": ("PostToolUse", "Bash", None, "default", False),
    "PostToolUse-Edit": ("PostToolUse", "Edit", None, "default", False),
    "PostToolUse-Write": ("PostToolUse", "Write", None, "default", False),
    "PostToolUseFailure-Bash": ("PostToolUseFailure", "Bash", None, "default", False),
    "PreCompact": ("PreCompact", None, None, None, False),
    "PreToolUse-Bash-bypass": ("PreToolUse", "Bash", None, "bypassPermissions", False),
    "PreToolUse-Bash-dontAsk": ("PreToolUse", "Bash", None, "dontAsk", False),
    "PreToolUse-Bash-ls": ("PreToolUse", "Bash", None, "default", False),
    "PreToolUse-Bash-session2": ("PreToolUse", "Bash", None, "default", False),
    "PreToolUse-Bash": ("PreToolUse", "Bash", None, "default", False),
    "PreToolUse-Edit": ("PreToolUse", "Edit", None, "default", False),
    "PreToolUse-Read": ("PreToolUse", "Read", None, "default", False),
    "PreToolUse-Write": ("PreToolUse", "Write", None, "default", False),
    "PreToolUse-mcp": ("PreToolUse", "mcp__github__create_issue", None, "default", False),
    "SessionEnd": ("SessionEnd", None, None, None, False),
    "SessionStart-resume": ("SessionStart", None, None, None, False),
    "SessionStart": ("SessionStart", None, None, None, False),
    "Setup": ("Setup", None, None, None, False),
    "Stop-active": ("Stop", None, None, "default", True),
    "Stop": ("Stop", None, None, "default", False),
    "StopFailure": ("StopFailure", None, None, None, False),
    "SubagentStart": ("SubagentStart", None, None, None, False),
    "SubagentStop": ("SubagentStop", None, None, "default", False),
    "SubagentStop-active": ("SubagentStop", None, None, "default", True),
    "SubagentStop-parallel": ("SubagentStop", None, None, "default", False),
    "TaskCompleted": ("TaskCompleted", None, None, "default", False),
    "TaskCreated": ("TaskCreated", None, None, "default", False),
    "TeammateIdle": ("TeammateIdle", None, None, "default", False),
    "UserPromptExpansion": ("UserPromptExpansion", None, "/fix-issue 142", "default", False),
    "UserPromptSubmit-focus": ("UserPromptSubmit", None, "!focus personal fix the login bug", "default", False),
    "UserPromptSubmit": ("UserPromptSubmit", None, "refactor the cart totals and add tests", "default", False),
    "WorktreeCreate": ("WorktreeCreate", None, None, None, False),
    "WorktreeRemove": ("WorktreeRemove", None, None, None, False),
}


def test_every_example_is_listed():
    assert {path.stem for path in all_event_files()} == set(EXPECTED_EVENTS)


@pytest.mark.parametrize("name", sorted(EXPECTED_EVENTS))
def test_parse_every_real_payload(name):
    payload = event_payload(name)
    event = claude_code.parse(event_bytes(name))
    name_, tool, prompt, mode, active = EXPECTED_EVENTS[name]
    assert event == Event(
        host="claude-code", name=name_, agent_session=payload["session_id"], cwd=payload["cwd"], tool=tool,
        tool_input=payload.get("tool_input", {}), prompt=prompt, permission_mode=mode, stop_hook_active=active,
        transcript_path=payload["transcript_path"], data=payload)


def test_parse_sessions_and_paths():
    event = claude_code.parse(event_bytes("PreToolUse-Bash"))
    assert (event.agent_session, event.cwd, event.transcript_path) == (
        "8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f", "/home/dev/shop/infra/stacks/billing",
        "/home/dev/.claude/projects/-home-dev-shop/8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f.jsonl")
    assert event.tool_input == {"command": "terraform apply -auto-approve",
                                "description": "Apply Terraform changes to the billing stack", "timeout": 120000,
                                "run_in_background": False}
    assert claude_code.parse(event_bytes("PreToolUse-Bash-session2")).agent_session == \
        "3b9e7f10-2c4d-4e6f-8a1b-5c7d9e0f1a2b"


def test_parse_tolerates_a_bom_surrounding_whitespace_and_unknown_events():
    assert claude_code.parse(b"\xef\xbb\xbf \n" + event_bytes("Stop") + b"\n\n").name == "Stop"
    assert claude_code.parse(b'{"hook_event_name": "SomethingNew", "x": 1}').name == "SomethingNew"
    assert claude_code.parse(b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": null}'
                             ).tool_input == {}


@pytest.mark.parametrize("raw, message, event_name", [
    (b"\xff{}", "stdin is not valid UTF-8 (byte 0xff at offset 0) (the hook payload must be UTF-8 JSON)", None),
    (b'{"a": "\xc3"}', "stdin is not valid UTF-8 (byte 0xc3 at offset 7) (the hook payload must be UTF-8 JSON)", None),
    (b"", "stdin is empty (pipe a hook event (JSON) into `policy eval`)", None),
    (b" \n\t", "stdin is empty (pipe a hook event (JSON) into `policy eval`)", None),
    (b"{", "stdin is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1) "
           "(the hook payload must be one JSON object)", None),
    (b"NaN", "stdin is not valid JSON: NaN is not valid JSON (the hook payload must be one JSON object)", None),
    (b'{"hook_event_name": "Stop"} {}', "stdin is not valid JSON: extra data after the JSON value at char 27 "
                                       "(the hook payload must be one JSON object)", None),
    (b"[" * 100_000, "stdin is not valid JSON: the JSON value is nested too deeply "
                     "(the hook payload must be one JSON object)", None),
    (b"[]", "the hook payload must be a JSON object, not an array (see examples/events/ for real payloads)", None),
    (b'"Stop"', "the hook payload must be a JSON object, not a string (see examples/events/ for real payloads)", None),
    (b"null", "the hook payload must be a JSON object, not null (see examples/events/ for real payloads)", None),
    (b"{}", "the hook payload has no hook_event_name (Claude Code sends it since 1.0.41; see examples/events/)",
     None),
    (b'{"hook_event_name": 5}', "field 'hook_event_name' must be a string, not a number", None),
    (b'{"hook_event_name": "Stop", "session_id": 5}', "field 'session_id' must be a string, not a number", "Stop"),
    (b'{"hook_event_name": "Stop", "cwd": ["/"]}', "field 'cwd' must be a string, not an array", "Stop"),
    (b'{"hook_event_name": "Stop", "stop_hook_active": "yes"}',
     "field 'stop_hook_active' must be a boolean, not a string", "Stop"),
    (b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "ls"}',
     "field 'tool_input' must be an object, not a string", "PreToolUse"),
    (b'{"hook_event_name": "PreToolUse", "tool_name": true}', "field 'tool_name' must be a string, not a boolean",
     "PreToolUse"),
    (b'{"hook_event_name": "PermissionRequest"}', "a PermissionRequest payload needs a tool_name",
     "PermissionRequest"),
    (b'{"hook_event_name": "UserPromptSubmit", "prompt": {"text": "x"}}',
     "field 'prompt' must be a string, not an object", "UserPromptSubmit"),
])
def test_parse_refuses_bad_input_with_one_clear_line(raw, message, event_name):
    with pytest.raises(InputError) as raised:
        claude_code.parse(raw)
    assert raised.value.one_line() == "bad-input: " + message
    assert raised.value.event_name == event_name


def test_adapter_registry():
    assert get_adapter("claude-code") is claude_code
    with pytest.raises(KeyError):
        get_adapter("nano")


# ---- render ---------------------------------------------------------------------------------------------------------------
# tests/test_protocol.py runs every cell of the event x part table through `policy eval`; these are the cases of one
# cell that depend on the decision's other parts, the settings or the permission mode.

R, C, M = "the reason", "the context", "the message"


def rendered(payload, verdict=None, *, settings=None, mode=None, **fields):
    event = claude_code.parse(event_bytes(payload))
    if mode is not None:
        event = replace(event, permission_mode=mode)
    decision = Decision(event.name, verdict, fields.pop("reason", R if verdict else None), **fields)
    output = claude_code.render(decision, event, settings or Settings())
    return check_output(event.name, output), output.stderr, output.exit_code


def specific(event_name, **fields):
    return {"hookSpecificOutput": {"hookEventName": event_name, **fields}}


def pre(**fields):
    return specific("PreToolUse", **fields)


BASH = event_payload("PreToolUse-Bash")["tool_input"]
NEW_INPUT = {**BASH, "command": "terraform plan"}


@pytest.mark.parametrize("verdict, settings, payload, expected", [
    ("ask", None, "PreToolUse-Bash-bypass", pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("ask", Settings(ask_in_bypass="deny"), "PreToolUse-Bash-bypass",
     pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("defer", None, "PreToolUse-Bash-bypass", pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("defer", Settings(defer_as="defer"), "PreToolUse-Bash-bypass", pre(permissionDecision="defer")),
    ("ask", None, "PreToolUse-Bash-dontAsk", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("ask", Settings(ask_in_bypass="deny"), "PreToolUse-Bash-dontAsk",
     pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("defer", Settings(defer_as="defer"), "PreToolUse-Bash-dontAsk",
     pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("allow", Settings(ask_in_bypass="deny"), "PreToolUse-Bash-bypass",
     pre(permissionDecision="allow", permissionDecisionReason=R)),
])
def test_permission_modes(verdict, settings, payload, expected):
    assert rendered(payload, verdict, settings=settings) == (expected, "", 0)


@pytest.mark.parametrize("verdict, mode, settings, expected", [
    ("ask", "dontAsk", None, {"behavior": "deny", "message": R}),
    ("defer", "dontAsk", None, {"behavior": "deny", "message": R}),
    ("ask", "bypassPermissions", None, None),  # the dialog shows (were there one)
    ("ask", "bypassPermissions", Settings(ask_in_bypass="deny"), {"behavior": "deny", "message": R}),
])
def test_permission_request_where_nobody_answers(verdict, mode, settings, expected):
    output = specific("PermissionRequest", decision=expected) if expected else None
    assert rendered("PermissionRequest-Bash", verdict, mode=mode, settings=settings) == (output, "", 0)


def test_a_deny_or_a_block_always_has_a_text_and_the_others_only_their_own():
    assert rendered("PreToolUse-Bash", "deny", reason=None)[0] == pre(permissionDecision="deny",
                                                                       permissionDecisionReason="blocked by policy")
    assert rendered("PreToolUse-Bash", "allow", reason=None)[0] == pre(permissionDecision="allow")
    assert rendered("PreToolUse-Bash", "ask", reason=None)[0] == pre(permissionDecision="ask")
    assert rendered("Stop", "deny", reason=None)[0] == {"decision": "block", "reason": "blocked by policy"}
    assert rendered("UserPromptSubmit", "ask", reason=None)[0] == {"decision": "block", "reason": "blocked by policy"}
    assert rendered("PermissionRequest-Bash", "deny", reason=None)[0] == specific(
        "PermissionRequest", decision={"behavior": "deny", "message": "blocked by policy"})
    assert rendered("TaskCompleted", "deny", reason=None) == (None, "blocked by policy\n", 2)


@pytest.mark.parametrize("payload, verdict, expected", [
    ("UserPromptSubmit", "deny", {"decision": "block", "reason": R}),  # the prompt is erased: no context for it
    ("UserPromptSubmit", "ask", {"decision": "block", "reason": R}),
    ("UserPromptSubmit", "allow", specific("UserPromptSubmit", additionalContext=C)),
    ("UserPromptExpansion", "deny", {"decision": "block", "reason": R}),
    ("PostToolUse-Bash", "deny", {"decision": "block", "reason": R, **specific("PostToolUse", additionalContext=C)}),
    ("PostToolBatch", "deny", {"decision": "block", "reason": R, **specific("PostToolBatch", additionalContext=C)}),
    ("Stop", "deny", {"decision": "block", "reason": R, **specific("Stop", additionalContext=C)}),
    ("PostToolUseFailure-Bash", "deny", specific("PostToolUseFailure", additionalContext=R + "\n\n" + C)),
    ("PreToolUse-Bash", "deny", pre(permissionDecision="deny", permissionDecisionReason=R, additionalContext=C)),
])
def test_context_with_a_verdict(payload, verdict, expected):
    assert rendered(payload, verdict, context=C) == (expected, "", 0)


def test_a_deny_that_exits_2_carries_nothing_else():
    assert rendered("TeammateIdle", "deny", context=C, message=M) == (None, R + "\n", 2)
    assert rendered("TaskCompleted", None, message=M) == ({"systemMessage": M}, "", 0)


def test_directory_added_gives_its_system_message_to_claude():
    """There Claude Code hands systemMessage to Claude: it carries the context, and never a message for the user."""
    assert rendered("DirectoryAdded", context=C, message=M) == ({"systemMessage": C}, "", 0)
    assert rendered("DirectoryAdded", message=M) == (None, "", 0)


@pytest.mark.parametrize("verdict, settings, payload, expected", [
    ("allow", None, "PreToolUse-Bash", pre(permissionDecision="allow", permissionDecisionReason=R,
                                            updatedInput=NEW_INPUT)),
    ("ask", None, "PreToolUse-Bash", pre(permissionDecision="ask", permissionDecisionReason=R,
                                          updatedInput=NEW_INPUT)),
    ("defer", None, "PreToolUse-Bash", pre(permissionDecision="ask", permissionDecisionReason=R,
                                            updatedInput=NEW_INPUT)),
    # Claude Code ignores a rewrite with defer; a deny runs nothing
    ("defer", Settings(defer_as="defer"), "PreToolUse-Bash", pre(permissionDecision="defer")),
    ("ask", None, "PreToolUse-Bash-dontAsk", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("allow", None, "PermissionRequest-Bash", specific("PermissionRequest", decision={
        "behavior": "allow", "updatedInput": NEW_INPUT})),
    ("ask", None, "PermissionRequest-Bash", None),
    ("allow", None, "Stop", None),
])
def test_a_rewritten_input_goes_with_a_call_that_goes_ahead(verdict, settings, payload, expected):
    assert rendered(payload, verdict, settings=settings, updated_input=NEW_INPUT) == (expected, "", 0)


def test_a_replaced_output_only_on_post_tool_use():
    assert rendered("PostToolUse-Bash", updated_output={"stdout": "x"}) == (
        specific("PostToolUse", updatedToolOutput={"stdout": "x"}), "", 0)
    assert rendered("PostToolUseFailure-Bash", updated_output={"stdout": "x"}) == (None, "", 0)


STOP = {"continue": False, "stopReason": "enough"}


@pytest.mark.parametrize("payload, verdict, expected", [
    ("PreToolUse-Bash", "allow", {**STOP, **pre(permissionDecision="deny", permissionDecisionReason="enough")}),
    ("PreToolUse-Bash", "deny", {**STOP, **pre(permissionDecision="deny", permissionDecisionReason=R)}),
    ("PermissionRequest-Bash", None, {**STOP, **specific("PermissionRequest", decision={
        "behavior": "deny", "message": "enough", "interrupt": True})}),
    ("Stop", "deny", STOP),
    ("SubagentStop", "deny", STOP),
    ("TeammateIdle", "deny", STOP),
    ("UserPromptSubmit", "deny", {**STOP, "decision": "block", "reason": R}),
    ("TaskCreated", "deny", {"decision": "block", "reason": R}),
    ("PreCompact", None, None),
])
def test_stop(payload, verdict, expected):
    assert rendered(payload, verdict, stop="enough", context=None) == (expected, "", 0)
    assert rendered("Stop", "deny", stop="enough", context=C) == (STOP, "", 0)


def test_unknown_events_get_no_answer():
    event = claude_code.parse(b'{"hook_event_name": "PreModelSwitch", "session_id": "s"}')
    assert claude_code.render(Decision("PreModelSwitch", "deny", R, C, M, stop="x"), event, Settings()) == HookOutput()


def test_worktree_create_is_refused_whatever_the_decision():
    event = claude_code.parse(event_bytes("WorktreeCreate"))
    for decision in (Decision("WorktreeCreate"), Decision("WorktreeCreate", "allow", R, C, M)):
        output = claude_code.render(decision, event, Settings())
        assert (output.stdout, output.exit_code) == ("", 2)
        assert output.stderr.startswith("policy: unsupported-event: policy cannot answer WorktreeCreate (")


# ---- failures -------------------------------------------------------------------------------------------------------------

ERROR = PolicyError("the fact store is corrupt", code="db-corrupt", hint="move it aside")
LINE = "policy: db-corrupt: the fact store is corrupt (move it aside)"
OPEN = json.dumps({"systemMessage": LINE + " - policy is NOT enforcing rules"}, separators=(",", ":")) + "\n"


@pytest.mark.parametrize("event_name, stdout", [
    (None, OPEN), ("PreToolUse", OPEN), ("PermissionRequest", OPEN), ("Stop", OPEN), ("SomethingNew", OPEN),
    ("CwdChanged", OPEN),
    ("Notification", ""), ("SessionEnd", ""), ("DirectoryAdded", ""),  # they show no systemMessage
])
def test_fail_open_says_so_where_the_user_sees_it(event_name, stdout):
    output = claude_code.render_failure(ERROR, event_name, "open")
    assert output == HookOutput(stdout=stdout, stderr=LINE + "\n", exit_code=0)
    check_output("failure", output)


def test_fail_closed_on_permission_request_is_a_json_deny():
    output = claude_code.render_failure(ERROR, "PermissionRequest", "closed")
    assert (output.exit_code, output.stderr) == (0, LINE + "\n")
    assert check_output("PermissionRequest", output) == {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": LINE}}}


@pytest.mark.parametrize("event_name", [None, "PreToolUse", "UserPromptSubmit", "Stop", "Notification",
                                        "TaskCompleted"])
def test_fail_closed_exits_2_with_one_line_and_no_stdout(event_name):
    assert claude_code.render_failure(ERROR, event_name, "closed") == HookOutput(stderr=LINE + "\n", exit_code=2)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_worktree_create_failures_never_print_to_stdout(mode):
    assert claude_code.render_failure(ERROR, "WorktreeCreate", mode) == HookOutput(stderr=LINE + "\n", exit_code=2)


def test_failure_line_is_one_line():
    error = PolicyError("two\nlines", code="x", hint="a\nhint")
    assert claude_code.render_failure(error, None, "closed").stderr == "policy: x: two lines (a hint)\n"


@pytest.mark.parametrize("raw, expected", [
    (event_bytes("Stop")[:event_bytes("Stop").index(b"Stop") + 5], "Stop"),
    (b'{"session_id": "s", "hook_event_name" :  "PermissionRequest", "tool_input": {"x": "', "PermissionRequest"),
    (b'{"session_id": "s"', None),
    (b'{"hook_event_name": 5}', None),
    (b'{"prompt": "x", ' + b" " * 70000 + b'"hook_event_name": "Stop"}', None),  # only the first 64 KiB are read
])
def test_event_name_hint(raw, expected):
    assert claude_code.event_name_hint(raw) == expected


# ---- validate time ------------------------------------------------------------------------------------------------------

def diagnostics_for(tmp_path, rules):
    from conftest import write

    from policy.compiler import PackSource, compile_files

    path = write(tmp_path / "r.yaml", "version: 1\npack: p\nrules:\n" + rules.lstrip("\n"))
    compiled = compile_files([PackSource(str(path), "r.yaml", trusted=True)])
    assert compiled.diagnostics == ()
    return [problem.render() for problem in claude_code.check(compiled.packs)]


def test_check_says_what_claude_code_would_not_do(tmp_path):
    assert diagnostics_for(tmp_path, """
  - id: gate
    events: [TaskCompleted, Stop, PostCompact]
    decision: deny
    message: hi
  - id: note
    events: [UserPromptSubmit, PermissionRequest, Notification]
    decision: ask
    context: branch main
  - id: quiet
    events: [SessionEnd, PreToolUse]
    stop: enough
    update_output: {stdout: x}
  - id: worktree
    events: [WorktreeCreate, SessionStart]
    context: x
  - id: rewrite
    events: [PreToolUse, PermissionRequest]
    decision: ask
    update_input: {command: ls}
""") == [
        "r.yaml:4:5: warning: inert-decision: decision: deny does nothing on PostCompact in Claude Code (the rule still "
        "matches there: its other parts and effects apply)\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the decision",
        "r.yaml:4:5: warning: inert-field: message does nothing on PostCompact in Claude Code\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the message",
        "r.yaml:4:5: warning: inert-field: message is dropped with this rule's deny on TaskCompleted: Claude Code "
        "blocks there by exit code only, which carries only the reason\n"
        "    hint: put the message in the reason, or in a rule of its own",
        "r.yaml:8:5: warning: inert-decision: decision: ask does nothing on Notification in Claude Code (the rule "
        "still matches there: its other parts and effects apply)\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the decision",
        "r.yaml:8:5: warning: inert-field: context does nothing on PermissionRequest in Claude Code\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the context",
        "r.yaml:8:5: warning: inert-field: context is dropped with this rule's block on UserPromptSubmit: the prompt "
        "it would go with is erased\n"
        "    hint: drop the context, or move it to a rule of its own",
        "r.yaml:8:5: warning: unconfirmed-field: context on Notification: Claude Code accepts it but does not "
        "document giving it to Claude\n"
        "    hint: docs/protocol.md; put the context on another event to be sure it arrives",
        "r.yaml:12:5: warning: inert-field: stop does nothing on SessionEnd in Claude Code\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the stop",
        "r.yaml:12:5: warning: inert-field: update_output does nothing on SessionEnd, PreToolUse in Claude Code\n"
        "    hint: docs/protocol.md shows what each event can do; drop these events from the rule or the update_output",
        "r.yaml:16:5: unsupported-event: rule p/worktree: policy cannot answer WorktreeCreate in Claude Code\n"
        "    hint: a WorktreeCreate hook must create the worktree itself and print its path, which policy does not "
        "do; drop WorktreeCreate from the rule",
        "r.yaml:19:5: warning: inert-field: update_input is dropped with this rule's ask on PermissionRequest: "
        "Claude Code takes a rewrite there only with an allow\n"
        "    hint: make it a rule of its own with `decision: allow`, or drop the event",
    ]


def test_check_is_quiet_about_rules_claude_code_acts_on(tmp_path):
    assert diagnostics_for(tmp_path, """
  - id: a
    events: [PreToolUse, PermissionRequest]
    decision: allow
    update_input: {command: ls}
  - id: b
    events: [Stop, SubagentStop, PostToolBatch, Setup, SubagentStart]
    context: x
    message: y
    stop: z
""") == []


def test_supports():
    assert [claude_code.supports(name) for name in ("PreToolUse", "WorktreeCreate", "SomethingNew")] == [
        True, False, True]


def test_examples_directory_exists():
    assert EVENTS.is_dir()
