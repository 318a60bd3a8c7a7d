"""`policy curve`: the pacing pack's delay for each excess over the expected pace, as a table and a text plot.

The numbers come from the same `curve()` the rules call; the defaults are the pacing pack's params as configured
here (or the shipped defaults).
"""

from __future__ import annotations

import typer

from policy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

GLYPHS = {"log": "●", "linear": "•", "exp": "∘"}


def _step(span: float) -> float:
    """A round step that puts about six rows in the rising part of the curve."""
    for step in (0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        if span / step <= 7:
            return float(step)
    return span / 6


def curve_table(kinds: list[str], *, threshold: float, max_delay: float, span: float,
                step: float | None = None) -> list[dict[str, Any]]:
    """Rows of {excess, <kind>: delay, ...} from 0 to one step past the cap, including the threshold."""
    from policy.conditions import curve

    step = step or _step(span)
    end = threshold + span + step
    points = sorted({round(index * step, 6) for index in range(int(end / step) + 1)} | {threshold, threshold + span})
    return [{"excess": x, **{kind: curve(kind, x, threshold, max_delay, span) for kind in kinds}} for x in points]


def render_table(rows: list[dict[str, Any]], kinds: list[str], *, threshold: float, max_delay: float,
                 span: float) -> str:
    """One line per row: the excess, each curve's delay, a bar (one curve only) and what the row marks."""
    from policy.report import bar

    headers = ["ahead", *kinds]
    cells = [[f"{row['excess']:g}", *(f"{row[kind]:.1f}s" for kind in kinds)] for row in rows]
    widths = [max(len(line[index]) for line in [headers] + cells) for index in range(len(headers))]
    lines = ["  ".join(header.rjust(width) for header, width in zip(headers, widths))]
    for row, line in zip(rows, cells):
        text = "  ".join(cell.rjust(width) for cell, width in zip(line, widths))
        if len(kinds) == 1:
            text += "  " + bar(row[kinds[0]] / max_delay if max_delay > 0 else 0, 20)
        note = ("threshold" if row["excess"] == threshold else "max_delay" if row["excess"] == threshold + span
                else "")
        lines.append((text + "  " + note).rstrip())
    return "\n".join(lines)


def plot_axis(target: float, columns: int = 60) -> tuple[list[float], int]:
    """xs for a plot from 0 to at least `target` (about `columns` of them), and the columns between ticks, so
    that every tick falls on a round number."""
    import math

    for tick in (0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        ticks = math.ceil(target / tick)
        if ticks <= 10:
            break
    per_tick = max(1, columns // ticks)
    return [round(column * tick / per_tick, 4) for column in range(ticks * per_tick + 1)], per_tick


def render_plot(kinds: list[str], *, threshold: float, max_delay: float, span: float) -> str:
    from policy.conditions import curve
    from policy.report import plot

    xs, per_tick = plot_axis(threshold + span * 1.15)
    series = [(kind, GLYPHS[kind], [curve(kind, x, threshold, max_delay, span) for x in xs]) for kind in kinds]
    return plot(xs, series, y_max=max_delay, x_label="points ahead of pace", y_label="delay (s)",
                x_ticks=per_tick)


def show_curve(*, kinds: list[str], threshold: float, max_delay: float, span: float, draw: bool, as_json: bool,
               step: float | None = None) -> int:
    from policy.conditions import CURVES

    unknown = [kind for kind in kinds if kind not in CURVES]
    if unknown:
        raise UsageError(f"unknown curve {unknown[0]!r}", hint="choose log, linear or exp (or several: log,exp)")
    if threshold < 0 or max_delay < 0 or span <= 0 or (step is not None and step <= 0):
        raise UsageError("--threshold and --max-delay cannot be negative; --span and --step must be positive")
    rows = curve_table(kinds, threshold=threshold, max_delay=max_delay, span=span, step=step)
    if as_json:
        from policy.commands._shared import emit_json

        emit_json({"threshold": threshold, "max_delay": max_delay, "span": span, "curves": kinds, "rows": rows})
        return 0
    typer.echo(f"pacing delay per tool call: {', '.join(kinds)} curve{'s' * (len(kinds) > 1)}, threshold "
               f"{threshold:g} points, max_delay {max_delay:g}s reached at {threshold + span:g} points ahead")
    typer.echo("")
    typer.echo(render_table(rows, kinds, threshold=threshold, max_delay=max_delay, span=span))
    if draw:
        typer.echo("")
        typer.echo(render_plot(kinds, threshold=threshold, max_delay=max_delay, span=span))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("curve")
    def curve_command(
        curve: str = typer.Option(None, "--curve", help="log, linear or exp, or several (log,linear,exp) "
                                                        "(default: the pacing pack's `curve`)."),
        threshold: float = typer.Option(None, "--threshold", help="Points ahead of pace with no delay yet "
                                                                  "(default: the pack's `threshold`)."),
        max_delay: float = typer.Option(None, "--max-delay", help="The cap, in seconds (default: the pack's "
                                                                  "`max_delay`)."),
        span: float = typer.Option(None, "--span", help="Points above the threshold where the cap is reached "
                                                        "(default: the pack's `span`)."),
        step: float = typer.Option(None, "--step", help="Points between table rows (default: about span/6)."),
        draw: bool = typer.Option(False, "--plot", help="Also draw the curve."),
        as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    ) -> None:
        """Print the pacing delay for each excess of usage over the expected pace, and plot it.

        Example: policy curve --curve log --threshold 5 --max-delay 30 --plot
        """
        from policy.commands._shared import pack_params

        params = pack_params("pacing")
        kinds = [part.strip() for part in (curve or str(params["curve"])).split(",") if part.strip()]
        raise typer.Exit(show_curve(
            kinds=kinds, step=step, draw=draw, as_json=as_json,
            threshold=float(params["threshold"] if threshold is None else threshold),
            max_delay=float(params["max_delay"] if max_delay is None else max_delay),
            span=float(params["span"] if span is None else span)))
