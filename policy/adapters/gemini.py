"""Gemini CLI's hook protocol (google-gemini/gemini-cli docs/hooks/reference.md and packages/core/src/hooks; mapping:
docs/protocol.md#gemini-cli).

In: one JSON object on stdin with `hook_event_name` (SessionStart, SessionEnd, BeforeAgent, AfterAgent, BeforeTool,
AfterTool, PreCompress, Notification, ...), `session_id`, `cwd`, `transcript_path`, `timestamp`; tool events carry
`tool_name` (run_shell_command, write_file, replace, read_file, glob, grep_search, web_fetch, google_web_search,
mcp_<server>_<tool>) and `tool_input` in Gemini's field names. The adapter renames them to the canonical ones.

Out: one JSON object: `decision: "deny"` + `reason` (no ask: ask and defer are denies), `continue: false` +
`stopReason`, `systemMessage`, `hookSpecificOutput.additionalContext` where Gemini reads it (AfterTool,
BeforeAgent, SessionStart) and `hookSpecificOutput.tool_input` (merged into the call's arguments) on BeforeTool.
Exit 2 blocks with stderr as the reason; any other non-zero exit is a warning and the action proceeds (fail open),
so a failure that must block exits 2.
"""

from __future__ import annotations

from policy.adapters.common import (EventProtocol, Part, Table, canonical_event, canonical_tool_fields, check_parts,
                                    decode_object, event_name_of, example_payload as common_example, host_input,
                                    host_tool_name, joined, named_event, renamed)
from policy.lean import json_dumps
from policy.model import HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, Settings

name = "gemini"
TITLE = "Gemini CLI"


def parse(raw: bytes, event_name: str | None = None) -> Event:
    """The canonical event for one Gemini CLI hook payload. Raises InputError with one clear line."""
    from policy.vocabulary import host_event

    payload = decode_object(raw, "examples/events/gemini/")
    host_name = event_name_of(payload, "hook_event_name", "Gemini CLI sends it with every hook; see "
                                                           "examples/events/gemini/", event_name)
    found = host_event(name, host_name)
    data = dict(payload)
    data["host_payload"] = payload
    data["hook_event_name"] = found.canonical if found else host_name
    if found is not None and found.canonical == "Stop":
        data.setdefault("last_assistant_message", payload.get("prompt_response"))
    host_tool = canonical_tool_fields(name, data)
    return canonical_event(name, data["hook_event_name"], data, host_tool)


def event_name_hint(raw: bytes) -> str | None:
    """The canonical event a payload names, read from its first bytes without parsing it."""
    return named_event(raw, name)


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The payload Gemini CLI would send for a canonical event (Claude Code's shape), for `policy test --agent
    gemini`. Raises ValueError for an event or tool Gemini CLI does not have."""
    from policy.vocabulary import host_events

    canonical = event["hook_event_name"]
    names = [found.name for found in host_events(name) if found.canonical == canonical]
    if not names:
        raise ValueError(f"{TITLE} never raises {canonical}")
    result = {key: value for key, value in event.items() if key not in ("permission_mode", "tool_use_id")}
    result["hook_event_name"] = names[0]
    result["timestamp"] = "2026-12-03T10:00:00.000Z"
    if "tool_name" in event:
        tool, fields = host_tool_name(name, str(event["tool_name"]))
        result["tool_name"] = tool
        result["tool_input"] = renamed(dict(event.get("tool_input") or {}), fields)
        if canonical == "PostToolUse":
            text = json_dumps(event.get("tool_response", ""))
            result["tool_response"] = {"llmContent": text, "returnDisplay": text}
    if canonical == "Stop":
        result.setdefault("prompt", "")
        result["prompt_response"] = str(event.get("last_assistant_message") or "")
    return result



def example_payload(**described: Any) -> bytes:
    """The payload Gemini CLI would send for a described call (`policy explain --agent gemini`)."""
    return common_example(name, payload, **described)

# ---- render --------------------------------------------------------------------------------------------------------

_MESSAGE = Part("system-message", "`systemMessage`")
_CONTEXT = Part("additional-context", "`hookSpecificOutput.additionalContext`")
_STOP = Part("continue", "`continue: false` + `stopReason`: the agent loop ends")
_DENY = "`decision: \"deny\"` + `reason`"
_NO_CONTEXT = Part(doc="— (Gemini reads no context here)")

_MAKERS: dict[str, Callable[[], EventProtocol]] = {
    "SessionStart": lambda: EventProtocol(
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (the first turn, or before the "
                                           "prompt in a non-interactive run)"),
        message=_MESSAGE, stop=Part(doc="— (ignored: Gemini never blocks startup)")),
    "UserPromptSubmit": lambda: EventProtocol(
        deny=Part("deny", _DENY + ": the turn is blocked and the prompt discarded"),
        ask=Part("deny", "as deny (Gemini cannot ask)"), defer=Part("deny", "as deny"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext`, appended to the prompt (not "
                                           "with a deny)"),
        message=_MESSAGE, stop=Part("continue", "`continue: false` + `stopReason`: the turn is blocked, the prompt "
                                                "kept in history"), context_with_block=False),
    "PreToolUse": lambda: EventProtocol(
        deny=Part("deny", _DENY + ": the tool does not run, the reason goes to the agent as its error"),
        ask=Part("deny", "as deny: ask is not in Gemini's documented protocol, and a Gemini that ignores it would "
                         "run the tool"),
        defer=Part("deny", "as deny"),
        allow=Part("allow", "`decision: \"allow\"` (whether it skips Gemini's own confirmation is not documented)"),
        context=_NO_CONTEXT, message=_MESSAGE, stop=_STOP,
        update_input=Part("tool-input", "`hookSpecificOutput.tool_input` (merged into the arguments; not with a "
                                        "deny)")),
    "PostToolUse": lambda: EventProtocol(
        deny=Part("into-context", "the reason is appended to the tool result (`additionalContext`; the tool already "
                                  "ran)"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext`, appended to the tool result"),
        message=_MESSAGE, stop=_STOP,
        update_output=Part("replace", "`decision: \"deny\"` + `reason`: the reason replaces the result the agent "
                                      "sees (of a mapping, only the fields it replaces, as JSON; `llmContent` "
                                      "alone as text)")),
    "Stop": lambda: EventProtocol(
        deny=Part("deny", _DENY + ": the response is rejected, the reason is the agent's next prompt"),
        context=Part("into-reason", "as deny: the context is the reason (Gemini takes no context here)"),
        message=_MESSAGE,
        stop=Part("instead", "`continue: false` + `stopReason`: the session stops, nothing is retried")),
    "SessionEnd": lambda: EventProtocol(message=_MESSAGE, stop=Part(doc="— (ignored)")),
    "Notification": lambda: EventProtocol(message=_MESSAGE, stop=Part(doc="— (ignored)")),
    "PreCompact": lambda: EventProtocol(message=_MESSAGE, stop=Part(doc="— (ignored: advisory only)")),
}
TABLE = Table(_MAKERS)


def protocol(event_name: str | None) -> EventProtocol | None:
    return TABLE.get(event_name)


def protocol_table() -> dict[str, EventProtocol]:
    return TABLE.all()


def _host_event_name(event: Event) -> str:
    original = event.data.get("host_payload")
    if isinstance(original, dict) and isinstance(original.get("hook_event_name"), str):
        return original["hook_event_name"]  # type: ignore[no-any-return]
    from policy.vocabulary import host_events

    return next(found.name for found in host_events(name) if found.canonical == event.name)


def _replaced_output(output: Any, original: Any) -> str:
    """The text the agent sees instead of the tool's result: a template's text; of a mapping merged into the
    result, only the fields the rules replaced (the rest is what they hide), `llmContent` as plain text."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and isinstance(original, dict):
        output = {key: value for key, value in output.items() if original.get(key) != value}
        if list(output) == ["llmContent"] and isinstance(output["llmContent"], str):
            return output["llmContent"]
    return json_dumps(output)


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Gemini CLI's protocol, as the table says."""
    entry = protocol(event.name)
    if entry is None:
        return HookOutput()
    verdict = decision.verdict
    reason = decision.reason
    how = getattr(entry, verdict).how if verdict else ""
    context = decision.context if entry.context.how else None
    answer: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    stop = decision.stop if entry.stop.how else None
    if stop:
        answer["continue"] = False
        answer["stopReason"] = stop
        if entry.stop.how == "instead":
            how, context = "", None
    if context and entry.context.how == "into-reason":
        how, reason, context = "deny", joined(reason, context) if how == "deny" else context, None
    if how == "into-context":
        context = joined(reason, context)
    elif how == "deny":
        answer["decision"] = "deny"
        answer["reason"] = reason or "blocked by policy"
    elif how == "allow":
        answer["decision"] = "allow"
        if reason:
            answer["reason"] = reason
    if stop and "reason" not in answer:  # Gemini asks for a reason with a stop
        answer["reason"] = stop
    if decision.updated_input is not None and entry.update_input.how and how != "deny" and not stop:
        specific["tool_input"] = host_input(name, event, decision.updated_input)
    if decision.updated_output is not None and entry.update_output.how and how != "deny":
        answer["decision"] = "deny"
        answer["reason"] = _replaced_output(decision.updated_output, event.data.get("tool_response"))
    if context and (entry.context_with_block or how != "deny"):
        specific["additionalContext"] = context
    if decision.message and entry.message.how:
        answer["systemMessage"] = decision.message
    if specific:
        answer["hookSpecificOutput"] = {"hookEventName": _host_event_name(event), **specific}
    return HookOutput(stdout=json_dumps(answer) + "\n" if answer else "")


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made: fail closed (exit 2, the line on stderr, which Gemini takes as the reason) or
    open (exit 0, the line in `systemMessage` and on stderr)."""
    line = f"policy: {error.one_line()}"
    if mode == "open":
        return HookOutput(stdout=json_dumps({"systemMessage": f"{line} - policy is NOT enforcing rules"}) + "\n",
                          stderr=line + "\n")
    return HookOutput(stderr=line + "\n", exit_code=2)


def check(packs: Any) -> list[Diagnostic]:
    """Located warnings for rules Gemini CLI cannot act on as written."""
    return check_parts(packs, name, TITLE, TABLE)


def supports(event_name: str) -> bool:
    return True
