"""policy.cli: the help screen of every command reads the same on every supported typer release (no type
placeholders, every parameter with its help), and `policy --version` says what a bug report needs."""

from __future__ import annotations

import platform
import re
import sqlite3
import tomllib
from importlib import metadata

import pytest
from conftest import ROOT

import policy
from policy.cli import click_command, help_context, run, walk

# What typer releases have printed in place of a value: <bool>, <list[str]> (0.29), <str> (0.27), TEXT (0.26)
TYPE_PLACEHOLDER = re.compile(r"<(?:bool|str|int|float|path|datetime|list\[[^\]]*\]|tuple\[[^\]]*\])>|"
                              r"\b(?:TEXT|FLOAT|INTEGER|BOOLEAN)\b")
COMMANDS = [path for path, _ in walk(click_command(), ["policy"]) if path != ["policy", "eval"]]  # (eval: its own)


def help_screen(path: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run([*path[1:], "--help"]) == 0
    return capsys.readouterr().out


def test_every_command_is_checked():
    assert ["policy", "test"] in COMMANDS and ["policy", "session", "start"] in COMMANDS and len(COMMANDS) > 30


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path[1:]) or "policy")
def test_help_shows_every_parameter_with_no_type_placeholder(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    screen = help_screen(path, capsys)
    assert screen.startswith(f"Usage: {' '.join(path)} [OPTIONS]")
    assert TYPE_PLACEHOLDER.findall(screen) == []
    flat = " ".join(screen.split())
    root = click_command()
    command = {tuple(p): c for p, c in walk(root, ["policy"])}[tuple(path)]
    for param in command.get_params(help_context(root, path)):
        if param.param_type_name == "option":
            first = sorted(param.opts, key=len)[0]
            [shown] = [line for line in screen.splitlines() if re.match(rf"  {re.escape(first)}(?=[ ,]|$)", line)]
            words = shown[2:].split("  ")[0].split()
            values = [word for word in words if word.rstrip(",") not in param.opts + param.secondary_opts
                      and word != "/"]
            if getattr(param, "is_flag", False):
                assert values == [], shown  # a flag takes no value
            else:
                assert len(values) == 1 and re.fullmatch(r"[A-Z][A-Z0-9_]*|\[[a-z|-]+\]", values[0]), shown
        else:
            assert re.search(rf"^  \[?{param.name.upper()}\]?(\.\.\.)?(  |$)", screen, flags=re.M), screen
        help_text = " ".join((getattr(param, "help", None) or "").split())
        assert help_text and help_text in flat, f"{param.name}: no help shown"


def test_a_help_screen_exactly(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert help_screen(["policy", "test"], capsys) == """\
Usage: policy test [OPTIONS] [PATHS]...

  Run stateful scenario tests: seeded facts, a fake clock, events with
  expectations.

  Exit 1 when a test fails, 5 when -k selects none (as pytest).

  Example: policy test rules/ --coverage --min-coverage 100

Arguments:
  [PATHS]...  Test files (*.test.yaml) or directories (default: the current
              directory).

Options:
  --coverage        Report the rules no test matched, per pack.
  --min-coverage N  Fail if any pack's rule coverage is below N percent.
  --format FORMAT   text, json or junit. [default: text]
  -k PATTERN        Only tests whose `file::name` contains PATTERN.
  --json            Print JSON (the same as --format json).
  --agent AGENT     The host whose payloads the events become (claude-code,
                    codex, gemini, cursor, copilot); scenarios it cannot run
                    are skipped. [default: claude-code]
  -h, --help        Show this message and exit.
"""


def test_help_of_a_group_lists_its_commands(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    screen = help_screen(["policy", "session"], capsys)
    assert screen.startswith("Usage: policy session [OPTIONS] COMMAND [ARGS]...\n")
    commands = screen.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line[2] != " "] == \
        ["start", "history", "end", "status"]


def test_the_help_screens_are_the_same_through_the_console_script(env):
    done = env.run_text("test", "-h", extra_env={"COLUMNS": "80"})
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("Usage: policy test [OPTIONS] [PATHS]...\n")
    assert "  --min-coverage N  Fail if any pack's rule coverage is below N percent.\n" in done.stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_the_distribution_python_and_sqlite(env, flag):
    done = env.run_text(flag)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == (f"policy {metadata.version('agent-policy')} (agent-policy), Python "
                           f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}\n")


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata.version("agent-policy") == project["version"] == policy.__version__
