"""Gemini CLI's settings files, as `policy install --agent gemini` writes them and `policy doctor` reads them back.

Sources (docs/install.md#gemini-cli): google-gemini/gemini-cli docs/hooks/reference.md, schemas/settings.schema.json
(`hooks`, `hooksConfig`, `HookDefinitionArray`), packages/cli/src/config/settings.ts (the files, read with
strip-json-comments), packages/core/src/config/storage.ts (`~/.gemini`, `$GEMINI_CLI_HOME`, `<project>/.gemini`),
packages/core/src/hooks/hookRunner.ts (60,000 ms default, the command run through the shell) and hookPlanner.ts
(a tool matcher is an unanchored JavaScript RegExp; other events' matchers are compared exactly).

Claude Code's three levels under `hooks` in `~/.gemini/settings.json` (user) or `<project>/.gemini/settings.json`
(project); the timeout is in MILLISECONDS. The file may hold comments, which stay as they are. Tool matchers are
anchored (`^(?:run_shell_command)$`) because Gemini CLI tests them as unanchored regular expressions.
"""

from __future__ import annotations

import os

from policy.adapters import _settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

name = "gemini"
INSTALL_SCOPES = ("user", "project")
DEFAULT_SCOPE = "project"
SCOPE_HELP = {"project": ".gemini/settings.json", "user": "~/.gemini/settings.json"}
LAYOUT = "groups"
COMMENTS = True
TIMEOUT_FIELD = "timeout"
TIMEOUT_UNIT = "ms"
DEFAULT_TIMEOUT = 60.0
SKELETON: dict[str, Any] = {}
PROJECT_DIR_VARIABLE = None
EXEC_FORM = False  # `handler` is always shell form: one command line
MATCHER_EVENTS = ("BeforeTool", "AfterTool")
HOOK_NAME = "policy"  # how /hooks lists it, and what hooksConfig.disabled would name
SMOKE_EVENT = {"session_id": "policy-doctor", "transcript_path": "", "hook_event_name": "BeforeTool",
               "timestamp": "2026-01-01T00:00:00.000Z", "tool_name": "run_shell_command",
               "tool_input": {"command": "true", "description": "policy doctor"}}


def home(environ: Mapping[str, str]) -> str:
    return os.path.join(environ.get("GEMINI_CLI_HOME") or environ.get("HOME") or os.path.expanduser("~"), ".gemini")


def settings_path(scope: str, *, project: str, environ: Mapping[str, str]) -> str:
    return os.path.join(home(environ) if scope == "user" else os.path.join(project, ".gemini"), "settings.json")


def anchored(matcher: str | None) -> str | None:
    """A plain list of names (`a|b`) as the regex matching exactly those names."""
    return None if matcher in (None, "", "*") else f"^(?:{matcher})$"


def entry(event: str, matcher: str | None, handler: dict[str, Any], timeout: int) -> dict[str, Any]:
    group: dict[str, Any] = {}
    if event in MATCHER_EVENTS and anchored(matcher):
        group["matcher"] = anchored(matcher)
    group["hooks"] = [{"name": HOOK_NAME, "type": "command", "command": handler["command"],
                       TIMEOUT_FIELD: timeout * 1000}]
    return group


handlers_of = _settings.grouped_handlers
command_of = _settings.command_handler
PROGRAMS = ("gemini",)  # what shows it is installed, besides its home directory (on PATH)



def matcher_of(item: dict[str, Any], handler: dict[str, Any]) -> str | None:
    matcher = item.get("matcher")
    if not isinstance(matcher, str):
        return None
    if matcher.startswith("^(?:") and matcher.endswith(")$"):
        return matcher[4:-2]
    return matcher


def host_problems(data: dict[str, Any], path: str, scope: str, *, shown: str, environ: Mapping[str, str],
                  project: str, ours: list[tuple[str, int, int]]) -> list[tuple[str, str, str]]:
    """Hooks switched off in this file: `hooksConfig.enabled: false`, or our hook named in `hooksConfig.disabled`."""
    found = data.get("hooksConfig")
    config: dict[str, Any] = found if isinstance(found, dict) else {}
    problems = []
    if config.get("enabled") is False:
        problems.append(("fail", f"{shown} sets hooksConfig.enabled: false: Gemini CLI runs no hook, policy enforces "
                                 "nothing", f"remove hooksConfig.enabled from {shown}"))
    listed = config.get("disabled")
    disabled: list[Any] = listed if isinstance(listed, list) else []
    if HOOK_NAME in disabled:
        problems.append(("fail", f"{shown} lists {HOOK_NAME!r} in hooksConfig.disabled: Gemini CLI skips policy's "
                                 "hook", f"remove {HOOK_NAME!r} from hooksConfig.disabled in {shown}"))
    return problems
