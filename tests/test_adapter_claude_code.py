"""policy.adapters.claude_code: stdin → Event, Decision → exactly what Claude Code expects (SPEC §5,
hook-protocols.md §4-5). Every JSON it prints is checked against tests/schemas/claude-code-output.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EVENTS, all_event_files, event_bytes, event_payload
from jsonschema import Draft202012Validator

from policy.adapters import claude_code, get_adapter
from policy.errors import InputError, PolicyError
from policy.lean import replace
from policy.model import Decision, Event, HookOutput, Settings

OUTPUT_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "claude-code-output.schema.json").read_text())


def check_output(event_name: str, output: HookOutput) -> dict | None:
    """The parsed stdout (None when empty), after checking it is one JSON object valid for the event."""
    if not output.stdout:
        return None
    assert output.stdout.endswith("\n") and output.stdout.count("\n") == 1
    payload = json.loads(output.stdout)
    schema_name = event_name if event_name in OUTPUT_SCHEMA["$defs"]["events"] else "failure"
    validator = Draft202012Validator({"$ref": f"#/$defs/events/{schema_name}", "$defs": OUTPUT_SCHEMA["$defs"]})
    errors = [error.message for error in validator.iter_errors(payload)]
    assert errors == [], errors
    specific = payload.get("hookSpecificOutput")
    if specific is not None:
        assert specific["hookEventName"] == event_name
    return payload


def test_the_output_schema_is_itself_valid_and_refuses_wrong_shapes():
    Draft202012Validator.check_schema(OUTPUT_SCHEMA)

    def valid(event_name, payload):
        validator = Draft202012Validator({"$ref": f"#/$defs/events/{event_name}", "$defs": OUTPUT_SCHEMA["$defs"]})
        return validator.is_valid(payload)

    assert valid("PreToolUse", {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                                       "permissionDecisionReason": "x"}})
    assert not valid("PreToolUse", {"permissionDecision": "deny"})  # top level: silently ignored by Claude Code
    assert not valid("PreToolUse", {"hookSpecificOutput": {"hookEventName": "Stop", "permissionDecision": "deny"}})
    assert not valid("Stop", {"decision": "block"})  # a block needs its reason
    assert not valid("Stop", {"decision": "deny", "reason": "x"})
    assert not valid("PermissionRequest", {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                                  "decision": {"behavior": "deny", "message": None}}})


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
        get_adapter("cursor")


# ---- render ---------------------------------------------------------------------------------------------------------------

PAYLOAD_FOR = {
    "PreToolUse": "PreToolUse-Bash", "PermissionRequest": "PermissionRequest-Bash",
    "UserPromptSubmit": "UserPromptSubmit", "Stop": "Stop", "SubagentStop": "SubagentStop",
    "PostToolUse": "PostToolUse-Bash", "PostToolUseFailure": "PostToolUseFailure-Bash",
    "SessionStart": "SessionStart", "SubagentStart": "SubagentStart",
}
R, C, M = "the reason", "the context", "the message"


def rendered(event_name, verdict, *, reason=R, context=None, message=None, settings=None, mode=None,
             payload=None):
    event = claude_code.parse(event_bytes(payload or PAYLOAD_FOR[event_name]))
    if mode is not None:
        event = replace(event, permission_mode=mode)
    decision = Decision(event_name, verdict, reason if verdict else None, context, message)
    output = claude_code.render(decision, event, settings or Settings())
    assert output.stderr == "" and output.exit_code == 0
    return check_output(event.name, output)


def pre(**fields):
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", **fields}}


@pytest.mark.parametrize("verdict, settings, mode, expected", [
    ("deny", None, None, pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("ask", None, None, pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("defer", None, None, pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("defer", Settings(defer_as="defer"), None, pre(permissionDecision="defer")),
    ("defer", Settings(defer_as="deny"), None, pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("allow", None, None, pre(permissionDecision="allow", permissionDecisionReason=R)),
    (None, None, None, None),
    ("ask", None, "bypassPermissions", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("ask", None, "dontAsk", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("defer", None, "bypassPermissions", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("defer", Settings(defer_as="defer"), "dontAsk", pre(permissionDecision="deny", permissionDecisionReason=R)),
    ("ask", Settings(ask_in_bypass="ask"), "bypassPermissions", pre(permissionDecision="ask",
                                                                    permissionDecisionReason=R)),
    ("ask", None, "acceptEdits", pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("ask", None, "plan", pre(permissionDecision="ask", permissionDecisionReason=R)),
    ("allow", None, "bypassPermissions", pre(permissionDecision="allow", permissionDecisionReason=R)),
])
def test_pre_tool_use(verdict, settings, mode, expected):
    assert rendered("PreToolUse", verdict, settings=settings, mode=mode) == expected


def test_pre_tool_use_context_and_message():
    assert rendered("PreToolUse", None, context=C) == pre(additionalContext=C)
    assert rendered("PreToolUse", "deny", context=C, message=M) == {
        **pre(permissionDecision="deny", permissionDecisionReason=R, additionalContext=C), "systemMessage": M}
    assert rendered("PreToolUse", None, message=M) == {"systemMessage": M}


@pytest.mark.parametrize("verdict, expected", [
    ("deny", {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                     "decision": {"behavior": "deny", "message": R}}}),
    ("allow", {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}),
    ("ask", None),     # the dialog shows
    ("defer", None),
    (None, None),
])
def test_permission_request(verdict, expected):
    assert rendered("PermissionRequest", verdict, context=C) == expected


def test_permission_request_deny_always_has_a_message():
    event = claude_code.parse(event_bytes("PermissionRequest-Bash"))
    output = claude_code.render(Decision("PermissionRequest", "deny"), event, Settings())
    assert check_output("PermissionRequest", output) == {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": "blocked by policy"}}}


@pytest.mark.parametrize("verdict, context, expected", [
    ("deny", None, {"decision": "block", "reason": R}),
    ("ask", None, {"decision": "block", "reason": R}),
    ("defer", None, {"decision": "block", "reason": R}),
    ("deny", C, {"decision": "block", "reason": R}),  # the prompt is erased: no context for it
    ("allow", None, None),
    ("allow", C, {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": C}}),
    (None, C, {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": C}}),
    (None, None, None),
])
def test_user_prompt_submit(verdict, context, expected):
    assert rendered("UserPromptSubmit", verdict, context=context) == expected


@pytest.mark.parametrize("event_name", ["Stop", "SubagentStop"])
@pytest.mark.parametrize("verdict, expected", [
    ("deny", {"decision": "block", "reason": R}), ("ask", None), ("defer", None), ("allow", None), (None, None),
])
def test_stop_and_subagent_stop(event_name, verdict, expected):
    assert rendered(event_name, verdict, context=C) == expected


def test_stop_block_always_has_a_reason():
    event = claude_code.parse(event_bytes("Stop"))
    output = claude_code.render(Decision("Stop", "deny"), event, Settings())
    assert check_output("Stop", output) == {"decision": "block", "reason": "blocked by policy"}


@pytest.mark.parametrize("verdict, context, expected", [
    ("deny", None, {"decision": "block", "reason": R}),
    ("deny", C, {"decision": "block", "reason": R,
                 "hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": C}}),
    (None, C, {"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": C}}),
    ("ask", None, None), ("allow", None, None), (None, None, None),
])
def test_post_tool_use(verdict, context, expected):
    assert rendered("PostToolUse", verdict, context=context) == expected


@pytest.mark.parametrize("verdict, context, expected", [
    ("deny", None, {"hookSpecificOutput": {"hookEventName": "PostToolUseFailure", "additionalContext": R}}),
    ("deny", C, {"hookSpecificOutput": {"hookEventName": "PostToolUseFailure", "additionalContext": R + "\n\n" + C}}),
    (None, C, {"hookSpecificOutput": {"hookEventName": "PostToolUseFailure", "additionalContext": C}}),
    ("ask", None, None), ("allow", None, None),
])
def test_post_tool_use_failure(verdict, context, expected):
    assert rendered("PostToolUseFailure", verdict, context=context) == expected


@pytest.mark.parametrize("event_name", ["SessionStart", "SubagentStart"])
@pytest.mark.parametrize("verdict", ["deny", "ask", "allow", None])
def test_context_only_events(event_name, verdict):
    assert rendered(event_name, verdict) is None
    assert rendered(event_name, verdict, context=C) == {"hookSpecificOutput": {"hookEventName": event_name,
                                                                                "additionalContext": C}}
    # systemMessage only where the adapter knows Claude Code shows it
    assert ("systemMessage" in rendered(event_name, verdict, context=C, message=M)) is (event_name == "SessionStart")


OTHERS = sorted({path.stem for path in all_event_files()} - set(PAYLOAD_FOR.values()) - {
    "PreToolUse-Bash-ls", "PreToolUse-Bash-session2", "PreToolUse-Edit", "PreToolUse-Read", "PreToolUse-Write",
    "PreToolUse-mcp", "PostToolUse-Edit", "PostToolUse-Write", "Stop-active", "SessionStart-resume",
    "UserPromptSubmit-focus"})


def test_others_are_all_the_other_events():
    assert {event_payload(name)["hook_event_name"] for name in OTHERS} == {
        "ConfigChange", "CwdChanged", "DirectoryAdded", "Elicitation", "ElicitationResult", "FileChanged",
        "InstructionsLoaded", "MessageDisplay", "Notification", "PermissionDenied", "PostCompact", "PostToolBatch",
        "PreCompact", "SessionEnd", "Setup", "StopFailure", "TaskCompleted", "TaskCreated", "TeammateIdle",
        "UserPromptExpansion", "WorktreeCreate", "WorktreeRemove"}


@pytest.mark.parametrize("name", OTHERS)
@pytest.mark.parametrize("verdict", ["deny", "defer", "ask", "allow", None])
def test_other_events_print_nothing(name, verdict):
    event = claude_code.parse(event_bytes(name))
    output = claude_code.render(Decision(event.name, verdict, R if verdict else None, C, M), event, Settings())
    assert output == HookOutput()


# ---- failures -------------------------------------------------------------------------------------------------------------

ERROR = PolicyError("the fact store is corrupt", code="db-corrupt", hint="move it aside")
LINE = "policy: db-corrupt: the fact store is corrupt (move it aside)"


@pytest.mark.parametrize("event_name", [None, "PreToolUse", "PermissionRequest", "Stop", "Notification"])
def test_fail_open_says_so_and_lets_the_host_decide(event_name):
    output = claude_code.render_failure(ERROR, event_name, "open")
    assert output == HookOutput(stdout=json.dumps({"systemMessage": LINE + " - policy is NOT enforcing rules"},
                                                  separators=(",", ":")) + "\n", stderr=LINE + "\n", exit_code=0)
    check_output("failure", output)


def test_fail_closed_on_permission_request_is_a_json_deny():
    output = claude_code.render_failure(ERROR, "PermissionRequest", "closed")
    assert (output.exit_code, output.stderr) == (0, LINE + "\n")
    assert check_output("PermissionRequest", output) == {"hookSpecificOutput": {
        "hookEventName": "PermissionRequest", "decision": {"behavior": "deny", "message": LINE}}}


@pytest.mark.parametrize("event_name", [None, "PreToolUse", "UserPromptSubmit", "Stop", "Notification"])
def test_fail_closed_exits_2_with_one_line_and_no_stdout(event_name):
    assert claude_code.render_failure(ERROR, event_name, "closed") == HookOutput(stderr=LINE + "\n", exit_code=2)


def test_failure_line_is_one_line():
    error = PolicyError("two\nlines", code="x", hint="a\nhint")
    assert claude_code.render_failure(error, None, "closed").stderr == "policy: x: two lines (a hint)\n"


def test_examples_directory_exists():
    assert EVENTS.is_dir()
