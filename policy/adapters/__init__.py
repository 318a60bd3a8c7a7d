"""Host adapters: one module per agent host, the only code that knows a host's hook format.

An adapter turns the host's stdin into a canonical `Event` (`parse`) and a `Decision` back into the host's stdout,
stderr and exit code (`render`, and `render_failure` for when no decision could be made).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from policy.errors import PolicyError
    from policy.model import Decision, Event, HookOutput, Settings

    class Adapter(Protocol):
        name: str

        def parse(self, raw: bytes) -> Event: ...

        def render(self, decision: Decision, event: Event, settings: Settings) -> HookOutput: ...

        def render_failure(self, error: PolicyError, event_name: str | None, mode: str) -> HookOutput: ...

# host name -> module
ADAPTERS: dict[str, str] = {
    "claude-code": "policy.adapters.claude_code",
}


def get_adapter(name: str) -> Adapter:
    """The adapter for `name`; raises KeyError for an unknown host."""
    module = __import__(ADAPTERS[name], fromlist=["_"])
    return module
