"""`session_start`, `session_end`, `session_mark_used` and `break_start`: the focus pack's writes, the same as
`policy session start|end` and `policy break start` (implemented once, in policy.facts.focus)."""

from __future__ import annotations

from policy.errors import Diagnostic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Location
    from policy.model import PlannedEffect

_MINUTES = {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]}
_FLAG = {"anyOf": [{"type": "boolean"}, {"type": "string"}]}
KINDS: dict[str, dict[str, Any]] = {
    "session_start": {
        "description": "Start a focus session now (the same as `policy session start`). Fails, and so rolls the "
                       "whole evaluation back, during a break or while a session runs: check "
                       "`facts.focus.refusal(...)` in the rule's `when:` first.",
        "type": "object", "required": ["type", "intention"], "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "description": "expected or personal (a template)."},
            "intention": {"type": "string", "description": "What the session is for (a template)."},
            "minutes": {**_MINUTES, "description": "The session's length in minutes (default 25); the focus pack "
                                                   "passes `{{ params.session_minutes }}`."},
            "break_minutes": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
                              "description": "The length of the break after it (default 5); the focus pack passes "
                                             "`{{ params.break_minutes }}`."}}},
    "session_end": {
        "description": "End the running focus session with the seed's reflection and start its break (the same "
                       "as `policy session end`). Fails when no session is running.",
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {
            "distractions": {"type": "string", "description": "none, some or many (a template)."},
            "did_the_thing": {**_FLAG, "description": "Whether the intention was done."},
            "rabbit_hole": {**_FLAG, "description": "Whether the session went down a rabbit hole."}}},
    "session_mark_used": {
        "description": "Mark the running focus session as used by the agent (the seed's claude_used); idempotent, "
                       "keeps the time of the first use, does nothing when no session runs.",
        "type": ["object", "null"], "additionalProperties": False, "properties": {}},
    "break_start": {
        "description": "Start a break of `minutes` now (the same as `policy break start`); a running focus session "
                       "ends with it.",
        "type": "object", "required": ["minutes"], "additionalProperties": False,
        "properties": {"minutes": {**_MINUTES, "description": "The break's length in minutes."}}},
}


def _literal(value: Any) -> bool:
    return isinstance(value, str) and "{{" not in value


def check_session_start(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    from policy.facts.focus import SESSION_TYPES

    kind = args.get("type")
    if _literal(kind) and kind not in SESSION_TYPES:
        from policy.schema import suggest

        return [Diagnostic(location, "bad-effect", f"session_start type must be expected or personal, not {kind!r}",
                           suggest(str(kind), set(SESSION_TYPES)))]
    return []


def check_session_end(args: dict[str, Any] | None, location: Location) -> list[Diagnostic]:
    from policy.facts.focus import DISTRACTIONS

    value = (args or {}).get("distractions")
    if _literal(value) and value not in DISTRACTIONS:
        from policy.schema import suggest

        return [Diagnostic(location, "bad-effect", f"session_end distractions must be none, some or many, "
                                                   f"not {value!r}", suggest(str(value), set(DISTRACTIONS)))]
    return []


def _flag(value: Any, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"{what} must be true or false, not {value!r}")


def apply_session_start(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.facts.focus import start_session

    session_id = start_session(context.store, context.now, session_type=str(args["type"]).strip(),
                               intention=str(args["intention"]), minutes=args.get("minutes"),
                               break_minutes=args.get("break_minutes"))
    return f"started focus session {session_id}"


def apply_session_end(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.facts.focus import end_session

    distractions = args.get("distractions")
    ended = end_session(context.store, context.now,
                        distractions=None if distractions in (None, "") else str(distractions).strip(),
                        did_the_thing=_flag(args.get("did_the_thing"), "did_the_thing"),
                        rabbit_hole=_flag(args.get("rabbit_hole"), "rabbit_hole"))
    return f"ended focus session {ended.session_id}"


def apply_session_mark_used(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.facts.focus import mark_used

    session_id = mark_used(context.store, context.now)
    return "no focus session running" if session_id is None else f"marked focus session {session_id} as used"


def apply_break_start(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.facts.focus import start_break

    until, ended = start_break(context.store, context.now, minutes=args["minutes"])
    return f"started a break of {round((until - context.now) / 60, 2):g} minutes" + (
        f", ending focus session {ended.session_id}" if ended is not None else "")
