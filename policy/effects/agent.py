"""`agent_status`: an AGENT session's status and details on the board (the local `agent_sessions`, or the team's
shared store; seed 003), from hook events."""

from __future__ import annotations

from policy.boards import BoardOutage
from policy.errors import Diagnostic, EvaluationError
from policy.facts.agent import AGENT_STATUSES, update_agent_session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Location
    from policy.model import PlannedEffect

_TEXT = {"type": ["string", "null"]}
KINDS: dict[str, dict[str, Any]] = {
    "agent_status": {
        "description": "Set the status of an agent session (active, working, waiting, idle, stopped) and record "
                       "the event as its last one; optionally register its cwd, source and model, or label it with "
                       "a task. Null values leave what is stored (a new session starts `active`).",
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {
            "status": {**_TEXT, "description": "The new status: " + ", ".join(AGENT_STATUSES) + ", or a template "
                                               "giving one (null: keep the status)."},
            "task": {**_TEXT, "description": "A task label (the same as `policy sessions map`; empty clears it)."},
            "task_default": {**_TEXT, "description": "A task label for a session that has none yet when the effect "
                                                     "writes: a `task` (of any rule, or `policy sessions map`) wins."},
            "session": {**_TEXT, "description": "The agent session (default: the event's)."},
            "cwd": {**_TEXT, "description": "The session's working directory, e.g. `{{ event.cwd }}`."},
            "source": {**_TEXT, "description": "How it started (SessionStart's source: startup, resume, clear, "
                                               "compact)."},
            "model": {**_TEXT, "description": "The model, e.g. `{{ event.model }}`."},
            "transcript_path": {**_TEXT, "description": "Its transcript file, e.g. `{{ event.transcript_path }}`."},
        },
    },
}


ON_OUTAGE = {"agent_status": "Not written (the decision log says so); never changes a decision."}


def check_agent_status(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    status = args.get("status")
    if isinstance(status, str) and "{{" not in status and status not in AGENT_STATUSES:
        from policy.schema import suggest

        return [Diagnostic(location, "bad-effect", f"unknown agent-session status {status!r}",
                           suggest(status, AGENT_STATUSES))]
    return []


def apply_agent_status(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    event = context.event
    session = args.get("session") or event.agent_session
    if not session:
        return "skipped: the event has no agent session"
    status = args.get("status") or None
    board = context.board()
    if context.outage is not None and board.shared:
        return f"agent session {session}: not written: {context.outage.message}"
    try:
        update_agent_session(board, str(session), now=context.now, event=event.name, status=status,
                             task=_text(args.get("task")), agent=event.host, cwd=_text(args.get("cwd")),
                             source=_text(args.get("source")), model=_text(args.get("model")),
                             transcript_path=_text(args.get("transcript_path")) or None,
                             task_default=_text(args.get("task_default")) or None)
    except BoardOutage as outage:  # a status is never a gate: the decision stands, the log says what was lost
        return f"agent session {session}: not written: {outage.message}"
    except ValueError as error:
        raise EvaluationError(f"effect agent_status of rule {effect.pack}/{effect.rule_id}: {error}",
                              code="bad-effect", location=effect.location,
                              hint="statuses: " + ", ".join(AGENT_STATUSES)) from None
    return f"agent session {session}: " + (status or "status kept")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
