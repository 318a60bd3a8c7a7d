"""policy.store: one private SQLite file; clear errors for every way it can fail; hot queries use indexes."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import stat
import subprocess

import pytest
from conftest import IS_ROOT, POLICY, event_bytes, event_payload, write

from policy.errors import StoreError
from policy.facts import FactContext, Facts
from policy.facts.kv import KvFacts, set_value
from policy.hook import Options, evaluate_event, log_decision
from policy.migrations import LATEST
from policy.model import Decision, Event, RuleSet, Settings
from policy.store import WAL_TRUNCATE_BYTES, Store, check_query, default_path, translate_error

RULES = """
version: 1
pack: guard
rules:
  - id: record-all
    events: PreToolUse
    decision: allow
    do:
      - record: {table: audit, values: {command: "{{ input.command }}"}}
"""


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---- where the store lives -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("environ, expected", [
    ({"POLICY_DB": "/x/my.db", "XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/x/my.db"),
    ({"POLICY_DB": "", "XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/state/policy/facts.db"),
    ({"XDG_STATE_HOME": "/state", "HOME": "/home/u"}, "/state/policy/facts.db"),
    ({"XDG_STATE_HOME": "", "HOME": "/home/u"}, "/home/u/.local/state/policy/facts.db"),
    ({"HOME": "/home/u"}, "/home/u/.local/state/policy/facts.db"),
])
def test_default_path(environ, expected):
    assert default_path(environ) == expected


def test_new_store_is_private(tmp_path):
    path = tmp_path / "state" / "policy" / "facts.db"
    with Store.open(str(path)) as store:
        store.execute("SELECT 1")
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        for sidecar in ("facts.db-wal", "facts.db-shm"):
            assert mode(path.parent / sidecar) == 0o600


def test_existing_store_is_made_private(tmp_path):
    path = tmp_path / "facts.db"
    Store.open(str(path)).close()
    os.chmod(path, 0o644)
    Store.open(str(path)).close()
    assert mode(path) == 0o600


def test_wal_and_busy_timeout(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        assert store.value("PRAGMA journal_mode") == "wal"
        assert store.value("PRAGMA busy_timeout") == 10_000
        assert store.value("PRAGMA synchronous") == 1  # NORMAL
        assert store.value("PRAGMA user_version") == LATEST


# ---- the write-ahead log stays bounded when processes exit without closing -------------------------------------------

def wal_size(path) -> int:
    return os.path.getsize(f"{path}-wal")


def grow_wal(store: Store, past: int) -> int:
    """Commit rows until the WAL is larger than `past` bytes; returns how many."""
    count = 0
    while wal_size(store.path) <= past:
        with store.transaction():
            store.execute("INSERT INTO kv(key, value, updated_at) VALUES (?, ?, 0)", (f"k{count}", "x" * 3000))
        count += 1
    return count


def test_leave_keeps_a_small_wal(tmp_path):
    path = tmp_path / "facts.db"
    store = Store.open(str(path))
    grow_wal(store, 64 * 1024)
    size = wal_size(path)
    store.leave()  # below the bound: nothing to do
    assert wal_size(path) == size
    count = grow_wal(store, WAL_TRUNCATE_BYTES)
    store.leave()
    assert wal_size(path) == 0
    with Store.open(str(path)) as reopened:
        assert reopened.value("SELECT count(*) FROM kv") == count


def test_leave_gives_way_to_a_reader(tmp_path):
    path = tmp_path / "facts.db"
    store = Store.open(str(path))
    count = grow_wal(store, WAL_TRUNCATE_BYTES)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM kv").fetchone() == (count,)
    store.leave()  # cannot truncate under an open read transaction: gives up at once, loses nothing
    assert wal_size(path) > WAL_TRUNCATE_BYTES
    reader.execute("COMMIT")
    store.leave()
    assert wal_size(path) == 0
    reader.close()
    with Store.open(str(path)) as reopened:
        assert reopened.value("SELECT count(*) FROM kv") == count


def test_hook_processes_keep_the_wal_bounded(env):
    """Every hook process exits without closing the store. SQLite's own automatic checkpoints never reset the WAL
    then (each new process recovers the WAL and forgets what was checkpointed), so it grew by every event's pages:
    ~40 KB per event with the shipped packs, and each hook re-read all of it on start."""
    write(env.root / "rules.yaml", RULES)
    payload = event_payload("PreToolUse-Bash")
    payload["tool_input"]["command"] = "echo " + "x" * 60_000  # ~16 pages written per event
    events = 40
    for _ in range(events):
        result = env.run("--rules", "rules.yaml", stdin=json.dumps(payload).encode(), hook=True)
        assert result.returncode == 0, result.stderr
        assert wal_size(env.db) < WAL_TRUNCATE_BYTES + 128 * 1024
    assert env.rows("SELECT count(*) AS n FROM audit") == [{"n": events}]
    assert env.rows("SELECT count(*) AS n FROM decisions") == [{"n": events}]


# ---- transactions -----------------------------------------------------------------------------------------------------

def test_transaction_commits_or_rolls_back_everything(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        with store.transaction():
            set_value(store, "a", 1, now=1.0)
        with pytest.raises(ZeroDivisionError), store.transaction():
            set_value(store, "b", 2, now=1.0)
            set_value(store, "c", 3, now=1.0)
            1 / 0
        assert store.rows("SELECT key, value FROM kv ORDER BY key") == [{"key": "a", "value": "1"}]
        assert store.connection.in_transaction is False


def test_read_only_facts_cannot_write(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        assert store.read_only("SELECT count(*) AS n FROM kv", {}) == (["n"], [(0,)])
        with pytest.raises(StoreError):
            store.read_only("DELETE FROM kv", {})
        set_value(store, "still", "writable", now=1.0)  # query_only is switched back off


# ---- errors -------------------------------------------------------------------------------------------------------------

CORRUPT = b"this is not an SQLite database, " * 200


def test_corrupt_store(tmp_path):
    path = tmp_path / "facts.db"
    path.write_bytes(CORRUPT)
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert raised.value.code == "db-corrupt"
    assert raised.value.one_line() == (
        f"db-corrupt: the fact store {path} is corrupt (file is not a database) "
        f"(move it aside (mv {path} {path}.corrupt); a fresh one is created on the next run)")
    assert path.read_bytes() == CORRUPT


def test_corrupt_store_under_policy_eval_fails_closed_and_is_left_untouched(env):
    write(env.root / "rules.yaml", RULES)
    env.db.parent.mkdir(parents=True)
    env.db.write_bytes(CORRUPT)
    result = env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash"))
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == (
        f"policy: db-corrupt: the fact store {env.db} is corrupt (file is not a database) "
        f"(move it aside (mv {env.db} {env.db}.corrupt); a fresh one is created on the next run)\n")
    assert env.db.read_bytes() == CORRUPT
    assert sorted(os.listdir(env.db.parent)) == ["facts.db"]
    # fail open where the fail mode says so
    result = env.eval("--rules", "rules.yaml", stdin=event_bytes("Stop"))
    assert result.returncode == 0 and b"policy is NOT enforcing rules" in result.stdout
    assert env.db.read_bytes() == CORRUPT


def test_path_that_cannot_be_a_store(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path, code in ((blocker / "facts.db", "db-unavailable"), (tmp_path, "db-unavailable")):
        with pytest.raises(StoreError) as raised:
            Store.open(str(path))
        assert raised.value.code == code


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE kv (x)")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert raised.value.one_line() == (
        f'db-error: fact store error on {path}: table "kv" already exists '
        "(check that it is a policy fact store, or point POLICY_DB / --db at another file)")


@pytest.mark.skipif(IS_ROOT, reason="running as root: chmod does not keep root from writing")
def test_read_only_directory(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    os.chmod(directory, 0o500)
    try:
        with pytest.raises(StoreError) as raised:
            Store.open(str(directory / "facts.db"))
        assert raised.value.code == "db-readonly"
        assert raised.value.hint == "check the permissions of the file and its directory, or set POLICY_DB / --db"
    finally:
        os.chmod(directory, 0o700)


@pytest.mark.skipif(IS_ROOT, reason="running as root: chmod does not keep root from writing")
def test_read_only_store_file(tmp_path):
    path = tmp_path / "facts.db"
    Store.open(str(path)).close()
    os.chmod(path, 0o400)
    try:
        store = Store.open(str(path))
        with pytest.raises(StoreError) as raised, store.transaction():
            set_value(store, "a", 1, now=1.0)
        assert raised.value.code in ("db-readonly", "db-unavailable")
    finally:
        os.chmod(path, 0o600)


@pytest.mark.parametrize("error, code", [
    (sqlite3.DatabaseError("file is not a database"), "db-corrupt"),
    (sqlite3.DatabaseError("database disk image is malformed"), "db-corrupt"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "db-readonly"),
    (PermissionError(13, "Permission denied"), "db-readonly"),
    (sqlite3.OperationalError("unable to open database file"), "db-unavailable"),
    (FileNotFoundError(2, "No such file or directory"), "db-unavailable"),
    (sqlite3.OperationalError("database or disk is full"), "db-full"),
    (OSError(28, "No space left on device"), "db-full"),
    (sqlite3.OperationalError("disk I/O error"), "db-io"),
    (sqlite3.OperationalError("database is locked"), "db-locked"),
    (sqlite3.OperationalError("no such table: x"), "db-error"),
])
def test_error_translation(error, code):
    assert translate_error(error, "/f.db").code == code


def _full_store_opener(path):
    """A store that cannot grow by a single page, as on a full disk (SQLITE_FULL)."""
    def open_store(_):
        store = Store.open(path)
        pages = store.value("PRAGMA page_count")
        store.execute(f"PRAGMA max_page_count = {pages}")
        return store
    return open_store


def test_disk_full_keeps_earlier_rows_and_fails_closed(tmp_path, isolated_environ):
    rules = write(tmp_path / "rules.yaml", RULES)
    path = str(tmp_path / "facts.db")
    options = Options(rules=(str(rules),))
    for _ in range(3):
        outcome = evaluate_event(event_bytes("PreToolUse-Bash"), options, isolated_environ, now=1.0, utc_offset=0,
                                 cwd=str(tmp_path), store_opener=lambda _: Store.open(path))
        assert outcome.error is None
    big = event_bytes("PreToolUse-Bash").replace(b"terraform apply", b"x" * 20_000)
    outcome = evaluate_event(big, options, isolated_environ, now=2.0, utc_offset=0, cwd=str(tmp_path),
                             store_opener=_full_store_opener(path))
    assert outcome.error.code == "db-full"
    assert outcome.output.stderr == (f"policy: db-full: the disk holding {path} is full (database or disk is full) "
                                     "(free some space; nothing was written)\n")
    assert (outcome.output.stdout, outcome.output.exit_code) == ("", 2)
    with Store.open(path) as store:
        # the three decisions, and the failed attempt (logged best effort, small enough to fit)
        assert [(row["verdict"], row["error"]) for row in store.rows("SELECT * FROM decisions ORDER BY id")] == [
            ("allow", None), ("allow", None), ("allow", None),
            (None, f"db-full: the disk holding {path} is full (database or disk is full)")]
        assert store.value("SELECT count(*) FROM audit") == 3
        assert store.value("PRAGMA integrity_check") == "ok"


def test_file_size_limit_under_policy_eval_keeps_earlier_rows(env):
    """A write the OS refuses (RLIMIT_FSIZE: EFBIG) fails the hook in its fail mode and loses nothing."""
    write(env.root / "rules.yaml", RULES)
    for _ in range(3):
        assert env.eval("--rules", "rules.yaml", stdin=event_bytes("PreToolUse-Bash")).returncode == 0

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    result = subprocess.run([str(POLICY), "eval", "--rules", "rules.yaml"], input=event_bytes("PreToolUse-Bash"),
                            capture_output=True, env=env.vars, cwd=env.root, preexec_fn=limit_file_size, timeout=60)
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == (
        f"policy: db-io: the fact store {env.db} could not be written or read (disk I/O error) (check the disk: "
        "it may be failing, or a quota or file size limit was reached; nothing was written)\n")
    assert env.rows("SELECT count(*) AS n FROM decisions") == [{"n": 3}]
    assert env.rows("SELECT count(*) AS n FROM audit") == [{"n": 3}]
    assert env.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


# ---- hot queries use indexes -------------------------------------------------------------------------------------------

def _plans(store, statements):
    plans = {}
    for sql in statements:
        rows = store.connection.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        plans[sql] = [row[-1] for row in rows]
    return plans


def test_hot_queries_use_indexes(tmp_path):
    executed: list[str] = []
    with Store.open(str(tmp_path / "facts.db")) as store:
        store.execute("INSERT INTO decisions(id, at, host, event) VALUES (511, 0, 'h', 'e')")
        store.connection.set_trace_callback(executed.append)
        event = Event(host="claude-code", name="Stop", agent_session="s1")
        ruleset = RuleSet(packs=(), settings=Settings(), digest="d")
        log_decision(store, event, Decision("Stop"), ruleset, now=10_000_000.0, started=0.0)  # id 512: prunes
        context = FactContext(store, event, 10_000_000.0, Settings())
        Facts(context).stop_blocks()
        KvFacts(context).get("hr.bpm")
        store.connection.set_trace_callback(None)
        queries = [sql for sql in executed if sql.lstrip().upper().startswith(("SELECT", "DELETE", "INSERT"))]
        assert [sql.split()[0].upper() for sql in queries] == ["INSERT", "DELETE", "SELECT", "SELECT"]
        plans = _plans(store, queries)
    insert, prune, stop_blocks, kv = queries
    assert plans[prune] == ["SEARCH decisions USING INTEGER PRIMARY KEY (rowid=?)",
                            "LIST SUBQUERY 1", "SEARCH decisions USING COVERING INDEX idx_decisions_at (at<?)"]
    assert plans[stop_blocks] == ["SEARCH decisions USING INDEX idx_decisions_agent_session_at (agent_session=?)"]
    assert plans[kv] == ["SEARCH kv USING INDEX sqlite_autoindex_kv_1 (key=?)"]
    for sql, plan in plans.items():
        assert not any(step.startswith("SCAN decisions") or "TEMP B-TREE" in step for step in plan), (sql, plan)


def test_pack_sql_facts_are_checked_against_the_schema():
    assert check_query("select count(*) from decisions where agent_session = :session_id", {"session_id"}) == (
        None, ["session_id"])
    assert check_query("select 1 from decisions where x = :y", {"session_id"})[0] == (
        "unknown parameter :y (allowed: :session_id)")
    assert check_query("-- a note\nselect 1", set()) == (None, [])
    assert check_query("/* a */ delete from kv", set())[0] == "only a read-only SELECT is allowed"
    assert check_query("attach database ':memory:' as x", set())[0] == "only a read-only SELECT is allowed"
