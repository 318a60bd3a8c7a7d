"""Host adapters: one module per agent host, the only code that knows a host's hook format.

An adapter turns the host's stdin into a canonical `Event` (`parse`) and a `Decision` back into the host's stdout,
stderr and exit code (`render`, and `render_failure` for when no decision could be made). It keeps what each part
of a decision does on each event in one table, which `render` follows, `check` turns into
validate-time diagnostics for rules that ask for something the host would not do, and scripts/gen_docs.py turns
into the host's page in docs/.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from policy.errors import Diagnostic, PolicyError
    from policy.model import Decision, Event, HookOutput, Pack, Settings

    class Adapter(Protocol):
        name: str

        # `event_name`: the hook's --event, for a host whose payload does not name its event (Copilot CLI)
        def parse(self, raw: bytes, event_name: str | None = None) -> Event: ...

        def render(self, decision: Decision, event: Event, settings: Settings) -> HookOutput: ...

        def render_failure(self, error: PolicyError, event_name: str | None, mode: str) -> HookOutput: ...

        def event_name_hint(self, raw: bytes) -> str | None: ...

        def check(self, packs: tuple[Pack, ...] | list[Pack]) -> list[Diagnostic]: ...

        def supports(self, event_name: str) -> bool: ...

        # the payload the host would send for a canonical event (Claude Code's shape; `policy test --agent`);
        # ValueError for an event or tool it does not have. Claude Code's adapter has none: its payloads are these.
        def payload(self, event: dict[str, Any]) -> dict[str, Any]: ...

# host name -> module
ADAPTERS: dict[str, str] = {
    "claude-code": "policy.adapters.claude_code",
    "codex": "policy.adapters.codex",
    "gemini": "policy.adapters.gemini",
    "cursor": "policy.adapters.cursor",
    "copilot": "policy.adapters.copilot",
}
DEFAULT = "claude-code"

# host name -> the module that knows its settings files (where `policy install` writes the hook), in the order
# `policy install --agent auto` and the docs list them
SETTINGS: dict[str, str] = {
    "claude-code": "policy.adapters.claude_settings",
    "codex": "policy.adapters.codex_settings",
    "gemini": "policy.adapters.gemini_settings",
    "cursor": "policy.adapters.cursor_settings",
    "copilot": "policy.adapters.copilot_settings",
}


def get_settings(name: str) -> Any:
    """The settings module of host `name`; raises KeyError for an unknown host."""
    return __import__(SETTINGS[name], fromlist=["_"])


def get_adapter(name: str) -> Adapter:
    """The adapter for `name`; raises KeyError for an unknown host."""
    module = __import__(ADAPTERS[name], fromlist=["_"])
    return module


def host_diagnostics(packs: tuple[Pack, ...] | list[Pack], hosts: tuple[str, ...] = ()) -> list[Diagnostic]:
    """What `policy validate` reports about rules the enabled hosts (every host when none is named) cannot act on
    as written (errors and warnings): rules that can fire on none of them, tools and fields they select that no
    payload has, then each host's own checks."""
    from policy.vocabulary import reach_diagnostics, selector_diagnostics

    problems = reach_diagnostics(packs, hosts) + selector_diagnostics(packs, hosts)
    # what each host does with each part of a decision: the named hosts', else the default host's (a portable
    # rule need not hear about hosts nobody named)
    for host in hosts or (DEFAULT,):
        if host in ADAPTERS:
            problems += get_adapter(host).check(packs)
    return problems
