"""Every cell of docs/protocol.md's Cursor table, end to end: `policy eval --agent cursor` as a real process on a
real Cursor payload from examples/events/cursor/, checking the exact stdout (valid by Cursor's documented output
shape, tests/schemas/cursor-output.schema.json), stderr and exit code. Then Cursor's other tool events (one call
each way), the stop loop guard, failures, and the canonical event a Cursor payload becomes."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, write
from host_cells import C, M, NOTHING, PARTS, R, REWRITE, S, host_payload, part_files, quiet_cells_match_the_table, \
    run_cell

from policy.adapters.cursor import parse, protocol_table

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "cursor-output.schema.json").read_text())
# canonical event -> the Cursor payload its cells run on
EVENTS = {"SessionStart": "sessionStart", "UserPromptSubmit": "beforeSubmitPrompt", "PreToolUse": "preToolUse-Edit",
          "PostToolUse": "postToolUse", "PostToolUseFailure": "postToolUseFailure", "Stop": "stop",
          "SubagentStart": "subagentStart", "SubagentStop": "subagentStop", "SessionEnd": "sessionEnd",
          "PreCompact": "preCompact"}


def cursor_output(payload: str, answer: dict | None) -> dict | None:
    """The answer, after checking it against Cursor's documented shape for the payload's (Cursor) event."""
    from jsonschema import Draft202012Validator

    if answer is None:
        return None
    event = json.loads(host_payload("cursor", payload))["hook_event_name"]
    validator = Draft202012Validator({"$ref": f"#/$defs/events/{event}", "$defs": SCHEMA["$defs"]})
    assert [error.message for error in validator.iter_errors(answer)] == []
    return answer


DENY = {"permission": "deny", "user_message": R, "agent_message": R}
EDIT_INPUT = json.loads(host_payload("cursor", "preToolUse-Edit"))["tool_input"]

EXPECTED: dict[tuple[str, str], tuple[dict | None, str, int]] = {
    **{("PreToolUse", verdict): (DENY, "", 0) for verdict in ("deny", "ask", "defer")},
    ("PreToolUse", "allow"): ({"permission": "allow"}, "", 0),
    ("PreToolUse", "stop"): ({"permission": "deny", "user_message": S, "agent_message": S}, "", 0),
    ("PreToolUse", "update_input"): ({"permission": "allow", "updated_input": {**EDIT_INPUT,
                                                                              "description": REWRITE}}, "", 0),
    **{("UserPromptSubmit", verdict): ({"continue": False, "user_message": R}, "", 0)
       for verdict in ("deny", "ask", "defer")},
    ("UserPromptSubmit", "stop"): ({"continue": False, "user_message": S}, "", 0),
    ("SessionStart", "context"): ({"additional_context": C}, "", 0),
    ("PostToolUse", "deny"): ({"additional_context": R}, "", 0),
    ("PostToolUse", "context"): ({"additional_context": C}, "", 0),
    **{(event, "deny"): ({"followup_message": R}, "", 0) for event in ("Stop", "SubagentStop")},
    **{(event, "context"): ({"followup_message": C}, "", 0) for event in ("Stop", "SubagentStop")},
}
CELLS = [(event, part) for event in EVENTS for part in PARTS]
# a message goes with a deny only: alone it says nothing
WITH_DENY_ONLY = {("PreToolUse", "message"), ("UserPromptSubmit", "message")}


@pytest.fixture(scope="module")
def cursor_env(tmp_path_factory):
    return part_files(tmp_path_factory.mktemp("cursor"), list(EVENTS))


def test_the_quiet_cells_are_the_ones_the_table_shows_doing_nothing():
    table = protocol_table()
    assert list(table) == list(EVENTS)
    quiet_cells_match_the_table(table, {**EXPECTED, **dict.fromkeys(WITH_DENY_ONLY)}, CELLS)


@pytest.mark.parametrize("event, part", CELLS)
def test_cell(cursor_env, event, part):
    env, files = cursor_env
    answer = run_cell(env, "cursor", files[part], host_payload("cursor", EVENTS[event]))
    assert answer == EXPECTED.get((event, part), NOTHING)
    cursor_output(EVENTS[event], answer[0])


GUARD = """
version: 1
pack: guard
rules:
  - id: no-apply
    events: before_tool
    tools: shell
    match: {tool_input.command: '^terraform apply'}
    decision: ask
    reason: "no {{ input.command }} in {{ event.cwd }}"
    message: ask the on-call first
  - id: no-secrets
    events: before_tool
    tools: [read, mcp]
    match: {tool_input.content: 'sk_test_'}
    decision: deny
    reason: secrets stay out of the context
  - id: no-issues
    events: before_tool
    tools: mcp
    decision: deny
    reason: "no {{ tool }} with {{ input.title }}"
  - id: edits-logged
    events: after_tool
    tools: [edit, shell]
    context: "noted {{ tool }}"
"""


@pytest.mark.parametrize("payload, expected", [
    # beforeShellExecution's flat command is input.command; an ask is a deny, the message goes to the user
    ("beforeShellExecution", {"permission": "deny", "user_message": "ask the on-call first",
                              "agent_message": "no terraform apply -auto-approve in "
                                               "/home/dev/shop/infra/stacks/billing"}),
    ("beforeShellExecution-ls", None),
    # beforeReadFile takes the permission alone
    ("beforeReadFile", {"permission": "deny"}),
    # beforeMCPExecution's tool_input arrives as a JSON string
    ("beforeMCPExecution", {"permission": "deny", "user_message": "no mcp__cursor__create_issue with Cart totals "
                                                                  "ignore quantity",
                            "agent_message": "no mcp__cursor__create_issue with Cart totals ignore quantity"}),
    # the after-events take no answer: the rule still runs (its effects, the log), nothing is printed
    ("afterShellExecution", None), ("afterFileEdit", None),
])
def test_cursors_other_tool_events(env, payload, expected):
    rules = write(env.root / "rules.yaml", GUARD)
    answer = run_cell(env, "cursor", rules, host_payload("cursor", payload))
    assert answer == (expected, "", 0)
    cursor_output(payload, answer[0])


def test_a_follow_up_is_sent_once_per_stop_cursors_loop_count_guards_it(env):
    rules = write(env.root / "rules.yaml", "version: 1\npack: gate\nrules:\n  - id: tests\n    events: stop\n"
                                           "    decision: deny\n    reason: run the tests first\n")
    assert run_cell(env, "cursor", rules, host_payload("cursor", "stop")) == (
        {"followup_message": "run the tests first"}, "", 0)
    # loop_count 1: a follow-up was sent already this turn; block_cap 1 lets the agent stop
    assert run_cell(env, "cursor", rules, host_payload("cursor", "stop-looped")) == NOTHING


def test_a_broken_rule_file_fails_in_the_events_mode(env):
    write(env.root / "rules.yaml", "- not a mapping\n")
    closed = env.eval("--agent", "cursor", "--rules", "rules.yaml", stdin=host_payload("cursor", "beforeShellExecution"))
    assert (closed.stdout, closed.returncode) == (b"", 2)
    assert closed.stderr.decode().startswith("policy: rules.yaml:1:1: bad-type")
    opened = env.eval("--agent", "cursor", "--rules", "rules.yaml", stdin=host_payload("cursor", "stop"))
    assert (opened.stdout, opened.returncode) == (b"", 0)
    assert opened.stderr.decode().startswith("policy: rules.yaml:1:1: bad-type")
    # an MCP call whose arguments are not JSON: the event cannot be read, before_tool fails closed
    bad = json.loads(host_payload("cursor", "beforeMCPExecution"))
    bad["tool_input"] = "{not json"
    write(env.root / "rules.yaml", GUARD)
    done = env.eval("--agent", "cursor", "--rules", "rules.yaml", stdin=json.dumps(bad).encode())
    assert (done.stdout, done.returncode) == (b"", 2)
    assert done.stderr.decode() == ("policy: bad-input: field 'tool_input' is a string that is not JSON "
                                    "(beforeMCPExecution) (Cursor sends MCP arguments as a JSON object or a JSON "
                                    "string)\n")


def test_a_cursor_payload_becomes_the_canonical_event():
    shell = parse(host_payload("cursor", "beforeShellExecution"))
    assert (shell.host, shell.name, shell.tool, shell.host_tool, shell.tool_input, shell.agent_session, shell.cwd) == (
        "cursor", "PreToolUse", "Bash", "Shell", {"command": "terraform apply -auto-approve"},
        "cdefee2d-2727-4b73-bf77-d9d830f31d2a", "/home/dev/shop/infra/stacks/billing")
    mcp = parse(host_payload("cursor", "beforeMCPExecution"))
    assert (mcp.tool, mcp.tool_input) == ("mcp__cursor__create_issue", {
        "owner": "dev", "repo": "shop", "title": "Cart totals ignore quantity"})
    read = parse(host_payload("cursor", "beforeReadFile"))
    assert (read.tool, read.tool_input["file_path"]) == ("Read", "/home/dev/shop/.env")
    assert parse(host_payload("cursor", "preToolUse-Write")).tool == "Write"
    assert parse(host_payload("cursor", "afterFileEdit")).name == "PostToolUse"
    prompt = parse(host_payload("cursor", "beforeSubmitPrompt"))
    assert (prompt.name, prompt.prompt, prompt.cwd) == ("UserPromptSubmit", "refactor the cart totals and add tests",
                                                        "/home/dev/shop")
    assert parse(host_payload("cursor", "stop-looped")).stop_hook_active is True
    assert parse(host_payload("cursor", "stop")).stop_hook_active is False
