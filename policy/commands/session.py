"""`policy session start|end|status` and `policy break start|status`: the focus pack's terminal verbs (seed 000's
quick start), and the focus section of `policy status`.

The writes are policy.facts.focus's (the same functions the `session_*` and `break_start` effects call); the
lengths, the evening cutoff and the daily limits are the focus pack's params in the effective configuration.
"""

from __future__ import annotations

import typer

from policy.commands import _shared
from policy.conditions import mmss
from policy.errors import UsageError
from policy.facts import focus
from policy.times import format_clock, format_duration, local_midnight

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

START_EXAMPLE = 'policy session start --type personal --intention "fix the login bug"'


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def refusal(store: Store, state: focus.FocusState, now: float, utc_offset: int | None,
            params: dict[str, Any]) -> focus.Refusal | None:
    """Why a session cannot start now under the focus pack's params, or None. Bad params are usage errors."""
    try:
        return focus.start_refusal(
            state, local_time=round(now - local_midnight(now, utc_offset), 3),
            today=lambda: focus.read_today(store, now, local_midnight(now, utc_offset)),
            evening_cutoff=params.get("evening_cutoff"), max_sessions=params.get("max_sessions_per_day"),
            max_hours=params.get("max_focus_hours_per_day"))
    except ValueError as error:
        raise UsageError(f"the focus pack's params are wrong: {error}",
                         hint="fix the focus pack's params in your policy config") from None


# ---- the focus text (session status, policy status) ---------------------------------------------------------------

def focus_lines(state: focus.FocusState, today: tuple[int, int], params: dict[str, Any],
                utc_offset: int | None) -> list[str]:
    """The focus session, the break and the day, one labelled line each."""
    if state.active:
        planned = (state.planned_minutes or 0) * 60
        session = (f"Focus   {state.intention} ({state.type}, session {state.session_id})"
                   + (", agent used" if state.used else "") + "\n"
                   f"        {_bar(state.elapsed, planned)}  {mmss(state.elapsed)} / {mmss(planned)}, "
                   f"{mmss(state.remaining)} left (until {format_clock(state.ends_at, utc_offset=utc_offset)})")
    else:
        session = "Focus   none" + ("" if state.on_break else f" (start one: {START_EXAMPLE})")
    pause = (f"Break   {mmss(state.break_remaining)} left (until "
             f"{format_clock(state.break_until, utc_offset=utc_offset)})" if state.on_break else "Break   none")
    sessions, focused = today
    most_sessions, most_hours = params.get("max_sessions_per_day"), params.get("max_focus_hours_per_day")
    day = [f"{sessions}/{most_sessions:g} sessions" if isinstance(most_sessions, (int, float))
           else _plural(sessions, "session"),
           f"{format_duration(focused)}"
           + (f"/{format_duration(most_hours * 3600)}" if isinstance(most_hours, (int, float)) else "")
           + " focused"]
    if params.get("evening_cutoff"):
        day.append(f"new sessions until {params['evening_cutoff']}")
    return [session, pause, "Today   " + ", ".join(day)]


def _bar(done: float, total: float) -> str:
    from policy.report import bar

    return bar(done / total if total else 0.0, 20)


def _today(store: Store, now: float, utc_offset: int | None) -> tuple[int, int]:
    return focus.read_today(store, now, local_midnight(now, utc_offset))


def status_section(store: Store, now: float, utc_offset: int | None) -> tuple[str, dict[str, Any]] | None:
    """The focus section of `policy status`: the session with a progress bar, the break, the day."""
    state = focus.read_state(store, now)
    today = _today(store, now, utc_offset)
    params = _shared.pack_params("focus")
    return "\n".join(focus_lines(state, today, params, utc_offset)), {"focus": focus.state_json(state, today)}


# ---- the verbs ------------------------------------------------------------------------------------------------------

def session_start(store: Store, now: float, *, session_type: str, intention: str, params: dict[str, Any],
                  minutes: float | None = None, utc_offset: int | None = None, as_json: bool = False) -> int:
    """Start a session (of `minutes`, else the pack's session_minutes); 1 (with the reason) when it is refused."""
    if minutes is not None and not minutes > 0:
        raise UsageError(f"--minutes must be more than 0, not {minutes:g}", hint=START_EXAMPLE + " --minutes 50")
    if session_type not in focus.SESSION_TYPES:
        raise UsageError(f"--type must be expected or personal, not {session_type!r}", hint=START_EXAMPLE)
    if not intention.strip():
        raise UsageError("--intention is empty: say what you will do in this session", hint=START_EXAMPLE)
    with store.transaction():
        state = focus.read_state(store, now)
        refused = refusal(store, state, now, utc_offset, params)
        if refused is None:
            try:
                focus.start_session(store, now, session_type=session_type, intention=intention,
                                    minutes=minutes if minutes is not None else params.get("session_minutes"),
                                    break_minutes=params.get("break_minutes"))
            except ValueError as error:
                raise UsageError(f"the focus pack's params are wrong: {error}",
                                 hint="fix the focus pack's params in your policy config") from None
    if refused is not None:
        if as_json:
            _shared.emit_json({"started": False, "reason": refused.reason, "message": refused.message,
                               "remaining": refused.remaining})
        else:
            typer.echo(refused.message, err=True)
            if refused.hint:
                typer.echo(f"    hint: {refused.hint}", err=True)
        return 1
    state = focus.read_state(store, now)
    if as_json:
        _shared.emit_json({"started": True, **focus.state_json(state)})
    else:
        typer.echo(f"Focus session started: {state.intention} — {mmss(state.remaining)}, until "
                   f"{format_clock(state.ends_at, utc_offset=utc_offset)}.")
    return 0


def _break_line(until: float | None, now: float, utc_offset: int | None) -> str:
    if until is None:
        return "No break (the focus pack's break_minutes is 0)."
    if until <= now:
        return f"Its break is already over (it ended at {format_clock(until, utc_offset=utc_offset)})."
    return (f"Break until {format_clock(until, utc_offset=utc_offset)} "
            f"({mmss(focus.countdown(until, now))} left): the agent is locked until then.")


def session_end(store: Store, now: float, *, distractions: str | None = None, did_the_thing: bool | None = None,
                rabbit_hole: bool | None = None, utc_offset: int | None = None, as_json: bool = False) -> int:
    """End the running session and start its break; 1 when there is no session to end."""
    if distractions is not None and distractions not in focus.DISTRACTIONS:
        raise UsageError(f"--distractions must be none, some or many, not {distractions!r}",
                         hint="policy session end --distractions some --did-the-thing")
    try:
        with store.transaction():
            ended = focus.end_session(store, now, distractions=distractions, did_the_thing=did_the_thing,
                                      rabbit_hole=rabbit_hole)
    except focus.FocusRefused as refused:
        if as_json:
            _shared.emit_json({"ended": False, "reason": refused.reason, "message": refused.message})
        else:
            typer.echo(refused.message, err=True)
            typer.echo(f"    hint: {refused.hint}", err=True)
        return 1
    if as_json:
        _shared.emit_json({"ended": True, "id": ended.session_id, "intention": ended.intention,
                           "ended_at": ended.ended_at, "focused": round(ended.focused, 3), "ran_out": ended.ran_out,
                           "break_until": ended.break_until,
                           "break_remaining": 0 if ended.break_until is None else
                           focus.countdown(ended.break_until, now)})
        return 0
    ran_out = f" (it ran out at {format_clock(ended.ended_at, utc_offset=utc_offset)})" if ended.ran_out else ""
    typer.echo(f"Focus session ended: {ended.intention} — {format_duration(ended.focused)} focused{ran_out}.")
    typer.echo(_break_line(ended.break_until, now, utc_offset))
    return 0


def session_status(store: Store, now: float, *, params: dict[str, Any], utc_offset: int | None = None,
                   as_json: bool = False) -> int:
    state = focus.read_state(store, now)
    today = _today(store, now, utc_offset)
    if as_json:
        _shared.emit_json(focus.state_json(state, today))
    else:
        typer.echo("\n".join(focus_lines(state, today, params, utc_offset)))
    return 0


def break_start(store: Store, now: float, *, minutes: float, utc_offset: int | None = None,
                as_json: bool = False) -> int:
    if not minutes > 0:
        raise UsageError(f"--minutes must be more than 0, not {minutes:g}", hint="policy break start --minutes 10")
    with store.transaction():
        until, ended = focus.start_break(store, now, minutes=minutes)
    if as_json:
        _shared.emit_json({"break_started_at": now, "break_until": until,
                           "break_remaining": focus.countdown(until, now),
                           "ended_session": None if ended is None else ended.session_id})
        return 0
    if ended is not None:
        typer.echo(f"Focus session ended: {ended.intention} — {format_duration(ended.focused)} focused.")
    typer.echo(_break_line(until, now, utc_offset))
    return 0


def break_end(store: Store, now: float, *, skip: bool = False, utc_offset: int | None = None,
              as_json: bool = False) -> int:
    """End the running break now; with `skip`, also the break after the running session. 1 when there is none."""
    with store.transaction():
        was_until = focus.end_break(store, now)
        skipped = focus.skip_next_break(store, now) if skip and was_until is None else None
    if as_json:
        _shared.emit_json({"ended": was_until is not None, "was_until": was_until,
                           "skipped_after_session": skipped})
    elif was_until is not None:
        typer.echo(f"Break ended at {format_clock(now, utc_offset=utc_offset)} ({mmss(focus.countdown(was_until, now))} "
                   "early): the agent may work again.")
    elif skipped is not None:
        typer.echo(f"No break after this focus session (session {skipped}).")
    else:
        typer.echo("No break running" + (", and no focus session whose break to skip." if skip else "."), err=True)
    return 0 if was_until is not None or skipped is not None else 1


def history_rows(rows: list[dict[str, Any]], utc_offset: int | None) -> list[list[str]]:
    from policy.times import format_local

    table = []
    for row in rows:
        intention = " ".join(str(row["intention"] or "").split())
        table.append([str(row["id"]), format_local(row["started_at"], utc_offset=utc_offset)[5:16], row["type"],
                      intention if len(intention) <= 22 else intention[:21] + "…",
                      mmss(row["focused"]) + "/" + mmss(row["planned_minutes"] * 60),
                      "running" if row["running"] else row["end_reason"] or "-",
                      mmss(row["break_taken"]) if row["break_taken"] else "-"])
    return table


def session_history(store: Store, now: float, *, since: str, limit: int, utc_offset: int | None = None,
                    as_json: bool = False) -> int:
    from policy import report
    from policy.times import parse_duration

    rows = focus.history(store, now, since=now - parse_duration(since, what="--since"), limit=limit)
    if as_json:
        _shared.emit_json(rows)
    elif not rows:
        typer.echo(f"no focus sessions in the last {since}")
    else:
        typer.echo(report.table(["id", "started", "type", "intention", "focused", "end", "break"],
                                history_rows(rows, utc_offset), align="rllllrr"))
    return 0


def break_status(store: Store, now: float, *, utc_offset: int | None = None, as_json: bool = False) -> int:
    state = focus.read_state(store, now)
    if as_json:
        _shared.emit_json({"on_break": state.on_break, "break_started_at": state.break_started_at,
                           "break_until": state.break_until, "break_remaining": state.break_remaining})
    elif state.on_break:
        typer.echo(f"Break in progress: {mmss(state.break_remaining)} left (until "
                   f"{format_clock(state.break_until, utc_offset=utc_offset)}).")
    else:
        typer.echo("No break running.")
    return 0


# ---- typer wrappers -------------------------------------------------------------------------------------------------

JSON_HELP = "Print JSON."


def register(app: typer.Typer) -> None:
    session_app = typer.Typer(help="Focus sessions (Pomodoro style): the agent works only while one runs.",
                              no_args_is_help=True)
    break_app = typer.Typer(help="The break after a focus session: the agent is locked while it runs.",
                            no_args_is_help=True)
    app.add_typer(session_app, name="session")
    app.add_typer(break_app, name="break")

    @session_app.command("start")
    def start_command(
        session_type: str = typer.Option(..., "--type", help="expected (work you are expected to do) or personal."),
        intention: str = typer.Option(..., "--intention", help="What you will do, in a few words."),
        minutes: float = typer.Option(None, "--minutes", help="The session's length (default: the focus pack's "
                                                              "session_minutes)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """Start a focus session; refused (exit 1) in a break, while one runs, past the cutoff or a daily maximum.

        Example: policy session start --type personal --intention "fix the login bug" --minutes 50
        """
        params = _shared.pack_params("focus")
        with _shared.open_store(db) as store:
            raise typer.Exit(session_start(store, _shared.now(), session_type=session_type, intention=intention,
                                           params=params, minutes=minutes, as_json=as_json))

    @session_app.command("history")
    def history_command(
        since: str = typer.Option("7d", "--since", help="Sessions started in the last 1d, 7d, 30d ..."),
        limit: int = typer.Option(50, "--limit", min=1, help="At most this many (newest first)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """List past focus sessions: when, what for, how long, how each ended and the break it got.

        Example: policy session history --since 30d
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(session_history(store, _shared.now(), since=since, limit=limit, as_json=as_json))

    @session_app.command("end")
    def end_command(
        distractions: str = typer.Option(None, "--distractions", help="none, some or many."),
        did_the_thing: bool = typer.Option(None, "--did-the-thing/--not", help="Whether you did what you intended."),
        rabbit_hole: bool = typer.Option(None, "--rabbit-hole/--no-rabbit-hole",
                                         help="Whether the session went down a rabbit hole."),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """End the running focus session, with a short reflection, and start its break.

        Example: policy session end --distractions some --did-the-thing --no-rabbit-hole
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(session_end(store, _shared.now(), distractions=distractions,
                                         did_the_thing=did_the_thing, rabbit_hole=rabbit_hole, as_json=as_json))

    @session_app.command("status")
    def status_command(
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """Show the focus session, the break and today's totals.

        Example: policy session status --json
        """
        params = _shared.pack_params("focus")
        with _shared.open_store(db) as store:
            raise typer.Exit(session_status(store, _shared.now(), params=params, as_json=as_json))

    @break_app.command("start")
    def break_start_command(
        minutes: float = typer.Option(None, "--minutes", help="The break's length in minutes (default: the focus "
                                                              "pack's break_minutes)."),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """Start a break now (a running focus session ends with it); the agent is locked until it is over.

        Example: policy break start --minutes 15
        """
        if minutes is None:
            minutes = float(_shared.pack_params("focus").get("break_minutes") or 0)
            if not minutes > 0:
                raise UsageError("the focus pack's break_minutes is 0: give the break's length",
                                 hint="policy break start --minutes 10")
        with _shared.open_store(db) as store:
            raise typer.Exit(break_start(store, _shared.now(), minutes=minutes, as_json=as_json))

    @break_app.command("end")
    def break_end_command(
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """End the running break now: the agent may work again. Exit 1 when no break runs.

        Example: policy break end
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(break_end(store, _shared.now(), as_json=as_json))

    @break_app.command("skip")
    def break_skip_command(
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """Skip a break: the running one ends now, or, during a focus session, none follows it. Exit 1 if neither.

        Example: policy break skip
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(break_end(store, _shared.now(), skip=True, as_json=as_json))

    @break_app.command("status")
    def break_status_command(
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """Show whether a break is running and how long it has left.

        Example: policy break status
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(break_status(store, _shared.now(), as_json=as_json))
