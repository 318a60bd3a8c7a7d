"""The fact store's schema: numbered migrations, applied with sqlite-utils when a store is opened, and recorded.

Each migration runs in the same transaction as the bump of `PRAGMA user_version` and its `schema_migrations`
row, so a store is always at exactly one version. Times are UNIX epoch seconds (REAL), in UTC; booleans are
0/1; lists and mappings are JSON text. docs/facts.md documents every table (generated from this schema).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sqlite_utils import Database


def _001_initial(db: Database) -> None:
    db.table("schema_migrations").create(
        {"version": int, "name": str, "applied_at": float}, pk="version", not_null={"name", "applied_at"})
    db.table("meta").create({"key": str, "value": str}, pk="key")

    db.table("focus_sessions").create({
        "id": int, "type": str, "intention": str, "started_at": float, "planned_minutes": float,
        "break_minutes": float, "ended_at": float, "end_reason": str, "distractions": str, "did_the_thing": int, "rabbit_hole": int,
        "agent_used": int, "agent_used_at": float,
    }, pk="id", not_null={"type", "started_at", "planned_minutes", "break_minutes", "agent_used"},
        defaults={"agent_used": 0})
    db.table("focus_sessions").create_index(["started_at"])
    db.table("focus_sessions").create_index(["ended_at"])

    db.table("breaks").create({
        "id": int, "started_at": float, "until": float, "focus_session_id": int, "reason": str,
    }, pk="id", not_null={"started_at", "until", "reason"})
    db.table("breaks").create_index(["until"])

    db.table("usage_samples").create({
        "id": int, "observed_at": float, "window": str, "window_seconds": float, "utilization": float,
        "resets_at": float, "source": str,
    }, pk="id", not_null={"observed_at", "window", "window_seconds", "utilization", "source"})
    db.table("usage_samples").create_index(["window", "observed_at"])

    db.table("claims").create({
        "agent_session": str, "label": str, "purpose": str, "claimed_at": float, "heartbeat_at": float,
        "expires_at": float, "host": str, "user": str, "agent": str,
    }, pk=("agent_session", "label"), not_null={"purpose", "claimed_at", "heartbeat_at", "expires_at"})
    db.table("claims").create_index(["label", "expires_at"])
    db.table("claims").create_index(["expires_at"])

    db.table("tool_attempts").create({
        "id": int, "at": float, "agent_session": str, "tool": str, "verdict": str, "rule_ids": str, "extra": str,
    }, pk="id", not_null={"at", "verdict"})
    db.table("tool_attempts").create_index(["at"])
    db.table("tool_attempts").create_index(["agent_session", "at"])
    db.table("tool_attempts").create_index(["tool", "at"])

    db.table("agent_sessions").create({
        "agent_session": str, "agent": str, "cwd": str, "model": str, "source": str, "task": str, "status": str,
        "last_event": str, "started_at": float, "updated_at": float, "ended_at": float,
    }, pk="agent_session", not_null={"status", "updated_at"})
    db.table("agent_sessions").create_index(["status", "updated_at"])

    db.table("decisions").create({
        "id": int, "at": float, "host": str, "event": str, "agent_session": str, "tool": str, "verdict": str,
        "rule_ids": str, "reason": str, "delay": float, "packs": str, "ruleset": str, "latency_ms": float,
        "effects": str, "payload": str, "error": str,
    }, pk="id", not_null={"at", "host", "event"})
    db.table("decisions").create_index(["at"])
    db.table("decisions").create_index(["agent_session", "at"])

    db.table("kv").create({"key": str, "value": str, "updated_at": float, "expires_at": float},
                    pk="key", not_null={"value", "updated_at"})
    db.table("kv").create_index(["expires_at"])

    # One row per fact source: the last good value (JSON), the circuit breaker, and `etag`, what the value was
    # read from (a file source's path, size and mtime: unchanged means there is nothing new to read).
    db.table("source_cache").create({
        "source": str, "value": str, "fetched_at": float, "failures": int, "last_error": str,
        "open_until": float, "attempted_at": float, "etag": str,
    }, pk="source", not_null={"failures"}, defaults={"failures": 0})


def _002_stop_runs(db: Database) -> None:
    # What the Stop loop guard counts (facts.Facts.stop_blocks): which subagent a decision was for, whether the
    # agent was already continuing because of a stop hook, and whether policy's answer kept it working.
    decisions = db.table("decisions")
    decisions.add_column("agent_id", str)
    decisions.add_column("stop_hook_active", int)
    decisions.add_column("continued", int)


def _003_agent_transcripts(db: Database) -> None:
    # Where each agent session's transcript is (the hook events' transcript_path), for `policy sessions` and the
    # tools that read it.
    db.table("agent_sessions").add_column("transcript_path", str)


def _004_payload_form(db: Database) -> None:
    # How the decision's payload was kept (log.keep_payload): "redacted" (secrets replaced), "full" (whole: kept
    # with keep_payload full, or redacted and holding no secret), "too-large" (not kept), or NULL (not kept). `policy replay` says how many of the payloads it ran were redacted.
    db.table("decisions").add_column("payload_form", str)


MIGRATIONS: tuple[tuple[int, str, Callable[[Database], None]], ...] = (
    (1, "initial tables", _001_initial),
    (2, "decisions: agent_id, stop_hook_active, continued", _002_stop_runs),
    (3, "agent_sessions: transcript_path", _003_agent_transcripts),
    (4, "decisions: payload_form", _004_payload_form),
)
LATEST = len(MIGRATIONS)

TABLE_DOCS = {
    "schema_migrations": "Bookkeeping: the migrations applied to this file, by number (also PRAGMA user_version).",
    "meta": "Bookkeeping: small internal values.",
    "focus_sessions": "Pomodoro-style focus sessions (not agent sessions): type expected/personal, intention, start, "
                      "planned and break lengths, end and reflection, whether an agent was used during it.",
    "breaks": "Breaks: from `started_at` until `until`; after a focus session or started by hand.",
    "usage_samples": "Usage of the agent's rate-limit window: utilization % observed at a time, when the window "
                     "resets, and where the sample came from.",
    "claims": "Resource claims of agent sessions (presence): a label like `stack:billing` claimed for a purpose, "
              "alive until `expires_at` (extended by heartbeats).",
    "tool_attempts": "Every tool call an agent attempted, with the final verdict (allowed/blocked/asked).",
    "agent_sessions": "Agent sessions (Claude Code sessions, not focus sessions): where, which model, the task label, "
                      "the status (active/working/waiting/idle/stopped) and the last event.",
    "decisions": "The decision log: one row per `policy eval` (time, host, event, agent session, tool, verdict, "
                 "rule ids, reason, delay, pack revisions, ruleset hash, latency, effects applied; on stops, the "
                 "subagent's agent_id, stop_hook_active and whether the answer kept the agent working; the "
                 "payload as `log.keep_payload` keeps it (redacted of secrets by default) and `payload_form`, how "
                 "it was kept, for `policy replay`).",
    "kv": "Generic facts: key -> JSON value, with an optional expiry (`policy fact set`).",
    "source_cache": "Bookkeeping of fact sources: the last value fetched, when, failures in a row and the circuit "
                    "breaker.",
}

# The built-in tables: rules may record into these, but not into the bookkeeping tables.
BOOKKEEPING_TABLES = frozenset({"schema_migrations", "meta", "decisions", "source_cache"})


def migrate(connection: Any) -> int:
    """Bring the store up to LATEST. Safe when several processes open a new store at once. Returns the version."""
    import time

    from sqlite_utils import Database

    if connection.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        db = Database(connection, execute_plugins=False)
        for number, name, step in MIGRATIONS[version:]:
            step(db)
            connection.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                               (number, name, time.time()))
        connection.execute(f"PRAGMA user_version={LATEST}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return LATEST


_columns: dict[str, tuple[str, ...]] = {}


def empty_schema() -> Any:
    """A new in-memory database holding the latest schema and no rows (for checking queries and effects)."""
    import sqlite3

    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection)
    return connection


def table_columns() -> dict[str, tuple[str, ...]]:
    """Every built-in table and its columns, from the latest schema."""
    if not _columns:
        connection = empty_schema()
        try:
            for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                _columns[table] = tuple(row[1] for row in connection.execute(f'PRAGMA table_info("{table}")'))
        finally:
            connection.close()
    return dict(_columns)
