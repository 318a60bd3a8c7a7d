"""GitHub Copilot CLI's hook files, as `policy install --agent copilot` writes them and `policy doctor` reads them.

Sources (docs/install.md#github-copilot-cli): github/docs content/copilot/reference/hooks-reference.md (hook
locations, the configuration format, `timeoutSec` in seconds with a 30 s default, `matcher` anchored as
`^(?:PATTERN)$` on the tool name, `disableAllHooks`) and the Copilot CLI how-to on hooks.

Copilot CLI loads every `*.json` of `.github/hooks/` (project) and of `~/.copilot/hooks/` (user, `$COPILOT_HOME/hooks`):
policy writes its own file there, `policy.json`, `{"version": 1, "hooks": {event: [handler, ...]}}` with ONE
level, each handler `{"type": "command", "bash": ..., "timeoutSec": ...}` (`powershell` on Windows), its command
ending in `--event NAME`: a camelCase payload does not name its event.
"""

from __future__ import annotations

import os

from policy.adapters import _settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

name = "copilot"
INSTALL_SCOPES = ("user", "project")
DEFAULT_SCOPE = "project"
SCOPE_HELP = {"project": ".github/hooks/policy.json", "user": "~/.copilot/hooks/policy.json ($COPILOT_HOME)"}
LAYOUT = "flat"
COMMENTS = False
TIMEOUT_FIELD = "timeoutSec"
TIMEOUT_UNIT = "s"
DEFAULT_TIMEOUT = 30.0
SKELETON: dict[str, Any] = {"version": 1}
PROJECT_DIR_VARIABLE = None
EXEC_FORM = False  # `handler` is always shell form: one command line
MATCHER_EVENTS = ("preToolUse", "postToolUse", "permissionRequest")
SHELL_FIELD = "powershell" if os.name == "nt" else "bash"
FILE_NAME = "policy.json"
BROKEN_HOOK = "denies every tool call"  # a preToolUse command that crashes or cannot start fails closed
SMOKE_EVENT = {"sessionId": "policy-doctor", "timestamp": 1767225600000, "cwd": "", "toolName": "bash",
               "toolArgs": "{\"command\": \"true\", \"description\": \"policy doctor\"}"}
EVENT_ARGUMENT = True  # the camelCase payload names no event: each hook's command says it (`--event preToolUse`)


def home(environ: Mapping[str, str]) -> str:
    return environ.get("COPILOT_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".copilot")


def settings_path(scope: str, *, project: str, environ: Mapping[str, str]) -> str:
    directory = os.path.join(home(environ), "hooks") if scope == "user" else os.path.join(project, ".github", "hooks")
    return os.path.join(directory, FILE_NAME)


def entry(event: str, matcher: str | None, handler: dict[str, Any], timeout: int) -> dict[str, Any]:
    written: dict[str, Any] = {"type": "command", SHELL_FIELD: handler["command"], TIMEOUT_FIELD: timeout}
    if event in MATCHER_EVENTS and matcher not in (None, "", "*"):
        written["matcher"] = matcher
    return written


handlers_of = _settings.listed_handler
matcher_of = _settings.handler_matcher
PROGRAMS = ("copilot",)  # what shows it is installed, besides its home directory (on PATH)



def command_of(handler: dict[str, Any]) -> tuple[str, list[str] | None] | None:
    if handler.get("type", "command") != "command":
        return None
    if isinstance(handler.get("exec"), str):
        args = handler.get("args")
        return handler["exec"], [str(arg) for arg in args] if isinstance(args, list) else []
    for field in (SHELL_FIELD, "command"):
        if isinstance(handler.get(field), str):
            return handler[field], None
    return None


def host_problems(data: dict[str, Any], path: str, scope: str, *, shown: str, environ: Mapping[str, str],
                  project: str, ours: list[tuple[str, int, int]]) -> list[tuple[str, str, str]]:
    """`disableAllHooks` in this file, or (project) in the repository's .github/copilot/settings*.json, which
    switches off every hook of the repository; a `version` other than 1."""
    import json

    problems = []
    if "version" in data and data["version"] != 1:
        problems.append(("fail", f"{shown} has version {data['version']!r}, not 1: Copilot CLI rejects the file",
                         f"set \"version\": 1 in {shown}"))
    if data.get("disableAllHooks") is True:
        problems.append(("fail", f"{shown} sets disableAllHooks: Copilot CLI skips every hook in it",
                         f"remove disableAllHooks from {shown}"))
    if scope == "project":
        for settings in ("settings.json", "settings.local.json"):
            settings_file = os.path.join(project, ".github", "copilot", settings)
            try:
                with open(settings_file, encoding="utf-8") as handle:
                    repository = json.load(handle)
            except (OSError, ValueError):
                continue
            if isinstance(repository, dict) and repository.get("disableAllHooks") is True:
                problems.append(("fail", f"{settings_file} sets disableAllHooks: Copilot CLI runs no hook in this "
                                         "repository, policy enforces nothing",
                                 f"remove disableAllHooks from {settings_file}"))
    return problems
