"""`facts.attempts`: the tool attempts the activity pack records (table `tool_attempts`), counted over a window;
and the writes of that table (the `record_attempt` effect and `policy stats --prune-older-than` use them).

Each attempt is stored with its final verdict in the words of seed 001: `allowed`, `blocked` or `asked`
(`attempt_verdict` maps the engine's verdicts onto them).
"""

from __future__ import annotations

from policy.conditions import ExpressionError
from policy.facts import Family
from policy.lean import json_dumps
from policy.store import where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

ATTEMPT_VERDICTS = ("allowed", "blocked", "asked")
# The engine's verdicts (and the attempt words themselves) → the attempt words. "No verdict" means no rule
# objected, so the host's own permission flow went ahead: allowed.
_VERDICT_WORDS = {
    "deny": "blocked", "defer": "asked", "ask": "asked", "allow": "allowed", "none": "allowed", "": "allowed",
    "allowed": "allowed", "blocked": "blocked", "asked": "asked",
}
# Rows are pruned in batches, every PRUNE_EVERY inserts, so a write stays cheap however old the table is.
PRUNE_EVERY = 256
PRUNE_BATCH = 10_000


def attempt_verdict(verdict: str | None) -> str:
    """`deny` → blocked, `ask`/`defer` → asked, `allow`/none → allowed. Raises ValueError for anything else."""
    word = _VERDICT_WORDS.get("" if verdict is None else str(verdict))
    if word is None:
        raise ValueError(f"unknown verdict {verdict!r} (expected deny, defer, ask, allow, none, allowed, blocked "
                         "or asked)")
    return word


class AttemptFacts(Family):
    """Counts of recorded tool attempts. The attempt being decided is not counted yet: it is recorded after the
    decision."""

    name = "attempts"
    fields = {
        "count": "`count(seconds, tool=None, verdict=None)`: this agent session's tool attempts in the last "
                 "`seconds`, optionally of one tool and/or one verdict (`allowed`, `blocked`, `asked`, or "
                 "`deny`, `defer`, `ask`, `allow`).",
        "count_all": "`count_all(seconds, tool=None, verdict=None)`: the same over every agent session.",
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._counts: dict[tuple[Any, ...], int] = {}

    def count(self, seconds: Any, tool: str | None = None, verdict: str | None = None) -> int:
        session = self.context.event.agent_session
        if session is None:
            return 0
        return self._count(seconds, tool, verdict, session)

    def count_all(self, seconds: Any, tool: str | None = None, verdict: str | None = None) -> int:
        return self._count(seconds, tool, verdict, None)

    def _count(self, seconds: Any, tool: str | None, verdict: str | None, session: str | None) -> int:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ExpressionError(f"attempts.count needs a number of seconds >= 0, not {seconds!r}")
        try:
            word = None if verdict is None else attempt_verdict(verdict)
        except ValueError as error:
            raise ExpressionError(str(error)) from None
        key = (float(seconds), tool, word, session)
        if key not in self._counts:
            store = self.context.store
            self._counts[key] = 0 if store is None else count_attempts(
                store, since=self.context.now - float(seconds), agent_session=session, tool=tool, verdict=word)
        return self._counts[key]


FAMILY = AttemptFacts


def count_attempts(store: Store, *, since: float, agent_session: str | None = None, tool: str | None = None,
                   verdict: str | None = None) -> int:
    """Attempts at or after `since`; each filter is optional. Uses the (agent_session, at), (tool, at) or (at)
    index, whichever the filters allow."""
    clause, values = where(("at >= ?", since), ("agent_session = ?", agent_session), ("tool = ?", tool),
                           ("verdict = ?", verdict))
    return int(store.value("SELECT count(*) FROM tool_attempts" + clause, values) or 0)


def record_attempt(store: Store, *, at: float, agent_session: str | None, tool: str | None, verdict: str | None,
                   rule_ids: list[str] | tuple[str, ...] = (), extra: dict[str, Any] | None = None,
                   retention_days: float | None = None) -> int:
    """Insert one attempt (the verdict in any form `attempt_verdict` accepts); returns its id. With
    `retention_days`, every PRUNE_EVERY inserts also deletes a batch of attempts older than that."""
    cursor = store.execute(
        "INSERT INTO tool_attempts(at, agent_session, tool, verdict, rule_ids, extra) VALUES (?, ?, ?, ?, ?, ?)",
        (at, agent_session, tool, attempt_verdict(verdict), json_dumps(list(rule_ids)),
         json_dumps(extra) if extra else None))
    row_id = int(cursor.lastrowid)
    if retention_days and row_id % PRUNE_EVERY == 0:
        prune_attempts(store, before=at - float(retention_days) * 86400, limit=PRUNE_BATCH)
    return row_id


def prune_attempts(store: Store, *, before: float, limit: int | None = None) -> int:
    """Delete attempts older than `before` (at most `limit` of them, oldest first); returns how many."""
    if limit is None:
        return int(store.execute("DELETE FROM tool_attempts WHERE at < ?", (before,)).rowcount)
    return int(store.execute("DELETE FROM tool_attempts WHERE id IN (SELECT id FROM tool_attempts WHERE at < ? "
                             "ORDER BY at LIMIT ?)", (before, limit)).rowcount)
