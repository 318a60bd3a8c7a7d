"""GitHub Copilot CLI's hook protocol (github/docs content/copilot/reference/copilot-cli-reference/cli-hooks-reference.md;
mapping: docs/protocol.md#github-copilot-cli).

In: one JSON object on stdin in camelCase (`sessionId`, `timestamp` in ms, `cwd`, `toolName` such as bash, edit,
view, create, and `toolArgs`, the arguments as a JSON string or an object). The payload does not name its event:
the hook command does (`policy eval --agent copilot --event preToolUse`, as `policy install --agent copilot`
writes it). A payload in the VS Code-compatible format (PascalCase `hook_event_name`, snake_case fields) is read
too. Copilot sends no `stop_hook_active`: policy derives it from its decision log (the agent's previous stop was
kept working by policy), so `block_cap` bounds a Stop loop as on the other hosts.

Out: FLAT fields. preToolUse `{"permissionDecision": "deny", "permissionDecisionReason"}` (Claude Code's nested
`hookSpecificOutput` is silently ignored, which would let the call run), `modifiedArgs` for a rewrite;
permissionRequest `{"behavior", "message", "interrupt"}`; agentStop and subagentStop `{"decision": "block",
"reason"}`; `additionalContext` on subagentStart and notification; postToolUseFailure guidance as stderr with exit
2. Hook failures (other exit codes, timeouts) are logged and skipped by Copilot, never a block: a failure that
must block answers with a JSON deny on exit 0.
"""

from __future__ import annotations

from policy.adapters.common import (EventProtocol, Part, Table, canonical_event, canonical_tool_fields, check_parts,
                                    decode_object, example_payload as common_example, host_input, host_tool_name,
                                    joined, named_event, renamed, type_name)
from policy.errors import InputError
from policy.lean import json_dumps, json_loads
from policy.model import HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, Settings

name = "copilot"
TITLE = "GitHub Copilot CLI"
# Copilot sends no stop_hook_active: the hook derives it from the decision log (policy.hook).
SENDS_STOP_HOOK_ACTIVE = False
# VS Code-compatible (PascalCase) event names -> Copilot's camelCase ones
_PASCAL = {"SessionStart": "sessionStart", "SessionEnd": "sessionEnd", "UserPromptSubmit": "userPromptSubmitted",
           "PreToolUse": "preToolUse", "PostToolUse": "postToolUse", "PostToolUseFailure": "postToolUseFailure",
           "Stop": "agentStop", "SubagentStop": "subagentStop", "SubagentStart": "subagentStart",
           "ErrorOccurred": "errorOccurred", "PreCompact": "preCompact", "Notification": "notification",
           "PermissionRequest": "permissionRequest"}
# camelCase field -> canonical (Claude Code's) field
_FIELDS = {"sessionId": "session_id", "transcriptPath": "transcript_path", "toolName": "tool_name",
           "toolArgs": "tool_input", "toolResult": "tool_response", "initialPrompt": "initial_prompt",
           "agentName": "agent_type", "stopReason": "stop_reason", "customInstructions": "custom_instructions",
           "tool_args": "tool_input", "tool_result": "tool_response"}


def _host_name(event_name: str | None) -> str | None:
    if event_name is None:
        return None
    return _PASCAL.get(event_name, event_name)


def _canonical(host_name: str | None) -> str | None:
    from policy.vocabulary import host_event

    found = host_event(name, host_name) if host_name else None
    return found.canonical if found else None


def parse(raw: bytes, event_name: str | None = None) -> Event:
    """The canonical event for one Copilot CLI hook payload; `event_name` is the hook's `--event` (the payload names
    none, except in the VS Code format). Raises InputError with one clear line."""
    given = _host_name(event_name)
    try:
        payload = decode_object(raw, "examples/events/copilot/")
    except InputError as error:
        error.event_name = _canonical(given)
        raise
    named = payload.get("hook_event_name")
    host_name = _host_name(named) if isinstance(named, str) and named else given
    if not host_name:
        raise InputError("a Copilot CLI payload does not name its event",
                         hint="run the hook as `policy eval --agent copilot --event preToolUse` (policy install "
                              "--agent copilot writes it so)")
    canonical = _canonical(host_name) or host_name
    data: dict[str, Any] = {_FIELDS.get(key, key): value for key, value in payload.items()}
    data["host_payload"] = payload
    data["hook_event_name"] = canonical
    try:
        tool_input = data.get("tool_input")
        if isinstance(tool_input, str):  # toolArgs: a JSON string
            try:
                tool_input = json_loads(tool_input) if tool_input.strip() else {}
            except ValueError:
                raise InputError("field 'toolArgs' is a string that is not JSON",
                                 hint="Copilot CLI sends the tool's arguments as a JSON string or an object") from None
            data["tool_input"] = tool_input
        if tool_input is not None and not isinstance(tool_input, dict):
            raise InputError(f"field 'toolArgs' must be an object or a JSON string, not {type_name(tool_input)}")
    except InputError as error:
        error.event_name = canonical
        raise
    host_tool = canonical_tool_fields(name, data)
    return canonical_event(name, canonical, data, host_tool)


def event_name_hint(raw: bytes) -> str | None:
    """The canonical event a VS Code-format payload names in its first bytes (camelCase payloads name none)."""
    found = named_event(raw)
    return _canonical(_host_name(found)) if found else None


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The camelCase payload Copilot CLI would send for a canonical event (Claude Code's shape), for `policy test
    --agent copilot`, with the `--event` its hook names under `hook_event_name` (as the VS Code format does).
    Raises ValueError for an event or tool Copilot CLI does not have."""
    from policy.vocabulary import host_events

    canonical = event["hook_event_name"]
    names = [found.name for found in host_events(name) if found.canonical == canonical]
    if not names:
        raise ValueError(f"{TITLE} never raises {canonical}")
    back = {value: key for key, value in _FIELDS.items() if not key.startswith("tool_")}
    result: dict[str, Any] = {"timestamp": 1764756000000}
    for key, value in event.items():
        if key in ("hook_event_name", "permission_mode", "tool_use_id", "stop_hook_active"):
            continue
        result[back.get(key, key)] = value
    if "tool_name" in event:
        tool, fields = host_tool_name(name, str(event["tool_name"]))
        result["toolName"] = tool
        result["toolArgs"] = json_dumps(renamed(dict(event.get("tool_input") or {}), fields))
        result.pop("tool_input", None)
        if canonical == "PostToolUse":
            result["toolResult"] = {"resultType": "success",
                                    "textResultForLlm": json_dumps(event.get("tool_response", ""))}
            result.pop("tool_response", None)
    result["hook_event_name"] = names[0]
    return result



def example_payload(**described: Any) -> bytes:
    """The payload GitHub Copilot CLI would send for a described call (`policy explain --agent copilot`)."""
    return common_example(name, payload, **described)

# ---- render --------------------------------------------------------------------------------------------------------

_IGNORED = Part(doc="— (Copilot ignores this hook's output)")

_MAKERS: dict[str, Callable[[], EventProtocol]] = {
    "SessionStart": lambda: EventProtocol(context=_IGNORED, message=_IGNORED),
    "SessionEnd": lambda: EventProtocol(message=_IGNORED),
    "UserPromptSubmit": lambda: EventProtocol(
        deny=Part(doc="— (Copilot ignores this hook's output: the prompt cannot be blocked)"),
        ask=_IGNORED, defer=_IGNORED, context=_IGNORED, message=_IGNORED, stop=_IGNORED),
    "PreToolUse": lambda: EventProtocol(
        deny=Part("permission", "`permissionDecision: \"deny\"` + `permissionDecisionReason` (flat; the reason goes "
                                "to the agent)"),
        ask=Part("permission", "as deny: early Copilot versions processed only `\"deny\"`"),
        defer=Part("permission", "as deny"),
        allow=Part("permission", "`permissionDecision: \"allow\"`"),
        context=Part(doc="— (no field for it)"), message=Part(doc="— (no field for it)"),
        stop=Part("deny-call", "the call is denied with the stop's text (no stop here)"),
        update_input=Part("modified-args", "`modifiedArgs` (the whole arguments, in Copilot's field names; with "
                                           "allow)")),
    "PermissionRequest": lambda: EventProtocol(
        deny=Part("behavior", "`behavior: \"deny\"` + `message` (to the agent)"),
        ask=Part("behavior", "nothing: Copilot's own permission flow asks"),
        defer=Part("behavior", "nothing: Copilot's own permission flow asks"),
        allow=Part("behavior", "`behavior: \"allow\"`"),
        stop=Part("interrupt", "`behavior: \"deny\"` + `message` + `interrupt: true`: the agent stops")),
    "PostToolUse": lambda: EventProtocol(
        deny=Part(doc="— (Copilot reads no answer from command hooks here)"),
        context=Part(doc="— (Copilot reads no answer from command hooks here)")),
    "PostToolUseFailure": lambda: EventProtocol(
        deny=Part("guidance", "the reason on stderr with exit 2: recovery guidance for the agent"),
        context=Part("guidance", "on stderr with exit 2: recovery guidance for the agent")),
    "Stop": lambda: EventProtocol(
        deny=Part("block", "`decision: \"block\"` + `reason`: another turn, the reason its prompt"),
        context=Part("block", "as deny: the context is the block's reason"),
        stop=Part("instead", "nothing (instead of another turn): the agent stops")),
    "SubagentStart": lambda: EventProtocol(
        context=Part("additional-context", "`additionalContext`, prepended to the subagent's prompt")),
    "SubagentStop": lambda: EventProtocol(
        deny=Part("block", "`decision: \"block\"` + `reason`: the subagent takes another turn"),
        context=Part("block", "as deny: the context is the block's reason"),
        stop=Part("instead", "nothing (instead of another turn): the subagent stops")),
    "Notification": lambda: EventProtocol(
        context=Part("additional-context", "`additionalContext`, injected as a user message")),
    "PreCompact": lambda: EventProtocol(),
    "StopFailure": lambda: EventProtocol(),
}
TABLE = Table(_MAKERS)


def protocol(event_name: str | None) -> EventProtocol | None:
    return TABLE.get(event_name)


def protocol_table() -> dict[str, EventProtocol]:
    return TABLE.all()


def _json(answer: dict[str, Any]) -> HookOutput:
    return HookOutput(stdout=json_dumps(answer) + "\n" if answer else "")


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Copilot CLI's protocol, as the table says: flat fields only."""
    entry = protocol(event.name)
    if entry is None:
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
        elif entry.stop.how == "interrupt":
            return _json({"behavior": "deny", "message": (reason if verdict == "deny" else None) or stop,
                          "interrupt": True})
        else:
            how, context = "", None
    if how == "permission":
        verdict = "deny" if verdict in ("ask", "defer") else verdict
        answer["permissionDecision"] = verdict
        if verdict == "deny":
            answer["permissionDecisionReason"] = reason or "blocked by policy"
        elif decision.updated_input is not None:
            answer["modifiedArgs"] = host_input(name, event, decision.updated_input)
    elif how == "behavior" and verdict in ("deny", "allow"):
        answer["behavior"] = verdict
        if verdict == "deny":
            answer["message"] = reason or "blocked by policy"
    elif how == "block" or (context and entry.context.how == "block"):
        answer["decision"] = "block"
        answer["reason"] = joined(reason if how == "block" else None, context) or "blocked by policy"
    elif how == "guidance" or (context and entry.context.how == "guidance"):
        text = joined(reason if how == "guidance" else None, context)
        return HookOutput(stderr=text + "\n", exit_code=2)
    if context and entry.context.how == "additional-context":
        answer["additionalContext"] = context
    return _json(answer)


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made. Copilot logs and skips a failed hook (any non-zero exit, a timeout), so failing
    closed is an answer on exit 0: a JSON deny on preToolUse (and before an event is known), `behavior: "deny"` on
    permissionRequest, a block on agentStop/subagentStop. Elsewhere, and open, the line goes to stderr only."""
    line = f"policy: {error.one_line()}"
    if mode == "closed":
        if event_name in (None, "PreToolUse"):
            return HookOutput(stdout=json_dumps({"permissionDecision": "deny", "permissionDecisionReason": line})
                              + "\n", stderr=line + "\n")
        if event_name == "PermissionRequest":
            return HookOutput(stdout=json_dumps({"behavior": "deny", "message": line}) + "\n", stderr=line + "\n")
        if event_name in ("Stop", "SubagentStop"):
            return HookOutput(stdout=json_dumps({"decision": "block", "reason": line}) + "\n", stderr=line + "\n")
    return HookOutput(stderr=line + "\n")


def check(packs: Any) -> list[Diagnostic]:
    """Located warnings for rules Copilot CLI cannot act on as written."""
    return check_parts(packs, name, TITLE, TABLE)


def supports(event_name: str) -> bool:
    return True
