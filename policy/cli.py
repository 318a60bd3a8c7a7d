"""The `policy` command line (SPEC §6): assembles the command modules into one typer application and is the one
error boundary: a PolicyError prints one line and its hint (exit 1, or 2 for usage), anything unexpected prints
one line, writes the traceback to the crash log and exits 3. (`policy eval` never comes here; see __main__.)

Every module in policy/commands/ has a `register(app)`; adding a module adds its commands."""

from __future__ import annotations

import sys

import typer

from policy import __version__
from policy.errors import PolicyError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

app = typer.Typer(
    name="policy",
    help="A declarative, stateful policy engine for AI coding agent hooks. Docs: docs/index.md",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"policy {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """A declarative, stateful policy engine for AI coding agent hooks."""


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def eval_command(ctx: typer.Context) -> None:
    """Evaluate one hook event (stdin) and answer in the host's protocol (stdout). The hook command.

    Example: policy eval --rules rules/ < examples/events/PreToolUse-Bash.json

    Flags: --agent claude-code, --config FILE, --rules PATH (repeatable), --db FILE, --now ISO, --dry-run
    (no effects, no sleep; says what would happen), --explain (trace on stderr), --format host|json, --timeout
    SECONDS (the host's hook timeout; default: what `policy install` writes; the answer comes before it).
    """
    from policy.hook import main as hook_main

    raise typer.Exit(hook_main(list(ctx.args)))


_FIRST = ("validate", "test")  # after eval; the rest follow in alphabetical order


def _register_commands() -> None:
    import pkgutil

    from policy import commands

    names = sorted((info.name for info in pkgutil.iter_modules(commands.__path__) if not info.name.startswith("_")),
                   key=lambda name: (name not in _FIRST, _FIRST.index(name) if name in _FIRST else 0, name))
    for name in names:
        module = __import__(f"policy.commands.{name}", fromlist=["register"])
        module.register(app)


_register_commands()


def _click_exceptions() -> list[Any]:
    """click's exception modules: typer >= 0.2x raises those of its vendored copy (typer._click), older typer
    those of click itself. Either way a usage error (a missing option, a bad value) must exit 2, not 3."""
    import importlib

    modules = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 checked thing failed, 2 usage error, 3 internal error)."""
    try:
        result = app(args=argv, prog_name="policy", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    except UsageError as error:
        sys.stderr.write(f"policy: {error.one_line()}\n")
        return 2
    except PolicyError as error:
        sys.stderr.write(f"policy: {error.code}: {error.message}\n")
        if error.hint:
            sys.stderr.write(f"    hint: {error.hint}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the one boundary for bugs
        for exceptions in _click_exceptions():
            if isinstance(error, exceptions.ClickException):
                error.show()
                return int(error.exit_code)
            abort = getattr(exceptions, "Abort", None)  # (typer's vendored click has none)
            if abort is not None and isinstance(error, abort):
                return 130
        import os

        from policy.hook import _record_crash

        crash = _record_crash(os.environ)
        sys.stderr.write(f"policy: internal error: {type(error).__name__}: {error}"
                         + (f" (traceback in {crash})" if crash else "") + "\n")
        return 3
