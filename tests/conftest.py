"""Fixtures shared by the test suite: an isolated environment per test and `policy` run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "events"
BIN = Path(sys.executable).parent


def example(name: str) -> dict:
    """A real Claude Code payload from examples/events/."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose state, cache, config and home live under tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    values = {key: value for key, value in os.environ.items()
              if not key.startswith(("POLICY_", "CLAUDE_", "XDG_"))}
    values.update(HOME=str(home), XDG_STATE_HOME=str(home / ".local" / "state"),
                  XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"))
    return values


def run_policy(args: list[str], env: dict[str, str], *, stdin: bytes | str | None = None,
               cwd: Path | str | None = None, hook: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the installed `policy` (or the `policy-hook` launcher) as a subprocess."""
    program = str(BIN / ("policy-hook" if hook else "policy"))
    data = stdin.encode() if isinstance(stdin, str) else stdin
    completed = subprocess.run([program, *args], input=data, capture_output=True, env=env, cwd=cwd, timeout=120)
    return subprocess.CompletedProcess(completed.args, completed.returncode,
                                       completed.stdout.decode("utf-8", "replace"),
                                       completed.stderr.decode("utf-8", "replace"))
