"""Every cell of docs/protocol.md's GitHub Copilot CLI table, end to end: `policy eval --agent copilot --event NAME`
as a real process on a real camelCase payload from examples/events/copilot/, checking the exact stdout (valid by
Copilot's documented output shape, tests/schemas/copilot-output.schema.json: flat fields, never the nested
Claude shape Copilot ignores), stderr and exit code. Then failures (Copilot skips a failed hook, so failing closed
is a JSON deny), the Stop loop guard policy keeps for Copilot, and the canonical event a payload becomes."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, write
from host_cells import C, M, NOTHING, PARTS, R, REWRITE, S, host_payload, part_files, quiet_cells_match_the_table

from policy.adapters.copilot import parse, protocol_table

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "copilot-output.schema.json").read_text())
# canonical event -> (Copilot's event, the payload)
EVENTS = {"SessionStart": ("sessionStart", "sessionStart"), "SessionEnd": ("sessionEnd", "sessionEnd"),
          "UserPromptSubmit": ("userPromptSubmitted", "userPromptSubmitted"),
          "PreToolUse": ("preToolUse", "preToolUse-bash"), "PermissionRequest": ("permissionRequest",
                                                                                 "permissionRequest"),
          "PostToolUse": ("postToolUse", "postToolUse"), "PostToolUseFailure": ("postToolUseFailure",
                                                                                "postToolUseFailure"),
          "Stop": ("agentStop", "agentStop"), "SubagentStart": ("subagentStart", "subagentStart"),
          "SubagentStop": ("subagentStop", "subagentStop"), "Notification": ("notification", "notification"),
          "PreCompact": ("preCompact", "preCompact"), "StopFailure": ("errorOccurred", "errorOccurred")}


def run(env, rules, event: str, payload: str) -> tuple[dict | None, str, int]:
    done = env.eval("--agent", "copilot", "--event", event, "--rules", str(rules),
                    stdin=host_payload("copilot", payload))
    stdout = done.stdout.decode()
    answer = json.loads(stdout) if stdout else None
    if answer is not None:
        from jsonschema import Draft202012Validator

        assert stdout.count("\n") == 1
        validator = Draft202012Validator({"$ref": f"#/$defs/events/{event}", "$defs": SCHEMA["$defs"]})
        assert [error.message for error in validator.iter_errors(answer)] == []
    return answer, done.stderr.decode(), done.returncode


BASH_ARGS = json.loads(json.loads(host_payload("copilot", "preToolUse-bash"))["toolArgs"])
DENY = {"permissionDecision": "deny", "permissionDecisionReason": R}
EXPECTED: dict[tuple[str, str], tuple[dict | None, str, int]] = {
    **{("PreToolUse", verdict): (DENY, "", 0) for verdict in ("deny", "ask", "defer")},
    ("PreToolUse", "allow"): ({"permissionDecision": "allow"}, "", 0),
    ("PreToolUse", "stop"): ({"permissionDecision": "deny", "permissionDecisionReason": S}, "", 0),
    ("PreToolUse", "update_input"): ({"permissionDecision": "allow", "modifiedArgs": {
        **BASH_ARGS, "description": REWRITE}}, "", 0),
    ("PermissionRequest", "deny"): ({"behavior": "deny", "message": R}, "", 0),
    ("PermissionRequest", "allow"): ({"behavior": "allow"}, "", 0),
    ("PermissionRequest", "update_input"): ({"behavior": "allow"}, "", 0),
    ("PermissionRequest", "stop"): ({"behavior": "deny", "message": S, "interrupt": True}, "", 0),
    ("PostToolUseFailure", "deny"): (None, R + "\n", 2),
    ("PostToolUseFailure", "context"): (None, C + "\n", 2),
    **{(event, "deny"): ({"decision": "block", "reason": R}, "", 0) for event in ("Stop", "SubagentStop")},
    **{(event, "context"): ({"decision": "block", "reason": C}, "", 0) for event in ("Stop", "SubagentStop")},
    **{(event, "context"): ({"additionalContext": C}, "", 0) for event in ("SubagentStart", "Notification")},
}
CELLS = [(event, part) for event in EVENTS for part in PARTS]


@pytest.fixture(scope="module")
def copilot_env(tmp_path_factory):
    return part_files(tmp_path_factory.mktemp("copilot"), list(EVENTS))


def test_the_quiet_cells_are_the_ones_the_table_shows_doing_nothing():
    table = protocol_table()
    assert set(table) == set(EVENTS)
    quiet_cells_match_the_table(table, EXPECTED, CELLS)


@pytest.mark.parametrize("event, part", CELLS)
def test_cell(copilot_env, event, part):
    env, files = copilot_env
    name, payload = EVENTS[event]
    assert run(env, files[part], name, payload) == EXPECTED.get((event, part), NOTHING)


def test_a_broken_rule_file_fails_closed_with_a_json_deny(env):
    write(env.root / "rules.yaml", "- not a mapping\n")
    answer, stderr, code = run(env, env.root / "rules.yaml", "preToolUse", "preToolUse-bash")
    line = stderr.rstrip("\n")
    assert line.startswith("policy: rules.yaml:1:1: bad-type") and code == 0
    assert answer == {"permissionDecision": "deny", "permissionDecisionReason": line}
    # open (agentStop's default): nothing Copilot would act on, the line on stderr
    assert run(env, env.root / "rules.yaml", "agentStop", "agentStop") == (None, stderr, 0)
    # no --event and no hook_event_name: the payload cannot be read, and before_tool's fail mode is closed
    write(env.root / "rules.yaml", "version: 1\npack: p\nrules: []\n")
    done = env.eval("--agent", "copilot", "--rules", "rules.yaml", stdin=host_payload("copilot", "preToolUse-bash"))
    hint = "(run the hook as `policy eval --agent copilot --event preToolUse` (policy install --agent copilot writes " \
           "it so))"
    assert json.loads(done.stdout)["permissionDecision"] == "deny"
    assert done.stderr.decode() == f"policy: bad-input: a Copilot CLI payload does not name its event {hint}\n"


def test_a_stop_is_kept_working_once_copilot_sends_no_stop_hook_active(env):
    rules = write(env.root / "rules.yaml", "version: 1\npack: gate\nrules:\n  - id: tests\n    events: stop\n"
                                           "    decision: deny\n    reason: run the tests first\n")
    block = ({"decision": "block", "reason": "run the tests first"}, "", 0)
    assert run(env, rules, "agentStop", "agentStop") == block
    # the previous stop was kept working by policy: this one is stop_hook_active, and block_cap 1 lets it stop
    assert run(env, rules, "agentStop", "agentStop") == NOTHING
    # the one after it was let stop: a new run of stops
    assert run(env, rules, "agentStop", "agentStop") == block
    assert [row["stop_hook_active"] for row in env.rows("SELECT stop_hook_active FROM decisions ORDER BY id")] == [
        0, 1, 0]


def test_a_copilot_payload_becomes_the_canonical_event():
    shell = parse(host_payload("copilot", "preToolUse-bash"), "preToolUse")
    assert (shell.host, shell.name, shell.tool, shell.host_tool, shell.tool_input, shell.agent_session, shell.cwd) == (
        "copilot", "PreToolUse", "Bash", "bash", BASH_ARGS, "e3b8f1c2-6a4d-4f0e-9b7a-1c2d3e4f5a6b",
        "/home/dev/shop/infra/stacks/billing")
    edit = parse(host_payload("copilot", "preToolUse-edit"), "preToolUse")
    assert (edit.tool, edit.tool_input) == ("Edit", {
        "file_path": "/home/dev/shop/src/cart.py", "old_string": "    return sum(i.price for i in items)",
        "new_string": "    return sum(i.price * i.quantity for i in items)"})
    create = parse(host_payload("copilot", "preToolUse-create"), "preToolUse")
    assert (create.tool, create.tool_input["file_path"]) == ("Write", "/home/dev/shop/tests/test_cart.py")
    assert parse(host_payload("copilot", "preToolUse-view"), "preToolUse").tool == "Read"
    vscode = parse(host_payload("copilot", "PreToolUse-vscode"))
    assert (vscode.name, vscode.tool, vscode.tool_input) == ("PreToolUse", "Bash",
                                                             {"command": "terraform apply -auto-approve"})
    prompt = parse(host_payload("copilot", "userPromptSubmitted"), "userPromptSubmitted")
    assert (prompt.name, prompt.prompt) == ("UserPromptSubmit", "refactor the cart totals and add tests")
    assert parse(host_payload("copilot", "notification")).name == "Notification"


def test_a_rewrite_goes_back_in_copilots_field_names(env):
    rules = write(env.root / "rules.yaml", """
version: 1
pack: p
rules:
  - id: into-src
    events: before_tool
    tools: edit
    decision: allow
    update_input: {file_path: "{{ input.file_path.replace('/src/', '/lib/') }}"}
""")
    assert run(env, rules, "preToolUse", "preToolUse-edit") == ({"permissionDecision": "allow", "modifiedArgs": {
        "path": "/home/dev/shop/lib/cart.py", "old_str": "    return sum(i.price for i in items)",
        "new_str": "    return sum(i.price * i.quantity for i in items)"}}, "", 0)
