"""The `policy` command line (SPEC §6): assembles the command modules into one typer application and is the one
error boundary: a PolicyError prints one line and its hint (exit 1, or 2 for usage), anything unexpected prints
one line, writes the traceback to the crash log and exits 3. (`policy eval` never comes here; see __main__.)

Every module in policy/commands/ has a `register(app)`; adding a module adds its commands. Help screens are
written here from each command's parameters (`help_records`, `usage_pieces`), not by typer: each typer release
has drawn them its own way (`--coverage <bool>`, `paths... <list[str]>`, `label TEXT`), and the same functions
write docs/cli.md, so the help and the reference say the same on every supported release."""

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
    help="A declarative, stateful policy engine for AI coding agent hooks. Docs: `policy docs` (a topic: "
         "`policy docs rules`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_text() -> str:
    """`policy --version`: the installed distribution's version, and the Python and SQLite it runs on (what a
    bug report needs: the SQLite library, not the sqlite3 module, decides what the store can do)."""
    import platform
    import sqlite3
    from importlib import metadata

    try:
        version = metadata.version("agent-policy")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = f"{__version__} (not installed)"
    return f"policy {version} (agent-policy), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.command("completion")
def completion_command(shell: str = typer.Argument(..., help="bash, zsh, fish or powershell.")) -> None:
    """Print the shell completion script for policy's commands and options.

    Example: policy completion bash >> ~/.bashrc
    """
    typer.echo(completion_script(shell), nl=False)


@app.callback()
def main(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                      help="Print the version of policy, Python and SQLite, and exit.")) -> None:
    """A declarative, stateful policy engine for AI coding agent hooks."""


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def eval_command(ctx: typer.Context) -> None:
    """Evaluate one hook event (stdin) and answer in the host's protocol (stdout). The hook command.

    Example: policy eval --rules rules/ < examples/events/PreToolUse-Bash.json

    Flags (`policy eval --help` describes each): --agent claude-code|codex|gemini|cursor|copilot (the host;
    docs/hosts.md), --event NAME (the host's event, for Copilot CLI, whose payloads do not name it), --config FILE,
    --rules PATH (repeatable), --db FILE, --now ISO, --dry-run (no effects, no sleep; says what would happen),
    --explain (trace on stderr), --format host|json, --timeout SECONDS (the host's hook timeout; default: what
    `policy install` writes; the answer comes before it).
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


# ---- help screens ---------------------------------------------------------------------------------------------

def _takes_value(param: Any) -> bool:
    return param.param_type_name == "argument" or not (getattr(param, "is_flag", False) or getattr(param, "count",
                                                                                                     False))


def metavar(param: Any) -> str:
    """What stands for a parameter's value: its own metavar, the choices, or its name in capitals (`--format
    FORMAT`, `[PATHS]...`); never a type."""
    if param.param_type_name == "argument":
        if param.metavar:
            return str(param.metavar)
        name = str(param.name).upper()
        name = name if param.required else f"[{name}]"
        return name + ("..." if param.nargs != 1 else "")
    if param.metavar:
        return str(param.metavar)
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return "[" + "|".join(str(choice) for choice in choices) + "]"
    longest = max(param.opts, key=len)
    return (longest.lstrip("-") if longest.startswith("--") else str(param.name)).upper().replace("-", "_")


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """The usage line after the command's name: `[OPTIONS] LABEL`, `[OPTIONS] COMMAND [ARGS]...`."""
    params = [param for param in command.get_params(ctx) if not getattr(param, "hidden", False)]
    pieces = ["[OPTIONS]"]  # as click has it, also where the options are read by the command (eval)
    pieces += [metavar(param) for param in params if param.param_type_name == "argument"]
    if hasattr(command, "list_commands"):
        pieces.append("COMMAND [ARGS]...")
    return pieces


def help_records(command: Any, ctx: Any) -> list[tuple[str, str, str, list[str]]]:
    """(kind, names, help, notes) of every visible parameter: `("option", "--format FORMAT", "text, json or
    junit.", ["default: text"])`. Arguments first, as the usage line has them."""
    records: list[tuple[str, str, str, list[str]]] = []
    params = [param for param in command.get_params(ctx) if not getattr(param, "hidden", False)]
    for param in sorted(params, key=lambda param: param.param_type_name != "argument"):
        if param.param_type_name == "argument":
            names = metavar(param)
        else:
            names = " / ".join(", ".join(sorted(opts, key=len)) for opts in (param.opts, param.secondary_opts) if opts)
            names += f" {metavar(param)}" if _takes_value(param) else ""
        notes = []
        default = param.default
        if _takes_value(param) and getattr(param, "show_default", True) is not False and not callable(default) \
                and default not in (None, (), []):
            notes.append(f"default: {', '.join(map(str, default)) if isinstance(default, (list, tuple)) else default}")
        if param.required and param.param_type_name == "option":
            notes.append("required")
        records.append((param.param_type_name, names, " ".join(str(getattr(param, "help", None) or "").split()),
                        notes))
    return records


def format_help(command: Any, ctx: Any, formatter: Any) -> None:
    """One command's help screen: usage, description, arguments and options, subcommands."""
    import inspect

    format_usage(command, ctx, formatter)
    if command.help:
        formatter.write_paragraph()
        with formatter.indentation():  # examples are command lines: \b keeps click from rewrapping them
            paragraphs = inspect.cleandoc(command.help).partition("\f")[0].split("\n\n")
            formatter.write_text("\n\n".join(f"\b\n{text}" if text.startswith("Example") else text
                                             for text in paragraphs))
    records = help_records(command, ctx)
    for title, wanted in (("Arguments", "argument"), ("Options", "option")):
        rows = [(names, " ".join([text] + [f"[{note}]" for note in notes]).strip())
                for kind, names, text, notes in records if kind == wanted]
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)
    if hasattr(command, "list_commands"):
        names = [name for name in command.list_commands(ctx)
                 if not getattr(command.get_command(ctx, name), "hidden", False)]
        # each one's first sentence, whole (write_dl wraps it); the root's commands in their groups
        for title, members in (command_groups(names) if ctx.parent is None else [("Commands", names)]):
            with formatter.section(title):
                formatter.write_dl([(name, command.get_command(ctx, name).get_short_help_str(limit=1000))
                                    for name in members])


# The root help's groups, in this order; a command in none is listed under "Other commands".
COMMAND_GROUPS = (
    ("Writing rules", ("validate", "test", "lint", "explain", "replay", "schema", "docs")),
    ("Setup and hooks", ("init", "install", "uninstall", "doctor", "eval", "serve", "completion")),
    ("Focus and breaks", ("session", "break", "status")),
    ("Presence", ("claim", "heartbeat", "release", "list", "peek")),
    ("Activity and usage", ("log", "stats", "export", "sessions", "usage", "curve", "fact")),
)


def command_groups(names: list[str]) -> list[tuple[str, list[str]]]:
    """The root's commands as (group title, names), each group in its own order, empty groups left out."""
    groups = [(title, [name for name in members if name in names]) for title, members in COMMAND_GROUPS]
    grouped = {name for _, members in COMMAND_GROUPS for name in members}
    groups.append(("Other commands", [name for name in names if name not in grouped]))
    return [(title, members) for title, members in groups if members]


def format_usage(command: Any, ctx: Any, formatter: Any) -> None:
    formatter.write_usage(ctx.command_path, " ".join(usage_pieces(command, ctx)))


def walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every command under `command`, with its path (typer carries its own click, so groups are found by duck
    typing)."""
    found = [(path, command)]
    if hasattr(command, "list_commands"):
        context = command.context_class(command)
        for name in command.list_commands(context):
            found += walk(command.get_command(context, name), path + [name])
    return found


def help_context(root: Any, path: list[str]) -> Any:
    """The context `policy PATH... --help` gives its command (the app's settings, such as -h, come from the
    root)."""
    context = root.context_class(root, info_name="policy", **root.context_settings)
    for name in path[1:]:
        child = context.command.get_command(context, name)
        context = child.context_class(child, info_name=name, parent=context, **child.context_settings)
    return context


def click_command() -> Any:
    """The click command tree of `app`, with our help screens."""
    import functools

    root = typer.main.get_command(app)
    for _, command in walk(root, ["policy"]):
        command.format_help = functools.partial(format_help, command)
        command.format_usage = functools.partial(format_usage, command)
    return root


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


COMPLETE_VAR = "_POLICY_COMPLETE"  # what the scripts of `policy completion SHELL` set to ask for completions


def completion_script(shell: str) -> str:
    """The script that makes `shell` complete policy's commands and options (bash, zsh, fish, powershell)."""
    from typer import completion

    completion.completion_init()
    shells = ("bash", "zsh", "fish", "powershell", "pwsh")
    if shell not in shells:
        from policy.errors import did_you_mean

        raise UsageError(f"no completion for the shell {shell!r}", hint=did_you_mean(shell, shells)
                         or "one of: " + ", ".join(shells))
    return str(completion.get_completion_script(prog_name="policy", complete_var=COMPLETE_VAR, shell=shell))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 checked thing failed, 2 usage error, 3 internal error)."""
    import os

    if COMPLETE_VAR in os.environ:  # a shell asks for completions: typer's completion classes answer
        from typer import completion

        completion.completion_init()
    try:
        result = click_command().main(args=argv, prog_name="policy", standalone_mode=False)
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
