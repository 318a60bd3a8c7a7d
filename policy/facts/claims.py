"""`facts.claims`: resource claims between agent sessions (the presence pack), and the checks of what is claimed.

A claim says: agent session S is about to mutate resource L (a label such as `stack:billing`), for purpose P. It is
active until `expires_at`, which is always `ttl` seconds after its last heartbeat (15 minutes by default), so a
session that dies leaves nothing behind for long. Expired claims are never reported. The rows live on the board
(policy.boards): the local store, where several sessions may claim the same label (co-claims: a claim reports the
others, and the rules defer), or a team's shared PostgreSQL store, where a label has one holder at a time
(docs/team.md). The CLI verbs (`policy claim`, ...) and the effects (`claim:`, ...) call the same functions.
"""

from __future__ import annotations

from policy.boards import local_identity, normalise_purpose
from policy.facts import Family
from policy.facts.agent import short_session
from policy.labels import LABEL_EXAMPLES, label_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.boards import Board
    from policy.facts import FactContext

DEFAULT_TTL = 900.0
DEFAULT_HEARTBEAT_EVERY = 120.0
MAX_PURPOSE_LENGTH = 300


# ---- reading -----------------------------------------------------------------------------------------------------

def _labels(labels: Any) -> list[str]:
    """One label or a list of labels, as a list of strings."""
    if labels is None:
        return []
    if isinstance(labels, str):
        return [labels]
    return [str(label) for label in labels]


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


STALE_NOTE = "(the last known board: the shared store does not answer right now)"


def describe(rows: Any, now: float, utc_offset: int | None) -> str:
    """Claims as `- ...` lines (see `describe_claim`), and a last line saying so when they are the last known
    board of a shared store that does not answer."""
    lines = ["- " + describe_claim(row, now, utc_offset) for row in rows or ()]
    if any(row.get("stale") for row in rows or ()):
        lines.append(STALE_NOTE)
    return "\n".join(lines)


# ---- the fact family ---------------------------------------------------------------------------------------------

class ClaimsFacts(Family):
    """The active resource claims of agent sessions (presence), on the local store or the team's shared board. A
    claim is a mapping with agent_session, label, purpose, claimed_at, heartbeat_at, expires_at, host, user, agent,
    age and expires_in (seconds), mine (this session's), fence (the label's fencing counter on a shared board, else
    None) and, when the shared store does not answer, stale (it comes from the last known board). Expired claims
    never appear."""

    name = "claims"
    on_outage = ("The last known board (what this machine last read from the server), without the claims expired "
                 "since by this machine's clock: each claim has `stale: true`, `stale` is true, `outage` says why, "
                 "and `describe` adds a line saying so. Nothing known: no claims, still stale.")
    fields = {
        "mine": "This agent session's active claims.",
        "others": "Other agent sessions' active claims (of every machine, on a shared board).",
        "on": "`on(label_or_labels)`: every session's active claims on a label, or on any of a list of labels.",
        "others_on": "`others_on(label_or_labels)`: other sessions' active claims on a label or any of a list.",
        "unheld": "`unheld(label_or_labels)`: the labels this session holds no active claim on.",
        "describe": "`describe(claims)`: claims as `- label: session 8f2c1d3e, \"purpose\", since 10:05 (2m 00s ago)` "
                    "lines, for reasons and context (with `(user@host)` after the session when the claim is "
                    "another user's or machine's, and a last line when the board is stale).",
        "stale": "True when the shared store did not answer and the claims are the last known board "
                 "(docs/team.md#outages).",
        "outage": "Why the shared store did not answer (None when it did, or when there is none).",
    }

    def __init__(self, context: FactContext) -> None:
        super().__init__(context)
        from policy.boards import board_for

        self.session = context.event.agent_session
        self.board = board_for(context.store, context.settings)
        self._mine: list[dict[str, Any]] | None = None
        self._others: list[dict[str, Any]] | None = None

    def _active(self, labels: Any = None, **filters: Any) -> list[dict[str, Any]]:
        if self.board is None:
            return []
        return self.board.active(now=self.context.now, labels=None if labels is None else _labels(labels),
                                 **filters)

    @property
    def stale(self) -> bool:
        """Whether the claims come from the last known board (the shared store does not answer)."""
        self._active(session=self.session or "")
        return self.board is not None and self.board.outage is not None

    @property
    def outage(self) -> str | None:
        """Why the shared store did not answer."""
        return None if not self.stale or self.board is None else self.board.outage

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
        return self._active(labels, viewer=self.session)

    def others_on(self, labels: Any) -> list[dict[str, Any]]:
        """Other sessions' active claims on a label (or on any of a list of labels)."""
        return self._active(labels, others_of=self.session or "")

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


def claim(board: Board, session: str, labels: Any, purpose: str, *, now: float, ttl: float = DEFAULT_TTL,
          agent: str = "", identity: tuple[str, str] | None = None) -> tuple[bool, list[dict[str, Any]]]:
    """Claim labels for `session` on `board` (locally, inside the caller's transaction): (taken, the other
    sessions' active claims on them; see Board.claim). Raises ValueError for a bad label or ttl."""
    wanted = check_labels(labels)
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl:g}")
    return board.claim(session, wanted, normalise_purpose(purpose, MAX_PURPOSE_LENGTH), now=now, ttl=ttl,
                       agent=agent, identity=identity)
