"""Reporters: turning results into text for people (tables, bars, pytest-like summaries), JSON for machines and
JUnit XML for CI. They return strings; the CLI prints them."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from policy.hook import Outcome
    from policy.model import Decision
    from policy.tester import Report, Result

_MARKS = {"passed": ".", "failed": "F", "error": "E", "skipped": "s"}


# ---- generic text helpers -------------------------------------------------------------------------------------

def bar(fraction: float, width: int = 20, *, fill: str = "█", empty: str = "░") -> str:
    """A horizontal bar: `fraction` (0..1) of `width` cells filled."""
    fraction = min(1.0, max(0.0, fraction))
    filled = int(round(fraction * width))
    return fill * filled + empty * (width - filled)


# Characters that must not reach a terminal raw from an event's text: C0 and C1 controls (a CR or LF forges table
# rows, an escape sequence rewrites the screen), DEL, and the bidirectional overrides that reorder what is shown.
_UNPRINTABLE = frozenset([*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xa0)),
                          *"\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"])
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


_COLORS = {"ok": "32", "warn": "33", "fail": "31"}  # green, yellow, red


def colors_on(stream: Any) -> bool:
    """Whether to color what goes to `stream`: a terminal, unless NO_COLOR is set (no-color.org) or TERM=dumb."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, status: str, on: bool) -> str:
    """`text` in the color of `status` (ok, warn, fail) when `on`."""
    return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if on and status in _COLORS else text


def printable(text: str) -> str:
    """`text` with every control character (and bidi override) written as an escape: `\\n`, `\\x1b`, `\\u202e`."""
    if not any(char in _UNPRINTABLE for char in text):
        return text
    return "".join((_ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"))
                   if char in _UNPRINTABLE else char for char in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> str:
    """A plain-text table; `align` has one letter per column, `l` or `r` (default: left). Control characters in
    cells are escaped (`printable`): cells hold event text, and a raw newline would forge rows."""
    cells = [[printable(str(header)) for header in headers]] + [
        ["" if cell is None else printable(str(cell)) for cell in row] for row in rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        parts = []
        for index, cell in enumerate(row):
            right = index < len(align) and align[index] == "r"
            parts.append(cell.rjust(widths[index]) if right else cell.ljust(widths[index]))
        lines.append("  ".join(parts).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


# ---- policy eval: --format json, --explain, --dry-run --------------------------------------------------------------

def eval_json(outcome: Outcome, *, dry_run: bool, explain: bool) -> dict[str, Any]:
    """The `policy eval --format json` report: the event, the decision, the host output, effects and trace."""
    from policy.effects import describe
    from policy.lean import asdict

    decision = outcome.decision
    return {
        "event": outcome.event.name if outcome.event else None,
        "verdict": decision.verdict if decision else None,
        "reason": decision.reason if decision else None,
        "context": decision.context if decision else None,
        "message": decision.message if decision else None,
        "stop": decision.stop if decision else None,
        "updated_input": decision.updated_input if decision else None,
        "updated_output": decision.updated_output if decision else None,
        "delay": decision.delay if decision else 0.0,
        "rules": list(decision.rule_ids) if decision else [],
        "output": {"stdout": outcome.output.stdout, "stderr": outcome.output.stderr,
                   "exit_code": outcome.output.exit_code},
        "effects": [describe(effect) for effect in decision.effects] if decision else [],
        "applied": list(outcome.effects),
        "dry_run": dry_run,
        "error": {"code": outcome.error.code, "message": outcome.error.message, "hint": outcome.error.hint}
        if outcome.error else None,
        "trace": [asdict(step) for step in decision.trace] if decision and explain else [],
    }


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _brief(value: Any, limit: int = 40) -> str:
    """A value as the explanation shows it: its repr, one line, cut at `limit` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _detail(step: Any) -> str:
    """What decided a rule, without the whitespace of its YAML, cut to a line."""
    detail = " ".join(step.detail.split())
    if step.outcome == "when" and detail.startswith("when `"):
        source, _, rest = detail[6:].rpartition("` is ")
        detail = f"when `{_short(source, 60)}` is {rest}"
    return _short(detail, 110)


def explain_text(decision: Decision | None, *, locations: bool = False) -> str:
    """The explanation of a decision (`policy explain`, and `policy eval --explain` on stderr): the verdict and
    why, then the rules of the event: those that matched, those whose `match`/`when` did not hold (with the values
    they read, each cut short), those skipped (an earlier `final`, disabled, capped), and in one line those for
    other tools."""
    if decision is None:
        return ""
    from policy.lean import json_dumps

    lines = [f"explain: {decision.event_name}: verdict {decision.verdict or 'none'}"
             + (f", delay {decision.delay:g}s" if decision.delay else "")]
    if decision.reason:
        lines.append(f"  reason: {_short(' '.join(decision.reason.split()), 200)}")
    if decision.stop:
        lines.append(f"  stop: {' '.join(decision.stop.split())} (stronger than the verdict)")
    if decision.updated_input is not None:
        lines.append(f"  tool input rewritten to {_short(json_dumps(decision.updated_input))}")
    elif any(hit.update_input is not None for hit in decision.hits):
        lines.append("  tool input not rewritten: " + ("the agent is stopped" if decision.stop else
                                                         f"the verdict {decision.verdict or 'none'} does not let the "
                                                         "call go ahead"))
    if decision.updated_output is not None:
        lines.append(f"  tool output replaced by {_short(json_dumps(decision.updated_output))}")
    groups: dict[str, list[str]] = {"matched": [], "not matched": [], "skipped": []}
    other_tools: list[str] = []
    for step in decision.trace:
        name = f"{step.pack}/{step.rule_id}"
        if step.outcome == "tools":
            other_tools.append(name)
            continue
        values = ", ".join(f"{key} = {_brief(value)}" for key, value in step.values[:4]) \
            + (", …" if len(step.values) > 4 else "")
        if locations and step.location:
            import os

            from policy.config import display_path

            name += f" ({display_path(step.location, os.getcwd())})"
        group = "matched" if step.outcome == "matched" else "not matched" if step.outcome in ("match", "when") \
            else "skipped"
        text = _detail(step) if step.outcome != "matched" or step.detail != "matched" else ""
        groups[group].append(printable(f"    {name}: {text}".rstrip(": ") + (f" [{values}]" if values else "")))
    if not decision.trace and not decision.hits:
        lines.append(f"  no rule is on {decision.event_name}")
    for title, entries in groups.items():
        if entries:
            lines.append(f"  {title}:")
            lines += entries
    if other_tools:
        tool = next((step.values[0][1] for step in decision.trace if step.outcome == "tools" and step.values), None)
        lines.append(printable(f"  not for tool {tool}: " + ", ".join(other_tools)))
    return "\n".join(lines) + "\n"


def dry_run_text(decision: Decision) -> str:
    """What `policy eval --dry-run` did not do, for stderr."""
    from policy.effects import describe

    lines = [f"dry run: verdict {decision.verdict or 'none'}; would sleep {decision.delay:g}s; "
             f"{len(decision.effects)} effect(s) not applied"]
    lines += [printable(f"  would {describe(effect)}") for effect in decision.effects]
    return "\n".join(lines) + "\n"


# ---- test reports -------------------------------------------------------------------------------------------------

def _summary(report: Report) -> str:
    parts = [f"{report.count(status)} {status}" for status in ("passed", "failed", "error", "skipped")
             if report.count(status) or status == "passed"]
    return ", ".join(parts) + f" in {report.seconds:.2f}s"


def failure_lines(result: Result) -> list[str]:
    """What a failed or errored test shows: each unmet expectation at its location, with the diff of expected
    and actual values; or the error. `policy test` and the pytest plugin print exactly this."""
    if result.status == "error":
        return [f"{result.location}: {result.name}: error"] + [f"    {line}" for line in result.error.splitlines()]
    lines = []
    for failure in result.failures:
        lines.append(f"{failure.location}: {result.name} [{failure.step}] {failure.field}: {failure.message}")
        lines += [f"    {line}" for line in failure.diff.splitlines()]
    return lines


def test_text(report: Report, *, coverage: bool = False) -> str:
    lines: list[str] = []
    by_file: dict[str, list[Result]] = {}
    for result in report.results:
        by_file.setdefault(result.file, []).append(result)
    for file, results in by_file.items():
        lines.append(f"{file} " + "".join(_MARKS[result.status] for result in results))
    problems = [result for result in report.results if result.status in ("failed", "error")]
    if problems:
        lines += ["", "FAILURES"]
        for result in problems:
            lines += failure_lines(result)
    elsewhere = [result for result in report.results if result.status == "skipped" and
                 result.error.startswith("not on ")]
    if elsewhere:  # `policy test --agent NAME`: what this host cannot run, and why
        lines += ["", "SKIPPED ON THIS HOST"] + [f"{result.location}: {result.name}: {result.error}"
                                                 for result in elsewhere]
    if coverage:
        lines += ["", "rule coverage:"]
        for pack in report.coverage:
            lines.append(f"  {pack.pack:<12} {pack.percent:5.1f}%  {bar(pack.percent / 100, 20)}  "
                         f"{len(pack.covered)}/{len(pack.rules)} rules"
                         + (f"  untested: {', '.join(pack.missing)}" if pack.missing else "")
                         + (f"  disabled: {', '.join(pack.disabled)}" if pack.disabled else ""))
        lines.append(f"  {'total':<12} {report.total_coverage:5.1f}%")
    lines += ["", _summary(report)]
    return "\n".join(lines)


def test_json(report: Report) -> dict[str, Any]:
    return {
        "passed": report.count("passed"), "failed": report.count("failed"), "errors": report.count("error"),
        "skipped": report.count("skipped"), "seconds": round(report.seconds, 3),
        "tests": [{
            "file": result.file, "name": result.name, "status": result.status,
            "line": result.location.line, "seconds": round(result.seconds, 4), "error": result.error or None,
            "failures": [{"location": str(failure.location), "step": failure.step, "field": failure.field,
                          "message": failure.message, "diff": failure.diff or None} for failure in result.failures],
            "rules": sorted(f"{pack}/{rule}" for pack, rule in result.matched),
        } for result in report.results],
        "coverage": [{"pack": pack.pack, "percent": round(pack.percent, 2), "rules": list(pack.rules),
                      "covered": list(pack.covered), "untested": list(pack.missing),
                      "disabled": list(pack.disabled)} for pack in report.coverage],
    }


def test_junit(report: Report) -> str:
    """JUnit XML (the schema Jenkins, GitLab and GitHub test reporters read)."""
    from xml.etree import ElementTree

    root = ElementTree.Element("testsuites", name="policy test", tests=str(len(report.results)),
                               failures=str(report.count("failed")), errors=str(report.count("error")),
                               skipped=str(report.count("skipped")), time=f"{report.seconds:.3f}")
    by_file: dict[str, list[Result]] = {}
    for result in report.results:
        by_file.setdefault(result.file, []).append(result)
    for file, results in by_file.items():
        suite = ElementTree.SubElement(
            root, "testsuite", name=file, tests=str(len(results)),
            failures=str(sum(r.status == "failed" for r in results)),
            errors=str(sum(r.status == "error" for r in results)),
            skipped=str(sum(r.status == "skipped" for r in results)),
            time=f"{sum(r.seconds for r in results):.3f}")
        for result in results:
            case = ElementTree.SubElement(suite, "testcase", classname=file.replace("/", ".").rsplit(".", 1)[0],
                                          name=result.name, file=file, line=str(result.location.line),
                                          time=f"{result.seconds:.4f}")
            if result.status == "failed":
                first = result.failures[0]
                failure = ElementTree.SubElement(case, "failure", message=f"{first.field}: {first.message}",
                                                 type="AssertionError")
                failure.text = "\n".join(f"{f.location}: [{f.step}] {f.field}: {f.message}"
                                         + (f"\n{f.diff}" if f.diff else "") for f in result.failures)
            elif result.status == "error":
                error = ElementTree.SubElement(case, "error", message=result.error.splitlines()[0] if result.error
                                               else "error", type="PolicyError")
                error.text = result.error
            elif result.status == "skipped":
                ElementTree.SubElement(case, "skipped", message=result.error or "skipped")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def plot(xs: Sequence[float], series: Sequence[tuple[str, str, Sequence[float]]], *, y_max: float,
         height: int = 12, x_label: str = "", y_label: str = "", x_ticks: int = 10) -> str:
    """A text plot of one or more series over the same xs (one column per x): `series` holds (name, glyph,
    ys). The y axis runs from 0 to `y_max` (labelled at the bottom, middle and top); the x axis has a labelled
    tick every `x_ticks` columns. Later series are drawn over earlier ones; a legend follows when there are two
    or more."""
    width = len(xs)
    grid = [[" "] * width for _ in range(height)]
    for _, glyph, ys in series:
        for column, y in enumerate(ys):
            level = 0 if y_max <= 0 else min(height - 1, max(0, round(y / y_max * (height - 1))))
            grid[height - 1 - level][column] = glyph
    labels = {0: f"{y_max:g}", (height - 1) // 2: f"{y_max / 2:g}", height - 1: "0"}
    margin = max(len(label) for label in labels.values()) + 1
    lines = [" " * margin + y_label] if y_label else []
    for row in range(height):
        label = labels.get(row)
        axis = "┤" if label is not None else "│"
        lines.append(f"{(label or ''):>{margin - 1}} {axis}{''.join(grid[row])}".rstrip())
    ticks = "".join("┬" if column % x_ticks == 0 else "─" for column in range(width))
    lines.append(" " * margin + "└" + ticks)
    under = [" "] * (width + 12)
    for column in range(0, width, x_ticks):
        text = f"{xs[column]:g}"
        start = column + 1 - len(text) // 2
        under[max(0, start):max(0, start) + len(text)] = list(text)
    lines.append(" " * margin + "".join(under).rstrip() + (f"   {x_label}" if x_label else ""))
    if len(series) > 1:
        lines.append(" " * margin + "  ".join(f"{glyph} {name}" for name, glyph, _ in series))
    return "\n".join(lines)
