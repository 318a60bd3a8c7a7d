"""`run`: run a command (argv, no shell) with a timeout, its output captured into the decision log (SPEC §4).

Two rules keep it safe:
- Only rule files the user trusts may run commands (shipped packs with params the user set, files in the user
  config or given with --rules, projects listed in `trusted_projects`): see policy.effects.untrusted_refusal. An
  untrusted file that asks for it gets a warning from `policy validate` and a refusal at run time, recorded in the
  decision log; the rest of its rules keep working.
- The command runs after the decision is committed, outside the store's write lock: a slow command delays this
  hook, never the other sessions' hooks. In the eval transaction `apply_run` only queues it; `finish_run` runs it.
"""

from __future__ import annotations

from policy.errors import Diagnostic, EvaluationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Location
    from policy.model import PlannedEffect

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 600.0
OUTPUT_LIMIT = 2000  # characters of output kept in the decision log (the end of it, where errors are)
TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL on a timeout

KINDS: dict[str, dict[str, Any]] = {
    "run": {
        "description": "Run a command without a shell, after the decision is committed, with a timeout; its exit "
                       "code and output go to the decision log. Only in trusted rule files.",
        "type": "object", "required": ["argv"], "additionalProperties": False,
        "properties": {
            "argv": {"description": "The program and its arguments: a list of templates, or one template giving "
                                    "a list. No shell: put `--` before values that could start with `-`.",
                     "anyOf": [{"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1},
                               {"type": "string"}]},
            "timeout": {"description": f"Seconds before the command is stopped (default {DEFAULT_TIMEOUT:g}, at "
                                       f"most {MAX_TIMEOUT:g}).",
                        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
                                  {"type": "string"}]},
            "cwd": {"type": "string", "description": "The working directory (default: the event's cwd)."},
        },
    },
}


def check_run(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    argv = args.get("argv")
    if isinstance(argv, str) and "{{" not in argv:
        return [Diagnostic(location, "bad-effect", f"argv {argv!r} is one string, and there is no shell to split it",
                           f"write it as a list: {argv.split()!r}")]
    return []


def command_line(argv: list[str]) -> str:
    import shlex

    return shlex.join(argv)


def _argv(args: dict[str, Any], effect: PlannedEffect) -> list[str]:
    argv = args.get("argv")
    if isinstance(argv, str):
        argv = [argv]
    if (not isinstance(argv, list) or not argv or not all(isinstance(part, (str, int, float)) and
                                                          not isinstance(part, bool) for part in argv)
            or not str(argv[0])):
        raise EvaluationError(f"effect run of rule {effect.pack}/{effect.rule_id}: argv must be a non-empty list "
                              f"of strings, not {argv!r}", code="bad-effect", location=effect.location,
                              hint="e.g. argv: [git, status] or argv: \"{{ ['echo', tool] }}\"")
    return [str(part) for part in argv]


def _timeout(args: dict[str, Any], effect: PlannedEffect) -> float:
    from policy.times import parse_duration

    raw = args.get("timeout")
    seconds = DEFAULT_TIMEOUT if raw in (None, "") else parse_duration(raw, what="run timeout")
    if not 0 < seconds <= MAX_TIMEOUT:
        raise EvaluationError(f"effect run of rule {effect.pack}/{effect.rule_id}: timeout must be in (0, "
                              f"{MAX_TIMEOUT:g}] seconds, not {seconds:g}", code="bad-effect",
                              location=effect.location)
    return seconds


def apply_run(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    """In the eval transaction: check the command, and queue it for `finish_run`."""
    argv = _argv(args, effect)
    _timeout(args, effect)
    return f"queued: {command_line(argv)}"


def finish_run(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str | None:
    """After the commit: run the command and say how it went."""
    import os

    argv = _argv(args, effect)
    timeout = _timeout(args, effect)
    cwd = args.get("cwd") or context.event.cwd
    if cwd and not os.path.isdir(str(cwd)):
        if args.get("cwd"):
            return f"failed: {command_line(argv)}: the working directory {cwd} does not exist"
        cwd = None  # the event's cwd may be gone (or from another machine): run where the hook runs
    return run_command(argv, timeout=timeout, cwd=str(cwd) if cwd else None)


def run_command(argv: list[str], *, timeout: float, cwd: str | None) -> str:
    """Run `argv` (no shell, stdin closed, stdout and stderr together) in its own process group; on timeout the
    group gets SIGTERM, then SIGKILL. Returns one line (what ran, how it ended, how long) and the output's end."""
    import os
    import signal
    import subprocess
    import time

    shown = command_line(argv)
    started = time.monotonic()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    except FileNotFoundError:
        return f"failed: {shown}: no such program {argv[0]!r}"
    except OSError as error:
        return f"failed: {shown}: {error.strerror or error}"
    timed_out = False
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        for sent in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sent)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                output, _ = process.communicate(timeout=TERM_GRACE)
                break
            except subprocess.TimeoutExpired:
                continue
        else:  # a descendant left its own process group and holds the pipe open: stop reading
            if process.stdout is not None:
                process.stdout.close()
            process.wait()
            output = b""
    seconds = time.monotonic() - started
    text = (output or b"").decode("utf-8", "replace").strip()
    if len(text) > OUTPUT_LIMIT:
        text = "…" + text[-OUTPUT_LIMIT:]
    if timed_out:
        head = f"timed out after {timeout:g}s (stopped): {shown}"
    else:
        head = f"exit {process.returncode} in {seconds:.2f}s: {shown}"
    return head + (f"\n{text}" if text else "")
