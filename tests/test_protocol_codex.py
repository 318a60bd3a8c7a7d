"""Every cell of docs/protocol.md's Codex CLI table, end to end: `policy eval --agent codex` as a real process on a
real Codex payload from examples/events/codex/, checking the exact stdout, stderr and exit code, and that every
answer is one Codex accepts: valid by the JSON Schema Codex publishes for the event (tests/schemas/codex/) and by
the rules its output parser adds (codex-rs/hooks/src/engine/output_parser.rs), since an answer Codex rejects is a
failed hook and the call goes ahead. Then failures, the canonical event a Codex payload becomes, and apply_patch."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, write
from host_cells import C, M, NOTHING, PARTS, R, REWRITE, S, host_payload, part_files, quiet_cells_match_the_table, \
    run_cell

from policy.adapters.codex import parse, protocol_table

SCHEMAS = ROOT / "tests" / "schemas" / "codex"
FILES = {"SessionStart": "session-start", "UserPromptSubmit": "user-prompt-submit", "PreToolUse": "pre-tool-use",
         "PermissionRequest": "permission-request", "PostToolUse": "post-tool-use", "Stop": "stop",
         "StopFailure": "stop-failure", "SubagentStart": "subagent-start", "SubagentStop": "subagent-stop",
         "PreCompact": "pre-compact", "PostCompact": "post-compact"}
EVENTS = list(FILES)
PAYLOADS = {event: event for event in EVENTS} | {"PreToolUse": "PreToolUse-Bash",
                                                 "PermissionRequest": "PermissionRequest-Bash",
                                                 "PostToolUse": "PostToolUse-Bash"}


def codex_rejects(event: str, answer: dict) -> str | None:
    """Why Codex's output parser would reject the answer (None: it accepts it), as output_parser.rs reads it."""
    from jsonschema import Draft7Validator

    schema = json.loads((SCHEMAS / f"{FILES[event]}.command.output.schema.json").read_text())
    errors = [error.message for error in Draft7Validator(schema).iter_errors(answer)]
    if errors:
        return f"schema: {errors}"
    specific = answer.get("hookSpecificOutput") or {}
    if specific and specific.get("hookEventName") != event:
        return "hookEventName is not the event"
    if event in ("PreToolUse", "PermissionRequest") and (
            answer.get("continue") is False or "stopReason" in answer or answer.get("suppressOutput")):
        return f"{event} hook returned unsupported continue:false/stopReason/suppressOutput"
    if event == "PreToolUse":
        decision = specific.get("permissionDecision")
        if "updatedInput" in specific and decision != "allow":
            return "updatedInput without permissionDecision:allow"
        if decision == "allow" and "updatedInput" not in specific:
            return "unsupported permissionDecision:allow"
        if decision == "ask":
            return "unsupported permissionDecision:ask"
        if decision == "deny" and not str(specific.get("permissionDecisionReason") or "").strip():
            return "deny without a non-empty permissionDecisionReason"
        if decision is None and "permissionDecisionReason" in specific:
            return "permissionDecisionReason without permissionDecision"
    if event == "PermissionRequest":
        decision = specific.get("decision") or {}
        if "updatedInput" in decision or "updatedPermissions" in decision or decision.get("interrupt"):
            return "PermissionRequest hook returned unsupported updatedInput/updatedPermissions/interrupt"
    if answer.get("decision") == "block" and not str(answer.get("reason") or "").strip():
        return "decision:block without a non-empty reason"
    if event == "PostToolUse" and answer.get("reason") is not None and answer.get("decision") is None \
            and answer.get("continue", True):
        return "PostToolUse hook returned reason without decision"
    return None


def specific(event: str, **fields: object) -> dict:
    return {"hookSpecificOutput": {"hookEventName": event, **fields}}


BLOCK = {"decision": "block", "reason": R}
STOP = {"continue": False, "stopReason": S}
DENY = specific("PreToolUse", permissionDecision="deny", permissionDecisionReason=R)
BASH_INPUT = json.loads(host_payload("codex", "PreToolUse-Bash"))["tool_input"]

EXPECTED: dict[tuple[str, str], tuple[dict | None, str, int]] = {
    **{(event, "deny"): (BLOCK, "", 0) for event in ("UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop")},
    **{("UserPromptSubmit", verdict): (BLOCK, "", 0) for verdict in ("ask", "defer")},
    # Codex cannot ask: ask and defer are denies, with the reason
    **{("PreToolUse", verdict): (DENY, "", 0) for verdict in ("deny", "ask", "defer")},
    ("PermissionRequest", "deny"): (specific("PermissionRequest", decision={"behavior": "deny", "message": R}), "", 0),
    ("PermissionRequest", "allow"): (specific("PermissionRequest", decision={"behavior": "allow"}), "", 0),
    **{(event, "context"): (specific(event, additionalContext=C), "", 0) for event in (
        "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "SubagentStart")},
    # no context on Stop: it keeps the agent working, as a block whose reason it is
    **{(event, "context"): ({"decision": "block", "reason": C}, "", 0) for event in ("Stop", "SubagentStop")},
    **{(event, "message"): ({"systemMessage": M}, "", 0) for event in EVENTS},
    **{(event, "stop"): (STOP, "", 0) for event in (
        "SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SubagentStart", "SubagentStop")},
    ("PreToolUse", "stop"): (specific("PreToolUse", permissionDecision="deny", permissionDecisionReason=S), "", 0),
    ("PermissionRequest", "stop"): (specific("PermissionRequest", decision={"behavior": "deny", "message": S}), "",
                                    0),
    # Codex rejects a rewrite here: the rule's allow is all that is said
    ("PermissionRequest", "update_input"): (specific("PermissionRequest", decision={"behavior": "allow"}), "", 0),
    ("PreToolUse", "update_input"): (specific("PreToolUse", permissionDecision="allow",
                                              updatedInput={**BASH_INPUT, "description": REWRITE}), "", 0),
}
CELLS = [(event, part) for event in EVENTS for part in PARTS]


@pytest.fixture(scope="module")
def codex_env(tmp_path_factory):
    return part_files(tmp_path_factory.mktemp("codex"), EVENTS)


def test_the_quiet_cells_are_the_ones_the_table_shows_doing_nothing():
    table = protocol_table()
    assert list(table) == EVENTS
    quiet_cells_match_the_table(table, EXPECTED, CELLS)


@pytest.mark.parametrize("event, part", CELLS)
def test_cell(codex_env, event, part):
    env, files = codex_env
    answer = run_cell(env, "codex", files[part], host_payload("codex", PAYLOADS[event]))
    assert answer == EXPECTED.get((event, part), NOTHING)
    if answer[0] is not None:
        assert codex_rejects(event, answer[0]) is None


def test_the_checker_rejects_what_codex_rejects():
    # the answers Claude Code takes and Codex would drop (letting the call run)
    assert codex_rejects("PreToolUse", specific("PreToolUse", permissionDecision="ask",
                                                permissionDecisionReason=R)) == "unsupported permissionDecision:ask"
    assert codex_rejects("PreToolUse", specific("PreToolUse", permissionDecision="allow")) == \
        "unsupported permissionDecision:allow"
    assert codex_rejects("PreToolUse", specific("PreToolUse", permissionDecision="deny")) == \
        "deny without a non-empty permissionDecisionReason"
    assert codex_rejects("PreToolUse", {**STOP, **DENY}).startswith("PreToolUse hook returned unsupported")
    assert codex_rejects("Stop", {"decision": "block", "reason": " "}).startswith("schema")
    assert codex_rejects("PermissionRequest", specific("PermissionRequest", decision={
        "behavior": "deny", "message": S, "interrupt": True})).startswith("PermissionRequest hook returned")


@pytest.mark.parametrize("payload, mode, expected", [
    # closed: exit 2 with the line on stderr (Codex blocks on exit 2 only when stderr is not empty)
    ("PreToolUse-Bash", "closed", (None, "policy: rules.yaml:1:1: bad-type: a rule file must be a mapping at the "
                                         "top level\n    hint: start with `version: 1`\n", 2)),
    ("PermissionRequest-Bash", "closed", None),
    ("Stop", "open", None),
])
def test_a_broken_rule_file_fails_in_the_events_mode(env, payload, mode, expected):
    write(env.root / "rules.yaml", "- not a mapping\n")
    done = env.eval("--agent", "codex", "--rules", "rules.yaml", stdin=host_payload("codex", payload))
    stderr = done.stderr.decode()
    line = stderr.splitlines()[0]
    assert line.startswith("policy: ") and "bad-type" in line
    event = json.loads(host_payload("codex", payload))["hook_event_name"]
    stdout = json.loads(done.stdout) if done.stdout else None
    if mode == "closed" and event == "PreToolUse":
        assert (stdout, done.returncode) == (None, 2)
    elif event == "PermissionRequest":  # a JSON deny, which Codex takes on exit 0
        assert done.returncode == 0
        assert stdout == specific("PermissionRequest", decision={"behavior": "deny", "message": stderr.rstrip("\n")})
    else:  # open: the host decides, and the user is told
        assert done.returncode == 0
        assert stdout == {"systemMessage": stderr.rstrip("\n") + " - policy is NOT enforcing rules"}
    if stdout is not None:
        assert codex_rejects(event, stdout) is None


def test_a_codex_payload_becomes_the_canonical_event():
    event = parse(host_payload("codex", "PreToolUse-Bash"))
    assert (event.host, event.name, event.tool, event.host_tool, event.tool_input, event.agent_session,
            event.cwd) == ("codex", "PreToolUse", "Bash", None, {"command": "terraform apply -auto-approve"},
                           "019ae4c2-7d1b-7f30-9a55-3c2e8b41d6f0", "/home/dev/shop")
    patch = parse(host_payload("codex", "PreToolUse-apply_patch"))
    assert (patch.tool, patch.host_tool, patch.tool_input["file_path"]) == ("Edit", "apply_patch", "src/cart.py")
    added = parse(host_payload("codex", "PreToolUse-apply_patch-add"))
    assert (added.tool, added.tool_input["file_path"], added.tool_input["content"]) == (
        "Write", "tests/test_cart.py", "from cart import total\n\ndef test_total():\n    assert total([]) == 0\n")
    assert parse(host_payload("codex", "PreToolUse-mcp")).tool == "mcp__github__create_issue"


def test_a_portable_rule_guards_codex_edits_by_path(env):
    write(env.root / "rules.yaml", """
version: 1
pack: guard
rules:
  - id: no-tests-edits
    events: before_tool
    tools: [edit, write]
    match: {tool_input.file_path: {glob: 'tests/**'}}
    decision: deny
    reason: "tests are frozen ({{ tool }} of {{ input.file_path }} via {{ event.host_tool }})"
""")
    assert run_cell(env, "codex", env.root / "rules.yaml", host_payload("codex", "PreToolUse-apply_patch-add")) == (
        specific("PreToolUse", permissionDecision="deny",
                 permissionDecisionReason="tests are frozen (Write of tests/test_cart.py via apply_patch)"), "", 0)
    assert run_cell(env, "codex", env.root / "rules.yaml", host_payload("codex", "PreToolUse-apply_patch")) == NOTHING
