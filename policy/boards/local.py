"""The local board: claims and agent sessions in the user's own SQLite fact store (`claims`, `agent_sessions`).

Writes run inside the caller's transaction (the hook's, under the write lock, or a verb's `store.transaction()`),
which is what makes a local claim atomic: the hook decides and claims under the same lock. Co-claims are allowed:
claiming a label another session holds takes it too, and reports the others.
"""

from __future__ import annotations

from policy.store import where

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

CLAIM_COLUMNS = ("agent_session", "label", "purpose", "claimed_at", "heartbeat_at", "expires_at", "host", "user",
                 "agent")
SESSION_COLUMNS = ("agent_session", "agent", "cwd", "model", "source", "task", "status", "last_event",
                   "started_at", "updated_at", "ended_at", "transcript_path")
_SELECT = "SELECT " + ", ".join(CLAIM_COLUMNS) + " FROM claims"
_ORDER = " ORDER BY claimed_at, label, agent_session"


def claim_row(values: dict[str, Any], now: float, viewer: str | None) -> dict[str, Any]:
    """A claim as the families show it: its columns, `age` and `expires_in` (seconds), `mine`, and `fence` (the
    label's fencing counter on the shared board; None here)."""
    row = dict(values)
    row["age"] = max(0.0, now - row["claimed_at"])
    row["expires_in"] = max(0.0, row["expires_at"] - now)
    row["mine"] = viewer is not None and row["agent_session"] == viewer
    row.setdefault("fence", None)
    return row


class LocalBoard:
    """Claims and agent sessions in the local store (agent sessions have no user and host here: this machine's)."""

    shared = False
    outage: str | None = None
    stale_since: float | None = None

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- claims ------------------------------------------------------------------------------------------------

    def active(self, *, now: float, session: str | None = None, labels: Any = None, others_of: str | None = None,
               viewer: str | None = None) -> list[dict[str, Any]]:
        if labels is not None and not labels:
            return []
        clause, params = where(("label IN (" + ", ".join("?" for _ in labels or ()) + ")", labels),
                               ("agent_session = ?", session), ("expires_at > ?", now),
                               ("agent_session != ?", others_of))
        cursor = self.store.execute(_SELECT + clause + _ORDER, params)
        return [claim_row(dict(zip(CLAIM_COLUMNS, values)), now, viewer if viewer is not None else session)
                for values in cursor.fetchall()]

    def claim(self, session: str, labels: list[str], purpose: str, *, now: float, ttl: float, agent: str = "",
              identity: tuple[str, str] | None = None) -> tuple[bool, list[dict[str, Any]]]:
        """Claiming again what the session already holds keeps its `claimed_at` and renews the rest."""
        from policy.boards import local_identity

        user, host = identity or local_identity()
        self.store.execute("DELETE FROM claims WHERE expires_at <= ?", (now,))
        for label in labels:
            self.store.execute(
                "INSERT INTO claims(agent_session, label, purpose, claimed_at, heartbeat_at, expires_at, host, user, "
                "agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(agent_session, label) DO UPDATE SET "
                "purpose = excluded.purpose, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, "
                "host = excluded.host, user = excluded.user, agent = excluded.agent",
                (session, label, purpose, now, now, now + ttl, host, user, agent))
        return True, self.active(now=now, labels=labels, others_of=session)

    def heartbeat(self, session: str, *, now: float, every: float = 0.0) -> list[str] | None:
        oldest = self.store.value("SELECT min(heartbeat_at) FROM claims WHERE agent_session = ? AND expires_at > ?",
                                  (session, now))
        if oldest is None:
            return []
        if every > 0 and now - oldest < every:
            return None
        labels = [label for (label,) in self.store.execute(
            "SELECT label FROM claims WHERE agent_session = ? AND expires_at > ? ORDER BY claimed_at, label",
            (session, now)).fetchall()]
        self.store.execute("UPDATE claims SET expires_at = ? + (expires_at - heartbeat_at), heartbeat_at = ? "
                           "WHERE agent_session = ? AND expires_at > ?", (now, now, session, now))
        return labels

    def release(self, session: str, label: str | None = None, *, now: float) -> list[str]:
        condition, params = "agent_session = ?", [session]
        if label is not None:
            condition, params = condition + " AND label = ?", [session, label]
        released = [found for (found,) in self.store.execute(
            f"SELECT label FROM claims WHERE {condition} AND expires_at > ? ORDER BY claimed_at, label",
            (*params, now)).fetchall()]
        self.store.execute(f"DELETE FROM claims WHERE {condition}", params)
        return released

    # ---- agent sessions ----------------------------------------------------------------------------------------

    def agent_session(self, session: str, *, now: float) -> dict[str, Any] | None:
        row = self.store.row("SELECT " + ", ".join(SESSION_COLUMNS) + " FROM agent_sessions WHERE agent_session = ?",
                             (session,))
        return row

    def update_agent_session(self, session: str, *, now: float, event: str | None = None,
                             status: str | None = None, task: str | None = None, agent: str | None = None,
                             cwd: str | None = None, source: str | None = None, model: str | None = None,
                             transcript_path: str | None = None, task_default: str | None = None) -> None:
        values = {"session": session, "now": now, "event": event, "status": status, "task": task,
                  "agent": agent, "cwd": cwd, "source": source, "model": model, "transcript": transcript_path,
                  "task_default": task_default}
        self.store.execute(
            "INSERT INTO agent_sessions(agent_session, agent, cwd, model, source, task, status, last_event, "
            "started_at, updated_at, ended_at, transcript_path) VALUES (:session, :agent, :cwd, :model, :source, "
            "nullif(coalesce(:task, :task_default), ''), coalesce(:status, 'active'), :event, :now, :now, "
            "CASE WHEN :status = 'stopped' THEN :now END, :transcript) "
            "ON CONFLICT(agent_session) DO UPDATE SET "
            "agent = coalesce(:agent, agent), cwd = coalesce(:cwd, cwd), model = coalesce(:model, model), "
            "source = coalesce(:source, source), transcript_path = coalesce(:transcript, transcript_path), "
            "task = CASE WHEN :task IS NOT NULL THEN nullif(:task, '') "
            "WHEN task IS NULL THEN nullif(:task_default, '') ELSE task END, "
            "status = coalesce(:status, status), "
            "last_event = coalesce(:event, last_event), "
            "updated_at = CASE WHEN :event IS NULL THEN updated_at ELSE :now END, "
            "ended_at = CASE WHEN :status = 'stopped' THEN :now WHEN :status IS NULL THEN ended_at END",
            values)

    def agent_sessions(self, *, now: float, since: float | None = None) -> list[dict[str, Any]]:
        condition = "" if since is None else " WHERE status != 'stopped' OR updated_at >= ?"
        return self.store.rows(f"SELECT {', '.join(SESSION_COLUMNS)} FROM agent_sessions{condition} "
                               "ORDER BY updated_at DESC, agent_session", () if since is None else (since,))

    def find_agent_sessions(self, prefix: str) -> list[str]:
        """Also the sessions only `tool_attempts` knows (the activity pack records them before any status)."""
        pattern = like_prefix(prefix)
        return [row[0] for row in self.store.execute(
            "SELECT agent_session FROM agent_sessions WHERE agent_session LIKE ? ESCAPE '\\' UNION "
            "SELECT DISTINCT agent_session FROM tool_attempts WHERE agent_session LIKE ? ESCAPE '\\' ORDER BY 1",
            (pattern, pattern))]


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching the strings that start with `prefix`."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
