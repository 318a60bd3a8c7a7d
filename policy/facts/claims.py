"""`facts.claims`: resource claims between agent sessions (the presence pack), and the writes of the `claims` table.

A claim says: agent session S is about to mutate resource L (a label such as `stack:billing`), for purpose P. It is
active until `expires_at`, which is always `ttl` seconds after its last heartbeat (15 minutes by default), so a
session that dies leaves nothing behind for long. Expired claims are never reported, and are deleted on the next
claim. Several sessions may claim the same label (co-claims): a claim reports the others, and the rules defer.
The CLI verbs (`policy claim`, ...) and the effects (`claim:`, ...) call the same functions below.
"""

from __future__ import annotations

from policy.facts import Family
from policy.labels import LABEL_EXAMPLES, label_problem
from policy.facts.agent import short_session
from policy.store import where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.facts import FactContext
    from policy.store import Store

DEFAULT_TTL = 900.0
DEFAULT_HEARTBEAT_EVERY = 120.0
MAX_PURPOSE_LENGTH = 300
COLUMNS = ("agent_session", "label", "purpose", "claimed_at", "heartbeat_at", "expires_at", "host", "user", "agent")
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM claims"
_ORDER = " ORDER BY claimed_at, label, agent_session"


# ---- reading -----------------------------------------------------------------------------------------------------

def _labels(labels: Any) -> list[str]:
    """One label or a list of labels, as a list of strings."""
    if labels is None:
        return []
    if isinstance(labels, str):
        return [labels]
    return [str(label) for label in labels]


def active(store: Store, *, now: float, session: str | None = None, labels: Any = None,
           others_of: str | None = None, viewer: str | None = None) -> list[dict[str, Any]]:
    """Active claims, oldest first: of one session, on some labels, and/or of every session but `others_of`.
    Each row's `mine` says whether it is `viewer`'s claim (default: `session`)."""
    wanted = None if labels is None else _labels(labels)
    if wanted is not None and not wanted:
        return []
    clause, params = where(("label IN (" + ", ".join("?" for _ in wanted or ()) + ")", wanted),
                           ("agent_session = ?", session), ("expires_at > ?", now), ("agent_session != ?", others_of))
    cursor = store.execute(_SELECT + clause + _ORDER, params)
    return [_row(values, now, viewer if viewer is not None else session) for values in cursor.fetchall()]


def _row(values: tuple[Any, ...], now: float, session: str | None) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values))
    row["age"] = max(0.0, now - row["claimed_at"])
    row["expires_in"] = max(0.0, row["expires_at"] - now)
    row["mine"] = session is not None and row["agent_session"] == session
    return row


# ---- describing --------------------------------------------------------------------------------------------------


def who(row: dict[str, Any]) -> str:
    """`user@host` of a claim, as much of it as is known."""
    user, host = row.get("user") or "", row.get("host") or ""
    return f"{user}@{host}" if user and host else user or host


def since(at: float, now: float, utc_offset: int | None) -> str:
    """A local time: `10:05` on the day of `now`, `2026-01-04 10:05` on another day."""
    from policy.times import format_clock, format_local

    same_day = format_local(at, utc_offset=utc_offset)[:10] == format_local(now, utc_offset=utc_offset)[:10]
    return format_clock(at, utc_offset=utc_offset) if same_day else format_local(at, utc_offset=utc_offset)


def describe_claim(row: dict[str, Any], now: float, utc_offset: int | None, *, with_label: bool = True) -> str:
    """One line: `stack:billing: session 8f2c1d3e (dev@devbox), "purpose", since 10:05 (2m 00s ago)`. The user
    and host are shown only when they are not this process's own (on one machine they tell nothing)."""
    from policy.conditions import duration

    holder = f"session {short_session(row['agent_session'])}"
    if row.get("mine"):
        holder += " (you)"
    elif who(row) and (row.get("user"), row.get("host")) != local_identity():
        holder += f" ({who(row)})"
    parts = [holder]
    if row.get("purpose"):
        parts.append(f'"{row["purpose"]}"')
    parts.append(f"since {since(row['claimed_at'], now, utc_offset)} ({duration(now - row['claimed_at'])} ago)")
    text = ", ".join(parts)
    return f"{row['label']}: {text}" if with_label else text


def describe(rows: Any, now: float, utc_offset: int | None) -> str:
    """Claims as `- ...` lines (see `describe_claim`)."""
    return "\n".join("- " + describe_claim(row, now, utc_offset) for row in rows or ())


# ---- the fact family ---------------------------------------------------------------------------------------------

class ClaimsFacts(Family):
    """The active resource claims of agent sessions (presence). A claim is a mapping with agent_session, label,
    purpose, claimed_at, heartbeat_at, expires_at, host, user, agent, age and expires_in (seconds), and mine (this
    session's). Expired claims never appear."""

    name = "claims"
    fields = {
        "mine": "This agent session's active claims.",
        "others": "Other agent sessions' active claims.",
        "on": "`on(label_or_labels)`: every session's active claims on a label, or on any of a list of labels.",
        "others_on": "`others_on(label_or_labels)`: other sessions' active claims on a label or any of a list.",
        "unheld": "`unheld(label_or_labels)`: the labels this session holds no active claim on.",
        "describe": "`describe(claims)`: claims as `- label: session 8f2c1d3e, \"purpose\", since 10:05 (2m 00s ago)` "
                    "lines, for reasons and context (with `(user@host)` after the session when the claim is "
                    "another user's or machine's).",
    }

    def __init__(self, context: FactContext) -> None:
        super().__init__(context)
        self.session = context.event.agent_session
        self._mine: list[dict[str, Any]] | None = None
        self._others: list[dict[str, Any]] | None = None

    def _active(self, **filters: Any) -> list[dict[str, Any]]:
        store = self.context.store
        return [] if store is None else active(store, now=self.context.now, **filters)

    @property
    def mine(self) -> list[dict[str, Any]]:
        """This agent session's active claims."""
        if self._mine is None:
            self._mine = [] if self.session is None else self._active(session=self.session)
        return self._mine

    @property
    def others(self) -> list[dict[str, Any]]:
        """Other agent sessions' active claims."""
        if self._others is None:
            self._others = self._active(others_of=self.session or "")
        return self._others

    def on(self, labels: Any) -> list[dict[str, Any]]:
        """Every session's active claims on a label (or on any of a list of labels)."""
        return self._active(labels=labels, viewer=self.session)

    def others_on(self, labels: Any) -> list[dict[str, Any]]:
        """Other sessions' active claims on a label (or on any of a list of labels)."""
        return self._active(labels=labels, others_of=self.session or "")

    def unheld(self, labels: Any) -> list[str]:
        """The labels (of one or a list) this session holds no active claim on."""
        held = {row["label"] for row in self.mine}
        return [label for label in _labels(labels) if label not in held]

    def describe(self, claims: Any) -> str:
        """Claims as `- label: session 8f2c1d3e, "purpose", since 10:05 (2m 00s ago)` lines (see `describe_claim`)."""
        return describe(claims, self.context.now, self.context.utc_offset)


FAMILY = ClaimsFacts


# ---- writing (the effects and the CLI verbs) ---------------------------------------------------------------------

def check_labels(labels: Any) -> list[str]:
    """The labels as a list; raises ValueError naming the first bad one."""
    result = []
    for label in _labels(labels):
        problem = label_problem(label)
        if problem:
            raise ValueError(f"{problem} ({LABEL_EXAMPLES})")
        if label not in result:
            result.append(label)
    return result


_identity: list[tuple[str, str]] = []


def local_identity() -> tuple[str, str]:
    """(user, host) of this process, recorded with its claims (from the OS, not the environment)."""
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


def claim(store: Store, session: str, labels: Any, purpose: str, *, now: float, ttl: float = DEFAULT_TTL,
          agent: str = "", identity: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Claim labels for `session` (run it inside a transaction). Claiming again what the session already holds
    keeps its `claimed_at` and renews the rest. Returns the other sessions' active claims on the same labels:
    co-claims are allowed, and reported so the caller can defer."""
    wanted = check_labels(labels)
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl:g}")
    purpose = " ".join(str(purpose or "").split())
    if len(purpose) > MAX_PURPOSE_LENGTH:
        purpose = purpose[:MAX_PURPOSE_LENGTH - 1] + "…"
    user, host = identity or local_identity()
    store.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
    for label in wanted:
        store.execute(
            "INSERT INTO claims(agent_session, label, purpose, claimed_at, heartbeat_at, expires_at, host, user, "
            "agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(agent_session, label) DO UPDATE SET "
            "purpose = excluded.purpose, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, "
            "host = excluded.host, user = excluded.user, agent = excluded.agent",
            (session, label, purpose, now, now, now + ttl, host, user, agent))
    return active(store, now=now, labels=wanted, others_of=session)


def heartbeat(store: Store, session: str, *, now: float, every: float = 0.0) -> list[str] | None:
    """Extend this session's active claims by their own ttl, from now. Throttled: None (nothing written) when every
    claim had a heartbeat less than `every` seconds ago. Returns the labels extended."""
    oldest = store.value("SELECT min(heartbeat_at) FROM claims WHERE agent_session = ? AND expires_at > ?",
                         (session, now))
    if oldest is None:
        return []
    if every > 0 and now - oldest < every:
        return None
    labels = [label for (label,) in store.execute(
        "SELECT label FROM claims WHERE agent_session = ? AND expires_at > ? ORDER BY claimed_at, label",
        (session, now)).fetchall()]
    store.execute("UPDATE claims SET expires_at = ? + (expires_at - heartbeat_at), heartbeat_at = ? "
                  "WHERE agent_session = ? AND expires_at > ?", (now, now, session, now))
    return labels


def release(store: Store, session: str, label: str | None = None, *, now: float) -> list[str]:
    """Release one label, or (label None) every claim of `session`. Returns the active labels released."""
    where, params = "agent_session = ?", [session]
    if label is not None:
        where, params = where + " AND label = ?", [session, label]
    released = [found for (found,) in store.execute(
        f"SELECT label FROM claims WHERE {where} AND expires_at > ? ORDER BY claimed_at, label",
        (*params, now)).fetchall()]
    store.execute(f"DELETE FROM claims WHERE {where}", params)
    return released
