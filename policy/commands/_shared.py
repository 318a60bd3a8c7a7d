"""What the CLI verbs share: the fact store and the effective configuration they act on, the agent session they
act for, the clock, and JSON output. (Not a command: modules starting with `_` are not registered.)"""

from __future__ import annotations

import os
import time

import typer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.boards import Board
    from policy.model import RuleSet, Settings
    from policy.store import Store

DB_OPTION_HELP = "The fact store (default: config `db`, $POLICY_DB, or $XDG_STATE_HOME/policy/facts.db)."
SESSION_OPTION_HELP = "The agent session (default: $CLAUDE_CODE_SESSION_ID, then $POLICY_SESSION)."
CLAIM_SESSION_OPTION_HELP = ("The agent session (default: $CLAUDE_CODE_SESSION_ID, then $POLICY_SESSION, then this "
                             "terminal's id, made once: docs/packs/presence.md#from-a-terminal).")


def environ() -> dict[str, str]:
    return dict(os.environ)


def now() -> float:
    return time.time()


def effective_ruleset(*, cwd: str | None = None) -> RuleSet:
    """The rules and settings `policy eval` would use here (the same config discovery and cache).
    Raises ValidationFailed when the config or a rule file is broken."""
    from policy.cache import load_ruleset
    from policy.config import Request

    return load_ruleset(Request(cwd=cwd or os.getcwd(), environ=environ()))


_warned: set[str] = set()  # a command says once that it falls back, however many of its parts ask


def pack_params(name: str) -> dict[str, Any]:
    """The params of pack `name` as configured here, or the shipped pack's defaults when it isn't loaded (said on
    stderr when that is because the configuration is broken: the hook would not run with these params either)."""
    from policy.errors import ValidationFailed

    try:
        ruleset = effective_ruleset()
        return dict(ruleset.pack(name).params)
    except KeyError:
        pass
    except ValidationFailed as error:
        warning = f"policy: warning: {error.one_line()}\n    using the {name} pack's shipped params; " \
                  "`policy validate` shows what to fix"
        if warning not in _warned:
            _warned.add(warning)
            typer.echo(warning, err=True)
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.config import shipped_pack_path
    from policy.model import Settings

    compiled = compile_files([PackSource(shipped_pack_path(name), trusted=True, origin="shipped")])
    return dict(build_ruleset(compiled, Settings()).pack(name).params)


def db_path(db: str | None) -> str:
    """--db, else the config's `db`, else $POLICY_DB, else the default path."""
    from policy.store import default_path

    if db:
        return db
    from policy.errors import ValidationFailed

    try:  # the same order as `policy eval`: the config's db before $POLICY_DB
        configured = effective_ruleset().settings.db
    except ValidationFailed:
        configured = None
    return configured or default_path(environ())


def settings() -> Settings:
    """The settings `policy eval` would use here; when the rules are broken but the config reads, the config's."""
    from policy.errors import ValidationFailed

    try:
        return effective_ruleset().settings
    except ValidationFailed as error:
        from policy.model import Settings

        return error.settings if error.settings is not None else Settings()


def board(store: Store) -> Board:
    """Where claims and agent sessions live for this user: the shared store the user config names, else `store`."""
    from policy.boards import board_for

    found = board_for(store, settings())
    assert found is not None
    return found


def open_store(db: str | None = None) -> Store:
    from policy.store import Store

    return Store.open(db_path(db))


def agent_session(session: str | None, *, required: bool = True, terminal: bool = False) -> str | None:
    """--session, else $CLAUDE_CODE_SESSION_ID, else $POLICY_SESSION; with `terminal`, else this terminal's own id
    (`terminal_session`: made when `required`, else only read)."""
    env = environ()
    value = session or env.get("CLAUDE_CODE_SESSION_ID") or env.get("POLICY_SESSION") or None
    if value is None and terminal:
        value = terminal_session(create=required)
    if value is None and required:
        from policy.errors import UsageError

        raise UsageError("no agent session given", hint="pass --session ID or set POLICY_SESSION")
    return value


TERMINAL_SESSION_FILE = "terminal-session"


def terminal_session(*, create: bool) -> str | None:
    """The stable id of claims made from a terminal with no agent session: `user@host@8hex` (seed 004's fallback),
    made once and kept in the state directory, so that a later `policy release` or `heartbeat` finds them.
    None when it was never made and `create` is false. Said on stderr when it is made."""
    from policy.store import state_dir

    env = environ()
    path = os.path.join(state_dir(env), TERMINAL_SESSION_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            found = handle.read(200).strip()
    except FileNotFoundError:
        found = ""
    except OSError as error:
        from policy.errors import PolicyError

        raise PolicyError(f"cannot read {path}: {error.strerror or error}", code="terminal-session",
                          hint="pass --session ID or set POLICY_SESSION") from None
    if found or not create:
        return found or None
    import getpass
    import secrets
    import socket

    made = f"{getpass.getuser()}@{socket.gethostname().split('.')[0]}@{secrets.token_hex(4)}"
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    draft = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    with open(draft, "x", encoding="utf-8") as handle:
        handle.write(made + "\n")
    try:
        os.link(draft, path)  # atomic, and fails when another process made it first: then theirs is the id
    except FileExistsError:
        os.unlink(draft)
        return terminal_session(create=False) or made
    os.unlink(draft)
    typer.echo(f"policy: no agent session given: using this terminal's id {made} (kept in {path}; "
               "--session or POLICY_SESSION choose another)", err=True)
    return made


def emit_json(data: Any) -> None:
    from policy.lean import json_dumps

    typer.echo(json_dumps(data, spaced=True))
