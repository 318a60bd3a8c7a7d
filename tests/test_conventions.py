"""CLI conventions (issue 20): commands grouped in --help, shell completion, colored ok/warn/fail only on a terminal
and never with NO_COLOR, `policy eval --help` describing every option, --json on the listing commands. Real
processes; the terminal is a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess

from conftest import POLICY, Env

GREEN_OK = "\x1b[32mok\x1b[0m"


def in_a_terminal(env: Env, *args: str, extra: dict[str, str] | None = None) -> str:
    """`policy ARGS` with its stdout on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([str(POLICY), *args], stdout=follower, stderr=subprocess.PIPE, cwd=env.root,
                              env={**env.vars, **(extra or {})}, timeout=60)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer is gone and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert done.returncode in (0, 1), done.stderr
        return b"".join(chunks).decode().replace("\r\n", "\n")
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_the_root_help_groups_the_commands(env: Env) -> None:
    screen = env.run_text("--help", extra_env={"COLUMNS": "80"}).stdout
    titles = [line[:-1] for line in screen.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles == ["Options", "Writing rules", "Setup and hooks", "Focus and breaks", "Presence",
                      "Activity and usage"]
    section = screen.split("Writing rules:\n", 1)[1].split("\n\n", 1)[0]
    assert [line.split()[0] for line in section.splitlines() if line[2] != " "] == [
        "validate", "test", "lint", "explain", "replay", "schema", "docs"]


def test_shell_completion(env: Env) -> None:
    script = env.run_text("completion", "bash")
    assert script.returncode == 0 and "_POLICY_COMPLETE=complete_bash" in script.stdout
    done = env.run_text(extra_env={"_POLICY_COMPLETE": "complete_bash", "COMP_WORDS": "policy session st",
                                   "COMP_CWORD": "2"})
    assert (done.returncode, done.stdout.split()) == (0, ["start", "status"])
    done = env.run_text(extra_env={"_POLICY_COMPLETE": "complete_bash", "COMP_WORDS": "policy lin",
                                   "COMP_CWORD": "1"})
    assert done.stdout.split() == ["lint"]
    result = env.run_text("completion", "tcsh")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: no completion for the shell 'tcsh' (one of: bash, zsh, fish, powershell, pwsh)\n")
    assert "compdef" in env.run_text("completion", "zsh").stdout


def test_colors_on_a_terminal_only_and_never_with_no_color(env: Env) -> None:
    assert env.run("init").returncode == 0
    colored = in_a_terminal(env, "validate")
    assert colored == "\x1b[32mok: 3 files valid\x1b[0m\n"
    assert in_a_terminal(env, "validate", extra={"NO_COLOR": "1"}) == "ok: 3 files valid\n"
    assert env.run_text("validate").stdout == "ok: 3 files valid\n"  # a pipe: no color
    doctor = in_a_terminal(env, "doctor")
    assert doctor.startswith(GREEN_OK + "    config  ") and "\x1b[31mfail\x1b[0m  hooks   " in doctor
    plain = in_a_terminal(env, "doctor", extra={"NO_COLOR": "1"})
    assert "\x1b[" not in plain and plain.startswith("ok    config  ")


def test_eval_help_describes_every_option(env: Env) -> None:
    import inspect
    import re

    import policy.hook

    source = inspect.getsource(policy.hook._parse_options)  # the options are the ones it reads
    flags = sorted(set(re.findall(r"\"(--[a-z-]+)\"", source)) - {"--help"})
    assert len(flags) >= 9
    done = env.run_text("eval", "--help")
    assert done.returncode == 0
    described = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  --")]
    assert sorted(described) == flags and "  -h, --help         Show this message and exit.\n" in done.stdout
    from policy.adapters import ADAPTERS

    assert ("  --agent NAME       The host whose protocol stdin and stdout speak (default claude-code): "
            + ", ".join(ADAPTERS) + ".\n") in done.stdout


def test_json_on_the_listing_commands(env: Env) -> None:
    assert env.run("init").returncode == 0
    assert json.loads(env.run_text("validate", "--json").stdout)["errors"] == 0
    assert json.loads(env.run_text("test", ".policy", "--json").stdout)["coverage_ok"] is True
    topics = json.loads(env.run_text("docs", "--json").stdout)
    assert {"topic": "rules", "title": "Rule files (format version 1)"} in [
        {key: item[key] for key in ("topic", "title")} for item in topics]
    for args in (["log"], ["stats"], ["sessions"], ["list"], ["fact", "list"], ["session", "history"],
                 ["usage", "status"], ["status"], ["doctor"]):
        done = env.run_text(*args, "--json")
        assert done.returncode in (0, 1), (args, done.stderr)
        json.loads(done.stdout)
