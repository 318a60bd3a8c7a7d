"""`facts.agent`: this AGENT session's row of `agent_sessions` (the Claude Code session the event comes from; not a
focus session), and the writes of that table (the `agent_status` effect and `policy sessions map` use them).

Statuses: `active` (known, no event has said more yet), `working` (a prompt or a tool call is under way), `waiting`
(a permission dialog waits for the user), `idle` (the turn ended; waiting for the next prompt), `stopped` (the
session ended). docs/packs/activity.md has the event → status table.
"""

from __future__ import annotations

from policy.facts import Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.boards import Board
    from policy.store import Store

AGENT_STATUSES = ("active", "working", "waiting", "idle", "stopped")
SHORT_ID = 8


def short_session(session: str | None) -> str:
    """The first 8 characters of an agent session id (UUIDs are unique enough there), like a short git hash; a
    terminal's `user@host@8hex` (policy.commands._shared.terminal_session) whole, since its start is not unique."""
    if session and session.count("@") == 2 and len(session) <= 80:
        return session
    return (session or "-")[:SHORT_ID]


class AgentFacts(Family):
    """This agent session (the Claude Code session, not a focus session), as recorded before the current event:
    its own `agent_status` effect runs after the decision. Every field is None when the session is not known, and
    while a shared store does not answer (docs/team.md#outages)."""

    name = "agent"
    on_outage = "Every field None (`known` false); `outage` says why."
    row_fields = ("status", "task", "cwd", "model", "source", "last_event", "started_at", "updated_at", "ended_at",
                  "transcript_path")
    fields = {
        "known": "True when the agent session has been recorded before.",
        "status": "`active`, `working`, `waiting`, `idle` or `stopped`.",
        "task": "The task label (`policy sessions map SESSION TASK`).",
        "cwd": "The working directory it registered with.",
        "model": "The model SessionStart reported.",
        "source": "How it started: `startup`, `resume`, `clear`, `compact` or `fork`.",
        "last_event": "The last hook event recorded for it.",
        "started_at": "When it was first seen (epoch seconds).",
        "updated_at": "When its status last changed (epoch seconds).",
        "ended_at": "When it ended (SessionEnd; epoch seconds).",
        "transcript_path": "Its transcript file, as the hook events name it.",
        "outage": "Why the shared store did not answer (None when it did, or when there is none).",
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        from policy.boards import BoardOutage, board_for

        board, session = board_for(context.store, context.settings), context.event.agent_session
        self.outage: str | None = None
        row = None
        if board is not None and session is not None:
            try:
                row = board.agent_session(session, now=context.now)
            except BoardOutage as error:
                self.outage = error.message
        self.known = row is not None
        for column in self.row_fields:
            setattr(self, column, None if row is None else row[column])


FAMILY = AgentFacts


def update_agent_session(board: Board, agent_session: str, *, now: float, event: str | None = None,
                         status: str | None = None, task: str | None = None, agent: str | None = None,
                         cwd: str | None = None, source: str | None = None, model: str | None = None,
                         transcript_path: str | None = None, task_default: str | None = None) -> None:
    """Create or update an agent session's row. None leaves a value as it is (a new row starts `active`); an
    empty `task` clears the label; `task_default` labels a session that has none yet (at the time of writing, so
    an explicit `task` of another rule or of `policy sessions map` wins whatever the order). `event` is the hook event that caused the change: it becomes `last_event` and
    moves `updated_at`; changes without one (`policy sessions map`) leave both alone."""
    if status is not None and status not in AGENT_STATUSES:
        raise ValueError(f"unknown agent-session status {status!r} (expected {', '.join(AGENT_STATUSES)})")
    board.update_agent_session(agent_session, now=now, event=event, status=status, task=task, agent=agent, cwd=cwd,
                               source=source, model=model, transcript_path=transcript_path, task_default=task_default)


def find_agent_sessions(store: Store, board: Board | None, prefix: str) -> list[str]:
    """The known agent sessions (on the board, or in the local `tool_attempts`) whose id is `prefix` or starts
    with it."""
    if not prefix:
        return []
    from policy.boards.local import LocalBoard

    found = set(LocalBoard(store).find_agent_sessions(prefix))
    if board is not None and board.shared:
        found.update(board.find_agent_sessions(prefix))
    return [prefix] if prefix in found else sorted(found)


# The agent sessions that worked in a project: started in its directory or below (`--project` of log and stats).
PROJECT_SESSIONS = ("agent_session IN (SELECT agent_session FROM agent_sessions WHERE cwd = ? OR "
                    "substr(cwd, 1, ?) = ?)")


def project_terms(project: str | None, column: str = "agent_session") -> tuple[str, Any]:
    """A `policy.store.where` term for the agent sessions of `project` (a directory; None: no term)."""
    import os

    if project is None:
        return PROJECT_SESSIONS, None
    directory = os.path.abspath(project).rstrip(os.sep) or os.sep
    inside = directory if directory.endswith(os.sep) else directory + os.sep
    return PROJECT_SESSIONS.replace("agent_session IN", f"{column} IN", 1), [directory, len(inside), inside]


def resolve_agent_session(store: Store, given: str, board: Board | None = None) -> str:
    """A known agent session from its id or a unique prefix of it (as `policy sessions` shows them). Raises
    PolicyError when none or several match."""
    from policy.errors import PolicyError, UsageError

    found = find_agent_sessions(store, board, given)
    if len(found) == 1:
        return found[0]
    if not found:
        raise PolicyError(f"no agent session {given!r} is known", code="unknown-session",
                          hint="`policy sessions --all` lists them; a session appears with its first hook event")
    raise UsageError(f"{given!r} matches {len(found)} agent sessions: {', '.join(found[:5])}"
                     + (", …" if len(found) > 5 else ""), hint="give more of the id")
