"""`claim`, `heartbeat` and `release`: the presence pack's writes of claims, for the event's agent session, on the
board (the local store, or the team's shared one; the same functions as `policy claim`, `policy heartbeat` and
`policy release`).

On a shared board a claim is taken only when its labels are free, expired or already this session's. A claim
lost to another session makes the hook evaluate the event again on the fresh board (`ClaimContended`), where the
presence pack's rules see the holder and defer; a shared store that does not answer raises BoardOutage, which the
hook answers with `ask` naming the outage, or the fail mode (docs/team.md#outages). Heartbeats and releases that
cannot be written are recorded as such in the decision log: they never change a decision."""

from __future__ import annotations

from policy.boards import BoardOutage, ClaimContended
from policy.facts.agent import short_session
from policy.facts.claims import DEFAULT_HEARTBEAT_EVERY, DEFAULT_TTL, claim

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Diagnostic, Location
    from policy.model import PlannedEffect

_SECONDS = {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]}
_LABEL = {"type": "string", "minLength": 1}
KINDS: dict[str, dict[str, Any]] = {
    "claim": {
        "description": "Claim resource labels for the event's agent session (the same as `policy claim`): other "
                       "sessions see them until they expire, `ttl` after the last heartbeat. Claiming a label "
                       "another session holds is allowed (a co-claim); the result names them.",
        "type": "object", "required": ["label", "purpose"], "additionalProperties": False,
        "properties": {
            "label": {"description": "A label such as stack:billing, or a list of them; a one-expression "
                                     "template may give a list (e.g. `{{ command_labels(...) }}`).",
                      "anyOf": [_LABEL, {"type": "array", "items": _LABEL}]},
            "purpose": {"type": "string", "description": "What the session is doing, shown to the others."},
            "ttl": {**_SECONDS, "description": f"Seconds (or 15m) the claim lives after each heartbeat "
                                               f"(default {DEFAULT_TTL:g})."},
        }},
    "heartbeat": {
        "description": "Keep the event's agent session's active claims alive: each expires its own ttl from now. "
                       "Throttled: nothing is written while every claim had a heartbeat in the last `every` "
                       "seconds.",
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {"every": {**_SECONDS, "description": f"The throttle in seconds (default "
                                                           f"{DEFAULT_HEARTBEAT_EVERY:g})."}}},
    "release": {
        "description": "Release the event's agent session's claim on `label`, or all of its claims (the same as "
                       "`policy release`).",
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {"label": {**_LABEL, "description": "The label to release (default: every claim)."}}},
}


ON_OUTAGE = {
    "claim": "On PreToolUse and PermissionRequest the answer becomes at least `ask`, its reason naming the outage "
             "(a deny or defer stays); with `store.on_outage: fail`, the event's fail mode. On other events the "
             "decision log records `not claimed (…): …`.",
    "heartbeat": "Not written (`heartbeat not written: …` in the decision log); never changes a decision.",
    "release": "Not written (`release not written: …` in the decision log); the claims expire by their ttl.",
}


def check_claim(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    """Literal labels (not templates) must be labels."""
    from policy.errors import Diagnostic
    from policy.labels import LABEL_EXAMPLES, label_problem

    labels = args["label"] if isinstance(args["label"], list) else [args["label"]]
    return [Diagnostic(location, "bad-label", problem, LABEL_EXAMPLES) for label in labels
            if "{{" not in label and (problem := label_problem(label))]


def _seconds(value: Any, default: float, what: str) -> float:
    from policy.times import parse_duration

    return default if value in (None, "") else parse_duration(value, what=what)


def _holders(rows: list[dict[str, Any]]) -> str:
    from policy.facts.claims import who

    return ", ".join(f"{short_session(row['agent_session'])}" + (f" {who(row)}" if who(row) else "") +
                     f" ({row['label']})" for row in rows)


def apply_claim(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    session = context.event.agent_session
    if not session:
        return "no agent session: nothing claimed"
    labels = args["label"]
    if not labels:
        return "no labels: nothing claimed"
    named = ", ".join([labels] if isinstance(labels, str) else labels)
    board = context.board()
    if context.outage is not None and board.shared:
        return f"not claimed ({named}): {context.outage.message}"
    taken, others = claim(board, session, labels, str(args.get("purpose") or ""), now=context.now,
                          ttl=_seconds(args.get("ttl"), DEFAULT_TTL, "ttl"), agent=context.event.host)
    if not taken:
        if not context.retried:
            raise ClaimContended(f"{named} was claimed meanwhile by {_holders(others) or 'another session'}")
        return f"not claimed ({named}): held by {_holders(others) or 'another session'}"
    text = "claimed " + named
    if others:
        text += "; also claimed by " + ", ".join(f"{short_session(row['agent_session'])} ({row['label']})"
                                                 for row in others)
    return text


def _not_written(what: str, context: EffectContext, write: Any) -> str:
    """Run a board write; on a shared store that does not answer, say what was not written instead."""
    if context.outage is not None and context.board().shared:
        return f"{what} not written: {context.outage.message}"
    try:
        return write()  # type: ignore[no-any-return]
    except BoardOutage as error:
        return f"{what} not written: {error.message}"


def apply_heartbeat(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    session = context.event.agent_session
    if not session:
        return "no agent session"
    every = _seconds(args.get("every"), DEFAULT_HEARTBEAT_EVERY, "every")

    def write() -> str:
        extended = context.board().heartbeat(session, now=context.now, every=every)
        if extended is None:
            return f"throttled (a heartbeat less than {every:g}s ago)"
        return "extended " + ", ".join(extended) if extended else "no active claims"

    return _not_written("heartbeat", context, write)


def apply_release(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    session = context.event.agent_session
    if not session:
        return "no agent session"

    def write() -> str:
        released = context.board().release(session, args.get("label"), now=context.now)
        return "released " + ", ".join(released) if released else "nothing to release"

    return _not_written("release", context, write)
