"""`policy claim | heartbeat | release | list | peek`: the presence board from the terminal (docs/packs/presence.md),
and the claims section of `policy status`. The writes are policy.facts.claims', the same as the rules' effects."""

from __future__ import annotations

import typer

from policy.commands import _shared
from policy.errors import UsageError
from policy.facts import claims as board_facts
from policy.facts.agent import short_session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.boards import Board
    from policy.store import Store

NOW_OPTION_HELP = "The current time, ISO 8601 (default: the clock); for scripts and tests, like `policy eval --now`."
JSON_OPTION_HELP = "Print JSON (times are epoch seconds; age and expires_in are seconds)."


def _clock(now: str | None) -> tuple[float, int | None]:
    """(now, UTC offset for printing): the clock in local time, or --now in its own offset."""
    if now is None:
        return _shared.now(), None
    from policy.times import parse_iso

    return parse_iso(now)


def _label_ok(label: str) -> str:
    from policy.labels import LABEL_EXAMPLES, label_problem

    problem = label_problem(label)
    if problem:
        raise UsageError(problem, hint=LABEL_EXAMPLES)
    return label


def _duration(seconds: float) -> str:
    from policy.conditions import duration

    return duration(seconds)


def claims_table(rows: list[dict[str, Any]], now: float, utc_offset: int | None) -> str:
    """Active claims as a table; the viewer's own are marked `(you)`."""
    from policy.report import table

    return table(("LABEL", "SESSION", "USER@HOST", "SINCE", "AGE", "EXPIRES IN", "PURPOSE"), [
        (row["label"], short_session(row["agent_session"]) + (" (you)" if row["mine"] else ""),
         board_facts.who(row) or "-", board_facts.since(row["claimed_at"], now, utc_offset), _duration(row["age"]),
         _duration(row["expires_in"]), row["purpose"] or "-")
        for row in rows])


# ---- the verbs (called by the typer commands below, and by the tests) ---------------------------------------------

def claim_command(label: str, purpose: str, *, ttl: str | None, session: str | None, db: str | None, as_json: bool,
                  now: str | None) -> int:
    from policy.times import parse_duration

    label = _label_ok(label)
    agent_session = _shared.agent_session(session, terminal=True)
    assert agent_session is not None
    seconds = board_facts.DEFAULT_TTL if ttl is None else parse_duration(ttl, what="--ttl")
    if seconds <= 0:
        raise UsageError("--ttl must be more than 0", hint="e.g. --ttl 15m")
    if not purpose.strip():
        raise UsageError("--purpose is empty", hint='say what and why, e.g. --purpose "GPU driver upgrade"')
    moment, offset = _clock(now)
    agent = "claude-code" if _shared.environ().get("CLAUDECODE") == "1" else "cli"
    with _shared.open_store(db) as store:
        board = _shared.board(store)
        with store.transaction():
            taken, others = board_facts.claim(board, agent_session, label, purpose, now=moment, ttl=seconds,
                                              agent=agent)
            mine = board.active(now=moment, session=agent_session, labels=[label])[0] if taken else None
    if not taken:  # the shared board: someone else holds it
        if as_json:
            _shared.emit_json({"claimed": None, "holders": others})
            return 1
        lines = [f"not claimed: {label} is held by " + ("another agent session:" if len(others) == 1 else
                                                         f"{len(others)} other agent sessions:")]
        lines += ["- " + board_facts.describe_claim(row, moment, offset, with_label=False) for row in others]
        lines.append("Defer to the user: tell them who is working on it and ask before you mutate it.")
        typer.echo("\n".join(lines))
        return 1
    assert mine is not None
    if as_json:
        _shared.emit_json({"claimed": mine, "co_claimers": others})
        return 1 if others else 0  # held by others too: recorded, but the caller must not go ahead unasked
    until = board_facts.since(mine["expires_at"], moment, offset)
    lines = [f"claimed {label} until {until} (ttl {_duration(seconds)})"
             + (f", fence {mine['fence']}" if mine.get("fence") is not None else "")]
    if others:
        single = len(others) == 1
        lines.append("also claimed by " + ("another agent session:" if single else
                                           f"{len(others)} other agent sessions:"))
        lines += ["- " + board_facts.describe_claim(row, moment, offset, with_label=False) for row in others]
        lines.append(f"Defer to the user: tell them what the other session{' is' if single else 's are'} doing "
                     f"and ask before you mutate it. If you wait, drop your claim: policy release {label}")
    typer.echo("\n".join(lines))
    return 1 if others else 0


def heartbeat_command(*, session: str | None, db: str | None, as_json: bool, now: str | None) -> int:
    agent_session = _shared.agent_session(session, terminal=True)
    assert agent_session is not None
    moment, offset = _clock(now)
    with _shared.open_store(db) as store:
        board = _shared.board(store)
        with store.transaction():
            extended = board.heartbeat(agent_session, now=moment) or []
        rows = board.active(now=moment, session=agent_session)
    if as_json:
        _shared.emit_json({"session": agent_session, "extended": [row for row in rows if row["label"] in extended]})
        return 0
    if not extended:
        typer.echo(f"session {short_session(agent_session)} holds no active claims")
        return 0
    typer.echo("\n".join(f"extended {row['label']} until {board_facts.since(row['expires_at'], moment, offset)}"
                         for row in rows if row["label"] in extended))
    return 0


def release_command(label: str | None, *, all_mine: bool, session: str | None, db: str | None, as_json: bool,
                    now: str | None) -> int:
    if (label is None) == (not all_mine):
        raise UsageError("give a LABEL or --all-mine (not both)",
                         hint="policy release stack:billing, or policy release --all-mine")
    if label is not None:
        _label_ok(label)
    agent_session = _shared.agent_session(session, terminal=True)
    assert agent_session is not None
    moment, _ = _clock(now)
    with _shared.open_store(db) as store:
        board = _shared.board(store)
        with store.transaction():
            released = board.release(agent_session, label, now=moment)
    if as_json:
        _shared.emit_json({"session": agent_session, "released": released})
    elif released:
        typer.echo("released " + ", ".join(released))
    else:
        short = short_session(agent_session)
        typer.echo(f"session {short} holds no active claim on {label}" if label else
                   f"session {short} holds no active claims", err=True)
    return 0 if released else 1


def _listing(rows: list[dict[str, Any]], board: Board, empty: str, moment: float, offset: int | None,
             as_json: bool) -> None:
    if as_json:
        _shared.emit_json(rows)
        return
    lines = [claims_table(rows, moment, offset)] if rows else [empty]
    if board.outage is not None:
        lines.append(f"{board_facts.STALE_NOTE}: {board.outage}")
    typer.echo("\n".join(lines))


def list_command(*, mine: bool, all_sessions: bool, session: str | None, db: str | None, as_json: bool,
                 now: str | None) -> int:
    if mine and all_sessions:
        raise UsageError("--mine and --all exclude each other", hint="policy list --mine, or policy list")
    viewer = _shared.agent_session(session, required=mine, terminal=True)
    moment, offset = _clock(now)
    with _shared.open_store(db) as store:
        board = _shared.board(store)
        rows = board.active(now=moment, session=viewer if mine else None, viewer=viewer)
    _listing(rows, board, f"session {short_session(viewer)} holds no active claims" if mine else "no active claims",
             moment, offset, as_json)
    return 0


def peek_command(label: str, *, session: str | None, db: str | None, as_json: bool, now: str | None) -> int:
    label = _label_ok(label)
    viewer = _shared.agent_session(session, required=False, terminal=True)
    moment, offset = _clock(now)
    with _shared.open_store(db) as store:
        board = _shared.board(store)
        rows = board.active(now=moment, labels=[label], viewer=viewer)
    _listing(rows, board, f"no active claim on {label}", moment, offset, as_json)
    return 0


def status_section(store: Store, now: float, utc_offset: int | None) -> tuple[str, dict[str, Any]]:
    """The claims part of `policy status`: every active claim, this session's marked `(you)`; on a shared board,
    every row says whose (user@host), and a stale board says so."""
    viewer = _shared.agent_session(None, required=False, terminal=True)
    board = _shared.board(store)
    rows = board.active(now=now, viewer=viewer)
    data: dict[str, Any] = {"claims": rows}
    if board.outage is not None:
        data["claims_stale"] = board.outage
    lines = [f"Claims: {len(rows)} active" + (f" ({sum(1 for row in rows if row['mine'])} yours)" if viewer and rows
                                              else "") if rows else "Claims: none active"]
    for row in rows:
        line = board_facts.describe_claim(row, now, utc_offset)
        if board.shared and not row["mine"] and board_facts.who(row) and f"({board_facts.who(row)})" not in line:
            line += f" [{board_facts.who(row)}]"
        lines.append("  " + line)
    if board.outage is not None:
        lines.append(f"  {board_facts.STALE_NOTE}: {board.outage}")
    return "\n".join(lines), data


# ---- typer -------------------------------------------------------------------------------------------------------

def register(app: typer.Typer) -> None:
    session_option = typer.Option(None, "--session", help=_shared.CLAIM_SESSION_OPTION_HELP)
    db_option = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP)
    json_option = typer.Option(False, "--json", help=JSON_OPTION_HELP)
    now_option = typer.Option(None, "--now", help=NOW_OPTION_HELP)

    @app.command("claim")
    def claim(
        label: str = typer.Argument(..., help="The resource: <type>:<name>, e.g. stack:billing, node:k8s-node1."),
        purpose: str = typer.Option(..., "--purpose", help="What you are doing and why; other sessions see it."),
        ttl: str = typer.Option(None, "--ttl", help="Seconds (or 15m, 1h) the claim lives after each heartbeat "
                                                   "(default: 15m)."),
        session: str = session_option, db: str = db_option, as_json: bool = json_option, now: str = now_option,
    ) -> None:
        """Claim a shared resource you are about to mutate; exit 1 when others hold it too (then defer to the user).

        Example: policy claim node:k8s-node1 --purpose "GPU driver upgrade"
        """
        raise typer.Exit(claim_command(label, purpose, ttl=ttl, session=session, db=db, as_json=as_json, now=now))

    @app.command("heartbeat")
    def heartbeat(session: str = session_option, db: str = db_option, as_json: bool = json_option,
                  now: str = now_option) -> None:
        """Keep your session's active claims alive: each expires its ttl from now.

        Example: policy heartbeat --session 8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f
        """
        raise typer.Exit(heartbeat_command(session=session, db=db, as_json=as_json, now=now))

    @app.command("release")
    def release(
        label: str = typer.Argument(None, help="The label to release."),
        all_mine: bool = typer.Option(False, "--all-mine", help="Release every claim of your session."),
        session: str = session_option, db: str = db_option, as_json: bool = json_option, now: str = now_option,
    ) -> None:
        """Release one of your session's claims, or all of them; exit 1 when there was none to release.

        Example: policy release stack:billing
        """
        raise typer.Exit(release_command(label, all_mine=all_mine, session=session, db=db, as_json=as_json,
                                         now=now))

    @app.command("list")
    def list_claims(
        mine: bool = typer.Option(False, "--mine", help="Only your session's claims."),
        all_sessions: bool = typer.Option(False, "--all", help="Every session's claims (the default)."),
        session: str = session_option, db: str = db_option, as_json: bool = json_option, now: str = now_option,
    ) -> None:
        """List the active claims (the presence board); yours are marked (you).

        Example: policy list --mine
        """
        raise typer.Exit(list_command(mine=mine, all_sessions=all_sessions, session=session, db=db,
                                      as_json=as_json, now=now))

    @app.command("peek")
    def peek(
        label: str = typer.Argument(..., help="The resource label, e.g. stack:billing."),
        session: str = session_option, db: str = db_option, as_json: bool = json_option, now: str = now_option,
    ) -> None:
        """Show every active claim on one resource before you touch it.

        Example: policy peek stack:billing
        """
        raise typer.Exit(peek_command(label, session=session, db=db, as_json=as_json, now=now))
