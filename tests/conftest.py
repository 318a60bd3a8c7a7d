"""Shared fixtures: the real hook payloads, rule files written to tmp_path, and `policy` run as a real process
with every piece of state (XDG dirs, HOME) private to the test."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "examples" / "events"
BIN = Path(sys.executable).parent
# The hook client `policy install` writes: the installed package's copy (README installs non-editable, so it is
# in site-packages, not in this checkout)
import policy  # noqa: E402

CLIENT = str(Path(policy.__file__).resolve().parent / "client.py")
POLICY = BIN / "policy"
POLICY_HOOK = BIN / "policy-hook"

# Running as root makes chmod restrictions meaningless; tests that rely on them skip.
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


OUTPUT_SCHEMA = json.loads((ROOT / "tests" / "schemas" / "claude-code-output.schema.json").read_text())


def host_output(event_name: str, stdout: str) -> dict | None:
    """A Claude Code hook's stdout, parsed (None when empty), after checking that it is one JSON object on one line,
    valid for the event by tests/schemas/claude-code-output.schema.json ("failure": what fail-open may print on any
    event), and that `hookSpecificOutput.hookEventName` names the event."""
    from jsonschema import Draft202012Validator

    if not stdout:
        return None
    assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout
    payload = json.loads(stdout)
    schema_name = event_name if event_name in OUTPUT_SCHEMA["$defs"]["events"] else "failure"
    validator = Draft202012Validator({"$ref": f"#/$defs/events/{schema_name}", "$defs": OUTPUT_SCHEMA["$defs"]})
    errors = [error.message for error in validator.iter_errors(payload)]
    assert errors == [], errors
    specific = payload.get("hookSpecificOutput")
    if specific is not None:
        assert specific["hookEventName"] == event_name
    return payload


def event_payload(name: str) -> dict:
    """One payload from examples/events/, e.g. event_payload("PreToolUse-Bash")."""
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def event_bytes(name: str) -> bytes:
    return (EVENTS / f"{name}.json").read_bytes()


def all_event_files() -> list[Path]:
    return sorted(EVENTS.glob("*.json"))


@dataclass
class Env:
    """An isolated environment for `policy` processes: its own state, cache, config and home directories."""

    root: Path
    vars: dict[str, str]

    @property
    def state(self) -> Path:
        return Path(self.vars["XDG_STATE_HOME"])

    @property
    def cache(self) -> Path:
        return Path(self.vars["XDG_CACHE_HOME"])

    @property
    def config(self) -> Path:
        return Path(self.vars["XDG_CONFIG_HOME"])

    @property
    def db(self) -> Path:
        """The default fact store of this environment."""
        return self.state / "policy" / "facts.db"

    def run(self, *args: str, stdin: bytes = b"", extra_env: dict[str, str] | None = None,
            hook: bool = False, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `policy ARGS` (or `policy-hook ARGS` with hook=True) with this environment."""
        env = dict(self.vars)
        if extra_env:
            env.update(extra_env)
        command = [str(POLICY_HOOK)] + list(args) if hook else [str(POLICY)] + list(args)
        return subprocess.run(command, input=stdin, capture_output=True, env=env, cwd=str(cwd or self.root),
                              timeout=timeout)

    def run_text(self, *args: str, stdin: str = "", **kwargs: object) -> subprocess.CompletedProcess:
        """`run`, with stdin, stdout and stderr as text."""
        done = self.run(*args, stdin=stdin.encode(), **kwargs)  # type: ignore[arg-type]
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                           done.stderr.decode("utf-8", "replace"))

    def eval(self, *args: str, stdin: bytes, **kwargs: object) -> subprocess.CompletedProcess:
        return self.run("eval", *args, stdin=stdin, **kwargs)  # type: ignore[arg-type]

    def rows(self, sql: str, params: tuple = (), db: Path | None = None) -> list[dict]:
        connection = sqlite3.connect(str(db or self.db))
        connection.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()


def isolated_vars(root: Path) -> dict[str, str]:
    """A minimal environment whose state, cache, config and home are all under `root`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(root / "home"),
        "XDG_STATE_HOME": str(root / "state"),
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_CONFIG_HOME": str(root / "config"),
        # The hook client (policy/client.py) evaluates in-process and starts no `policy serve`: tests/test_serve.py
        # runs real servers in environments of their own.
        "POLICY_NO_SERVER": "1",
    }
    for name in ("home", "state", "cache", "config", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """`policy` as a subprocess in an environment of its own (working directory: tmp_path/work)."""
    return Env(tmp_path / "work", isolated_vars(tmp_path))


@pytest.fixture
def isolated_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The same isolation for in-process calls: os.environ points every state directory into tmp_path."""
    values = isolated_vars(tmp_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("POLICY_DB", "POLICY_CONFIG", "POLICY_DISABLE", "POLICY_NO_CACHE", "CLAUDE_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return values


def write(path: Path, text: str) -> Path:
    """Write `text` (dedented) to `path`, creating directories; returns the path."""
    import textwrap

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def traced_hook(env: Env, *args: str, stdin: bytes, entry: str = "hook") -> tuple[subprocess.CompletedProcess,
                                                                                  set[str]]:
    """Run the hook in a child with `-X importtime`, and return the result and the modules the hook imported.
    entry "hook" runs exactly what `policy-hook` runs; "main" what the `policy` console script runs (`policy eval`
    through policy.__main__).

    The child runs with -S and the venv's site-packages on PYTHONPATH: an editable install adds an import hook
    to site that imports re, pathlib and fnmatch in every process, which would hide what policy itself imports.
    """
    import sysconfig

    code = {"hook": "import sys\nfrom policy.hook import run\nrun(sys.argv[1:])\n",
            "main": "import sys\nsys.argv[0] = 'policy'\nfrom policy.__main__ import main\nmain()\n"}[entry]
    vars_ = dict(env.vars, PYTHONPATH=os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]]))
    result = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", code, *args], input=stdin,
                            capture_output=True, env=vars_, cwd=str(env.root), timeout=60)
    modules = set()
    kept = []
    for line in result.stderr.decode().splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name != "imported package":
                modules.add(name)
        else:
            kept.append(line)
    result.stderr = ("\n".join(kept) + "\n").encode() if kept else b""
    return result, modules
