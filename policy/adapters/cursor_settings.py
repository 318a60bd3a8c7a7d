"""Cursor's hook files, as `policy install --agent cursor` writes them and `policy doctor` reads them back.

Sources (docs/install.md#cursor): cursor.com/docs/agent/hooks and cursor.com/docs/reference/third-party-hooks.
Cursor is not open source, so what its docs do not say is marked in docs/install.md and read the safe way.

`{"version": 1, "hooks": {event: [handler, ...]}}` in `<project>/.cursor/hooks.json` (project) or
`~/.cursor/hooks.json` (user): ONE level, each handler `{"command": ..., "timeout": seconds}`, and on `preToolUse`
the `matcher` policy.vocabulary.host_hooks gives (the tools the kind-specific events do not cover; docs/hosts.md).
"""

from __future__ import annotations

import os

from policy.adapters import _settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

name = "cursor"
INSTALL_SCOPES = ("user", "project")
DEFAULT_SCOPE = "project"
SCOPE_HELP = {"project": ".cursor/hooks.json", "user": "~/.cursor/hooks.json"}
LAYOUT = "flat"
COMMENTS = False
TIMEOUT_FIELD = "timeout"
TIMEOUT_UNIT = "s"
DEFAULT_TIMEOUT = None  # not documented
SKELETON: dict[str, Any] = {"version": 1}
PROJECT_DIR_VARIABLE = None
EXEC_FORM = False  # `handler` is always shell form: one command line
SMOKE_EVENT = {"hook_event_name": "beforeShellExecution", "conversation_id": "policy-doctor",
               "generation_id": "policy-doctor", "workspace_roots": [], "command": "true", "cwd": ""}


def home(environ: Mapping[str, str]) -> str:
    return os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cursor")


def settings_path(scope: str, *, project: str, environ: Mapping[str, str]) -> str:
    return os.path.join(home(environ) if scope == "user" else os.path.join(project, ".cursor"), "hooks.json")


def entry(event: str, matcher: str | None, handler: dict[str, Any], timeout: int) -> dict[str, Any]:
    written: dict[str, Any] = {"command": handler["command"], TIMEOUT_FIELD: timeout}
    if matcher:
        written["matcher"] = matcher
    return written


handlers_of = _settings.listed_handler
command_of = _settings.command_handler
matcher_of = _settings.handler_matcher
PROGRAMS = ("cursor-agent", "cursor")  # what shows it is installed, besides its home directory (on PATH)



def host_problems(data: dict[str, Any], path: str, scope: str, *, shown: str, environ: Mapping[str, str],
                  project: str, ours: list[tuple[str, int, int]]) -> list[tuple[str, str, str]]:
    if "version" in data and data["version"] != 1:
        return [("fail", f"{shown} has version {data.get('version')!r}, not 1: Cursor does not load it",
                 f"set \"version\": 1 in {shown}")]
    return []
