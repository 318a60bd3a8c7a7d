"""Claude Code's hook protocol (docs: ../shared/docs/hook-protocols.md; mapping: docs/protocol.md).

In: one JSON object on stdin, `hook_event_name` naming the event. Out: what `protocol()` says for each event — one
JSON object on stdout (or nothing) and exit 0, or, where Claude Code blocks only by exit code (TaskCompleted,
TeammateIdle), the reason on stderr and exit 2; `hookSpecificOutput.hookEventName` always equals the event. A deny
is signalled one way only, never JSON and exit 2 together. Failures that must stop the agent exit 2 with one line
on stderr, except on PermissionRequest, where current Claude Code ignores exit 2 and only a JSON deny works.
WorktreeCreate is never answered on stdout: Claude Code would read it as the path of the worktree.
"""

from __future__ import annotations

from policy.adapters.common import (OTHER_PARTS, RULE_KEYS, VERDICT_PARTS, EventProtocol, Part, Table, canonical_event,
                                    check_parts, decode_object, event_name_of, named_event, rule_parts)
from policy.lean import json_dumps
from policy.model import EVENTS, HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, Settings

name = "claude-code"
__all__ = ["OTHER_PARTS", "RULE_KEYS", "VERDICT_PARTS", "EventProtocol", "Part", "rule_parts"]


def parse(raw: bytes, event_name: str | None = None) -> Event:
    """The canonical event for one hook payload. Raises InputError with one clear line."""
    data = decode_object(raw)
    event_name = event_name_of(data, "hook_event_name", "Claude Code sends it since 1.0.41; see examples/events/",
                               event_name)
    return canonical_event(name, event_name, data)


# ---- render: what each part of a decision does on each event ---------------------------------------------------
#
# The table below is the one statement of how policy answers Claude Code: render() follows it, check() warns from it at
# validate time, and docs/protocol.md's tables are generated from it (scripts/gen_docs.py). Sources: the Claude
# Code hooks reference (v2.1.239) and CHANGELOG; the errata of hook-protocols.md; docs/protocol.md lists what
# could not be confirmed and the reading chosen.

_MESSAGE = Part("system-message", "`systemMessage`")
_CONTEXT = Part("additional-context", "`hookSpecificOutput.additionalContext`")
_STOP = Part("continue", "`continue: false` + `stopReason`")
_BLOCK = "`decision: \"block\"` + `reason`"
_STOP_INSTEAD = Part("instead", "`continue: false` + `stopReason` (instead of keeping it working)")
_DISCARDED = "— (discarded by Claude Code)"
_GONE = Part(doc=_DISCARDED)
_IGNORED = Part(doc="— (output ignored)")
_NOTIFICATION = Part("system-message", "`systemMessage` (a brief notification)")
_REFUSED = Part(doc="refused (`unsupported-event`)")

_MAKERS: dict[str, Callable[[], EventProtocol]] = {
    "SessionStart": lambda: EventProtocol(context=_CONTEXT, message=_MESSAGE, stop=_STOP),
    "Setup": lambda: EventProtocol(context=_CONTEXT, message=_MESSAGE, stop=_STOP),
    "InstructionsLoaded": lambda: EventProtocol(message=_GONE, stop=_GONE),
    "UserPromptSubmit": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the prompt is erased, the reason is shown to the user"),
        ask=Part("block", "as deny (nobody else to ask)"), defer=Part("block", "as deny"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (not with a block)"),
        message=_MESSAGE, stop=_STOP, context_with_block=False),
    "UserPromptExpansion": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the command does not expand, the reason is shown to the user"),
        ask=Part("block", "as deny"), defer=Part("block", "as deny"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (not with a block)"),
        message=_MESSAGE, stop=_STOP, context_with_block=False),
    "MessageDisplay": lambda: EventProtocol(message=_GONE, stop=_GONE),
    "PreToolUse": lambda: EventProtocol(
        deny=Part("permission", "`hookSpecificOutput.permissionDecision: \"deny\"` + `permissionDecisionReason` "
                                "(the reason goes to Claude)"),
        ask=Part("permission", "`\"ask\"` + reason (shown to the user); as deny in `dontAsk` mode, and in "
                               "`bypassPermissions` with `ask_in_bypass: deny`"),
        defer=Part("permission", "per `defer_as`: `\"ask\"` + reason (default), `\"defer\"` or `\"deny\"`"),
        allow=Part("permission", "`\"allow\"` + reason"),
        context=_CONTEXT, message=_MESSAGE,
        stop=Part("deny-call", "`continue: false` + `stopReason`, and the call is denied"),
        update_input=Part("specific", "`hookSpecificOutput.updatedInput` (with `\"allow\"` or `\"ask\"`)")),
    "PermissionRequest": lambda: EventProtocol(
        deny=Part("permission-request", "`hookSpecificOutput.decision: {behavior: \"deny\", message}`"),
        ask=Part("permission-request", "nothing: the dialog shows (a deny in `dontAsk` mode)"),
        defer=Part("permission-request", "nothing: the dialog shows (a deny in `dontAsk` mode)"),
        allow=Part("permission-request", "`decision: {behavior: \"allow\"}`"),
        message=_MESSAGE,
        stop=Part("deny-call", "`continue: false` + `stopReason`, and `decision: {behavior: \"deny\", "
                               "interrupt: true}`"),
        update_input=Part("decision", "`decision.updatedInput` (with allow)")),
    "PermissionDenied": lambda: EventProtocol(message=_MESSAGE, stop=_STOP),
    "PostToolUse": lambda: EventProtocol(
        deny=Part("block", _BLOCK + " (feedback next to the tool result; the tool already ran)"),
        context=_CONTEXT, message=_MESSAGE, stop=_STOP,
        update_output=Part("specific", "`hookSpecificOutput.updatedToolOutput` (what Claude sees)")),
    "PostToolUseFailure": lambda: EventProtocol(
        deny=Part("into-context", "the reason joins the context (the event takes context only)"),
        context=_CONTEXT, message=_MESSAGE, stop=_STOP),
    "PostToolBatch": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the agentic loop stops before the next model call"),
        context=_CONTEXT, message=_MESSAGE, stop=_STOP),
    "Notification": lambda: EventProtocol(
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (in Claude Code's output schema; "
                                           "delivery not documented)"),
        message=_GONE, stop=_GONE, context_confirmed=False),
    "SubagentStart": lambda: EventProtocol(
        context=Part("additional-context", "`hookSpecificOutput.additionalContext` (to the subagent)"),
        message=_MESSAGE, stop=_STOP),
    "SubagentStop": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the subagent keeps working, the reason is its next instruction"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext`: the subagent keeps working on "
                                           "it (as a deny, without the hook-error label)"),
        message=_MESSAGE, stop=_STOP_INSTEAD),
    "TaskCreated": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the task is not created, the reason goes to Claude as the tool's error"),
        message=_MESSAGE, stop=Part(doc="— (ignored by Claude Code)")),
    "TaskCompleted": lambda: EventProtocol(
        deny=Part("exit-2", "exit 2, the reason on stderr: the task stays open, the reason goes to the model"),
        message=Part("system-message", "`systemMessage` (not with a deny: it exits 2)"), stop=_STOP_INSTEAD),
    "Stop": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": Claude keeps working, the reason is its next instruction"),
        context=Part("additional-context", "`hookSpecificOutput.additionalContext`: Claude keeps working on it "
                                           "(as a deny, without the hook-error label)"),
        message=_MESSAGE, stop=_STOP_INSTEAD),
    "StopFailure": lambda: EventProtocol(message=_IGNORED, stop=_IGNORED),
    "TeammateIdle": lambda: EventProtocol(
        deny=Part("exit-2", "exit 2, the reason on stderr: the teammate keeps working on it"),
        message=Part("system-message", "`systemMessage` (not with a deny: it exits 2)"), stop=_STOP_INSTEAD),
    "ConfigChange": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": the change is not applied (except `policy_settings`); the reason is "
                                    "never shown"),
        message=_GONE, stop=_GONE),
    "CwdChanged": lambda: EventProtocol(message=_NOTIFICATION, stop=_GONE),
    "DirectoryAdded": lambda: EventProtocol(
        context=Part("system-message", "`systemMessage`: Claude gets it on its next turn (from `/add-dir`; SDK "
                                       "additions: the debug log)"),
        message=Part(doc="— (`systemMessage` goes to Claude there)"), stop=_GONE),
    "FileChanged": lambda: EventProtocol(message=_NOTIFICATION, stop=_GONE),
    "WorktreeCreate": lambda: EventProtocol(
        supported=False, deny=_REFUSED, ask=_REFUSED, defer=_REFUSED, allow=_REFUSED, context=_REFUSED,
        message=_REFUSED, stop=_REFUSED, update_input=_REFUSED, update_output=_REFUSED),
    "WorktreeRemove": lambda: EventProtocol(message=_GONE, stop=_GONE),
    "PreCompact": lambda: EventProtocol(
        deny=Part("block", _BLOCK + ": compaction does not happen (an automatic one that was needed fails the "
                                    "request)"),
        message=_GONE, stop=_GONE),
    "PostCompact": lambda: EventProtocol(message=_GONE, stop=_GONE),
    "Elicitation": lambda: EventProtocol(
        deny=Part("decline", "`hookSpecificOutput.action: \"decline\"` (no dialog)"), message=_GONE, stop=_GONE),
    "ElicitationResult": lambda: EventProtocol(
        deny=Part("decline", "`hookSpecificOutput.action: \"decline\"` (overrides the user's answer)"),
        message=_GONE, stop=_GONE),
    "SessionEnd": lambda: EventProtocol(message=_GONE, stop=_GONE),
}
TABLE = Table(_MAKERS)


def protocol(event_name: str | None) -> EventProtocol | None:
    """What each part of a decision does on the event; None for an event this policy does not know. (A hook needs
    one event's entry: each is built when first asked for, not all at import.)"""
    return TABLE.get(event_name)


def protocol_table() -> dict[str, EventProtocol]:
    """The whole table, in Claude Code's event order (for docs/protocol.md and the validate-time checks)."""
    return TABLE.all()


# Where `ask`/`defer` means asking the user for a permission.
_ASKING_EVENTS = frozenset({"PreToolUse", "PermissionRequest"})
UNSUPPORTED_HINT = ("a WorktreeCreate hook must create the worktree itself and print its path, which policy does "
                    "not do; drop WorktreeCreate from the rule")


def _output(payload: dict[str, Any]) -> HookOutput:
    return HookOutput(stdout=json_dumps(payload) + "\n" if payload else "")


def effective_verdict(decision: Decision, event: Event, settings: Settings) -> str | None:
    """The verdict as rendered: `defer` per `defer_as`; ask/defer as deny where nobody can be asked (`dontAsk`
    mode), and in `bypassPermissions` mode when `ask_in_bypass: deny` (Claude Code itself still shows a hook's
    ask there)."""
    verdict = decision.verdict
    if verdict == "defer" and event.name == "PreToolUse":
        verdict = settings.defer_as
    if verdict in ("ask", "defer") and event.name in _ASKING_EVENTS and (
            event.permission_mode == "dontAsk"
            or (event.permission_mode == "bypassPermissions" and settings.ask_in_bypass == "deny")):
        verdict = "deny"
    return verdict


def render(decision: Decision, event: Event, settings: Settings) -> HookOutput:
    """The decision in Claude Code's protocol, as the table says."""
    entry = protocol(event.name)
    if entry is None:  # an event this policy does not know yet (a newer Claude Code): no answer
        return HookOutput()
    if not entry.supported:
        return HookOutput(stderr=f"policy: unsupported-event: policy cannot answer {event.name} "
                                 f"({UNSUPPORTED_HINT})\n", exit_code=2)
    verdict = effective_verdict(decision, event, settings)
    reason = decision.reason
    how = getattr(entry, verdict).how if verdict else ""
    context = decision.context if entry.context.how else None
    payload: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    stop = decision.stop if entry.stop.how else None
    if stop:
        payload["continue"] = False
        payload["stopReason"] = stop
        if entry.stop.how == "instead":
            how, context = "", None
        elif entry.stop.how == "deny-call":
            reason = reason if verdict == "deny" else stop
            verdict, how = "deny", entry.deny.how
    # Claude Code requires the text of a block or a deny; JSON it cannot validate is a "hook error" and the action
    # proceeds, so a deny never goes out without one.
    if how in ("exit-2", "block") or verdict == "deny":
        reason = reason or "blocked by policy"
    if how == "exit-2":
        return HookOutput(stderr=f"{reason}\n", exit_code=2)
    if how == "permission":
        specific["permissionDecision"] = verdict
        if verdict != "defer" and reason:
            specific["permissionDecisionReason"] = reason
        if decision.updated_input is not None and verdict in ("allow", "ask"):
            specific["updatedInput"] = decision.updated_input
    elif how == "permission-request" and verdict in ("deny", "allow"):
        answer: dict[str, Any] = {"behavior": verdict}
        if verdict == "deny":
            answer["message"] = reason
            if stop:
                answer["interrupt"] = True
        elif decision.updated_input is not None:
            answer["updatedInput"] = decision.updated_input
        specific["decision"] = answer
    elif how == "block":
        payload["decision"] = "block"
        payload["reason"] = reason
    elif how == "into-context":
        context = "\n\n".join(part for part in (decision.reason, context) if part)
    elif how == "decline":
        specific["action"] = "decline"
    if context and (entry.context_with_block or how != "block"):
        if entry.context.how == "system-message":
            payload["systemMessage"] = context
        else:
            specific["additionalContext"] = context
    if decision.updated_output is not None and entry.update_output.how:
        specific["updatedToolOutput"] = decision.updated_output
    if decision.message and entry.message.how and "systemMessage" not in payload:
        payload["systemMessage"] = decision.message
    if specific:
        payload["hookSpecificOutput"] = {"hookEventName": event.name, **specific}
    return _output(payload)


def render_failure(error: PolicyError, event_name: str | None, mode: str) -> HookOutput:
    """No decision could be made: fail closed (block, with one line) or open (let the host decide, say so where
    the user sees it). stdout never carries anything Claude Code could take for another answer."""
    line = f"policy: {error.one_line()}"
    entry = protocol(event_name)
    if entry is not None and not entry.supported:  # stdout would be read as the worktree's path
        return HookOutput(stderr=line + "\n", exit_code=2)
    if mode == "open":
        shown = entry is None or entry.message.how == "system-message"
        return HookOutput(stdout=json_dumps({"systemMessage": f"{line} - policy is NOT enforcing rules"}) + "\n"
                          if shown else "", stderr=line + "\n")
    if event_name == "PermissionRequest":  # current Claude Code ignores exit 2 there: only a JSON deny works
        return HookOutput(stdout=json_dumps({"hookSpecificOutput": {
            "hookEventName": event_name, "decision": {"behavior": "deny", "message": line}}}) + "\n",
            stderr=line + "\n")
    return HookOutput(stderr=line + "\n", exit_code=2)


def event_name_hint(raw: bytes) -> str | None:
    """The event a payload names, read from its first bytes without parsing it (for a payload that cannot be
    parsed, e.g. one cut at the size ceiling, so that the failure still answers in that event's fail mode)."""
    return named_event(raw)


# ---- validate time: what rules ask for that Claude Code would not do ------------------------------------------

def check(packs: Any) -> list[Diagnostic]:
    """Located diagnostics for rules Claude Code cannot act on as written: an error for an event policy cannot
    answer (WorktreeCreate); warnings for each part of a decision that does nothing on some of its events, is
    dropped there by the rule's own verdict, or whose effect there is not documented."""
    return check_parts(packs, name, "Claude Code", TABLE, UNSUPPORTED_HINT)


def supports(event_name: str) -> bool:
    """Whether policy can answer the event (install never hooks one it cannot)."""
    entry = protocol(event_name)
    return entry is None or entry.supported


def known_event(event_name: str) -> bool:
    return event_name in EVENTS


def example_payload(**described: Any) -> bytes:
    """The payload Claude Code would send for a described call (`policy explain`): the canonical event itself."""
    from policy.adapters.common import example_payload as made_up

    return made_up(name, lambda event: event, **described)


# ---- Claude Code's http hooks (`policy install --transport http`, docs/serve.md#http-hooks) ------------------
# An http hook's answer is the body of a 2xx response, read as a command hook's stdout; the status code cannot
# block, so what a command hook says with exit 2 must be said in the event's JSON (hook-protocols.md §5.9).
# Only events whose block has a JSON form get an http hook; SessionStart and Setup accept none.
HTTP_REFUSED_EVENTS = frozenset({"SessionStart", "Setup"})
_JSON_BLOCKS = ("permission", "permission-request", "block")


def http_capable(event_name: str) -> bool:
    """Whether an http hook can give every answer policy may give on this event."""
    entry = protocol(event_name)
    if entry is None or not entry.supported or event_name in HTTP_REFUSED_EVENTS:
        return False
    return not entry.deny.how or entry.deny.how in _JSON_BLOCKS


def http_body(event_name: str, output: HookOutput) -> bytes:
    """The response body that answers as `output` does: stdout as it is; an exit-2 block (a deny, a fail-closed
    failure) as the event's JSON deny or block, with the reason the command hook would print on stderr."""
    if output.exit_code != 2:
        return output.stdout.encode(errors="replace")
    reason = output.stderr.strip() or "blocked by policy"
    entry = protocol(event_name)
    how = entry.deny.how if entry is not None else ""
    if how == "permission":
        payload: dict[str, Any] = {"hookSpecificOutput": {"hookEventName": event_name, "permissionDecision": "deny",
                                                          "permissionDecisionReason": reason}}
    elif how == "permission-request":
        payload = {"hookSpecificOutput": {"hookEventName": event_name,
                                          "decision": {"behavior": "deny", "message": reason}}}
    elif how == "block":
        payload = {"decision": "block", "reason": reason}
    else:  # (an event that cannot be blocked: what exit 2 would show, as a message)
        payload = {"systemMessage": reason}
    return (json_dumps(payload) + "\n").encode(errors="replace")
