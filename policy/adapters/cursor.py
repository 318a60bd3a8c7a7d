"""Cursor's hook protocol (cursor.com/docs/hooks; mapping: docs/protocol.md#cursor).

In: one JSON object on stdin, `hook_event_name` in camelCase, `conversation_id` (the session), `generation_id`,
`workspace_roots`. Tool calls arrive on several events: `beforeShellExecution` (a flat `command` and `cwd`),
`beforeMCPExecution` (`tool_name`, and `tool_input` that may be a JSON string), `beforeReadFile` (`file_path`,
`content`), `preToolUse` (any tool: `tool_name`, `tool_input`), and after them `afterShellExecution`,
`afterMCPExecution`, `afterFileEdit`, `postToolUse`. The adapter turns each into the canonical tool call.

Out: on the permission events `{"permission", "user_message", "agent_message"}` (+ `updated_input` on
`preToolUse`); on `beforeSubmitPrompt` `{"continue": false, "user_message"}`; on `stop`/`subagentStop`
`{"followup_message"}`, the only answer that keeps the agent working there (a flat deny is ignored), guarded
against loops by Cursor's `loop_count`; `{"additional_context"}` on `sessionStart` and `postToolUse`. Exit 2
blocks. Cursor's `ask` is reported broken in recent versions (not confirmed either way): ask and defer are denies.
"""

from __future__ import annotations

from policy.adapters.common import (EventProtocol, Part, Table, canonical_event, canonical_tool_fields, check_parts,
                                    decode_object, event_name_of, example_payload as common_example, host_input,
                                    host_tool_name, joined, named_event, renamed, type_name)
from policy.errors import InputError
from policy.lean import json_dumps, json_loads
from policy.model import HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, Settings

name = "cursor"
TITLE = "Cursor"
_MCP_SERVER = "cursor"  # Cursor names the MCP tool, not its server: mcp__cursor__<tool>
_SILENT = frozenset({"afterShellExecution", "afterMCPExecution", "afterFileEdit"})  # Cursor reads no answer


def _tool_input(value: Any, event_name: str) -> dict[str, Any]:
    if isinstance(value, str):  # beforeMCPExecution may send the arguments as a JSON string
        try:
            value = json_loads(value) if value.strip() else {}
        except ValueError:
            raise InputError(f"field 'tool_input' is a string that is not JSON ({event_name})",
                             hint="Cursor sends MCP arguments as a JSON object or a JSON string") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"field 'tool_input' must be an object, not {type_name(value)}")
    return value


def parse(raw: bytes, event_name: str | None = None) -> Event:
    """The canonical event for one Cursor hook payload. Raises InputError with one clear line."""
    from policy.vocabulary import host_event

    payload = decode_object(raw, "examples/events/cursor/")
    host_name = event_name_of(payload, "hook_event_name", "Cursor sends it with every hook; see "
                                                           "examples/events/cursor/", event_name)
    found = host_event(name, host_name)
    canonical = found.canonical if found else host_name
    data = dict(payload)
    data["host_payload"] = payload
    data["hook_event_name"] = canonical
    session = payload.get("session_id") or payload.get("conversation_id")
    if session is not None:
        data["session_id"] = session
    roots = payload.get("workspace_roots")
    if not payload.get("cwd") and isinstance(roots, list) and roots and isinstance(roots[0], str):
        data["cwd"] = roots[0]
    host_tool = None
    try:
        kind = found.kind if found else None
        if kind == "shell":
            host_tool = "Shell"
            data["tool_name"] = "Bash"
            data["tool_input"] = {"command": payload.get("command")}
            if host_name == "afterShellExecution":
                data["tool_response"] = {"output": payload.get("output"), "duration": payload.get("duration")}
        elif kind == "mcp":
            host_tool = str(payload.get("tool_name") or "")
            data["tool_name"] = f"mcp__{_MCP_SERVER}__{host_tool}"
            data["tool_input"] = _tool_input(payload.get("tool_input"), host_name)
        elif kind == "read":
            data["tool_name"] = "Read"
            data["tool_input"] = {key: payload[key] for key in ("file_path", "content") if key in payload}
        elif kind == "edit":
            data["tool_name"] = "Edit"
            data["tool_input"] = {key: payload[key] for key in ("file_path", "edits") if key in payload}
        elif "tool_name" in payload:
            data["tool_input"] = _tool_input(payload.get("tool_input"), host_name)
            host_tool = canonical_tool_fields(name, data)
        if canonical in ("Stop", "SubagentStop"):
            # Cursor's own loop guard: loop_count counts the follow-ups already sent this turn
            loops = payload.get("loop_count", 0)
            data["stop_hook_active"] = isinstance(loops, int) and not isinstance(loops, bool) and loops > 0
    except InputError as error:
        error.event_name = canonical
        raise
    if host_tool:
        data["host_tool"] = host_tool
    return canonical_event(name, canonical, data, host_tool)


def event_name_hint(raw: bytes) -> str | None:
    """The canonical event a payload names, read from its first bytes without parsing it."""
    return named_event(raw, name)


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The payload Cursor would send for a canonical event (Claude Code's shape), on the hook `policy install
    --agent cursor` writes for it, for `policy test --agent cursor`. Raises ValueError for an event or tool Cursor
    does not have."""
    from policy.vocabulary import host_events, tool_kind

    canonical = event["hook_event_name"]
    events = [found for found in host_events(name) if found.canonical == canonical]
    if not events:
        raise ValueError(f"{TITLE} never raises {canonical}")
    session = event.get("session_id", "")
    result: dict[str, Any] = {"conversation_id": session, "generation_id": "gen-test", "model": "claude-4.5-sonnet",
                              "cursor_version": "2.1.0", "workspace_roots": [event.get("cwd") or "/"]}
    if canonical in ("SessionStart", "SessionEnd"):
        result["session_id"] = session
    for key in ("cwd", "prompt", "source", "reason"):
        if key in event:
            result[key] = event[key]
    tool = event.get("tool_name")
    tool_input = dict(event.get("tool_input") or {})
    chosen = next((found for found in events if found.kind is None), events[0])
    if tool is not None:
        kind = tool_kind(str(tool))
        special = next((found for found in events if found.kind and found.kind == kind), None)
        if special is not None and kind in ("edit", "write"):
            host_tool_name(name, str(tool))  # a tool Cursor does not have (NotebookEdit) raises
        if special is not None:
            chosen = special
            if kind == "shell":
                result["command"] = tool_input.get("command", "")
            elif kind == "mcp":
                result["tool_name"] = str(tool).rpartition("__")[2]
                result["tool_input"] = json_dumps(tool_input)
            else:
                result.update({key: tool_input[key] for key in ("file_path", "content", "edits") if key in tool_input})
        else:
            host_name, fields = host_tool_name(name, str(tool))
            result["tool_name"] = host_name
            result["tool_input"] = renamed(tool_input, fields)
    if canonical in ("Stop", "SubagentStop"):
        result["status"] = "completed"
        result["loop_count"] = 1 if event.get("stop_hook_active") else 0
    result["hook_event_name"] = chosen.name
    return result



def example_payload(**described: Any) -> bytes:
    """The payload Cursor would send for a described call (`policy explain --agent cursor`)."""
    return common_example(name, payload, **described)

# ---- render --------------------------------------------------------------------------------------------------------

_PERMISSION = "`permission: \"deny\"` + `user_message` + `agent_message` (the reason)"
_MESSAGE_WITH_DENY = Part("with-deny", "`user_message`, with a deny only (Cursor shows nothing else)")

_MAKERS: dict[str, Callable[[], EventProtocol]] = {
    "SessionStart": lambda: EventProtocol(
        context=Part("additional-context", "`additional_context`"), message=Part(doc="— (no field for it)")),
    "UserPromptSubmit": lambda: EventProtocol(
        deny=Part("continue", "`continue: false` + `user_message` (the reason): the prompt is not sent"),
        ask=Part("continue", "as deny"), defer=Part("continue", "as deny"),
        context=Part(doc="— (Cursor takes no context here)"),
        message=Part("with-deny", "`user_message`, with a deny only"),
        stop=Part("deny-call", "`continue: false` + `user_message` (the stop's text)")),
    "PreToolUse": lambda: EventProtocol(
        deny=Part("permission", _PERMISSION + "; on `beforeReadFile` the permission alone"),
        ask=Part("permission", "as deny: Cursor's `\"ask\"` is reported not to ask in recent versions"),
        defer=Part("permission", "as deny"),
        allow=Part("permission", "`permission: \"allow\"`"),
        context=Part(doc="— (Cursor takes no context here)"), message=_MESSAGE_WITH_DENY,
        stop=Part("deny-call", "the call is denied with the stop's text (Cursor has no stop here)"),
        update_input=Part("updated-input", "`updated_input` with `permission: \"allow\"` (on `preToolUse` only)")),
    "PostToolUse": lambda: EventProtocol(
        deny=Part("into-context", "the reason as `additional_context` on `postToolUse` (the tool already ran; "
                                  "`afterShellExecution`, `afterMCPExecution` and `afterFileEdit` take no answer)"),
        context=Part("additional-context", "`additional_context` on `postToolUse` (the after-events take no "
                                           "answer)")),
    "PostToolUseFailure": lambda: EventProtocol(),
    "Stop": lambda: EventProtocol(
        deny=Part("followup", "`followup_message` (the reason): Cursor sends it as the next message, up to the "
                              "hook's `loop_limit`"),
        context=Part("followup", "`followup_message` (as deny)"),
        stop=Part("instead", "nothing (instead of a follow-up): the agent stops")),
    "SubagentStart": lambda: EventProtocol(),
    "SubagentStop": lambda: EventProtocol(
        deny=Part("followup", "`followup_message` (the reason): the subagent keeps working"),
        context=Part("followup", "`followup_message` (as deny)"),
        stop=Part("instead", "nothing (instead of a follow-up): the subagent stops")),
    "SessionEnd": lambda: EventProtocol(),
    "PreCompact": lambda: EventProtocol(),
}
TABLE = Table(_MAKERS)


def protocol(event_name: str | None) -> EventProtocol | None:
    return TABLE.get(event_name)


def protocol_table() -> dict[str, EventProtocol]:
    return TABLE.all()


def _host_event_name(event: Event) -> str:
    original = event.data.get("host_payload")
    found = original.get("hook_event_name") if isinstance(original, dict) else None
    return found if isinstance(found, str) else event.name


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Cursor's protocol, as the table says."""
    entry = protocol(event.name)
    host_name = _host_event_name(event)
    if entry is None or host_name in _SILENT:
        return HookOutput()
    verdict = decision.verdict
    reason = decision.reason
    how = getattr(entry, verdict).how if verdict else ""
    context = decision.context if entry.context.how else None
    stop = decision.stop if entry.stop.how else None
    answer: dict[str, Any] = {}
    if stop:
        if entry.stop.how == "deny-call":
            verdict, how, reason = "deny", entry.deny.how, reason if verdict == "deny" else stop
        else:  # "instead": the agent is let stop
            how, context = "", None
    if how == "permission":
        verdict = "deny" if verdict in ("ask", "defer") else verdict
        answer["permission"] = verdict
        if verdict == "deny":
            reason = reason or "blocked by policy"
            if host_name != "beforeReadFile":
                answer["user_message"] = decision.message or reason
                answer["agent_message"] = reason
        elif verdict == "allow" and decision.updated_input is not None and host_name == "preToolUse":
            answer["updated_input"] = host_input(name, event, decision.updated_input)
    elif how == "continue":
        answer["continue"] = False
        answer["user_message"] = decision.message or reason or "blocked by policy"
    elif how == "followup" or (context and entry.context.how == "followup"):
        answer["followup_message"] = joined(reason if how == "followup" else None, context)
        context = None
    elif how == "into-context":
        context = joined(reason, context)
    if context and entry.context.how == "additional-context" and host_name in ("postToolUse", "sessionStart"):
        answer["additional_context"] = context
    return HookOutput(stdout=json_dumps(answer) + "\n" if answer else "")


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made: fail closed (exit 2, which Cursor documents as a block, the line on stderr) or
    open (exit 0, nothing on stdout: Cursor has no field to tell the user outside a deny; the line on stderr)."""
    line = f"policy: {error.one_line()}"
    return HookOutput(stderr=line + "\n", exit_code=2 if mode == "closed" else 0)


def check(packs: Any) -> list[Diagnostic]:
    """Located warnings for rules Cursor cannot act on as written."""
    return check_parts(packs, name, TITLE, TABLE)


def supports(event_name: str) -> bool:
    return True
