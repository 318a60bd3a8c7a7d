"""Every cell of docs/protocol.md's Gemini CLI table, end to end: `policy eval --agent gemini` as a real process on a
real Gemini CLI payload from examples/events/gemini/, checking the exact stdout (valid by Gemini's documented
output shape, tests/schemas/gemini-output.schema.json), stderr and exit code. Then failures, and the canonical
event a Gemini payload becomes (tool names and fields renamed, rewrites renamed back)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, write
from host_cells import C, M, NOTHING, PARTS, R, REWRITE, S, host_payload, part_files, quiet_cells_match_the_table, \
    run_cell

from policy.adapters.gemini import parse, protocol_table

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "gemini-output.schema.json").read_text())
# canonical event -> (Gemini's name, the payload)
EVENTS = {"SessionStart": ("SessionStart", "SessionStart"), "UserPromptSubmit": ("BeforeAgent", "BeforeAgent"),
          "PreToolUse": ("BeforeTool", "BeforeTool-run_shell_command"),
          "PostToolUse": ("AfterTool", "AfterTool-run_shell_command"), "Stop": ("AfterAgent", "AfterAgent"),
          "SessionEnd": ("SessionEnd", "SessionEnd"), "Notification": ("Notification", "Notification"),
          "PreCompact": ("PreCompress", "PreCompress")}


def gemini_output(event: str, answer: dict) -> dict:
    """The answer, after checking it against Gemini's documented shape for the (Gemini) event."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator({"$ref": f"#/$defs/events/{event}", "$defs": SCHEMA["$defs"]})
    assert [error.message for error in validator.iter_errors(answer)] == []
    return answer


def specific(event: str, **fields: object) -> dict:
    return {"hookSpecificOutput": {"hookEventName": event, **fields}}


DENY = {"decision": "deny", "reason": R}
STOP = {"continue": False, "stopReason": S, "reason": S}
SHELL_INPUT = json.loads(host_payload("gemini", "BeforeTool-run_shell_command"))["tool_input"]

EXPECTED: dict[tuple[str, str], tuple[dict | None, str, int]] = {
    **{(event, verdict): (DENY, "", 0) for event in ("UserPromptSubmit", "PreToolUse")
       for verdict in ("deny", "ask", "defer")},
    ("Stop", "deny"): (DENY, "", 0),
    ("PreToolUse", "allow"): ({"decision": "allow", "reason": R}, "", 0),
    ("PostToolUse", "deny"): (specific("AfterTool", additionalContext=R), "", 0),
    **{(event, "context"): (specific(name, additionalContext=C), "", 0) for event, name in (
        ("SessionStart", "SessionStart"), ("UserPromptSubmit", "BeforeAgent"), ("PostToolUse", "AfterTool"))},
    ("Stop", "context"): ({"decision": "deny", "reason": C}, "", 0),
    **{(event, "message"): ({"systemMessage": M}, "", 0) for event in EVENTS},
    **{(event, "stop"): (STOP, "", 0) for event in ("UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop")},
    # the rewrite goes in Gemini's field names (dir_path, not path), with the rule's allow
    ("PreToolUse", "update_input"): ({"decision": "allow", "reason": R, **specific(
        "BeforeTool", tool_input={**SHELL_INPUT, "description": REWRITE})}, "", 0),
    ("PostToolUse", "update_output"): ({"decision": "deny", "reason": json.dumps({"stdout": "[redacted]"},
                                                                              separators=(",", ":"))}, "", 0),
}
CELLS = [(event, part) for event in EVENTS for part in PARTS]


@pytest.fixture(scope="module")
def gemini_env(tmp_path_factory):
    return part_files(tmp_path_factory.mktemp("gemini"), list(EVENTS))


def test_the_quiet_cells_are_the_ones_the_table_shows_doing_nothing():
    table = protocol_table()
    assert list(table) == list(EVENTS)
    quiet_cells_match_the_table(table, EXPECTED, CELLS)


@pytest.mark.parametrize("event, part", CELLS)
def test_cell(gemini_env, event, part):
    env, files = gemini_env
    name, payload = EVENTS[event]
    answer = run_cell(env, "gemini", files[part], host_payload("gemini", payload))
    assert answer == EXPECTED.get((event, part), NOTHING)
    if answer[0] is not None:
        gemini_output(name, answer[0])


@pytest.mark.parametrize("payload, event", [("BeforeTool-run_shell_command", "BeforeTool"),
                                            ("AfterAgent", "AfterAgent")])
def test_a_broken_rule_file_fails_in_the_events_mode(env, payload, event):
    write(env.root / "rules.yaml", "- not a mapping\n")
    done = env.eval("--agent", "gemini", "--rules", "rules.yaml", stdin=host_payload("gemini", payload))
    line = "policy: rules.yaml:1:1: bad-type: a rule file must be a mapping at the top level (start with `version: 1`)"
    assert done.stderr.decode().splitlines()[0].startswith("policy: rules.yaml:1:1: bad-type")
    if event == "BeforeTool":  # closed: exit 2 blocks the tool, stderr is the reason
        assert (done.stdout, done.returncode) == (b"", 2)
    else:  # open: Gemini goes on, the user is told
        assert done.returncode == 0
        answer = gemini_output(event, json.loads(done.stdout))
        assert answer["systemMessage"].endswith(" - policy is NOT enforcing rules")
    assert line.startswith("policy: rules.yaml:1:1: bad-type")


def test_a_gemini_payload_becomes_the_canonical_event():
    shell = parse(host_payload("gemini", "BeforeTool-run_shell_command"))
    assert (shell.host, shell.name, shell.tool, shell.host_tool, shell.tool_input) == (
        "gemini", "PreToolUse", "Bash", "run_shell_command",
        {"command": "terraform apply -auto-approve", "description": "Apply Terraform changes to the billing stack",
         "path": "infra/stacks/billing"})
    assert shell.data["host_payload"]["tool_name"] == "run_shell_command"
    edit = parse(host_payload("gemini", "BeforeTool-replace"))
    assert (edit.tool, edit.tool_input["file_path"]) == ("Edit", "/home/dev/shop/src/cart.py")
    assert parse(host_payload("gemini", "BeforeTool-write_file")).tool == "Write"
    assert parse(host_payload("gemini", "BeforeTool-read_file")).tool == "Read"
    assert parse(host_payload("gemini", "BeforeTool-mcp")).tool == "mcp__github__create_issue"
    stop = parse(host_payload("gemini", "AfterAgent-active"))
    assert (stop.name, stop.stop_hook_active, stop.data["last_assistant_message"]) == (
        "Stop", True, "I ran the tests again; they pass.")
    prompt = parse(host_payload("gemini", "BeforeAgent"))
    assert (prompt.name, prompt.prompt) == ("UserPromptSubmit", "refactor the cart totals and add tests")


def test_claude_code_rules_and_host_names_both_match_on_gemini(env):
    write(env.root / "rules.yaml", """
version: 1
pack: guard
rules:
  - id: claude-names
    events: PreToolUse
    tools: Bash
    match: {tool_input.command: '^terraform apply'}
    decision: deny
    reason: "no {{ input.command }} ({{ tool }}, {{ event.host_tool }})"
  - id: gemini-names
    events: before_tool
    tools: write_file
    agents: [gemini]
    decision: deny
    reason: "no writes"
""")
    rules = env.root / "rules.yaml"
    assert run_cell(env, "gemini", rules, host_payload("gemini", "BeforeTool-run_shell_command")) == (
        {"decision": "deny", "reason": "no terraform apply -auto-approve (Bash, run_shell_command)"}, "", 0)
    assert run_cell(env, "gemini", rules, host_payload("gemini", "BeforeTool-write_file")) == (
        {"decision": "deny", "reason": "no writes"}, "", 0)
    assert run_cell(env, "gemini", rules, host_payload("gemini", "BeforeTool-run_shell_command-ls")) == NOTHING
