"""Claude Code's hook protocol (docs: ../shared/docs/hook-protocols.md; mapping: docs/protocol.md).

In: one JSON object on stdin, `hook_event_name` naming the event. Out: exactly one JSON object on stdout (or
nothing), exit 0; `hookSpecificOutput.hookEventName` always equals the event. A deny is signalled one way only
(JSON), never JSON and exit 2 together. Failures that must stop the agent exit 2 with one line on stderr, except
on PermissionRequest, where current Claude Code ignores exit 2 and only a JSON deny works.
"""

from __future__ import annotations

from policy.errors import InputError
from policy.lean import json_dumps, json_loads
from policy.model import EVENTS, TOOL_EVENTS, Event, HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Settings

name = "claude-code"

_STRING_FIELDS = ("session_id", "transcript_path", "cwd", "permission_mode", "tool_name", "prompt")
# Events whose output shows `systemMessage` to the user (others discard it).
_SHOWS_SYSTEM_MESSAGE = frozenset({
    "PreToolUse", "PermissionRequest", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit", "Stop",
    "SubagentStop", "SessionStart",
})
_BYPASS_MODES = frozenset({"bypassPermissions", "dontAsk"})
# Where `ask`/`defer` means asking the user, which no one can answer in the bypass modes.
_ASKING_EVENTS = frozenset({"PreToolUse", "PermissionRequest"})
# The events on which each verdict changes what Claude Code does (`render`, SPEC §5). Anywhere else a rule's
# decision renders nothing (its context, message and effects still apply), and `policy validate` says so.
_ASK_EVENTS = frozenset({"PreToolUse", "PermissionRequest", "UserPromptSubmit"})
VERDICT_EVENTS = {
    "deny": frozenset({"PreToolUse", "PermissionRequest", "UserPromptSubmit", "PostToolUse", "PostToolUseFailure",
                       "Stop", "SubagentStop"}),
    "ask": _ASK_EVENTS, "defer": _ASK_EVENTS, "allow": frozenset({"PreToolUse", "PermissionRequest"}),
}


def _type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def parse(raw: bytes) -> Event:
    """The canonical event for one hook payload. Raises InputError with one clear line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"stdin is not valid UTF-8 (byte {raw[error.start]:#04x} at offset {error.start})",
                         hint="the hook payload must be UTF-8 JSON") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError("stdin is empty", hint="pipe a hook event (JSON) into `policy eval`")
    try:
        data = json_loads(text)
    except ValueError as error:
        raise InputError(f"stdin is not valid JSON: {error}", hint="the hook payload must be one JSON object") from None
    if not isinstance(data, dict):
        raise InputError(f"the hook payload must be a JSON object, not {_type_name(data)}",
                         hint="see examples/events/ for real payloads")
    if "\\ud" in text or "\\uD" in text:  # a JSON escape can make a lone surrogate, which no UTF-8 can carry
        data = _without_lone_surrogates(data)
    event_name = data.get("hook_event_name")
    if event_name is not None and not isinstance(event_name, str):
        raise InputError(f"field 'hook_event_name' must be a string, not {_type_name(event_name)}")
    if not event_name:
        raise InputError("the hook payload has no hook_event_name",
                         hint="Claude Code sends it since 1.0.41; see examples/events/")
    try:
        return _event(event_name, data)
    except InputError as error:
        error.event_name = event_name
        raise


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with each unpaired UTF-16 surrogate (from an escape such as `\\ud800`) replaced by U+FFFD, so that
    the event's text can be logged, templated and answered back as UTF-8. Iterative: a payload may nest as deep
    as the JSON reader allows, deeper than Python's recursion limit leaves room for here."""
    root = [value]
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]  # (container, key, value)
    while pending:
        container, key, item = pending.pop()
        if isinstance(item, str):
            fixed = _fixed_text(item)
            if fixed is not item:
                container[key] = fixed
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            for name, child in item.items():
                name = _fixed_text(name)
                copy[name] = child
                pending.append((copy, name, child))
            container[key] = copy
        elif isinstance(item, list):
            items = list(item)
            container[key] = items
            pending.extend((items, index, child) for index, child in enumerate(items))
    return root[0]


def _fixed_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def _event(event_name: str, data: dict[str, Any]) -> Event:
    for field in _STRING_FIELDS:
        value = data.get(field)
        if value is not None and not isinstance(value, str):
            raise InputError(f"field {field!r} must be a string, not {_type_name(value)}")
    tool_input = data.get("tool_input")
    if tool_input is not None and not isinstance(tool_input, dict):
        raise InputError(f"field 'tool_input' must be an object, not {_type_name(tool_input)}")
    stop_hook_active = data.get("stop_hook_active", False)
    if not isinstance(stop_hook_active, bool):
        raise InputError(f"field 'stop_hook_active' must be a boolean, not {_type_name(stop_hook_active)}")
    if event_name in TOOL_EVENTS and not data.get("tool_name"):
        raise InputError(f"a {event_name} payload needs a tool_name")
    return Event(
        host=name, name=event_name, agent_session=data.get("session_id"), cwd=data.get("cwd"),
        tool=data.get("tool_name"), tool_input=tool_input or {}, prompt=data.get("prompt"),
        permission_mode=data.get("permission_mode"), stop_hook_active=stop_hook_active,
        transcript_path=data.get("transcript_path"), data=data,
    )


def _output(payload: dict[str, Any]) -> HookOutput:
    return HookOutput(stdout=json_dumps(payload) + "\n" if payload else "")


def _specific(event_name: str, **fields: Any) -> dict[str, Any]:
    return {"hookEventName": event_name, **{key: value for key, value in fields.items() if value is not None}}


def effective_verdict(decision: Decision, event: Event, settings: Settings) -> str | None:
    """The verdict as rendered: `defer` per `defer_as`, ask/defer as deny where no one can be asked."""
    verdict = decision.verdict
    if verdict == "defer" and event.name == "PreToolUse":
        verdict = settings.defer_as
    if verdict in ("ask", "defer") and event.name in _ASKING_EVENTS and event.permission_mode in _BYPASS_MODES \
            and settings.ask_in_bypass == "deny":
        verdict = "deny"
    return verdict


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Claude Code's protocol (SPEC §5)."""
    event_name = event.name
    verdict = effective_verdict(decision, event, settings)
    reason, context = decision.reason, decision.context
    # Claude Code requires the text of a block or a PermissionRequest deny; JSON it cannot validate is a
    # "hook error" and the action proceeds, so a deny must never go out without one.
    block_reason = reason or "blocked by policy"
    payload: dict[str, Any] = {}
    if event_name == "PreToolUse":
        specific = _specific(event_name, permissionDecision=verdict,
                             permissionDecisionReason=reason if verdict in ("deny", "ask", "allow") else None,
                             additionalContext=context)
        if len(specific) > 1:
            payload["hookSpecificOutput"] = specific
    elif event_name == "PermissionRequest":
        if verdict == "deny":
            payload["hookSpecificOutput"] = _specific(event_name, decision={"behavior": "deny",
                                                                              "message": block_reason})
        elif verdict == "allow":
            payload["hookSpecificOutput"] = _specific(event_name, decision={"behavior": "allow"})
    elif event_name in ("UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop"):
        blocks = verdict == "deny" or (event_name == "UserPromptSubmit" and verdict in ("ask", "defer"))
        if blocks:
            payload["decision"] = "block"
            payload["reason"] = block_reason
        if context and event_name in ("UserPromptSubmit", "PostToolUse") and not (blocks and event_name ==
                                                                                 "UserPromptSubmit"):
            payload["hookSpecificOutput"] = _specific(event_name, additionalContext=context)
    elif event_name == "PostToolUseFailure":
        text = "\n\n".join(part for part in (reason if verdict == "deny" else None, context) if part)
        if text:
            payload["hookSpecificOutput"] = _specific(event_name, additionalContext=text)
    elif event_name in ("SessionStart", "SubagentStart"):
        if context:
            payload["hookSpecificOutput"] = _specific(event_name, additionalContext=context)
    if decision.message and event_name in _SHOWS_SYSTEM_MESSAGE:
        payload["systemMessage"] = decision.message
    return _output(payload)


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made: fail closed (block, with one line) or open (let the host decide, say so)."""
    line = f"policy: {error.one_line()}"
    if mode == "open":
        return HookOutput(stdout=json_dumps({"systemMessage": f"{line} - policy is NOT enforcing rules"}) + "\n",
                          stderr=line + "\n")
    if event_name == "PermissionRequest":
        return HookOutput(stdout=json_dumps({"hookSpecificOutput": _specific(
            event_name, decision={"behavior": "deny", "message": line})}) + "\n", stderr=line + "\n")
    return HookOutput(stderr=line + "\n", exit_code=2)


def inert_decisions(packs: Any) -> list[Diagnostic]:
    """A warning for each rule whose decision Claude Code cannot act on for some of its events."""
    from policy.errors import Diagnostic

    problems = []
    for pack in packs:
        for rule in pack.rules:
            inert = [event for event in rule.events if rule.decision and event not in VERDICT_EVENTS[rule.decision]]
            if inert:
                problems.append(Diagnostic(
                    rule.location, "inert-decision", f"decision {rule.decision} does nothing on {', '.join(inert)} "
                    "in Claude Code (the rule still matches there: its context, message and effects apply)",
                    "docs/protocol.md shows what each event can do; drop these events from the rule or the "
                    "decision", "warning"))
    return problems


def known_event(event_name: str) -> bool:
    return event_name in EVENTS
