"""`policy sessions`: the AGENT sessions (Claude Code sessions, never focus sessions) with their status, task label
and last event, as the activity pack keeps them from hook events; `policy sessions map SESSION TASK` labels one with
a task. Also `status_section`, the agent-sessions part of `policy status`."""

from __future__ import annotations

import typer

from policy.commands._shared import DB_OPTION_HELP, board as board_of, emit_json, now as clock, open_store
from policy.facts.agent import AGENT_STATUSES, resolve_agent_session, short_session, update_agent_session
from policy.times import format_clock, format_duration, format_iso, format_local

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.boards import Board
    from policy.store import Store

RECENTLY_STOPPED = 86400.0  # stopped sessions stay in the default listing for a day


def agent_sessions(board: Board, *, now: float, include_all: bool = False) -> list[dict[str, Any]]:
    """Agent sessions (of every machine, on a shared board), most recently updated first: all of them, or those
    not stopped plus those stopped in the last day."""
    return board.agent_sessions(now=now, since=None if include_all else now - RECENTLY_STOPPED)


def sessions_text(rows: list[dict[str, Any]], *, now: float, utc_offset: int | None = None,
                  shared: bool = False) -> str:
    """The listing; on a shared board with a `user@host` column (on one machine it would tell nothing)."""
    from policy.facts.claims import who
    from policy.report import table

    if not rows:
        return "No agent sessions (the activity pack records them from hook events: is it loaded?)"
    headers = ["session", *(["user@host"] if shared else []), "task", "status", "for", "last event", "at", "cwd"]
    body = [[short_session(row["agent_session"]), *([who(row) or "-"] if shared else []), row["task"] or "-",
             row["status"], format_duration(now - row["updated_at"]), row["last_event"] or "-",
             _when(row["updated_at"], now, utc_offset), row["cwd"] or "-"] for row in rows]
    return table(headers, body, align="llllrlll" if shared else "lllrlll")


def _when(at: float, now: float, utc_offset: int | None) -> str:
    """`10:05` today, `2026-11-19 10:05` on other days."""
    same_day = format_local(at, utc_offset=utc_offset)[:10] == format_local(now, utc_offset=utc_offset)[:10]
    return format_clock(at, utc_offset=utc_offset) if same_day else format_local(at, utc_offset=utc_offset)


def sessions_json(rows: list[dict[str, Any]], *, now: float) -> list[dict[str, Any]]:
    return [{**row, "for_seconds": round(now - row["updated_at"], 3),
             **{column: format_iso(row[column]) for column in ("started_at", "updated_at", "ended_at")}}
            for row in rows]


def list_sessions(*, as_json: bool = False, include_all: bool = False, db: str | None = None) -> int:
    now = clock()
    with open_store(db) as store:
        board = board_of(store)
        rows = agent_sessions(board, now=now, include_all=include_all)
    if as_json:
        emit_json(sessions_json(rows, now=now))
    else:
        typer.echo(sessions_text(rows, now=now, shared=board.shared))
    return 0


def map_task(session: str, task: str, *, db: str | None = None) -> int:
    with open_store(db) as store:
        board = board_of(store)
        agent_session = resolve_agent_session(store, session, board)
        with store.transaction():
            update_agent_session(board, agent_session, now=clock(), task=task)
    typer.echo(f"agent session {agent_session}: " + (f"task {task}" if task else "task label cleared"))
    return 0


def status_section(store: Store, now: float, utc_offset: int | None = None) -> tuple[str, dict[str, Any]]:
    """The agent-sessions line of `policy status`: how many are in each status; the waiting ones by name, since
    they wait for the user."""
    from policy.boards import BoardOutage

    board = board_of(store)
    try:
        rows = agent_sessions(board, now=now)
    except BoardOutage as outage:
        return f"Agent sessions: unknown ({outage.message})", {"agent_sessions": None, "waiting_for_you": None}
    live = [row for row in rows if row["status"] != "stopped"]
    data = {"agent_sessions": {status: sum(row["status"] == status for row in live) for status in AGENT_STATUSES
                               if status != "stopped"},
            "waiting_for_you": [row["agent_session"] for row in live if row["status"] == "waiting"]}
    if not live:
        return "Agent sessions: none active", data
    counts = [f"{sum(row['status'] == status for row in live)} {status}" for status in AGENT_STATUSES
              if status != "stopped" and any(row["status"] == status for row in live)]
    line = "Agent sessions: " + ", ".join(counts)
    from policy.facts.claims import who

    def whose(row: dict[str, Any]) -> str:  # on a shared board, every machine's: say whose
        return f" {who(row)}" if board.shared and who(row) else ""

    if board.shared:
        line += " on " + ", ".join(sorted({who(row) or "-" for row in live}))
    waiting = [short_session(row["agent_session"]) + whose(row) + (f" ({row['task']})" if row["task"] else "")
               + f" for {format_duration(now - row['updated_at'])}" for row in live if row["status"] == "waiting"]
    if waiting:
        line += "; waiting for you: " + ", ".join(waiting)
    return line, data


def register(app: typer.Typer) -> None:
    sessions_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)

    @sessions_app.callback()
    def sessions_command(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
        include_all: bool = typer.Option(False, "--all", help="Also sessions that stopped more than a day ago."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
    ) -> None:
        """List the agent sessions (Claude Code sessions, not focus sessions): task label, status (active, working,
        waiting, idle, stopped) and last event. `map` labels one with a task.

        Example: policy sessions --json
        """
        if ctx.invoked_subcommand is None:
            raise typer.Exit(list_sessions(as_json=as_json, include_all=include_all, db=db))

    @sessions_app.command("map")
    def map_command(
        session: str = typer.Argument(..., help="The agent session: its id or a unique prefix of it."),
        task: str = typer.Argument(..., help="The task label (\"\" clears it)."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
    ) -> None:
        """Label an agent session with a task (used e.g. by the activity pack's run-after-edit command).

        Example: policy sessions map 8f2c1d3e auth-refactor
        """
        raise typer.Exit(map_task(session, task, db=db))

    app.add_typer(sessions_app, name="sessions")
