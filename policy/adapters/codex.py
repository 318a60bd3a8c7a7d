"""Codex CLI's hook protocol (openai/codex codex-rs/hooks; mapping: docs/protocol.md#codex-cli).

In: one JSON object on stdin in Claude Code's shape (`hook_event_name`, `session_id`, `tool_name`, `tool_input`),
plus `turn_id` and `model`. Tools: `Bash`, `apply_patch` (an edit, or a write when the patch only adds files) and
MCP tools `mcp__<server>__<tool>`.

Out: Claude Code's shape, validated more strictly by Codex, where an output it rejects is a failed hook and the
call goes ahead (fail open). So every answer here stays inside what Codex accepts (the JSON Schemas it publishes,
shipped in tests/schemas/codex/, check each one in the tests): no `ask` (ask and defer become a deny with the
reason), no plain `allow` (only with `updatedInput`; otherwise nothing is said), a deny always with a non-empty
reason, no `continue: false` on PreToolUse or PermissionRequest (a stop there denies the call), no `updatedInput`
or `interrupt` on PermissionRequest. Exit 2 blocks only with a non-empty stderr, which every failure has.
"""

from __future__ import annotations

from policy.adapters.common import (EventProtocol, Part, Table, canonical_event, check_parts, decode_object,
                                    event_name_of, example_payload as common_example, joined, named_event)
from policy.lean import json_dumps
from policy.model import HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, Settings

name = "codex"
TITLE = "Codex CLI"


# ---- parse ---------------------------------------------------------------------------------------------------------

def _patch_files(patch: str) -> list[tuple[str, str]]:
    """(operation, path) of each file an apply_patch patch touches: Add, Update or Delete."""
    found = []
    for line in patch.splitlines():
        for operation in ("Add", "Update", "Delete"):
            prefix = f"*** {operation} File: "
            if line.startswith(prefix):
                found.append((operation, line[len(prefix):].strip()))
    return found


def _added_content(patch: str) -> str:
    """The text of the one file a patch adds (its `+` lines)."""
    lines = []
    inside = False
    for line in patch.splitlines():
        if line.startswith("*** Add File: "):
            inside = True
        elif line.startswith("*** "):
            inside = False
        elif inside and line.startswith("+"):
            lines.append(line[1:])
    return "\n".join(lines) + ("\n" if lines else "")


def parse(raw: bytes, event_name: str | None = None) -> Event:
    """The canonical event for one Codex hook payload. Raises InputError with one clear line."""
    payload = decode_object(raw, "examples/events/codex/")
    event_name = event_name_of(payload, "hook_event_name", "Codex sends it with every hook; see examples/events/codex/",
                               event_name)
    data = dict(payload)
    data["host_payload"] = payload
    host_tool = None
    tool_input = payload.get("tool_input")
    if payload.get("tool_name") == "apply_patch" and isinstance(tool_input, dict) and \
            isinstance(tool_input.get("command"), str):
        patch = tool_input["command"]
        files = _patch_files(patch)
        writes = bool(files) and all(operation == "Add" for operation, _ in files)
        normalised = dict(tool_input)
        if files:
            normalised["file_path"] = files[0][1]
        if writes and len(files) == 1:
            normalised["content"] = _added_content(patch)
        host_tool = "apply_patch"
        data["tool_name"] = "Write" if writes else "Edit"
        data["tool_input"] = normalised
    if host_tool:
        data["host_tool"] = host_tool
    return canonical_event(name, event_name, data, host_tool)


def event_name_hint(raw: bytes) -> str | None:
    """The event a payload names, read from its first bytes without parsing it."""
    return named_event(raw)


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The payload Codex would send for a canonical event (Claude Code's shape): for `policy test --agent codex`.
    Raises ValueError for an event or tool Codex does not have."""
    from policy.vocabulary import canonical_events

    event_name = event["hook_event_name"]
    if event_name not in canonical_events(name):
        raise ValueError(f"{TITLE} never raises {event_name}")
    result = {"turn_id": "turn-test", "model": "gpt-5-codex", **event}
    result.setdefault("permission_mode", "default")
    tool = event.get("tool_name")
    if tool is not None and tool not in ("Bash", "Edit", "Write") and not str(tool).startswith("mcp__"):
        raise ValueError(f"{TITLE} has no {tool} tool")
    if tool == "Bash":  # Codex's shell call carries the command alone
        result["tool_input"] = {"command": (event.get("tool_input") or {}).get("command", "")}
    if tool in ("Edit", "Write"):
        tool_input = dict(event.get("tool_input") or {})
        path = tool_input.pop("file_path", "file.txt")
        body = "".join(f"+{line}\n" for line in str(tool_input.pop("content", "")).splitlines()) if tool == "Write" \
            else f"@@\n-{tool_input.pop('old_string', '')}\n+{tool_input.pop('new_string', '')}\n"
        operation = "Add" if tool == "Write" else "Update"
        result["tool_name"] = "apply_patch"
        result["tool_input"] = {"command": f"*** Begin Patch\n*** {operation} File: {path}\n{body}*** End Patch\n",
                                **tool_input}
    return result



def example_payload(**described: Any) -> bytes:
    """The payload Codex CLI would send for a described call (`policy explain --agent codex`)."""
    return common_example(name, payload, **described)

# ---- render --------------------------------------------------------------------------------------------------------
#
# Sources: codex-rs/hooks/src/engine/output_parser.rs (what Codex rejects), codex-rs/hooks/schema/generated/*.output
# .schema.json (tests/schemas/codex/), and docs/protocol.md#codex-cli for what could not be confirmed.

_MESSAGE = Part("system-message", "`systemMessage`")
_CONTEXT = Part("additional-context", "`hookSpecificOutput.additionalContext`")
_STOP = Part("continue", "`continue: false` + `stopReason`")
_STOP_INSTEAD = Part("instead", "`continue: false` + `stopReason` (instead of keeping it working)")
_BLOCK = "`decision: \"block\"` + `reason`"
_NO_SCHEMA = Part(doc="— (not in Codex's output schema)")

_MAKERS: dict[str, Callable[[], EventProtocol]] = {
    "SessionStart": lambda: EventProtocol(context=_CONTEXT, message=_MESSAGE, stop=_STOP),
    "UserPromptSubmit": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the prompt is not sent"), ask=Part("block", "as deny (Codex cannot ask)"),
        defer=Part("block", "as deny"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (not with a block)"),
        message=_MESSAGE, stop=_STOP, context_with_block=False),
    "PreToolUse": lambda: EventProtocol(
        deny=Part("permission", "`hookSpecificOutput.permissionDecision: \"deny\"` + `permissionDecisionReason` "
                                "(never empty)"),
        ask=Part("permission", "as deny: Codex rejects `\"ask\"`, and a rejected answer lets the call run"),
        defer=Part("permission", "as deny (as ask)"),
        allow=Part("permission", "nothing: Codex rejects a plain `\"allow\"` (with update_input: `\"allow\"` "
                                 "+ `updatedInput`)"),
        context=_CONTEXT, message=_MESSAGE,
        stop=Part("deny-call", "the call is denied with the stop's text (Codex rejects `continue: false` here)"),
        update_input=Part("specific", "`permissionDecision: \"allow\"` + `updatedInput` (with allow; an ask "
                                      "becomes a deny and the rewrite is dropped)"),
        update_output=_NO_SCHEMA),
    "PermissionRequest": lambda: EventProtocol(
        deny=Part("permission-request", "`hookSpecificOutput.decision: {behavior: \"deny\", message}`"),
        ask=Part("permission-request", "nothing: Codex asks the user as usual"),
        defer=Part("permission-request", "nothing: Codex asks the user as usual"),
        allow=Part("permission-request", "`decision: {behavior: \"allow\"}`"),
        message=_MESSAGE,
        stop=Part("deny-call", "`decision: {behavior: \"deny\", message}` with the stop's text (Codex rejects "
                               "`continue: false` and `interrupt` here)"),
        update_input=Part(doc="— (Codex rejects `updatedInput` here)")),
    "PostToolUse": lambda: EventProtocol(
        deny=Part("block", _BLOCK + " (feedback next to the tool result; the tool already ran)"),
        context=_CONTEXT, message=_MESSAGE, stop=_STOP,
        update_output=Part(doc="— (Codex's schema versions disagree on `updatedToolOutput`: not sent)")),
    "Stop": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": Codex keeps working, the reason is its next instruction"),
        context=Part("into-reason", "as deny: the context is the block's reason (Codex takes no context here)"),
        message=_MESSAGE, stop=_STOP_INSTEAD),
    "StopFailure": lambda: EventProtocol(message=_MESSAGE),
    "SubagentStart": lambda: EventProtocol(
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (to the subagent)"),
        message=_MESSAGE, stop=_STOP),
    "SubagentStop": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the subagent keeps working, the reason is its next instruction"),
        context=Part("into-reason", "as deny: the context is the block's reason"),
        message=_MESSAGE, stop=_STOP_INSTEAD),
    "PreCompact": lambda: EventProtocol(message=_MESSAGE),
    "PostCompact": lambda: EventProtocol(message=_MESSAGE),
}
TABLE = Table(_MAKERS)


def protocol(event_name: str | None) -> EventProtocol | None:
    return TABLE.get(event_name)


def protocol_table() -> dict[str, EventProtocol]:
    return TABLE.all()


def _output(answer: dict[str, Any]) -> HookOutput:
    return HookOutput(stdout=json_dumps(answer) + "\n" if answer else "")


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Codex's protocol, as the table says (settings: unused; Codex has no defer or bypass
    switches)."""
    entry = protocol(event.name)
    if entry is None:
        return HookOutput()
    verdict = decision.verdict
    reason = decision.reason
    context = decision.context if entry.context.how else None
    answer: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    stop = decision.stop if entry.stop.how else None
    how = getattr(entry, verdict).how if verdict else ""
    if stop:
        if entry.stop.how == "deny-call":
            verdict, how, reason = "deny", entry.deny.how, reason if verdict == "deny" else stop
        else:
            answer["continue"] = False
            answer["stopReason"] = stop
            if entry.stop.how == "instead":
                how, context = "", None
    if context and entry.context.how == "into-reason" and how != "block":
        how, reason, context = "block", context, None
    elif context and entry.context.how == "into-reason":
        reason, context = joined(reason, context), None
    if how == "permission":
        if verdict in ("deny", "ask", "defer"):  # Codex cannot ask: a deny, never without a reason
            specific["permissionDecision"] = "deny"
            specific["permissionDecisionReason"] = (reason or "").strip() or "blocked by policy"
        elif verdict == "allow" and decision.updated_input is not None:
            specific["permissionDecision"] = "allow"
            specific["updatedInput"] = decision.updated_input
    elif how == "permission-request" and verdict in ("deny", "allow"):
        answer_decision: dict[str, Any] = {"behavior": verdict}
        if verdict == "deny":
            answer_decision["message"] = (reason or "").strip() or "blocked by policy"
        specific["decision"] = answer_decision
    elif how == "block":
        answer["decision"] = "block"
        answer["reason"] = (reason or "").strip() or "blocked by policy"
    if context and (entry.context_with_block or how != "block"):
        specific["additionalContext"] = context
    if decision.message and entry.message.how:
        answer["systemMessage"] = decision.message
    if specific:
        answer["hookSpecificOutput"] = {"hookEventName": event.name, **specific}
    return _output(answer)


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made: fail closed (exit 2 with the line on stderr, which Codex needs non-empty; on
    PermissionRequest a JSON deny) or open (the line on stderr and in `systemMessage`, which every Codex event
    accepts)."""
    line = f"policy: {error.one_line()}"
    if mode == "open":
        return HookOutput(stdout=json_dumps({"systemMessage": f"{line} - policy is NOT enforcing rules"}) + "\n",
                          stderr=line + "\n")
    if event_name == "PermissionRequest":
        return HookOutput(stdout=json_dumps({"hookSpecificOutput": {
            "hookEventName": event_name, "decision": {"behavior": "deny", "message": line}}}) + "\n",
            stderr=line + "\n")
    return HookOutput(stderr=line + "\n", exit_code=2)


def check(packs: Any) -> list[Diagnostic]:
    """Located warnings for rules Codex cannot act on as written."""
    return check_parts(packs, name, TITLE, TABLE)


def supports(event_name: str) -> bool:
    return True
