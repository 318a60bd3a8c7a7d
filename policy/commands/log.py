"""`policy log`: the decision log — what `policy eval` decided, when, for which agent session, and why."""

from __future__ import annotations

import typer

from policy.commands._shared import DB_OPTION_HELP, emit_json, now, open_store
from policy.facts.agent import short_session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

VERDICTS = ("deny", "defer", "ask", "allow", "none")


def query_log(store: Store, *, since: float | None = None, verdict: str | None = None, session: str | None = None,
              event: str | None = None, limit: int = 50, project: str | None = None) -> list[dict[str, Any]]:
    """The newest decisions first, filtered; rule_ids/packs/effects decoded from JSON."""
    from policy.facts.agent import project_terms
    from policy.lean import json_loads
    from policy.store import where

    clause, params = where(("at >= ?", since), ("verdict IS NULL", True if verdict == "none" else None),
                           ("verdict = ?", None if verdict == "none" else verdict), ("agent_session = ?", session),
                           ("event = ?", event), project_terms(project))
    rows = store.rows(
        f"SELECT id, at, host, event, agent_session, tool, verdict, rule_ids, reason, delay, packs, ruleset, "
        f"latency_ms, effects, error, payload FROM decisions{clause} ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit])
    for row in rows:
        row["verdict"] = row["verdict"] or "none"
        for key in ("rule_ids", "packs", "effects"):
            row[key] = json_loads(row[key]) if row[key] else ([] if key != "packs" else {})
    return rows


def logged_session(store: Store, given: str) -> str:
    """The agent session of the log that `given` names: its id, or the start of it (the short id tables show).
    A prefix of several is a usage error; of none, the id as given (the log has nothing for it)."""
    pattern = given.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = [row["agent_session"] for row in store.rows(
        "SELECT DISTINCT agent_session FROM decisions WHERE agent_session LIKE ? ESCAPE '\\' LIMIT 6", [pattern])]
    if given in found or len(found) != 1:
        if len(found) > 1 and given not in found:
            from policy.errors import UsageError

            raise UsageError(f"{given!r} matches {len(found)} agent sessions in the log: "
                             + ", ".join(found[:5]) + (", …" if len(found) > 5 else ""), hint="give more of the id")
        return given
    return str(found[0])


def show_log(*, since: str | None = None, verdict: str | None = None, session: str | None = None,
             event: str | None = None, limit: int = 50, as_json: bool = False, db: str | None = None,
             payloads: bool = False, project: str | None = None) -> int:
    from policy import report
    from policy.errors import UsageError
    from policy.times import format_local, parse_duration

    if verdict is not None and verdict not in VERDICTS:
        raise UsageError(f"--verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if event is not None:
        from policy.errors import did_you_mean
        from policy.model import EVENTS

        if event not in EVENTS:
            raise UsageError(f"unknown event {event!r}", hint=did_you_mean(event, EVENTS)
                             or "events: " + ", ".join(EVENTS))
    start = now() - parse_duration(since, what="--since") if since else None
    with open_store(db) as store:
        if session is not None:
            session = logged_session(store, session)
        rows = query_log(store, since=start, verdict=verdict, session=session, event=event, limit=limit,
                         project=project)
    if payloads:  # JSON Lines, oldest first: what `policy replay --payloads` reads
        from policy.lean import json_dumps, json_loads

        for row in reversed(rows):
            if row["payload"]:
                try:  # one line each (a payload is kept as it came, which may span lines)
                    typer.echo(json_dumps(json_loads(row["payload"])))
                except ValueError:
                    typer.echo(" ".join(row["payload"].split()))
        return 0
    for row in rows:
        row.pop("payload")
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        typer.echo("no decisions" + (f" in the last {since}" if since else ""))
        return 0
    headers = ["time", "event", "session", "tool", "verdict", "rules", "delay", "reason"]
    table_rows = []
    for row in rows:
        table_rows.append([format_local(row["at"], seconds=True)[5:], row["event"], short_session(row["agent_session"]),
                           row["tool"] or "-", row["verdict"], ", ".join(row["rule_ids"]) or "-",
                           f"{row['delay']:g}s" if row["delay"] else "",
                           " ".join((row["reason"] or row["error"] or "").split())])
    # The reason (last) gets what is left of 80 columns, at least 20 characters (the table escapes control
    # characters; `--json` has every reason whole).
    used = sum(max(len(str(cells[index])) for cells in [headers, *table_rows]) + 2 for index in range(7))
    room = max(20, 80 - used)
    for cells in table_rows:
        cells[7] = cells[7] if len(cells[7]) <= room else cells[7][:room - 1] + "…"
    typer.echo(report.table(headers, table_rows))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("log")
    def log_command(since: str = typer.Option(None, "--since", help="Only the last 10m, 1h, 2d ..."),
                    verdict: str = typer.Option(None, "--verdict", help="deny, defer, ask, allow or none."),
                    session: str = typer.Option(None, "--session", help="Only this agent session: its id or the "
                                                                        "short id the tables show."),
                    project: str = typer.Option(None, "--project", metavar="DIR",
                                                help="Only agent sessions that worked in DIR or below."),
                    event: str = typer.Option(None, "--event", help="Only this event, e.g. PreToolUse."),
                    limit: int = typer.Option(50, "--limit", min=1, help="At most this many (newest first)."),
                    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
                    payloads: bool = typer.Option(False, "--payloads", help="Print the kept payloads as JSON Lines, "
                                                                            "oldest first (for `policy replay "
                                                                            "--payloads`)."),
                    db: str = typer.Option(None, "--db", help=DB_OPTION_HELP)) -> None:
        """Show the decision log, newest first.

        Example: policy log --since 1h --verdict deny
        """
        raise typer.Exit(show_log(since=since, verdict=verdict, session=session, event=event, limit=limit,
                                  as_json=as_json, db=db, payloads=payloads, project=project))
