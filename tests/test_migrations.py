"""policy.migrations: the store's schema, as numbered migrations applied on open, each recorded.

"Older" here means a store whose `PRAGMA user_version` is below migrations.LATEST: version 0 (an empty file, as
left by a crash between creating the file and migrating it, or an SQLite file that never held a policy schema), or
a store made by an earlier policy (version 1, before the decision log kept what the Stop loop guard counts). The
tests also add a migration 5 and open a store created at the latest version: that is what the next schema change
will do to every user's store.
"""

from __future__ import annotations

import sqlite3

import pytest

from policy import migrations, store as store_module
from policy.errors import StoreError
from policy.migrations import BOOKKEEPING_TABLES, LATEST, MIGRATIONS, empty_schema, table_columns
from policy.store import Store

TABLES = {
    "schema_migrations": ("version", "name", "applied_at"),
    "meta": ("key", "value"),
    "focus_sessions": ("id", "type", "intention", "started_at", "planned_minutes", "break_minutes", "ended_at",
                       "end_reason", "distractions", "did_the_thing", "rabbit_hole", "agent_used", "agent_used_at"),
    "breaks": ("id", "started_at", "until", "focus_session_id", "reason"),
    "usage_samples": ("id", "observed_at", "window", "window_seconds", "utilization", "resets_at", "source"),
    "claims": ("agent_session", "label", "purpose", "claimed_at", "heartbeat_at", "expires_at", "host", "user",
               "agent"),
    "tool_attempts": ("id", "at", "agent_session", "tool", "verdict", "rule_ids", "extra"),
    "agent_sessions": ("agent_session", "agent", "cwd", "model", "source", "task", "status", "last_event",
                       "started_at", "updated_at", "ended_at", "transcript_path"),
    "decisions": ("id", "at", "host", "event", "agent_session", "tool", "verdict", "rule_ids", "reason", "delay",
                  "packs", "ruleset", "latency_ms", "effects", "payload", "error", "agent_id", "stop_hook_active",
                  "continued", "payload_form"),
    "kv": ("key", "value", "updated_at", "expires_at"),
    "source_cache": ("source", "value", "fetched_at", "failures", "last_error", "open_until", "attempted_at",
                     "etag"),
}


NAMES = [(1, "initial tables"), (2, "decisions: agent_id, stop_hook_active, continued"),
         (3, "agent_sessions: transcript_path"), (4, "decisions: payload_form")]


def test_latest_schema():
    assert LATEST == len(MIGRATIONS) == 4
    assert [(number, name) for number, name, _ in MIGRATIONS] == NAMES
    assert table_columns() == TABLES
    assert BOOKKEEPING_TABLES == {"schema_migrations", "meta", "decisions", "source_cache"}


def test_new_store_records_its_migrations(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        assert store.value("PRAGMA user_version") == 4
        rows = store.rows("SELECT version, name, applied_at FROM schema_migrations")
        assert [(row["version"], row["name"]) for row in rows] == NAMES
        assert rows[0]["applied_at"] > 1_700_000_000
    with Store.open(str(tmp_path / "facts.db")) as store:  # reopening applies nothing again
        assert store.value("SELECT count(*) FROM schema_migrations") == 4


def test_empty_schema_is_in_memory_and_empty():
    connection = empty_schema()
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (4,)
        assert connection.execute("SELECT count(*) FROM decisions").fetchone() == (0,)
        assert connection.execute("PRAGMA database_list").fetchone()[2] == ""
    finally:
        connection.close()


# ---- older stores: version 0 ---------------------------------------------------------------------------------------------

def test_zero_byte_file_is_migrated(tmp_path):
    path = tmp_path / "facts.db"
    path.write_bytes(b"")
    with Store.open(str(path)) as store:
        assert store.value("PRAGMA user_version") == 4
        assert store.value("SELECT count(*) FROM schema_migrations") == 4


def test_version_0_database_with_other_tables_keeps_them(tmp_path):
    path = tmp_path / "facts.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (text)")
    connection.execute("INSERT INTO notes VALUES ('keep me')")
    connection.commit()
    connection.close()
    with Store.open(str(path)) as store:
        assert store.value("PRAGMA user_version") == 4
        assert store.rows("SELECT text FROM notes") == [{"text": "keep me"}]


def test_version_0_database_with_part_of_the_schema_is_refused_untouched(tmp_path):
    """A version-0 file that already holds some of migration 1's tables (not something policy writes: migrations
    are transactional) is refused with an error, and nothing in it is changed."""
    path = tmp_path / "facts.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute("INSERT INTO kv VALUES ('a', '1')")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert raised.value.code == "db-error"
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("kv",)]
    assert connection.execute("PRAGMA user_version").fetchone() == (0,)
    connection.close()


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "facts.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 5")
    connection.close()
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert raised.value.one_line() == (f"db-too-new: the fact store {path} has schema version 5, newer than this "
                                       "policy knows (4) (upgrade policy, or point --db at another file)")


def test_store_of_version_3_gets_the_payload_form(tmp_path, monkeypatch):
    """A store of the policy before `policy replay` (version 3) is upgraded on open: its logged decisions keep
    their rows and payloads, with no payload_form (replay runs them as they are)."""
    path = str(tmp_path / "facts.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:3])
    monkeypatch.setattr(migrations, "LATEST", 3)
    monkeypatch.setattr(store_module, "LATEST", 3)
    with Store.open(path) as store:
        store.execute("INSERT INTO decisions(at, host, event, payload) VALUES (1, 'claude-code', 'Stop', '{}')")
    monkeypatch.undo()
    with Store.open(path) as store:
        assert store.value("PRAGMA user_version") == 4
        assert store.rows("SELECT event, payload, payload_form FROM decisions") == [
            {"event": "Stop", "payload": "{}", "payload_form": None}]


def test_store_of_version_1_gets_the_stop_columns(tmp_path, monkeypatch):
    """A store an earlier policy made (version 1) is upgraded on open: its decisions keep their rows, with the new
    columns empty (the Stop loop guard reads such rows the way that policy did)."""
    path = str(tmp_path / "facts.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST", 1)
    monkeypatch.setattr(store_module, "LATEST", 1)
    with Store.open(path) as store:
        store.execute("INSERT INTO decisions(at, host, event, verdict) VALUES (1, 'claude-code', 'Stop', 'deny')")
    monkeypatch.undo()
    with Store.open(path) as store:
        assert store.value("PRAGMA user_version") == 4
        assert store.rows("SELECT event, verdict, agent_id, stop_hook_active, continued FROM decisions") == [
            {"event": "Stop", "verdict": "deny", "agent_id": None, "stop_hook_active": None, "continued": None}]


# ---- the next migration ----------------------------------------------------------------------------------------------------

@pytest.fixture
def with_migration_4(monkeypatch):
    def _005_tool_attempt_duration(db):
        db["tool_attempts"].add_column("duration_ms", float)
        db["kv"].create_index(["updated_at"])

    def install(step=_005_tool_attempt_duration):
        monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS + ((5, "tool attempt duration", step),))
        monkeypatch.setattr(migrations, "LATEST", 5)
        monkeypatch.setattr(store_module, "LATEST", 5)

    return install


def test_store_of_the_latest_version_is_upgraded_in_place(tmp_path, with_migration_4):
    path = str(tmp_path / "facts.db")
    with Store.open(path) as store:  # created by this policy, at version 3
        store.execute("INSERT INTO tool_attempts(at, verdict, tool) VALUES (1, 'allowed', 'Bash')")
        store.execute("INSERT INTO decisions(at, host, event) VALUES (1, 'h', 'Stop')")
    with_migration_4()
    with Store.open(path) as store:
        assert store.value("PRAGMA user_version") == 5
        assert [row["version"] for row in store.rows("SELECT version FROM schema_migrations ORDER BY version")] == [
            1, 2, 3, 4, 5]
        assert store.rows("SELECT tool, verdict, duration_ms FROM tool_attempts") == [
            {"tool": "Bash", "verdict": "allowed", "duration_ms": None}]
        assert store.value("SELECT count(*) FROM decisions") == 1


def test_a_failing_migration_changes_nothing(tmp_path, with_migration_4):
    path = str(tmp_path / "facts.db")
    Store.open(path).close()

    def broken(db):
        db["tool_attempts"].add_column("half", float)
        raise RuntimeError("migration 5 failed halfway")

    with_migration_4(broken)
    with pytest.raises(RuntimeError):
        Store.open(path)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone() == (4,)
        assert "half" not in [row[1] for row in connection.execute("PRAGMA table_info(tool_attempts)")]
        assert connection.execute("SELECT count(*) FROM schema_migrations").fetchone() == (4,)
    finally:
        connection.close()
