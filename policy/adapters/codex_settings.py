"""Codex CLI's hook files, as `policy install --agent codex` writes them and `policy doctor` reads them back.

Sources (docs/install.md#codex-cli): developers.openai.com/codex/hooks; openai/codex codex-rs/config/src/hook_config.rs
(`HooksFile {hooks}`, `MatcherGroup {matcher, hooks}`, `HookHandlerConfig::Command {command, timeout, async,
statusMessage}`), codex-rs/hooks/src/engine/discovery.rs (where `hooks.json` is looked for, the default timeout of
600 s, the trust check) and command_runner.rs (the command runs through `$SHELL -lc`).

Claude Code's three levels (event -> matcher groups -> handlers) in a `hooks.json` beside each config layer:
`$CODEX_HOME/hooks.json` (user, `~/.codex` by default) and `<project>/.codex/hooks.json` (project; loaded only when
the project is trusted). `timeout` is in whole seconds. Strict JSON (serde_json): no comments. Codex runs a hook it
has not been shown only after the user trusts it in `/hooks` (the trust is recorded in config.toml under
`[hooks.state]`, keyed by file, event, group and handler index); `policy install` never records that trust itself.
"""

from __future__ import annotations

import os

from policy.adapters import _settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

name = "codex"
INSTALL_SCOPES = ("user", "project")
DEFAULT_SCOPE = "project"
SCOPE_HELP = {"project": ".codex/hooks.json", "user": "~/.codex/hooks.json ($CODEX_HOME)"}
LAYOUT = "groups"
COMMENTS = False
TIMEOUT_FIELD = "timeout"
TIMEOUT_UNIT = "s"
DEFAULT_TIMEOUT = 600.0
SKELETON: dict[str, Any] = {}
PROJECT_DIR_VARIABLE = None
EXEC_FORM = False  # `handler` is always shell form: one command line
MATCHER_EVENTS = ("PreToolUse", "PermissionRequest", "PostToolUse")
INSTALL_NOTES = ("Codex runs a new or changed hook only once you trust it: open /hooks in Codex and trust policy's "
                 "(a project's .codex/ is read only when the project is trusted too)",)
SMOKE_EVENT = {"session_id": "policy-doctor", "turn_id": "policy-doctor", "transcript_path": None, "cwd": "",
               "hook_event_name": "PreToolUse", "model": "policy-doctor", "permission_mode": "default",
               "tool_name": "Bash", "tool_input": {"command": "true"}, "tool_use_id": "policy-doctor"}


def home(environ: Mapping[str, str]) -> str:
    return environ.get("CODEX_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".codex")


def settings_path(scope: str, *, project: str, environ: Mapping[str, str]) -> str:
    return os.path.join(home(environ) if scope == "user" else os.path.join(project, ".codex"), "hooks.json")


def entry(event: str, matcher: str | None, handler: dict[str, Any], timeout: int) -> dict[str, Any]:
    """The matcher group for one event: one command handler, the matcher only on the events that match."""
    group: dict[str, Any] = {"matcher": matcher or "*"} if event in MATCHER_EVENTS else {}
    group["hooks"] = [{"type": "command", "command": handler["command"], TIMEOUT_FIELD: timeout}]
    return group


handlers_of = _settings.grouped_handlers
command_of = _settings.command_handler
matcher_of = _settings.group_matcher
PROGRAMS = ("codex",)  # what shows it is installed, besides its home directory (on PATH)



def event_key(event: str) -> str:
    """Codex's label of an event in trust keys: PreToolUse -> pre_tool_use."""
    return "".join("_" + char.lower() if char.isupper() else char for char in event).lstrip("_")


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    """`data[key]` when it is a table, else an empty one."""
    found = data.get(key)
    return found if isinstance(found, dict) else {}


def host_problems(data: dict[str, Any], path: str, scope: str, *, shown: str, environ: Mapping[str, str],
                  project: str, ours: list[tuple[str, int, int]]) -> list[tuple[str, str, str]]:
    """(status, message, fix) for what keeps Codex from running the installed hooks: hooks switched off in
    config.toml, a project that is not trusted (its .codex layer is not loaded), and our handlers not trusted yet
    in /hooks. `ours` lists (event, group index, handler index) of our handlers in the file at `path`."""
    import tomllib

    config_path = os.path.join(home(environ), "config.toml")
    try:
        with open(config_path, "rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        config = {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        return [("warn", f"{config_path} cannot be read ({error}); Codex may not start", f"fix {config_path}")]
    problems = []
    features = _table(config, "features")
    for key in ("hooks", "codex_hooks"):
        if features.get(key) is False:
            problems.append(("fail", f"{config_path} sets [features] {key} = false: Codex runs no hook, policy "
                                     "enforces nothing", f"remove `{key} = false` from {config_path}"))
    if scope == "project":
        trust = _table(_table(config, "projects"), project).get("trust_level")
        if trust != "trusted":
            problems.append(("warn", f"Codex loads {shown} only in a trusted project, and {project} is not marked "
                                     f"trusted in {config_path}", "trust the project when Codex asks"))
    states = _table(_table(config, "hooks"), "state")
    for event, group, handler in ours:
        state = _table(states, f"{path}:{event_key(event)}:{group}:{handler}")
        if state.get("enabled") is False:
            problems.append(("fail", f"the {event} hook in {shown} is disabled in Codex's /hooks", "enable it in "
                                     "/hooks in Codex"))
        elif not state.get("trusted_hash"):
            problems.append(("warn", f"Codex has not been told to trust the {event} hook in {shown} yet and skips it "
                                     "until you do", "open /hooks in Codex and trust it"))
    return problems
