"""What the hosts' settings modules (policy/adapters/<host>_settings.py) share: reading one hook entry back, in the
two layouts hosts use, and finding a host on this machine. (Not a host: modules starting with `_` are helpers.)"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def grouped_handlers(item: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, handler) of a matcher group's `hooks` (Claude Code, Codex CLI, Gemini CLI)."""
    entries = item.get("hooks") if isinstance(item, dict) else None
    return [(index, handler) for index, handler in enumerate(entries if isinstance(entries, list) else ())
            if isinstance(handler, dict)]


def listed_handler(item: Any) -> list[tuple[None, dict[str, Any]]]:
    """The handler an event's list holds directly (Cursor, Copilot CLI)."""
    return [(None, item)] if isinstance(item, dict) else []


def command_handler(handler: dict[str, Any]) -> tuple[str, list[str] | None] | None:
    """A `command` handler's command line (its `args` too, where a host runs `command` + `args` without a shell);
    None for another kind of handler."""
    command, args = handler.get("command"), handler.get("args")
    if handler.get("type", "command") != "command" or not isinstance(command, str):
        return None
    return command, [str(arg) for arg in args] if isinstance(args, list) else None


def group_matcher(item: dict[str, Any], handler: dict[str, Any]) -> str | None:
    matcher = item.get("matcher")
    return matcher if isinstance(matcher, str) else None


def handler_matcher(item: dict[str, Any], handler: dict[str, Any]) -> str | None:
    matcher = handler.get("matcher")
    return matcher if isinstance(matcher, str) else None


def presence(home: str, programs: tuple[str, ...], which: Callable[[str], str | None]) -> str | None:
    """What shows a host is installed: its configuration directory, else the first of its programs on PATH."""
    if os.path.isdir(home):
        return home
    return next((found for found in map(which, programs) if found), None)
