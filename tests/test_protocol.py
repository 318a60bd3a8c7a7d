"""Every cell of docs/protocol.md's event x part table, end to end: `policy eval` as a real process on a real payload
from examples/events/, checking the exact stdout (valid for the event by tests/schemas/claude-code-output.schema.json),
stderr and exit code. Then what the table does not show: permission modes, `defer_as`, precedence, rewrites, the
Stop loop guard, errors in the hook's own arguments, and WorktreeCreate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env, event_bytes, event_payload, host_output, isolated_vars, write

from policy.adapters import ADAPTERS
from policy.adapters.claude_code import OTHER_PARTS, VERDICT_PARTS, protocol_table
from policy.model import EVENTS

R, C, M, S = "the reason", "the context", "the message", "policy stops the agent"
REWRITE = "rewritten by policy"
# One real payload per event.
PAYLOADS = {event: event for event in EVENTS} | {
    "PreToolUse": "PreToolUse-Bash", "PermissionRequest": "PermissionRequest-Bash", "PostToolUse": "PostToolUse-Bash",
    "PostToolUseFailure": "PostToolUseFailure-Bash", "Notification": "Notification-permission",
}
# One rule file per part: a rule on every event that produces exactly that part (a rewrite of the input needs a
# verdict that lets the call go ahead).
PART_RULES = {
    "deny": ["decision: deny", f"reason: {R}"], "ask": ["decision: ask", f"reason: {R}"],
    "defer": ["decision: defer", f"reason: {R}"], "allow": ["decision: allow", f"reason: {R}"],
    "context": [f"context: {C}"], "message": [f"message: {M}"], "stop": [f"stop: {S}"],
    "update_input": ["decision: allow", f"reason: {R}", f"update_input: {{description: {REWRITE}}}"],
    "update_output": ["update_output: {stdout: '[redacted]'}"],
}
KNOWN = ", ".join(sorted(ADAPTERS))  # the hosts policy eval knows, as its usage errors list them


def specific(event: str, **fields: object) -> dict:
    return {"hookSpecificOutput": {"hookEventName": event, **fields}}


BLOCK = {"decision": "block", "reason": R}
STOP = {"continue": False, "stopReason": S}
BASH_INPUT = event_payload("PreToolUse-Bash")["tool_input"]
REQUEST_INPUT = event_payload("PermissionRequest-Bash")["tool_input"]
BASH_OUTPUT = event_payload("PostToolUse-Bash")["tool_response"]
REFUSED = (None, "policy: unsupported-event: policy cannot answer WorktreeCreate (a WorktreeCreate hook must create "
                 "the worktree itself and print its path, which policy does not do; drop WorktreeCreate from the rule)\n",
           2)

# (event, part) -> (stdout JSON, stderr, exit code), written from the Claude Code hooks reference. Every other cell
# prints nothing, says nothing and exits 0.
EXPECTED: dict[tuple[str, str], tuple[dict | None, str, int]] = {
    **{(event, "deny"): (BLOCK, "", 0) for event in (
        "UserPromptSubmit", "UserPromptExpansion", "PostToolUse", "PostToolBatch", "SubagentStop", "TaskCreated",
        "Stop", "ConfigChange", "PreCompact")},
    ("PreToolUse", "deny"): (specific("PreToolUse", permissionDecision="deny", permissionDecisionReason=R), "", 0),
    ("PermissionRequest", "deny"): (specific("PermissionRequest", decision={"behavior": "deny", "message": R}), "", 0),
    ("PostToolUseFailure", "deny"): (specific("PostToolUseFailure", additionalContext=R), "", 0),
    ("TaskCompleted", "deny"): (None, R + "\n", 2),
    ("TeammateIdle", "deny"): (None, R + "\n", 2),
    ("Elicitation", "deny"): (specific("Elicitation", action="decline"), "", 0),
    ("ElicitationResult", "deny"): (specific("ElicitationResult", action="decline"), "", 0),
    **{(event, verdict): (BLOCK, "", 0) for event in ("UserPromptSubmit", "UserPromptExpansion")
       for verdict in ("ask", "defer")},
    ("PreToolUse", "ask"): (specific("PreToolUse", permissionDecision="ask", permissionDecisionReason=R), "", 0),
    ("PreToolUse", "defer"): (specific("PreToolUse", permissionDecision="ask", permissionDecisionReason=R), "", 0),
    ("PreToolUse", "allow"): (specific("PreToolUse", permissionDecision="allow", permissionDecisionReason=R), "", 0),
    ("PermissionRequest", "allow"): (specific("PermissionRequest", decision={"behavior": "allow"}), "", 0),
    **{(event, "context"): (specific(event, additionalContext=C), "", 0) for event in (
        "SessionStart", "Setup", "UserPromptSubmit", "UserPromptExpansion", "PreToolUse", "PostToolUse",
        "PostToolUseFailure", "PostToolBatch", "Notification", "SubagentStart", "SubagentStop", "Stop")},
    ("DirectoryAdded", "context"): ({"systemMessage": C}, "", 0),
    **{(event, "message"): ({"systemMessage": M}, "", 0) for event in (
        "SessionStart", "Setup", "UserPromptSubmit", "UserPromptExpansion", "PreToolUse", "PermissionRequest",
        "PermissionDenied", "PostToolUse", "PostToolUseFailure", "PostToolBatch", "SubagentStart", "SubagentStop",
        "TaskCreated", "TaskCompleted", "Stop", "TeammateIdle", "CwdChanged", "FileChanged")},
    **{(event, "stop"): (STOP, "", 0) for event in (
        "SessionStart", "Setup", "UserPromptSubmit", "UserPromptExpansion", "PermissionDenied", "PostToolUse",
        "PostToolUseFailure", "PostToolBatch", "SubagentStart", "SubagentStop", "TaskCompleted", "Stop",
        "TeammateIdle")},
    ("PreToolUse", "stop"): ({**STOP, **specific("PreToolUse", permissionDecision="deny",
                                                 permissionDecisionReason=S)}, "", 0),
    ("PermissionRequest", "stop"): ({**STOP, **specific("PermissionRequest", decision={
        "behavior": "deny", "message": S, "interrupt": True})}, "", 0),
    ("PreToolUse", "update_input"): (specific("PreToolUse", permissionDecision="allow", permissionDecisionReason=R,
                                              updatedInput={**BASH_INPUT, "description": REWRITE}), "", 0),
    ("PermissionRequest", "update_input"): (specific("PermissionRequest", decision={
        "behavior": "allow", "updatedInput": {**REQUEST_INPUT, "description": REWRITE}}), "", 0),
    ("PostToolUse", "update_output"): (specific("PostToolUse", updatedToolOutput={**BASH_OUTPUT,
                                                                                  "stdout": "[redacted]"}), "", 0),
    **{("WorktreeCreate", part): REFUSED for part in VERDICT_PARTS + OTHER_PARTS},
}
CELLS = [(event, part) for event in EVENTS for part in VERDICT_PARTS + OTHER_PARTS]
NOTHING = (None, "", 0)


@pytest.fixture(scope="module")
def protocol_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, dict[str, Path]]:
    """One environment for every cell (its compiled-rules cache is shared), and the rule file of each part."""
    root = tmp_path_factory.mktemp("protocol")
    env = Env(root / "work", isolated_vars(root))
    files = {part: write(env.root / f"{part}.yaml", f"version: 1\npack: {part.replace('_', '-')}\nrules:\n"
                         f"  - id: every-event\n    events: [{', '.join(EVENTS)}]\n"
                         + "".join(f"    {line}\n" for line in lines)) for part, lines in PART_RULES.items()}
    return env, files


def test_the_quiet_cells_are_the_ones_the_table_shows_doing_nothing():
    """This test's expectations and docs/protocol.md agree: every cell it expects nothing from reads "—" in the
    table (or, for ask and defer on PermissionRequest, that the dialog shows), and every other cell does not."""
    quiet = {cell for cell in CELLS if cell not in EXPECTED}
    table = protocol_table()
    documented = {(event, part) for event, part in CELLS if getattr(table[event], part).doc.startswith("—")}
    assert quiet == documented | {("PermissionRequest", "ask"), ("PermissionRequest", "defer")}
    assert list(table) == list(EVENTS)


@pytest.mark.parametrize("event, part", CELLS)
def test_cell(protocol_env, event, part):
    env, files = protocol_env
    done = env.eval("--rules", str(files[part]), stdin=event_bytes(PAYLOADS[event]))
    expected = EXPECTED.get((event, part), NOTHING)
    stdout = done.stdout.decode()
    assert (host_output(event, stdout) if event != "WorktreeCreate" else (stdout or None), done.stderr.decode(),
            done.returncode) == expected


# ---- what the table does not show ----------------------------------------------------------------------------------

def evaluate(env: Env, rules: str, payload: str, *args: str, config: str | None = None):
    """`policy eval` on a real payload with these rules (and config): (stdout JSON, stderr, exit code)."""
    rule_file = write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n" + rules)
    flags = ["--rules", str(rule_file)]
    if config is not None:
        flags += ["--config", str(write(env.root / "policy.yaml", "version: 1\n" + config))]
    done = env.eval(*flags, *args, stdin=event_bytes(payload))
    event = event_payload(payload)["hook_event_name"]
    return host_output(event, done.stdout.decode()), done.stderr.decode(), done.returncode


ASK = "  - id: a\n    events: [PreToolUse, PermissionRequest]\n    decision: ask\n    reason: a person decides\n"
DEFER = "  - id: d\n    events: [PreToolUse, PermissionRequest]\n    decision: defer\n    reason: another session\n"


def pre(decision: str, reason: str | None = None) -> dict:
    fields = {"permissionDecision": decision} | ({"permissionDecisionReason": reason} if reason else {})
    return specific("PreToolUse", **fields)


@pytest.mark.parametrize("rules, payload, config, expected", [
    # bypassPermissions: Claude Code still shows a hook's ask, so policy keeps it (ask_in_bypass: deny is stricter)
    (ASK, "PreToolUse-Bash-bypass", None, pre("ask", "a person decides")),
    (ASK, "PreToolUse-Bash-bypass", "ask_in_bypass: deny\n", pre("deny", "a person decides")),
    (DEFER, "PreToolUse-Bash-bypass", None, pre("ask", "another session")),
    (DEFER, "PreToolUse-Bash-bypass", "ask_in_bypass: deny\n", pre("deny", "another session")),
    # dontAsk: nobody is asked, a prompt would be denied: policy says deny, with its reason for Claude
    (ASK, "PreToolUse-Bash-dontAsk", None, pre("deny", "a person decides")),
    (DEFER, "PreToolUse-Bash-dontAsk", "defer_as: defer\n", pre("deny", "another session")),
    # defer_as: what each setting sends (what Claude Code then does depends on the session: docs/protocol.md)
    (DEFER, "PreToolUse-Bash", "defer_as: defer\n", pre("defer")),
    (DEFER, "PreToolUse-Bash", "defer_as: deny\n", pre("deny", "another session")),
    (DEFER, "PreToolUse-Bash", "defer_as: ask\n", pre("ask", "another session")),
    (DEFER, "PreToolUse-Bash-bypass", "defer_as: defer\n", pre("defer")),
    # PermissionRequest: an ask is the dialog itself (nothing to add), except where nobody would see it
    (ASK, "PermissionRequest-Bash", None, None),
    (DEFER, "PermissionRequest-Bash", None, None),
])
def test_permission_modes_and_defer_as(env, rules, payload, config, expected):
    assert evaluate(env, rules, payload, config=config) == (expected, "", 0)


def test_a_rewrite_with_templates_keeps_the_other_fields_and_types(env):
    rules = ("  - id: plan-only\n    events: PreToolUse\n    tools: Bash\n    match: {tool_input.command: '^terraform apply'}\n"
             "    decision: ask\n    reason: plan first\n"
             "    update_input:\n      command: \"{{ input.command.replace('apply', 'plan') }}\"\n"
             "      timeout: \"{{ 60 * 1000 }}\"\n      run_in_background: null\n")
    assert evaluate(env, rules, "PreToolUse-Bash") == (specific(
        "PreToolUse", permissionDecision="ask", permissionDecisionReason="plan first", updatedInput={
            "command": "terraform plan -auto-approve", "description": "Apply Terraform changes to the billing stack",
            "timeout": 60000}), "", 0)


def test_rewrites_merge_in_rule_order_and_need_a_call_that_goes_ahead(env):
    rules = ("  - id: first\n    events: PreToolUse\n    decision: allow\n    reason: fine\n"
             "    update_input: {description: first, timeout: 1}\n"
             "  - id: second\n    events: PreToolUse\n    decision: ask\n    reason: check it\n"
             "    update_input: {description: second}\n")
    assert evaluate(env, rules, "PreToolUse-Bash") == (specific(
        "PreToolUse", permissionDecision="ask", permissionDecisionReason="check it",
        updatedInput={**BASH_INPUT, "description": "second", "timeout": 1}), "", 0)
    denied = rules + "  - id: refuse\n    events: PreToolUse\n    decision: deny\n    reason: never\n"
    assert evaluate(env, denied, "PreToolUse-Bash") == (pre("deny", "never"), "", 0)
    deferred = rules + "  - id: later\n    events: PreToolUse\n    decision: defer\n    reason: another session\n"
    assert evaluate(env, deferred, "PreToolUse-Bash", config="defer_as: defer\n") == (pre("defer"), "", 0)


def test_a_replaced_output_goes_with_a_block(env):
    rules = ("  - id: redact\n    events: PostToolUse\n    decision: deny\n    reason: a secret was printed\n"
             "    update_output: {stdout: \"{{ event.tool_response.stdout.replace('pyproject.toml', '[hidden]') }}\"}\n")
    stdout = BASH_OUTPUT["stdout"].replace("pyproject.toml", "[hidden]")
    assert stdout != BASH_OUTPUT["stdout"]
    assert evaluate(env, rules, "PostToolUse-Bash") == ({
        "decision": "block", "reason": "a secret was printed",
        **specific("PostToolUse", updatedToolOutput={**BASH_OUTPUT, "stdout": stdout})}, "", 0)


MORE = {"additionalContext": "more"}


@pytest.mark.parametrize("payload, expected", [
    ("Stop", STOP),  # not also a block or the context: they would keep it working
    ("TaskCompleted", STOP),  # not also exit 2
    ("PostToolUse-Bash", {**STOP, **BLOCK, **specific("PostToolUse", **MORE)}),
    ("PreToolUse-Bash", {**STOP, **specific("PreToolUse", permissionDecision="deny", permissionDecisionReason=R,
                                            **MORE)}),
    ("TaskCreated", BLOCK),  # Claude Code ignores continue: false there
])
def test_a_stop_is_stronger_than_a_deny(env, payload, expected):
    events = "[Stop, TaskCompleted, PostToolUse, PreToolUse, TaskCreated]"
    rules = (f"  - id: refuse\n    events: {events}\n    decision: deny\n    reason: {R}\n    context: more\n"
             f"  - id: end\n    events: {events}\n    stop: {S}\n")
    assert evaluate(env, rules, payload) == (expected, "", 0)


def test_context_and_message_on_one_stop(env):
    rules = (f"  - id: feedback\n    events: Stop\n    context: {C}\n    message: {M}\n"
             f"  - id: gate\n    events: Stop\n    decision: deny\n    reason: {R}\n")
    assert evaluate(env, rules, "Stop") == ({**BLOCK, "systemMessage": M, **specific("Stop", additionalContext=C)},
                                            "", 0)


# ---- the Stop loop guard -----------------------------------------------------------------------------------------

GATE = ("  - id: gate\n    events: [Stop, SubagentStop]\n    when: facts.kv.get('gate') == 'on'\n    decision: deny\n"
        "    reason: not done yet\n    block_cap: 2\n")


def stop(env: Env, payload: str, gate: str) -> str:
    """Set the gate (as `policy fact set gate on|off` would), then stop with this payload: block or stop?"""
    import time

    from policy.facts.kv import set_value
    from policy.store import Store

    with Store.open(str(env.db)) as store, store.transaction():
        set_value(store, "gate", gate, now=time.time())
    output, stderr, code = evaluate(env, GATE, payload)
    assert (stderr, code) == ("", 0)
    return "block" if output == {"decision": "block", "reason": "not done yet"} else "stop" if output is None else \
        repr(output)


def test_a_let_through_in_between_does_not_reset_the_count(env):
    """Another hook may keep the agent working where policy let it stop: the run goes on, and so does the count
    (block, none, block must not go past block_cap)."""
    assert [stop(env, "Stop", "on"), stop(env, "Stop-active", "off"), stop(env, "Stop-active", "on"),
            stop(env, "Stop-active", "on"), stop(env, "Stop", "on")] == ["block", "stop", "block", "stop", "block"]
    assert env.rows("SELECT event, verdict, stop_hook_active, continued, agent_id FROM decisions ORDER BY id") == [
        {"event": "Stop", "verdict": verdict, "stop_hook_active": active, "continued": int(verdict == "deny"),
         "agent_id": None}
        for verdict, active in (("deny", 0), (None, 1), ("deny", 1), (None, 1), ("deny", 0))]


def test_subagents_are_counted_each_on_its_own(env):
    """Two subagents stopping in parallel do not share a count: the first one's second stop is its first block in
    its own run."""
    assert [stop(env, "SubagentStop", "on"), stop(env, "SubagentStop-parallel", "on"),
            stop(env, "SubagentStop-active", "on"), stop(env, "SubagentStop-active", "on")] == [
        "block", "block", "block", "stop"]
    assert [row["agent_id"] for row in env.rows("SELECT agent_id FROM decisions ORDER BY id")] == [
        "a3f9c2e1b7d40568e", "b71d04e9c3a2f5816", "a3f9c2e1b7d40568e", "a3f9c2e1b7d40568e"]


def test_a_context_on_stop_counts_as_keeping_the_agent_working(env):
    rules = "  - id: nudge\n    events: Stop\n    context: run the tests before you finish\n"
    nudge = specific("Stop", additionalContext="run the tests before you finish")
    assert [evaluate(env, rules, payload)[0] for payload in ("Stop", "Stop-active", "Stop")] == [nudge, None, nudge]


# ---- errors in the hook's own arguments ----------------------------------------------------------------------------

USAGE = ("usage: policy eval [--agent claude-code] [--event NAME] [--config FILE] [--rules PATH]... [--db FILE] "
         "[--now ISO] [--dry-run] [--explain] [--format host|json] [--timeout SECONDS] < event.json")


def line(message: str) -> str:
    return f"policy: usage: {message}"


@pytest.mark.parametrize("args, payload, expected", [
    # PreToolUse fails closed: exit 2 blocks the call
    (["--bogus"], "PreToolUse-Bash", (None, line(f"unknown argument '--bogus' ({USAGE})") + "\n", 2)),
    # PermissionRequest fails closed, where Claude Code ignores exit 2: a JSON deny
    (["--bogus"], "PermissionRequest-Bash", (specific("PermissionRequest", decision={
        "behavior": "deny", "message": line(f"unknown argument '--bogus' ({USAGE})")}),
        line(f"unknown argument '--bogus' ({USAGE})") + "\n", 0)),
    (["--agent", "nano"], "PermissionRequest-Bash", (specific("PermissionRequest", decision={
        "behavior": "deny", "message": line(f"unknown agent 'nano' (known: {KNOWN})")}),
        line(f"unknown agent 'nano' (known: {KNOWN})") + "\n", 0)),
    # Stop fails open: exit 2 there would keep the agent working with the usage error as its instruction
    (["--now", "soon"], "Stop", ({"systemMessage": line(
        "--now 'soon' is not an ISO 8601 time (e.g. 2026-11-20T10:00:00+01:00)") + " - policy is NOT enforcing rules"},
        line("--now 'soon' is not an ISO 8601 time (e.g. 2026-11-20T10:00:00+01:00)") + "\n", 0)),
    (["--rules"], "Stop", ({"systemMessage": line(f"--rules needs a value ({USAGE})") + " - policy is NOT enforcing "
                                                                                         "rules"},
                           line(f"--rules needs a value ({USAGE})") + "\n", 0)),
    # an event that shows no systemMessage: only the line on stderr
    (["--bogus"], "Notification-idle", (None, line(f"unknown argument '--bogus' ({USAGE})") + "\n", 0)),
])
def test_argument_errors_answer_in_the_events_fail_mode(env, args, payload, expected):
    done = env.eval(*args, stdin=event_bytes(payload))
    event = event_payload(payload)["hook_event_name"]
    assert (host_output(event, done.stdout.decode()), done.stderr.decode(), done.returncode) == expected


def test_argument_errors_use_the_configured_fail_mode(env):
    config = write(env.root / "policy.yaml", "version: 1\nfail: {PreToolUse: open}\n")
    done = env.eval("--config", str(config), "--format", "host", "--bogus", stdin=event_bytes("PreToolUse-Bash"))
    message = line(f"unknown argument '--bogus' ({USAGE})")
    assert (host_output("PreToolUse", done.stdout.decode()), done.returncode) == (
        {"systemMessage": message + " - policy is NOT enforcing rules"}, 0)


def test_a_payload_past_the_ceiling_is_answered_for_the_event_it_names(env):
    payload = event_bytes("Stop")[:-2] + b', "padding": "' + b"x" * (64 * 1024 * 1024) + b'"}'
    done = env.eval(stdin=payload)
    message = "policy: bad-input: the hook payload is larger than 67108864 bytes (raise max_event_bytes in the " \
              "config if such payloads are expected)"
    assert (host_output("Stop", done.stdout.decode()), done.stderr.decode(), done.returncode) == (
        {"systemMessage": message + " - policy is NOT enforcing rules"}, message + "\n", 0)


# ---- WorktreeCreate ------------------------------------------------------------------------------------------------

def test_worktree_create_is_refused_at_validate_time(env):
    rules = write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n  - id: w\n    events: [WorktreeCreate, "
                                           "Stop]\n    decision: deny\n")
    done = env.run_text("validate", str(rules))
    assert (done.stdout, done.returncode) == (
        f"{rules}:4:5: unsupported-event: rule p/w: policy cannot answer WorktreeCreate in Claude Code\n"
        "    hint: a WorktreeCreate hook must create the worktree itself and print its path, which policy does not "
        "do; drop WorktreeCreate from the rule\n1 error, 0 warnings in 1 file\n", 1)


def test_worktree_create_never_gets_json_on_stdout(env):
    """Whatever happens, stdout stays empty (Claude Code would take it for the worktree's path) and the exit code
    fails the creation with the reason on stderr: a broken config (fail open) too."""
    broken = write(env.root / "policy.yaml", "version: 1\nrules: [missing.yaml]\nfail: open\n")
    done = env.eval("--config", str(broken), stdin=event_bytes("WorktreeCreate"))
    assert (done.stdout, done.returncode) == (b"", 2)
    assert done.stderr.decode().startswith("policy: ") and done.stderr.decode().count("\n") == 1
    done = env.eval("--bogus", stdin=event_bytes("WorktreeCreate"))
    assert (done.stdout, done.stderr.decode(), done.returncode) == (
        b"", line(f"unknown argument '--bogus' ({USAGE})") + "\n", 2)


# ---- --explain and --format json -----------------------------------------------------------------------------------

def test_explain_and_the_json_report_say_what_is_stopped_and_rewritten(env):
    rules = ("  - id: plan\n    events: PreToolUse\n    decision: allow\n    reason: fine\n"
             "    update_input: {command: terraform plan}\n"
             "  - id: refuse\n    events: PreToolUse\n    decision: deny\n    reason: never\n")
    _, stderr, _ = evaluate(env, rules, "PreToolUse-Bash", "--explain")
    assert stderr == ("explain: PreToolUse: verdict deny\n"
                      "  reason: never\n"
                      "  tool input not rewritten: the verdict deny does not let the call go ahead\n"
                      "  matched:\n"
                      "    p/plan: decision allow\n"
                      "    p/refuse: decision deny\n")
    rules = ("  - id: plan\n    events: PreToolUse\n    decision: allow\n    reason: fine\n"
             "    update_input: {command: terraform plan}\n  - id: end\n    events: PreToolUse\n    stop: enough\n")
    _, stderr, _ = evaluate(env, rules, "PreToolUse-Bash", "--explain")
    assert stderr == ("explain: PreToolUse: verdict allow\n"
                      "  reason: fine\n"
                      "  stop: enough (stronger than the verdict)\n"
                      "  tool input not rewritten: the agent is stopped\n"
                      "  matched:\n"
                      "    p/plan: decision allow\n"
                      "    p/end\n")
    rules = "  - id: plan\n    events: PreToolUse\n    decision: ask\n    update_input: {command: terraform plan}\n"
    _, stderr, _ = evaluate(env, rules, "PreToolUse-Bash", "--explain")
    assert stderr == ("explain: PreToolUse: verdict ask\n"
                      "  reason: ask by policy rule p/plan\n"
                      f"  tool input rewritten to {json.dumps({**BASH_INPUT, 'command': 'terraform plan'}, separators=(',', ':'))}\n"
                      "  matched:\n"
                      "    p/plan: decision ask\n")
    write(env.root / "rules.yaml", "version: 1\npack: p\nrules:\n  - {id: r, events: PostToolUse, update_output: "
                                   "{stdout: x}, stop: done}\n")
    report = json.loads(env.eval("--rules", "rules.yaml", "--format", "json", stdin=event_bytes("PostToolUse-Bash"))
                        .stdout)
    assert (report["stop"], report["updated_input"], report["updated_output"]) == (
        "done", None, {**BASH_OUTPUT, "stdout": "x"})
