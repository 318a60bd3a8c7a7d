"""The board: resource claims (with their heartbeats) and agent sessions, wherever their rows live.

Two interchangeable implementations: `policy.boards.local` (the user's own SQLite fact store, the default) and
`policy.boards.postgres` (a team's shared PostgreSQL server, `store: {shared: "postgresql://…"}` in the user
config; docs/team.md). The families (`facts.claims`, `facts.agent`), the effects (`claim`, `heartbeat`, `release`,
`agent_status`) and the CLI verbs (`policy claim`, `list`, `sessions`, `status`, ...) call a `Board`'s methods and
never care which one it is. Everything else (focus sessions, usage, kv, the decision log, ...) stays in the local
store.

Rows are plain mappings with the same keys in both. Times in them are on the caller's clock (epoch seconds, like
`now`): the shared board keeps the server's clock and shifts its times by the difference of the two clocks,
measured in the same statement, so `age`, `expires_in` and "since 10:05" mean the same on every machine.
"""

from __future__ import annotations

from policy.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from policy.model import Settings
    from policy.store import Store


class BoardOutage(StoreError):
    """The shared store could not be reached, or did not answer within its timeout. What each fact and effect
    does then is in docs/team.md#outages (claims: `ask` naming the outage, or the fail mode; reads: the last known
    board, marked stale)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, code="shared-unreachable",
                         hint=hint or "check the server and the network; docs/team.md#outages says what each rule "
                                      "does meanwhile")


class ClaimContended(StoreError):
    """A claim on the shared board was lost to another session between the evaluation and the claim: the hook
    evaluates the event again on the fresh board (it is never an answer of its own)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="claim-contended", hint="the rules are evaluated again on the fresh board")


if TYPE_CHECKING:
    class Board(Protocol):
        """What the families, effects and verbs may do with claims and agent sessions. `now` is the caller's
        clock. (A Protocol for the type checker only: the implementations are LocalBoard and SharedBoard.)"""

        shared: bool
        # Set once a read used the last known board (the shared store did not answer): why, and since when.
        outage: str | None
        stale_since: float | None

        def active(self, *, now: float, session: str | None = None, labels: Any = None,
                   others_of: str | None = None, viewer: str | None = None) -> list[dict[str, Any]]:
            """Active claims, oldest first: of one session, on some labels, and/or of every session but
            `others_of`. Each row's `mine` says whether it is `viewer`'s claim (default: `session`)."""

        def claim(self, session: str, labels: list[str], purpose: str, *, now: float, ttl: float,
                  agent: str = "", identity: tuple[str, str] | None = None) -> tuple[bool, list[dict[str, Any]]]:
            """Claim labels for `session`: (taken, the other sessions' active claims on them). The local board
            takes them always (co-claims are allowed, and reported); the shared board takes all of them or none,
            each only when it is free, expired or already this session's (`others` are then the holders)."""

        def heartbeat(self, session: str, *, now: float, every: float = 0.0) -> list[str] | None:
            """Extend this session's active claims by their own ttl. None: throttled (every claim had a heartbeat
            less than `every` seconds ago). Returns the labels extended."""

        def release(self, session: str, label: str | None = None, *, now: float) -> list[str]:
            """Release one label, or (None) every claim of `session`. Returns the active labels released."""

        def agent_session(self, session: str, *, now: float) -> dict[str, Any] | None:
            """One agent session's row, or None."""

        def update_agent_session(self, session: str, *, now: float, event: str | None = None,
                                 status: str | None = None, task: str | None = None, agent: str | None = None,
                                 cwd: str | None = None, source: str | None = None, model: str | None = None,
                                 transcript_path: str | None = None, task_default: str | None = None) -> None:
            """Create or update an agent session's row (policy.facts.agent.update_agent_session says how)."""

        def agent_sessions(self, *, now: float, since: float | None = None) -> list[dict[str, Any]]:
            """Agent sessions, most recently updated first: all of them, or (`since`) those not stopped plus
            those updated since then."""

        def find_agent_sessions(self, prefix: str) -> list[str]:
            """The agent sessions whose id is `prefix` or starts with it."""


def board_for(store: Store | None, settings: Settings) -> Board | None:
    """The board of this configuration: the shared one when the user config names one, else the local store's
    (None: neither, e.g. the engine benchmarks)."""
    if settings.shared_store is not None:
        from policy.boards.postgres import shared_board

        return shared_board(settings, store)
    if store is None:
        return None
    from policy.boards.local import LocalBoard

    return LocalBoard(store)


_identity: list[tuple[str, str]] = []


def local_identity() -> tuple[str, str]:
    """(user, host) of this process, recorded with its claims and agent sessions (from the OS, not the
    environment)."""
    if not _identity:
        _identity.append(_read_identity())
    return _identity[0]


def _read_identity() -> tuple[str, str]:
    import os

    try:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no passwd entry (containers), or not a POSIX system
        user = str(getattr(os, "getuid", lambda: "")())
    return user, os.uname().nodename.split(".")[0] if hasattr(os, "uname") else ""


def normalise_purpose(purpose: Any, limit: int) -> str:
    """One line, at most `limit` characters."""
    text = " ".join(str(purpose or "").split())
    return text[:limit - 1] + "…" if len(text) > limit else text
