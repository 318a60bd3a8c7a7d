"""`policy stats` and `policy export`: the tool attempts the activity pack records, counted by tool, agent session or
day with their final verdicts (allowed, blocked, asked), or exported raw as JSON lines or CSV; retention with
`--prune-older-than`. Also `status_section`, the activity part of `policy status`."""

from __future__ import annotations

import typer

from policy.commands._shared import DB_OPTION_HELP, emit_json, now as clock, open_store
from policy.errors import UsageError
from policy.facts.agent import SHORT_ID, resolve_agent_session, short_session
from policy.facts.attempts import ATTEMPT_VERDICTS, prune_attempts
from policy.times import format_clock, format_iso, format_local, parse_duration, parse_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

GROUP_COLUMN = {"tool": "tool", "session": "agent_session", "day": "day"}  # --by → the group's key in the output
BAR_WIDTH = 24
SINCE_HINT = "a duration back from now (30m, 24h, 7d), `today`, a time today (09:00) or an ISO 8601 time"


def parse_since(text: str, *, now: float, utc_offset: int | None = None, what: str = "--since") -> float:
    """A window's start (or, as --until, its end): `24h` (back from now), `today` (local midnight), `09:00`, or an
    ISO 8601 time."""
    value = text.strip()
    if value.lower() == "today":
        return parse_time("00:00", now=now, utc_offset=utc_offset)
    if _is_duration(value):
        try:
            return now - parse_duration(value, what=what)
        except UsageError:
            pass
    try:
        return parse_time(value, now=now, utc_offset=utc_offset, what=what)
    except UsageError:
        raise UsageError(f"{what} {text!r} is not a time", hint=SINCE_HINT) from None


def _is_duration(text: str) -> bool:
    return text[:1].isdigit() and ":" not in text and "-" not in text


def _where(since: float | None, agent_session: str | None, prefix: str = "",
           project: str | None = None) -> tuple[str, list[Any]]:
    from policy.facts.agent import project_terms
    from policy.store import where

    return where((f"{prefix}at >= ?", since), (f"{prefix}agent_session = ?", agent_session),
                 project_terms(project, f"{prefix}agent_session"))


def _counts() -> dict[str, int]:
    return {"total": 0, **{verdict: 0 for verdict in ATTEMPT_VERDICTS}}


def attempt_stats(store: Store, *, since: float, until: float, agent_session: str | None = None, by: str = "tool",
                  utc_offset: int | None = None, project: str | None = None) -> dict[str, Any]:
    """Totals and per-group counts of the attempts in [since, until]. Groups are sorted by total (tool, session)
    or by date (day)."""
    if by == "day":
        key = ("date(a.at, 'unixepoch', 'localtime')" if utc_offset is None else
               f"date(a.at + {int(utc_offset)}, 'unixepoch')")
    else:
        key = {"tool": "a.tool", "session": "a.agent_session"}[by]
    where, values = _where(since, agent_session, "a.", project)
    where += (" AND " if where else " WHERE ") + "a.at <= ?"
    values.append(until)
    task = ", s.task" if by == "session" else ", NULL"
    join = " LEFT JOIN agent_sessions s ON s.agent_session = a.agent_session" if by == "session" else ""
    name = GROUP_COLUMN[by]
    groups: dict[Any, dict[str, Any]] = {}
    totals = _counts()
    for group, task_label, verdict, count in store.execute(
            f"SELECT {key}{task}, a.verdict, count(*) FROM tool_attempts a{join}{where} GROUP BY 1, 2, 3", values):
        entry = groups.setdefault(group, {name: group, **({"task": task_label} if by == "session" else {}),
                                          **_counts()})
        if verdict in ATTEMPT_VERDICTS:
            entry[verdict] += count
            totals[verdict] += count
        entry["total"] += count
        totals["total"] += count
    ordered = sorted(groups.values(), key=(lambda g: g["day"]) if by == "day" else
                     (lambda g: (-g["total"], str(g[name]))))
    return {"since": since, "until": until, "agent_session": agent_session, "by": by, **totals, "groups": ordered}


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def stats_text(stats: dict[str, Any], *, since_label: str | None = None, utc_offset: int | None = None,
               until: bool = False) -> str:
    """The report; with `until`, the window's end is said too (`--until`)."""
    from policy.report import bar, printable, table

    scope = f"agent session {printable(stats['agent_session'])}" if stats["agent_session"] else \
        "all agent sessions"
    label = f" ({since_label})" if since_label else ""
    end = f" until {format_local(stats['until'], utc_offset=utc_offset)}" if until else ""
    head = (f"Tool attempts since {format_local(stats['since'], utc_offset=utc_offset)}{label}{end}, {scope}: "
            f"{stats['total']} total, {stats['allowed']} allowed, {stats['blocked']} blocked, {stats['asked']} asked")
    if not stats["total"]:
        return head + "\n(the activity pack records them: is it loaded? `policy validate` lists what runs)"
    by = stats["by"]
    column = {"tool": "tool", "session": "agent session", "day": "day"}[by]
    largest = max(group["total"] for group in stats["groups"])
    headers = [column] + (["task"] if by == "session" else []) + ["total", "allowed", "blocked", "asked",
                                                                   "blocked %", "attempts"]
    rows = []
    for group in stats["groups"]:
        name = group[GROUP_COLUMN[by]]
        if by == "session" and name is not None:
            name = short_session(name)
        rows.append([name if name is not None else "-"] + ([group["task"] or "-"] if by == "session" else []) + [
            group["total"], group["allowed"], group["blocked"], group["asked"],
            _percent(group["blocked"], group["total"]), bar(group["total"] / largest, BAR_WIDTH)])
    align = "l" + ("l" if by == "session" else "") + "rrrrrl"
    return head + "\n\n" + table(headers, rows, align=align)


def show_stats(*, since: str = "24h", agent_session: str | None = None, by: str = "tool", as_json: bool = False,
               prune_older_than: str | None = None, db: str | None = None, until: str | None = None,
               project: str | None = None) -> int:
    if by not in GROUP_COLUMN:
        raise UsageError(f"--by must be tool, session or day, not {by!r}")
    now = clock()
    start = parse_since(since, now=now)
    end = now if until is None else parse_since(until, now=now, what="--until")
    if end < start:
        raise UsageError(f"--until {until} is before --since {since}",
                         hint="e.g. --since 07:00 --until 07:45")
    pruned = None
    if prune_older_than is not None:
        age = parse_duration(prune_older_than, what="--prune-older-than")
    with open_store(db) as store:
        if agent_session is not None:
            agent_session = resolve_agent_session(store, agent_session)
        if prune_older_than is not None:
            with store.transaction():
                pruned = prune_attempts(store, before=now - age)
            typer.echo(f"pruned {pruned} tool attempt{'s' * (pruned != 1)} older than {prune_older_than} "
                       f"(before {format_local(now - age)})", err=True)
        stats = attempt_stats(store, since=start, until=end, agent_session=agent_session, by=by, project=project)
    if as_json:
        data = dict(stats, since=format_iso(stats["since"]), until=format_iso(stats["until"]))
        if pruned is not None:
            data["pruned"] = pruned
        emit_json(data)
    else:
        text = since.strip()
        label = f"last {text}" if _is_duration(text) else "today" if text.lower() == "today" else None
        typer.echo(stats_text(stats, since_label=label, until=until is not None))
    return 0


# ---- export -----------------------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("at", "agent_session", "tool", "verdict", "rules", "extra")


def attempt_rows(store: Store, *, since: float | None, agent_session: str | None = None,
                 utc_offset: int | None = None) -> Any:
    """The attempts in time order, as export records (times in ISO 8601, rules a list, extra a mapping)."""
    from policy.lean import json_loads

    where, values = _where(since, agent_session)
    for at, session, tool, verdict, rule_ids, extra in store.execute(
            f"SELECT at, agent_session, tool, verdict, rule_ids, extra FROM tool_attempts{where} ORDER BY at, id",
            values):
        yield {"at": format_iso(at, utc_offset=utc_offset), "agent_session": session, "tool": tool,
               "verdict": verdict, "rules": json_loads(rule_ids) if rule_ids else [],
               "extra": json_loads(extra) if extra else {}}


def export_attempts(*, since: str | None = None, agent_session: str | None = None, output_format: str = "jsonl",
                    db: str | None = None) -> int:
    import csv
    import sys

    from policy.lean import json_dumps

    if output_format not in ("jsonl", "csv"):
        raise UsageError(f"--format must be jsonl or csv, not {output_format!r}")
    start = parse_since(since, now=clock()) if since else None
    with open_store(db) as store:
        if agent_session is not None:
            agent_session = resolve_agent_session(store, agent_session)
        rows = attempt_rows(store, since=start, agent_session=agent_session)
        if output_format == "jsonl":
            for row in rows:
                sys.stdout.write(json_dumps(row) + "\n")
        else:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                writer.writerow([row["at"], row["agent_session"], row["tool"], row["verdict"], " ".join(row["rules"]),
                                 json_dumps(row["extra"]) if row["extra"] else ""])
    sys.stdout.flush()
    return 0


# ---- policy status ----------------------------------------------------------------------------------------------

STATUS_WINDOW = 3600.0
STATUS_DENIALS = 5
STATUS_DENIAL_WINDOW = 86400.0
STATUS_REASON_WIDTH = 90


def status_section(store: Store, now: float, utc_offset: int | None = None) -> tuple[str, dict[str, Any]]:
    """The activity lines of `policy status`: the last hour's tool attempts, and the latest denials (any event,
    any pack) of the last day with their reasons (the first line of each)."""
    stats = attempt_stats(store, since=now - STATUS_WINDOW, until=now, utc_offset=utc_offset)
    lines = [f"Tool attempts (last hour): {stats['total']} ({stats['allowed']} allowed, {stats['blocked']} blocked, "
             f"{stats['asked']} asked)"]
    if stats["groups"]:
        lines[0] += "; most: " + ", ".join(f"{group['tool'] or '-'} {group['total']}" for group in stats["groups"][:3])
    denials = store.execute(
        "SELECT at, event, tool, agent_session, reason FROM decisions WHERE at >= ? AND verdict = 'deny' "
        "ORDER BY at DESC LIMIT ?", (now - STATUS_DENIAL_WINDOW, STATUS_DENIALS)).fetchall()
    data = {"attempts_last_hour": {key: stats[key] for key in ("total", "allowed", "blocked", "asked")},
            "recent_denials": [{"at": at, "event": event, "tool": tool, "agent_session": session,
                                "reason": reason} for at, event, tool, session, reason in denials]}
    if not denials:
        lines.append("Recent denials: none in the last day")
        return "\n".join(lines), data
    lines.append("Recent denials:")
    for at, event, tool, session, reason in denials:
        text = (reason or "").strip().split("\n")[0]
        if len(text) > STATUS_REASON_WIDTH:
            text = text[:STATUS_REASON_WIDTH - 1] + "…"
        lines.append(f"  {format_clock(at, utc_offset=utc_offset)}  {tool or event:<10} "
                     f"{short_session(session):<{SHORT_ID}}  {text}")
    return "\n".join(lines), data


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats_command(
        since: str = typer.Option("24h", "--since", help="Since when: " + SINCE_HINT + "."),
        until: str = typer.Option(None, "--until", help="Until when (default: now), written as --since is."),
        session: str = typer.Option(None, "--session",
                                    help="Only this agent session: its id or a unique prefix (default: all)."),
        by: str = typer.Option("tool", "--by", help="Group by tool, session or day."),
        project: str = typer.Option(None, "--project", metavar="DIR",
                                    help="Only agent sessions that worked in DIR or below."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
        prune_older_than: str = typer.Option(None, "--prune-older-than", metavar="AGE",
                                             help="First delete the attempts older than AGE (e.g. 30d)."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
    ) -> None:
        """Count the tool attempts agents made, with their final verdicts (allowed, blocked, asked).

        Example: policy stats --since 1h --by tool; a workout: policy stats --since 07:00 --until 07:45
        """
        raise typer.Exit(show_stats(since=since, agent_session=session, by=by, as_json=as_json,
                                    prune_older_than=prune_older_than, db=db, until=until, project=project))

    @app.command("export")
    def export_command(
        since: str = typer.Option(None, "--since", help="Since when (default: everything): " + SINCE_HINT + "."),
        session: str = typer.Option(None, "--session",
                                    help="Only this agent session: its id or a unique prefix (default: all)."),
        output_format: str = typer.Option("jsonl", "--format", help="jsonl (one JSON object per line) or csv."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
    ) -> None:
        """Print the raw tool attempts, oldest first: time, agent session, tool, verdict, rules, extra values.

        Example: policy export --since 7d --format csv > attempts.csv
        """
        raise typer.Exit(export_attempts(since=since, agent_session=session, output_format=output_format, db=db))
