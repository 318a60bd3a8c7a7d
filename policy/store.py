"""The fact store (SPEC §4): one SQLite file, private to its user, safe under many concurrent hook processes.

WAL journal, a busy timeout, `synchronous=NORMAL` (atomic and consistent across crashes of any process; an OS crash
may roll back the last transactions, never corrupt the file). Writes go through `transaction()`, which takes the
write lock up front (BEGIN IMMEDIATE) so concurrent hooks queue instead of failing with "database is locked".
The schema is created and migrated by `policy.migrations` (sqlite-utils) on the first open that needs it.
"""

from __future__ import annotations

import os

from policy.errors import StoreError
from policy.lean import sqlite
from policy.migrations import LATEST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

BUSY_TIMEOUT_SECONDS = 10.0
SQL_FACT_TIME_LIMIT = 0.5  # seconds a pack's SQL fact may run
SQL_EVALUATION_TIME_LIMIT = 1.0  # seconds all the SQL facts of one evaluation may run together
# While a SQL fact runs, no string or blob it makes may be longer than this, and no LIKE/GLOB pattern: SQLite
# checks these limits before it allocates, so printf('%.*c', 1e9, 'x'), randomblob(1e9) or zeroblob(1e9) fail at
# once instead of allocating gigabytes in one function call that no progress handler can interrupt; and one call
# of instr() or LIKE over values this long stays well under a second. (printf and format are refused outright:
# `%.*c` with a huge precision loops for seconds even when its result is refused. See SQL_FUNCTIONS.)
SQL_FACT_MAX_LENGTH = 100_000
SQL_FACT_MAX_PATTERN = 200
# `leave()` truncates the write-ahead log past this size (about 25 hook events); docs/performance.md has the
# measurements behind the number.
WAL_TRUNCATE_BYTES = 1024 * 1024


def state_dir(environ: Mapping[str, str]) -> str:
    """Where policy keeps its state: `$XDG_STATE_HOME/policy` (`~/.local/state/policy`)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(environ.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state"), "policy")


def default_path(environ: Mapping[str, str]) -> str:
    """`$POLICY_DB`, else `$XDG_STATE_HOME/policy/facts.db` (`~/.local/state/policy/facts.db`)."""
    return environ.get("POLICY_DB") or os.path.join(state_dir(environ), "facts.db")


def translate_error(error: BaseException, path: str, *, waited: float = BUSY_TIMEOUT_SECONDS) -> StoreError:
    """A clear, actionable error for what SQLite or the OS reported (`waited`: the busy timeout in force)."""
    text = str(error)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(f"the fact store {path} is corrupt ({text})", code="db-corrupt",
                          hint=f"move it aside (mv {path} {path}.corrupt); a fresh one is created on the next run")
    if "readonly" in lowered or "read-only" in lowered or isinstance(error, PermissionError):
        return StoreError(f"the fact store {path} is not writable ({text})", code="db-readonly",
                          hint="check the permissions of the file and its directory, or set POLICY_DB / --db")
    if "unable to open" in lowered or isinstance(error, (FileNotFoundError, NotADirectoryError, FileExistsError,
                                                          IsADirectoryError)):
        return StoreError(f"cannot open the fact store {path} ({text})", code="db-unavailable",
                          hint="check that the directory exists and is writable, or set POLICY_DB / --db")
    if "disk is full" in lowered or "no space" in lowered or getattr(error, "errno", None) == 28:
        return StoreError(f"the disk holding {path} is full ({text})", code="db-full",
                          hint="free some space; nothing was written")
    if "disk i/o error" in lowered:
        return StoreError(f"the fact store {path} could not be written or read (disk I/O error)", code="db-io",
                          hint="check the disk: it may be failing, or a quota or file size limit was reached; "
                               "nothing was written")
    if "locked" in lowered or "busy" in lowered:
        return StoreError(f"the fact store {path} stayed locked for {waited:g}s ({text})",
                          code="db-locked", hint="another process holds a long write; retry")
    return StoreError(f"fact store error on {path}: {text}", code="db-error",
                      hint="check that it is a policy fact store, or point POLICY_DB / --db at another file")


SQLITE_HEADER = b"SQLite format 3\x00"


def make_private_dir(path: str) -> None:
    """Create `path` and every missing parent 0700, whatever the umask (os.makedirs gives the parents 0777 less
    the umask: world-writable under umask 000). Existing directories keep their modes."""
    missing: list[str] = []
    probe = os.path.abspath(path)
    while probe and not os.path.isdir(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another process; its mode is its maker's
        os.chmod(directory, 0o700)


def _refuse_foreign(path: str, info: os.stat_result) -> None:
    """A store file (or its -wal/-shm) owned by another user is refused: whoever owns it can rewrite the facts
    this user's rules trust, and read them."""
    if info.st_uid != os.geteuid():
        raise StoreError(f"the fact store file {path} belongs to another user (uid {info.st_uid})",
                         code="db-not-owned", hint="point --db, the config's `db` or POLICY_DB at a file of your "
                         "own, or remove that file if you do not know where it came from")


def _prepare_file(path: str) -> None:
    """Create the directory (0700) and the file (0600) before SQLite does, so it is private from the start. An
    existing store readable by others is narrowed to 0600; anything else at the path is left as it is. A store
    whose file, WAL or shared-memory file is another user's is refused."""
    if path == ":memory:":
        return
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        make_private_dir(directory)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        import stat

        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"the fact store {path} is not a file", code="db-unavailable",
                             hint="point --db, the config's `db` or POLICY_DB at a file (it is created if missing)")
        _refuse_foreign(path, info)
        for suffix in ("-wal", "-shm"):
            try:
                _refuse_foreign(path + suffix, os.stat(path + suffix))
            except FileNotFoundError:
                pass
        if info.st_mode & 0o077 and _is_sqlite(path, info.st_size):
            os.chmod(path, 0o600)
    else:
        os.close(descriptor)


def _is_sqlite(path: str, size: int) -> bool:
    """Empty, or a SQLite database: a file policy may have made. (A user's other files keep their modes.)"""
    if size == 0:
        return True
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


class Store:
    """An open fact store. Use `Store.open(path)`; close it with `close()` (or as a context manager)."""

    def __init__(self, connection: Any, path: str) -> None:
        self.connection = connection
        self.path = path
        self._in_transaction = False

    @classmethod
    def open(cls, path: str, *, migrate: bool = True) -> Store:
        """Open (creating and migrating as needed). Raises StoreError with a code and a hint."""
        try:
            _prepare_file(path)
            connection = sqlite.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                        check_same_thread=False)
        except (OSError, sqlite.Error) as error:
            raise translate_error(error, path) from None
        store = cls(connection, path)
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            if migrate:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version == LATEST and path != ":memory:" and \
                        connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    # A store left in rollback-journal mode (by another tool, or an old copy) would cost three
                    # fsyncs per event and block readers during writes: back to WAL (migrations set it too).
                    connection.execute("PRAGMA journal_mode=WAL")
                if version < LATEST:
                    from policy.migrations import migrate as run_migrations

                    run_migrations(connection)
                elif version > LATEST:
                    raise StoreError(
                        f"the fact store {path} has schema version {version}, newer than this policy knows "
                        f"({LATEST})", code="db-too-new", hint="upgrade policy, or point --db at another file")
        except sqlite.Error as error:
            connection.close()
            raise translate_error(error, path) from None
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        self.connection.close()

    def leave(self) -> None:
        """End a process's use of the store without closing it (the process exits next), keeping the WAL small.

        Closing the last connection checkpoints the whole WAL into the database (~3 ms). A hook process skips
        that, but then nothing ever resets the WAL: each new process recovers it (re-reads every frame, ~0.3 ms
        per MB) and forgets what was already checkpointed, so it would grow by every event's pages for good.
        Here, once it passes WAL_TRUNCATE_BYTES, it is checkpointed and truncated; when another process is
        using the store (even only reading) the checkpoint gives up at once, without waiting at all, and a later
        process does it."""
        try:
            size = os.stat(self.path + "-wal").st_size
        except OSError:
            return
        if size < WAL_TRUNCATE_BYTES:
            return
        try:
            # No busy handler: TRUNCATE waits for readers through it, on every event while one reads.
            self.connection.execute("PRAGMA busy_timeout=0")
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite.Error:
            pass  # best effort: what was committed is in the WAL, as safe as in the database

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions -------------------------------------------------------------------------------------------
    def begin(self, *, timeout: float | None = None) -> None:
        """Take the write lock now: waits up to the busy timeout (or `timeout` seconds, when shorter) for other
        writers, and says how long it waited when it gives up."""
        waited = BUSY_TIMEOUT_SECONDS
        if timeout is not None and timeout < BUSY_TIMEOUT_SECONDS:
            waited = max(0.0, timeout)
            self.connection.execute(f"PRAGMA busy_timeout={int(waited * 1000)}")
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite.Error as error:
            raise translate_error(error, self.path, waited=waited) from None
        finally:
            if waited != BUSY_TIMEOUT_SECONDS:
                self.connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        self._in_transaction = True

    def begin_read(self) -> int:
        """Start a read transaction (one snapshot for every read until `rollback`), and return the store's
        `data_version` in it: another connection's commit after this changes what `data_version()` says."""
        try:
            self.connection.execute("BEGIN")
            return int(self.connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite.Error as error:
            self.rollback()
            raise translate_error(error, self.path) from None

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version`: changes whenever another connection has committed since."""
        try:
            return int(self.connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite.Error as error:
            raise translate_error(error, self.path) from None

    def commit(self) -> None:
        try:
            self.connection.execute("COMMIT")
        except sqlite.Error as error:
            self.rollback()
            raise translate_error(error, self.path) from None
        self._in_transaction = False

    def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")
        self._in_transaction = False

    def transaction(self, *, timeout: float | None = None) -> _Transaction:
        """`with store.transaction():` — all or nothing, under the write lock (waited for as `begin` does)."""
        return _Transaction(self, timeout)

    # ---- queries ------------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Any = ()) -> Any:
        try:
            return self.connection.execute(sql, params)
        except sqlite.IntegrityError:
            raise
        except sqlite.Error as error:
            raise translate_error(error, self.path) from None

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def row(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cursor = self.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([column[0] for column in cursor.description], row))

    def value(self, sql: str, params: Any = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def read_only(self, sql: str, params: Mapping[str, Any], *,
                  time_limit: float = SQL_FACT_TIME_LIMIT) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a pack's SQL fact with writes switched off at the SQLite level (`PRAGMA query_only`), for at most
        `time_limit` seconds, and with no string, blob or pattern longer than SQL_FACT_MAX_LENGTH /
        SQL_FACT_MAX_PATTERN: a runaway query (a recursive CTE without end, a gigabyte printf) must not stall
        the hook."""
        import time

        deadline = time.monotonic() + time_limit

        def over_time() -> int:
            return 1 if time.monotonic() > deadline else 0

        connection = self.connection
        length = connection.setlimit(sqlite.SQLITE_LIMIT_LENGTH, SQL_FACT_MAX_LENGTH)
        pattern = connection.setlimit(sqlite.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, SQL_FACT_MAX_PATTERN)
        connection.execute("PRAGMA query_only=ON")
        connection.set_progress_handler(over_time, 10_000)
        try:
            cursor = connection.execute(sql, params)
            return [column[0] for column in cursor.description or ()], cursor.fetchall()
        except sqlite.OperationalError as error:
            if "interrupted" in str(error):
                raise StoreError(f"a SQL fact ran longer than {time_limit:g}s and was stopped", code="fact-timeout",
                                 hint="facts run on every event: make the query use an index and end") from None
            raise translate_error(error, self.path) from None
        except sqlite.DataError as error:  # "string or blob too big"
            raise StoreError(f"a SQL fact made a value longer than {SQL_FACT_MAX_LENGTH} bytes ({error})",
                             code="fact-too-large", hint="facts should return counts and short values") from None
        finally:
            connection.set_progress_handler(None, 0)
            connection.execute("PRAGMA query_only=OFF")
            connection.setlimit(sqlite.SQLITE_LIMIT_LENGTH, length)
            connection.setlimit(sqlite.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, pattern)

    # ---- the meta table -----------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        return self.value("SELECT value FROM meta WHERE key = ?", (key,))  # type: ignore[no-any-return]

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


class _Transaction:
    def __init__(self, store: Store, timeout: float | None = None) -> None:
        self.store = store
        self.timeout = timeout

    def __enter__(self) -> Store:
        self.store.begin(timeout=self.timeout)
        return self.store

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.store.commit()
        else:
            self.store.rollback()


# ---- checking pack SQL facts (compile time) ----------------------------------------------------------------------

_ALLOWED_ACTIONS_NAMES = ("SQLITE_SELECT", "SQLITE_READ", "SQLITE_FUNCTION", "SQLITE_RECURSIVE")
# The SQL functions a fact may call: SQLite's core, date, math, JSON, aggregate and window functions, less those
# that allocate what their arguments ask for (randomblob, zeroblob), loop on a width argument (printf, format),
# hand out pointers (fts3_tokenizer, fts5) or reach outside the query (load_extension, sqlite_* internals).
SQL_FUNCTIONS = frozenset("""
    abs changes char coalesce concat concat_ws glob hex ifnull iif if instr length like likelihood likely lower
    ltrim max min nullif octet_length quote random replace round rtrim sign soundex substr substring trim typeof
    unhex unicode unlikely upper
    date time datetime julianday unixepoch strftime timediff current_date current_time current_timestamp
    acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2 mod pi pow
    power radians sin sinh sqrt tan tanh trunc
    avg count group_concat string_agg sum total median percentile percentile_cont percentile_disc
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    json jsonb json_array jsonb_array json_array_length json_error_position json_extract jsonb_extract json_insert
    jsonb_insert json_object jsonb_object json_patch jsonb_patch json_pretty json_remove jsonb_remove json_replace
    jsonb_replace json_set jsonb_set json_type json_valid json_quote json_group_array jsonb_group_array
    json_group_object jsonb_group_object json_each json_tree -> ->>
""".split())


def untrusted_table(table: str) -> bool:
    """Whether an untrusted rule file's SQL facts may not read `table`: every built-in table. They hold the user's
    facts across all projects (other projects' decisions, kv values, claims, sessions' intentions), which the
    file's rules could hand to the agent as context."""
    from policy.migrations import BOOKKEEPING_TABLES, TABLE_DOCS

    return table in TABLE_DOCS or table in BOOKKEEPING_TABLES or table.startswith("sqlite_")




def bind_names(sql: str) -> list[str]:
    """The `:name` parameters of a statement, outside strings and comments."""
    names: list[str] = []
    index, size = 0, len(sql)
    while index < size:
        char = sql[index]
        if char in "'\"`[":
            closing = "]" if char == "[" else char
            end = sql.find(closing, index + 1)
            index = size if end == -1 else end + 1
            continue
        if sql.startswith("--", index):
            end = sql.find("\n", index)
            index = size if end == -1 else end + 1
            continue
        if sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            index = size if end == -1 else end + 2
            continue
        if char == ":" and index + 1 < size and (sql[index + 1].isalpha() or sql[index + 1] == "_"):
            end = index + 1
            while end < size and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[index + 1:end]
            if name not in names:
                names.append(name)
            index = end
            continue
        if char in "?@$":
            names.append(char)
        index += 1
    return names


def where(*terms: tuple[str, Any]) -> tuple[str, list[Any]]:
    """` WHERE …` (or `""`) and its values, from `(condition, value)` terms: a term whose value is None is left
    out; a condition binds its value at its `?` (a list or tuple: one value per `?`, as in `label IN (?, ?)`); a
    condition without `?` (`verdict IS NULL`) binds nothing."""
    conditions: list[str] = []
    values: list[Any] = []
    for condition, value in terms:
        if value is None:
            continue
        conditions.append(condition)
        if "?" in condition:
            values += value if isinstance(value, (list, tuple)) else [value]
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), values


def check_query(sql: str, allowed_binds: set[str], *, untrusted: bool = False) -> tuple[str | None, list[str]]:
    """Is `sql` a single read-only SELECT over the store's schema, binding only allowed names and calling only
    SQL_FUNCTIONS? With `untrusted`, reading a built-in table is refused too (`untrusted_table`).

    Returns (problem, bind names). The statement is prepared (never run) against an empty copy of the schema,
    with an authorizer that refuses anything but reading.
    """
    import sqlite3

    from policy.migrations import empty_schema

    binds = bind_names(sql)
    for name in binds:
        if name in "?@$":
            return "use named parameters (:name), not positional ones", binds
        if name not in allowed_binds:
            return f"unknown parameter :{name} (allowed: {', '.join(':' + n for n in sorted(allowed_binds))})", binds
    allowed = {getattr(sqlite3, name) for name in _ALLOWED_ACTIONS_NAMES}
    refused: list[str] = []

    def authorize(action: int, first: str | None, second: str | None, *rest: object) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() not in SQL_FUNCTIONS:
            refused.append(f"the SQL function {second}() is not allowed in facts")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_READ and untrusted and first and untrusted_table(first):
            refused.append(f"an untrusted rule file's facts cannot read the built-in table {first!r}")
            return sqlite3.SQLITE_DENY
        if action in allowed:
            return sqlite3.SQLITE_OK
        refused.append("only a read-only SELECT is allowed")
        return sqlite3.SQLITE_DENY

    connection = empty_schema()
    connection.set_authorizer(authorize)
    try:
        connection.execute("EXPLAIN " + sql, {name: None for name in binds})
    except sqlite3.ProgrammingError as error:
        if "one statement" in str(error):
            return "only one statement is allowed", binds
        return str(error), binds
    except sqlite3.DatabaseError as error:
        if refused or "not authorized" in str(error):
            return (refused[0] if refused else "only a read-only SELECT is allowed"), binds
        return str(error), binds
    finally:
        connection.close()
    if not _without_leading_comments(sql).lower().startswith(("select", "with")):
        return "only a read-only SELECT is allowed", binds
    return None, binds


def _without_leading_comments(sql: str) -> str:
    """The statement from its first keyword: a fact may start with `-- why` or `/* why */` comments."""
    text = sql.lstrip()
    while text.startswith(("--", "/*")):
        if text.startswith("--"):
            end = text.find("\n")
            text = "" if end == -1 else text[end + 1:].lstrip()
        else:
            end = text.find("*/")
            text = "" if end == -1 else text[end + 2:].lstrip()
    return text
