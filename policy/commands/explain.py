"""`policy explain`: what the rules here would decide on a call, and why, rule by rule, without doing anything.

The call is described (`policy explain 'git push --force'`, `--tool Edit --file src/a.py`, `--prompt TEXT`,
`--event Stop`) or given whole (`--payload FILE`, `-` for stdin). A described call becomes the canonical event
(policy.adapters.common.described_event) and then the payload the agent's host would send, by the adapter of
`--agent` (its `example_payload`, through its `payload()` as for `policy test --agent`; `--event` may be the
host's name for the event, the neutral one or Claude Code's): every host in the adapter registry
(policy.adapters.ADAPTERS) can be asked about. The payload is then evaluated exactly as `policy eval --dry-run
--explain` does, against the real configuration and fact store: no effect is applied, nothing is logged, nothing
sleeps.
"""

from __future__ import annotations

import os

import typer

from policy.commands._shared import DB_OPTION_HELP, emit_json, environ
from policy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.hook import Outcome


def agent_names() -> list[str]:
    from policy.adapters import ADAPTERS

    return sorted(ADAPTERS)


def check_agent(agent: str) -> Any:
    """The adapter of `agent`, or a usage error naming the ones there are."""
    from policy.adapters import get_adapter
    from policy.errors import did_you_mean

    try:
        return get_adapter(agent)
    except KeyError:
        raise UsageError(f"unknown agent {agent!r}", hint=did_you_mean(agent, agent_names())
                         or "known: " + ", ".join(agent_names())) from None


def described_payload(adapter: Any, *, event: str | None, command: str | None, tool: str | None, file: str | None,
                      prompt: str | None, tool_input: str | None, cwd: str, session: str) -> bytes:
    """The payload the host of `adapter` would send for the described call."""
    from policy.lean import json_loads

    fields: dict[str, Any] = {}
    if tool_input is not None:
        try:
            fields = json_loads(tool_input)
        except ValueError as error:
            raise UsageError(f"--input is not JSON: {error}", hint='e.g. --input \'{"pattern": "TODO"}\'') from None
        if not isinstance(fields, dict):
            raise UsageError("--input must be a JSON object (the tool's input fields)")
    if not any(value is not None for value in (event, command, tool, file, prompt, tool_input)):
        raise UsageError("nothing to explain: describe a call",
                         hint="policy explain 'git push --force', --tool Edit --file src/a.py, --prompt PROMPT, "
                              "--event Stop, or --payload FILE")
    build = getattr(adapter, "example_payload", None)  # every adapter of the registry has one
    if build is None:
        raise UsageError(f"the {agent_of(adapter)} adapter cannot make up its host's payloads",
                         hint="pass a real payload: --payload FILE")
    return bytes(build(event=event, command=command, tool=tool, file=file, prompt=prompt, tool_input=fields,
                       cwd=cwd, session=session))


def agent_of(adapter: Any) -> str:
    from policy.adapters import ADAPTERS

    return next(name for name, module in ADAPTERS.items() if module == adapter.__name__)


def evaluate(raw: bytes, *, agent: str, rules: list[str], config: str | None, db: str | None, now: str | None,
             cwd: str) -> Outcome:
    """`policy eval --dry-run --explain` on `raw`, in this process."""
    import time

    from policy.hook import Options, evaluate_event

    moment, offset = time.time(), None
    if now:
        from policy.times import parse_iso

        moment, offset = parse_iso(now, what="--now")
    options = Options(agent=agent, config=config, rules=tuple(rules), db=db, now=now, dry_run=True, explain=True)
    return evaluate_event(raw, options, environ(), now=moment, utc_offset=offset, cwd=cwd)


def described(outcome: Outcome, agent: str) -> str:
    """The call as one line: `PreToolUse Bash: git push --force (claude-code, in /repo)`."""
    from policy.report import printable

    event = outcome.event
    if event is None:
        return ""
    what = ""
    tool_input = event.tool_input or {}
    for key in ("file_path", "command", "path", "pattern", "url"):
        if isinstance(tool_input.get(key), str):
            what = tool_input[key]
            if key == "file_path" and event.data.get("cwd"):
                from policy.config import display_path

                what = display_path(what, str(event.data["cwd"]))
            break
    if event.prompt is not None:
        what = event.prompt
    what = " ".join(what.split())
    what = what if len(what) <= 70 else what[:69] + "…"
    return printable(f"call: {event.name}{' ' + event.tool if event.tool else ''}{': ' + what if what else ''} "
                     f"({agent}, in {event.data.get('cwd') or '?'})")


def explain(*, what: str | None, tool: str | None, file: str | None, prompt: str | None, tool_input: str | None,
            event: str | None, agent: str, payload: str | None, rules: list[str], config: str | None,
            db: str | None, now: str | None, cwd: str | None, session: str, as_json: bool) -> int:
    from policy.report import dry_run_text, eval_json, explain_text, printable

    adapter = check_agent(agent)
    cwd = os.path.abspath(cwd or os.getcwd())
    if payload is not None:
        if any(value is not None for value in (what, tool, file, prompt, tool_input, event)):
            raise UsageError("--payload gives the whole event: describe the call or give a payload, not both")
        try:
            if payload == "-":
                import sys

                raw = sys.stdin.buffer.read()
            else:
                with open(payload, "rb") as handle:
                    raw = handle.read()
        except OSError as error:
            raise UsageError(f"cannot read --payload {payload}: {error.strerror}") from None
    else:
        raw = described_payload(adapter, event=event, command=what, tool=tool, file=file, prompt=prompt,
                                tool_input=tool_input, cwd=cwd, session=session)
    # the configuration of where this runs (--cwd only moves the agent's working directory in the payload)
    outcome = evaluate(raw, agent=agent, rules=rules, config=config, db=db, now=now, cwd=os.getcwd())
    if as_json:
        report = eval_json(outcome, dry_run=True, explain=True)
        report["payload"] = outcome.event.data if outcome.event is not None else None
        emit_json(report)
        return 1 if outcome.error is not None else 0
    if outcome.error is not None:
        error = outcome.error
        typer.echo(f"policy: cannot explain: {error.one_line()}", err=True)
        if outcome.output.stdout:
            typer.echo(printable(f"the hook would answer, in the fail mode: {outcome.output.stdout.strip()}"),
                       err=True)
        return 1
    typer.echo(described(outcome, agent))
    typer.echo(explain_text(outcome.decision, locations=True), nl=False)
    answer = outcome.output.stdout.strip() or "(nothing on stdout)"
    typer.echo(printable(f"  {agent} gets: {answer if len(answer) <= 300 else answer[:299] + '…'}"
                         + (f", exit code {outcome.output.exit_code}" if outcome.output.exit_code else "")))
    if outcome.decision is not None and outcome.decision.effects:
        typer.echo("  effects, not applied:\n" + "\n".join(
            "  " + line for line in dry_run_text(outcome.decision).splitlines()[1:]))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain_command(
        command: str = typer.Argument(None, help="A shell command the agent would run (the "
                                                                    "host's shell tool, Bash for Claude Code)."),
        tool: str = typer.Option(None, "--tool", help="The tool called (default: the shell tool for a COMMAND, "
                                                      "Edit for --file)."),
        file: str = typer.Option(None, "--file", metavar="PATH", help="The file the tool works on (relative to "
                                                                       "--cwd)."),
        prompt: str = typer.Option(None, "--prompt", help="A prompt the user sends "
                                                                           "(UserPromptSubmit)."),
        tool_input: str = typer.Option(None, "--input", metavar="JSON", help="More fields of the tool's input, "
                                                                              "as a JSON object."),
        event: str = typer.Option(None, "--event", help="The event (default: PreToolUse for a tool call)."),
        agent: str = typer.Option("claude-code", "--agent", metavar="AGENT",
                                  help="The agent host whose payload is made up: "
                                       + ", ".join(agent_names()) + "."),
        payload: str = typer.Option(None, "--payload", metavar="FILE", help="A whole hook payload instead "
                                                                             "(`-`: stdin), e.g. from examples/events/."),
        rules: list[str] = typer.Option(None, "--rules", metavar="PATH", help="Rule files or directories instead "
                                                                               "of the configuration (repeatable)."),
        config: str = typer.Option(None, "--config", metavar="FILE", help="This config file instead of the "
                                                                           "project's."),
        db: str = typer.Option(None, "--db", help=DB_OPTION_HELP),
        now: str = typer.Option(None, "--now", metavar="ISO", help="The time to decide at, e.g. "
                                                                   "2026-11-20T10:00:00+01:00."),
        cwd: str = typer.Option(None, "--cwd", metavar="DIR", help="The agent's working directory in the made-up "
                                                                   "call (default: here; the configuration is "
                                                                   "always the one here)."),
        session: str = typer.Option("policy-explain", "--session", metavar="ID", help="The agent session id of "
                                                                                      "the made-up call."),
        as_json: bool = typer.Option(False, "--json", help="Print the `policy eval --format json` report, with "
                                                           "the trace and the payload."),
    ) -> None:
        """Explain what the rules here would decide on a call, rule by rule; applies, logs and waits for nothing.

        Example: policy explain 'git push --force'

        Example: policy explain --tool Edit --file src/a.py
        """
        raise typer.Exit(explain(what=command, tool=tool, file=file, prompt=prompt, tool_input=tool_input, event=event,
                                 agent=agent, payload=payload, rules=list(rules or []), config=config, db=db,
                                 now=now, cwd=cwd, session=session, as_json=as_json))
