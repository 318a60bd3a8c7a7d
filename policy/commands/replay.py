"""`policy replay`: run a candidate rule set over past events and show what would change, so that a rule change
can be reviewed like code (docs/testing.md#replaying-past-events).

The events are the payloads the decision log kept (`log.keep_payload`, redacted of secrets by default) or exported
payloads (`--payloads`: a JSON file, a JSON Lines file such as `policy log --payloads` writes, or a directory of
`*.json`). Each is decided twice by the engine, by the baseline (the configuration here, or `--baseline-rules` /
`--baseline-config`) and by the candidate (`--rules` / `--config`), under the same conditions: at the time the event
happened (time-of-day rules behave as then) and over today's fact store, read-only (the facts of then are gone; both
sides see the same ones, so a difference is the rules' doing). Nothing is applied, logged or slept.

Changes are grouped: newly denied (the candidate denies what the baseline did not), newly allowed (the baseline
denied, asked or deferred; the candidate lets it through), other verdict changes, and per rule: the events each
rule newly matches or no longer matches. `--fail-on new-denies` (or `changes`) makes it a CI check.
"""

from __future__ import annotations

import os

import typer

from policy.commands._shared import DB_OPTION_HELP, emit_json, environ, now
from policy.errors import PolicyError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.model import Decision, RuleSet
    from policy.store import Store

FAIL_ON = ("new-denies", "changes")
GOES_AHEAD = (None, "allow")
EXAMPLES = 3


def load(rules: list[str], config: str | None, cwd: str) -> RuleSet:
    from policy.cache import load_ruleset
    from policy.config import Request

    return load_ruleset(Request(config=os.path.abspath(config) if config else None,
                                rules=tuple(os.path.abspath(path) for path in rules), cwd=cwd, environ=environ()))


def logged_events(store: Store, since: float | None, limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """The logged decisions with a payload (oldest first), how many in the period had none, and how many of those
    replayed were redacted."""
    from policy.store import where

    clause, params = where(("at >= ?", since))
    rows = store.rows(f"SELECT id, at, host, event, verdict, payload, payload_form FROM decisions{clause} "
                      "ORDER BY at DESC, id DESC LIMIT ?", [*params, limit])
    kept = [row for row in reversed(rows) if row["payload"]]
    redacted = sum(1 for row in kept if row["payload_form"] == "redacted")
    return kept, len(rows) - len(kept), redacted


def exported_events(path: str, agent: str) -> list[dict[str, Any]]:
    """Payloads from a file (one JSON object, or JSON Lines) or a directory of *.json files."""
    from policy.lean import json_dumps, json_loads

    if os.path.isdir(path):
        files = sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json"))
    elif os.path.isfile(path):
        files = [path]
    else:
        raise UsageError(f"--payloads {path}: no such file or directory")
    events = []
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        try:
            items = [json_loads(text)]
        except ValueError:
            try:
                items = [json_loads(line) for line in text.splitlines() if line.strip()]
            except ValueError as error:
                raise UsageError(f"{file}: neither a JSON payload nor JSON Lines of payloads: {error}") from None
        for item in items:
            events.append({"id": None, "at": None, "host": agent, "event": None, "verdict": None,
                           "payload": json_dumps(item), "payload_form": None, "source": file})
    return events


def decide(ruleset: RuleSet, raw: bytes, host: str, at: float, store: Store) -> tuple[Any, Decision]:
    from policy.adapters import get_adapter
    from policy.engine import evaluate
    from policy.facts import FactContext, Facts

    event = get_adapter(host).parse(raw)
    facts = Facts(FactContext(store, event, at, ruleset.settings))
    return event, evaluate(ruleset, event, facts, at)


def describe_event(event: Any) -> str:
    from policy.report import printable

    what = ""
    tool_input = event.tool_input or {}
    for key in ("file_path", "command", "path", "pattern", "url"):
        if isinstance(tool_input.get(key), str):
            what = tool_input[key]
            break
    if event.prompt is not None:
        what = event.prompt
    what = " ".join(what.split())
    what = what if len(what) <= 50 else what[:49] + "…"
    return printable(f"{event.name}{' ' + event.tool if event.tool else ''}{': ' + what if what else ''}")


def replay(*, rules: list[str], config: str | None, baseline_rules: list[str], baseline_config: str | None,
           payloads: str | None, agent: str, since: str | None, limit: int, fail_on: str | None, as_json: bool,
           db: str | None) -> int:
    from policy.commands._shared import db_path
    from policy.errors import ValidationFailed
    from policy.store import Store
    from policy.times import format_local, parse_duration

    if not rules and not config:
        raise UsageError("no candidate rules", hint="policy replay --rules rules/ (or --config FILE)")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be {' or '.join(FAIL_ON)}, not {fail_on!r}")
    from policy.commands.explain import check_agent

    check_agent(agent)
    cwd = os.getcwd()
    try:
        candidate = load(rules, config, cwd)
    except ValidationFailed as error:
        raise PolicyError(f"the candidate rules do not load: {error.one_line()}", code="invalid",
                          hint="`policy validate` on them shows every error") from None
    baseline = load(baseline_rules, baseline_config, cwd)
    start = now() - parse_duration(since, what="--since") if since else None
    with Store.open(db_path(db)) as store:
        if payloads is not None:
            events, without, redacted = exported_events(payloads, agent), 0, 0
            source = payloads
        else:
            events, without, redacted = logged_events(store, start, limit)
            source = "the decision log" + (f", last {since}" if since else "")
        store.begin_read()
        try:
            results = [compare(row, baseline, candidate, store) for row in events]
        finally:
            store.rollback()
    summary = summarize(results)
    failed = (fail_on == "new-denies" and bool(summary["newly_denied"])) or \
        (fail_on == "changes" and any(summary[key] for key in ("newly_denied", "newly_allowed", "other_changes")))
    if as_json:
        emit_json({"source": source, "replayed": len(results), "without_payload": without, "redacted": redacted,
                   "baseline": baseline.digest, "candidate": candidate.digest, **summary, "failed": failed})
        return 1 if failed else 0
    lines = [f"replayed {len(results)} event{'s' * (len(results) != 1)} from {source}"
             + (f" ({without} without a payload skipped; log.keep_payload keeps them)" if without else "")
             + (f"; {redacted} with secrets redacted (a rule matching a secret sees [REDACTED])" if redacted else "")]
    for key, title in (("newly_denied", "newly denied"), ("newly_allowed", "newly allowed"),
                       ("other_changes", "other verdict changes"), ("errors", "errors")):
        changed = summary[key]
        lines.append(f"{title}: {len(changed)}")
        for item in changed[:EXAMPLES]:
            when = format_local(item["at"], seconds=True) + "  " if item["at"] is not None else ""
            lines.append(f"  {when}{item['event']}  {item['before']} -> {item['after']}"
                         + (f"  ({', '.join(item['rules'])})" if item["rules"] else "")
                         + (f"  {item['error']}" if item.get("error") else ""))
        if len(changed) > EXAMPLES:
            lines.append(f"  … and {len(changed) - EXAMPLES} more (--json lists them all)")
    if summary["rules"]:
        from policy import report

        lines.append("per rule:")
        lines.append(report.table(["rule", "newly matches", "no longer matches", "e.g."],
                                  [[rule, counts["gained"], counts["lost"], counts["example"]]
                                   for rule, counts in summary["rules"].items()], align="lrrl"))
    if not results:
        lines.append("nothing to replay: " + ("no payloads there" if payloads is not None else
                                              "no logged decision kept its payload (log.keep_payload)"))
    typer.echo("\n".join(lines))
    if failed:
        denies = len(summary["newly_denied"])
        changes = denies + len(summary["newly_allowed"]) + len(summary["other_changes"])
        what = f"{denies} new den{'y' if denies == 1 else 'ies'}" if fail_on == "new-denies" else \
            f"{changes} verdict change{'s' * (changes != 1)}"
        typer.echo(f"policy: replay: {what} (--fail-on {fail_on})", err=True)
    return 1 if failed else 0


def compare(row: dict[str, Any], baseline: RuleSet, candidate: RuleSet, store: Store) -> dict[str, Any]:
    raw = str(row["payload"]).encode()
    at = row["at"] if row["at"] is not None else now()
    try:
        event, before = decide(baseline, raw, row["host"], at, store)
        _, after = decide(candidate, raw, row["host"], at, store)
    except PolicyError as error:
        return {"id": row["id"], "at": row["at"], "event": row["event"] or "?", "error": error.one_line(),
                "before": "?", "after": "?", "rules": [], "gained": [], "lost": []}
    before_rules, after_rules = set(before.rule_ids), set(after.rule_ids)
    return {"id": row["id"], "at": row["at"], "event": describe_event(event), "error": None,
            "before": before.verdict or "none", "after": after.verdict or "none",
            "rules": [rule for rule in after.rule_ids if after.verdict and rule in decided_by(after)]
            or [rule for rule in before.rule_ids if rule in decided_by(before)],
            "gained": sorted(after_rules - before_rules), "lost": sorted(before_rules - after_rules)}


def decided_by(decision: Decision) -> set[str]:
    return {f"{hit.pack}/{hit.rule_id}" for hit in decision.hits if hit.decision == decision.verdict}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"newly_denied": [], "newly_allowed": [], "other_changes": [], "errors": [],
                               "rules": {}}
    for item in results:
        if item["error"]:
            summary["errors"].append(item)
            continue
        before, after = item["before"], item["after"]
        if after == "deny" and before != "deny":
            summary["newly_denied"].append(item)
        elif before not in ("none", "allow") and after in ("none", "allow"):
            summary["newly_allowed"].append(item)
        elif before != after:
            summary["other_changes"].append(item)
        for key in ("gained", "lost"):
            for rule in item[key]:
                counts = summary["rules"].setdefault(rule, {"gained": 0, "lost": 0, "example": item["event"]})
                counts[key] += 1
    summary["rules"] = dict(sorted(summary["rules"].items()))
    return summary


def register(app: typer.Typer) -> None:
    from policy.commands.explain import agent_names

    @app.command("replay")
    def replay_command(
        rules: list[str] = typer.Option(None, "--rules", metavar="PATH", help="The candidate rule files or "
                                                                               "directories (repeatable)."),
        config: str = typer.Option(None, "--config", metavar="FILE", help="The candidate config file."),
        baseline_rules: list[str] = typer.Option(None, "--baseline-rules", metavar="PATH",
                                                 help="Compare with these rule files instead of the configuration "
                                                      "here (repeatable)."),
        baseline_config: str = typer.Option(None, "--baseline-config", metavar="FILE",
                                            help="Compare with this config file instead of the configuration here."),
        payloads: str = typer.Option(None, "--payloads", metavar="PATH",
                                     help="Exported payloads instead of the decision log: a JSON file, JSON Lines "
                                          "(`policy log --payloads`) or a directory of *.json."),
        agent: str = typer.Option("claude-code", "--agent", metavar="AGENT",
                                  help="The host of exported payloads: " + ", ".join(agent_names()) + "."),
        since: str = typer.Option(None, "--since", help="Only decisions of the last 10m, 1h, 7d ..."),
        limit: int = typer.Option(10000, "--limit", min=1, help="At most this many logged decisions (the newest)."),
        fail_on: str = typer.Option(None, "--fail-on", metavar="WHAT", help="Exit 1 on new-denies (the candidate "
                                                                            "denies something new) or on any "
                                                                            "verdict changes."),
        as_json: bool = typer.Option(False, "--json", help="Print every change as JSON."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
    ) -> None:
        """Replay past events through candidate rules and show what would change: newly denied, newly allowed, per rule.

        Example: policy replay --rules .policy/rules --since 7d --fail-on new-denies
        """
        raise typer.Exit(replay(rules=list(rules or []), config=config, baseline_rules=list(baseline_rules or []),
                                baseline_config=baseline_config, payloads=payloads, agent=agent, since=since,
                                limit=limit, fail_on=fail_on, as_json=as_json, db=db))
