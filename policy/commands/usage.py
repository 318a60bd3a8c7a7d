"""`policy usage record | status | refresh`: the usage windows, how they compare with the clock, and the sources
that feed them. `status_section` is this command's part of `policy status`."""

from __future__ import annotations

import typer

from policy.commands._shared import DB_OPTION_HELP
from policy.errors import UsageError
from policy.times import format_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.facts.usage import Reading
    from policy.model import RuleSet, Settings, SourceSpec
    from policy.sources import Outcome
    from policy.store import Store


def _when(at: float | None, *, now: float, utc_offset: int | None) -> str:
    """A clock time, with the date when it is not within the next or last 24 hours."""
    from policy.times import format_clock, format_local

    if at is not None and abs(at - now) >= 86400:
        return format_local(at, utc_offset=utc_offset)
    return format_clock(at, utc_offset=utc_offset)


def _ruleset() -> RuleSet | None:
    from policy.commands._shared import effective_ruleset
    from policy.errors import ValidationFailed

    try:
        return effective_ruleset()
    except ValidationFailed:
        return None


def _pacing(ruleset: RuleSet | None) -> tuple[dict[str, Any], str]:
    """The pacing pack's params here, and a note when its rules would not run."""
    import os

    from policy.commands._shared import pack_params
    from policy.hook import pack_switched_off

    if ruleset is not None and any(pack.name == "pacing" for pack in ruleset.packs):
        params, note = dict(ruleset.pack("pacing").params), ""
    else:
        params, note = pack_params("pacing"), "the pacing pack is not enabled here"
    if pack_switched_off("pacing", os.environ):
        note = "POLICY_PACING=off"
    return params, note


def pacing_delay(reading: Reading, params: dict[str, Any], settings: Settings | None = None) -> float:
    """The delay the pacing pack's curve gives for this reading (0 when it is unavailable or on pace), capped by
    the config's max_delay as the engine caps it."""
    from policy.conditions import curve

    if not reading.available or reading.excess is None or (reading.stale and not params.get("pace_on_stale")):
        return 0.0
    delay = curve(str(params["curve"]), reading.excess, params["threshold"], params["max_delay"], params["span"])
    return delay if settings is None else min(delay, settings.max_delay)


def render_reading(reading: Reading, *, now: float, utc_offset: int | None, delay: float | None = None,
                   params: dict[str, Any] | None = None, note: str = "") -> list[str]:
    """A window's usage against its pace, as text lines with bars."""
    from policy.report import bar

    if reading.observed_at is None:
        return [f"{reading.window}: no usage recorded (policy usage record --utilization PCT, or a usage source)"]
    seen = f"observed {_when(reading.observed_at, now=now, utc_offset=utc_offset)} ({format_duration(reading.age)} ago) " \
           f"from {reading.source}"
    if not reading.available:
        return [f"{reading.window}: the window reset at {_when(reading.resets_at, now=now, utc_offset=utc_offset)}"
                f"; no sample since ({seen})"]
    resets = f"resets {_when(reading.resets_at, now=now, utc_offset=utc_offset)} (in " \
             f"{format_duration(reading.resets_at - now)})" if reading.resets_at is not None else "reset time unknown"
    lines = [f"{reading.window}: {resets}; {seen}" + ("  STALE" if reading.stale else "")]
    assert reading.utilization is not None
    lines.append(f"  used      {reading.utilization:5.1f}%  {bar(reading.utilization / 100)}")
    if reading.expected_pct is None or reading.excess is None:
        lines.append("  pace      unknown: record a reset time (--resets-at) to compare with the clock")
        return lines
    elapsed = reading.window_seconds - (reading.resets_at - now) if reading.resets_at is not None else 0.0
    lines.append(f"  expected  {reading.expected_pct:5.1f}%  {bar(reading.expected_pct / 100)}  "
                 f"({format_duration(elapsed)} of {format_duration(reading.window_seconds)} elapsed)")
    side = "ahead of" if reading.excess > 0 else "behind" if reading.excess < 0 else "on"
    line = f"  {abs(reading.excess):.1f} points {side} pace" if reading.excess else "  on pace"
    if delay is not None and params is not None:
        line += (f": pacing delays each tool call {delay:.1f}s" if delay > 0 else ": no pacing delay") + \
            f" ({params['curve']} curve, threshold {params['threshold']:g}, max_delay {params['max_delay']:g}s)"
        if note:
            line += f"; {note}"
    lines.append(line)
    return lines


def _source_line(spec: SourceSpec, state: Any, *, now: float, utc_offset: int | None) -> str:
    head = f"  {spec.name} ({spec.kind}, feeds {spec.feeds}): "
    if state is None:
        return head + "never fetched"
    parts = [f"fetched {_when(state.fetched_at, now=now, utc_offset=utc_offset)} ({format_duration(now - state.fetched_at)} ago)"
             if state.fetched_at is not None else "never fetched"]
    if state.failures:
        parts.append(f"{state.failures} failure{'s' * (state.failures != 1)} in a row: {state.last_error}")
    if state.open_until is not None and state.open_until > now:
        parts.append(f"breaker open until {_when(state.open_until, now=now, utc_offset=utc_offset)}")
    return head + "; ".join(parts)


def _usage_sources(ruleset: RuleSet | None) -> list[SourceSpec]:
    return [spec for spec in (ruleset.settings.sources if ruleset else ()) if spec.feeds == "usage"]


def _gather(store: Store, now: float, ruleset: RuleSet | None) -> tuple[Any, dict[str, Any], str, dict[str, Any]]:
    """What the status shows, read once: the settings, the pacing params and note, and every window's reading."""
    from policy.facts.usage import WINDOWS, read_usage

    settings = ruleset.settings if ruleset is not None else None
    params, note = _pacing(ruleset)
    return settings, params, note, {window: read_usage(store, window, now=now, settings=settings)
                                    for window in WINDOWS}


def status_data(store: Store, *, now: float, ruleset: RuleSet | None,
                gathered: tuple[Any, dict[str, Any], str, dict[str, Any]] | None = None) -> dict[str, Any]:
    from policy.lean import asdict
    from policy.sources import load_states

    settings, params, note, readings = gathered or _gather(store, now, ruleset)
    sources = _usage_sources(ruleset)
    states = load_states(store, [spec.name for spec in sources])
    return {
        "windows": {window: asdict(reading) for window, reading in readings.items()},
        "pacing": {"delay": pacing_delay(readings["five_hour"], params, settings),
                   "params": params, "note": note or None},
        "sources": [{"name": spec.name, "kind": spec.kind, "ttl": spec.ttl, "timeout": spec.timeout,
                     **({key: value for key, value in asdict(states[spec.name]).items() if key != "source"}
                        if spec.name in states else {})} for spec in sources],
    }


def status_text(store: Store, *, now: float, utc_offset: int | None, ruleset: RuleSet | None) -> str:
    from policy.sources import load_states

    settings, params, note, readings = _gather(store, now, ruleset)
    lines: list[str] = []
    for window, reading in readings.items():
        if window != "five_hour" and reading.observed_at is None:
            continue
        delay = pacing_delay(reading, params, settings) \
            if window == "five_hour" else None
        lines += render_reading(reading, now=now, utc_offset=utc_offset, delay=delay,
                                params=params if window == "five_hour" else None, note=note)
    sources = _usage_sources(ruleset)
    if sources:
        states = load_states(store, [spec.name for spec in sources])
        lines.append("sources:")
        lines += [_source_line(spec, states.get(spec.name), now=now, utc_offset=utc_offset) for spec in sources]
    return "\n".join(lines)


def status_section(store: Store, now: float, utc_offset: int | None) -> tuple[str, dict[str, Any]]:
    """This command's part of `policy status`: the five-hour window against its pace, with the pacing delay."""
    ruleset = _ruleset()
    gathered = _gather(store, now, ruleset)
    settings, params, note, readings = gathered
    reading = readings["five_hour"]
    text = "\n".join(["usage"] + ["  " + line for line in render_reading(
        reading, now=now, utc_offset=utc_offset, params=params, note=note,
        delay=pacing_delay(reading, params, settings))])
    return text, {"usage": status_data(store, now=now, ruleset=ruleset, gathered=gathered)}


def record(*, utilization: str, resets_at: str | None, window: str, source: str, db: str | None, as_json: bool,
           now: float) -> int:
    from policy.commands._shared import open_store
    from policy.facts.usage import check_resets_at, parse_utilization, record_sample, window_name
    from policy.times import parse_time

    name = window_name(window)
    percent = parse_utilization(utilization)
    if percent > 100:  # (a usage source may report a little over; a person typing 142 meant something else)
        from policy.errors import UsageError

        raise UsageError(f"utilization {utilization!r} is over 100%",
                         hint="the share of the window used, from 0 to 100 (100: the limit is reached)")
    reset = None
    if resets_at:
        reset = parse_time(resets_at, now=now, what="--resets-at")
        text = resets_at.strip()
        if reset <= now and len(text) in (5, 8) and text[2:3] == ":":  # HH:MM already passed today: tomorrow
            reset += 86400
        check_resets_at(reset, now=now, window=name)
    with open_store(db) as store:
        with store.transaction():
            record_sample(store, utilization=percent, resets_at=reset, window=name, source=source, now=now)
        _print_status(store, now=now, as_json=as_json)
    return 0


def status(*, db: str | None, as_json: bool, now: float) -> int:
    from policy.commands._shared import open_store

    with open_store(db) as store:
        _print_status(store, now=now, as_json=as_json)
    return 0


def _print_status(store: Store, *, now: float, as_json: bool) -> None:
    from policy.commands._shared import emit_json

    ruleset = _ruleset()
    if as_json:
        emit_json(status_data(store, now=now, ruleset=ruleset))
    else:
        typer.echo(status_text(store, now=now, utc_offset=None, ruleset=ruleset))


def render_outcome(outcome: Outcome, spec: SourceSpec, *, utc_offset: int | None = None) -> str:
    from policy.times import format_clock

    text = f"{spec.name}: {outcome.status}"
    if outcome.detail:
        text += f": {outcome.detail}"
    if outcome.status in ("ok", "failed"):
        text += f" ({outcome.seconds:.2f}s)"
    if outcome.status == "failed":
        text += f"; {outcome.failures} failure{'s' * (outcome.failures != 1)} in a row"
        if outcome.open_until is not None:
            text += f", breaker open until {format_clock(outcome.open_until, utc_offset=utc_offset)}"
    return text


def refresh(*, names: list[str], db: str | None, as_json: bool, now: float) -> int:
    """Fetch the sources that feed usage (or the named ones) now, whatever their cache and breaker say."""
    from policy.commands._shared import effective_ruleset, emit_json, open_store
    from policy.lean import asdict
    from policy.schema import suggest
    from policy.sources import refresh as run_refresh

    configured = {spec.name: spec for spec in effective_ruleset().settings.sources}
    if names:
        unknown = [name for name in names if name not in configured]
        if unknown:
            raise UsageError(f"no source named {unknown[0]!r}", hint=suggest(unknown[0], set(configured))
                             if configured else "configure sources: in policy.yaml (docs/sources.md)")
        specs = [configured[name] for name in names]
    else:
        specs = [spec for spec in configured.values() if spec.feeds == "usage"]
        if not specs:
            raise UsageError("no source feeds usage", hint="configure one under sources: (docs/sources.md), "
                                                           "or name a source: policy usage refresh --source NAME")
    with open_store(db) as store:
        outcomes = run_refresh(store, specs, now=now, force=True)
    if as_json:
        emit_json([asdict(outcome) for outcome in outcomes])
    else:
        for outcome, spec in zip(outcomes, specs):
            typer.echo(render_outcome(outcome, spec))
    return 1 if any(outcome.status == "failed" for outcome in outcomes) else 0


def register(app: typer.Typer) -> None:
    from policy.commands._shared import now as clock

    usage = typer.Typer(help="The usage windows (5-hour, 7-day): record samples, compare them with the clock, "
                             "refresh their sources.", no_args_is_help=True)
    app.add_typer(usage, name="usage")

    @usage.command("record")
    def record_command(
        utilization: str = typer.Option(..., "--utilization", "-u", help="The percentage used, e.g. 42 or 42%."),
        resets_at: str = typer.Option(None, "--resets-at", help="When the window resets: ISO 8601, HH:MM (local), "
                                                                "or +2h30m (default: the window's known reset "
                                                                "time)."),
        window: str = typer.Option("5h", "--window", help="5h (five_hour) or 7d (seven_day)."),
        source: str = typer.Option("cli", "--source", help="Where the number comes from."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    ) -> None:
        """Record how much of a usage window is used, then show the window against its pace.

        Example: policy usage record --utilization 42 --resets-at 15:30
        """
        raise typer.Exit(record(utilization=utilization, resets_at=resets_at, window=window, source=source, db=db,
                                as_json=as_json, now=clock()))

    @usage.command("status")
    def status_command(
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    ) -> None:
        """Show usage against the expected pace (numbers and bars), the pacing delay it causes, and the sources.

        Example: policy usage status --json
        """
        raise typer.Exit(status(db=db, as_json=as_json, now=clock()))

    @usage.command("refresh")
    def refresh_command(
        names: list[str] = typer.Option(None, "--source", help="Only this source (repeatable; any source, not "
                                                               "only usage ones)."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
    ) -> None:
        """Fetch the configured usage sources now, whatever their cache and circuit breaker say.

        Exit status 1 when a source failed. Example: policy usage refresh --source claude
        """
        raise typer.Exit(refresh(names=list(names or []), db=db, as_json=as_json, now=clock()))
