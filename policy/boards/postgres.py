"""The shared board: claims and agent sessions of a whole team on one PostgreSQL server (psycopg 3, the optional
`postgres` extra), named by `store: {shared: "postgresql://…"}` in the user config (docs/team.md).

- One connection per process and DSN: a hook process that evaluates in-process opens it when a rule first
  reaches the board (and only then imports psycopg); a `policy serve` worker keeps it in its per-user resources
  across events (`hold_connections_with`), and closes it when it ends. It is opened with the configured timeout, and every
  statement is bounded by the same timeout on the client side (a watchdog shuts the socket down), so a server that
  is down, slow or unreachable costs at most that long; the next use connects again (reconnection).
- Times are the server's clock (`clock_timestamp()`), shifted to the caller's clock in the rows returned: machines
  with skewed clocks agree on what is active.
- A claim is one statement per call, atomic on the server: `INSERT … ON CONFLICT (label) DO UPDATE … WHERE` the
  label is free, expired or already this session's, `RETURNING` its fencing counter, which grows by one whenever
  the label changes hands. All the labels of one call are taken together or none. Released and expired claims
  keep their row (so the counter never goes back); they are simply not active.
- A read fetches the whole active board once per evaluation and remembers it next to the local store
  (`<store>-board.json`, private): while the server cannot be reached, reads answer with that last known board,
  marked stale. Writes raise BoardOutage; what each effect then does is the caller's (docs/team.md#outages).
- The schema is numbered migrations, applied under an advisory lock by the first connection that needs them.
"""

from __future__ import annotations

import os

from policy.boards import BoardOutage
from policy.boards.local import SESSION_COLUMNS, claim_row, like_prefix
from policy.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.model import Settings
    from policy.store import Store

DEFAULT_TIMEOUT = 2.0
CLAIM_COLUMNS = ("agent_session", "label", "purpose", "claimed_at", "heartbeat_at", "expires_at", "host", "user",
                 "agent", "fence")
_CLAIM_TIMES = ("claimed_at", "heartbeat_at", "expires_at")
_SESSION_TIMES = ("started_at", "updated_at", "ended_at")
SHARED_SESSION_COLUMNS = (*SESSION_COLUMNS, "host", "user")
_NOW = "(SELECT extract(epoch FROM clock_timestamp())::float8 AS now) AS t"
_ADVISORY_LOCK = 7_317_011_017  # the migrations' advisory lock: any constant, the same in every policy

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "claims with a fencing counter per label; agent sessions with host and user", (
        """CREATE TABLE claims (
            label text PRIMARY KEY,
            agent_session text NOT NULL,
            purpose text NOT NULL,
            claimed_at double precision NOT NULL,
            heartbeat_at double precision NOT NULL,
            expires_at double precision NOT NULL,
            ttl double precision NOT NULL,
            host text, "user" text, agent text,
            fence bigint NOT NULL DEFAULT 1)""",
        "CREATE INDEX claims_expires_at ON claims (expires_at)",
        "CREATE INDEX claims_agent_session ON claims (agent_session, expires_at)",
        """CREATE TABLE agent_sessions (
            agent_session text PRIMARY KEY,
            agent text, cwd text, model text, source text, task text,
            status text NOT NULL,
            last_event text,
            started_at double precision,
            updated_at double precision NOT NULL,
            ended_at double precision,
            host text, "user" text)""",
        "CREATE INDEX agent_sessions_status ON agent_sessions (status, updated_at)",
    )),
    (2, "agent sessions: transcript_path", (
        "ALTER TABLE agent_sessions ADD COLUMN transcript_path text",
    )),
)
LATEST = len(MIGRATIONS)

TABLE_DOCS = {
    "claims": "One row per label ever claimed: its holder (agent session, user, host, agent), purpose, when it was "
              "claimed and last heartbeat, when it expires, its ttl, and `fence`, the fencing counter (one more "
              "each time the label changes hands). Active while expires_at is after the server's clock.",
    "agent_sessions": "Agent sessions of every machine: as the local table, plus the user and host.",
    "schema_migrations": "The migrations applied (version, name, applied_at).",
}


# ---- the connection (one per process and DSN) ------------------------------------------------------------------

class SharedStore:
    """The connection to one shared server, opened on first use, bounded by `timeout`, reopened after a failure."""

    def __init__(self, dsn: str, timeout: float) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self.connection: Any = None
        self.outage: BoardOutage | None = None  # the last outage, answered again until `retry_at`
        self.retry_at = 0.0

    def _connect(self) -> Any:
        import math

        psycopg = driver()
        try:
            connection = psycopg.connect(self.dsn, autocommit=True, connect_timeout=max(2, math.ceil(self.timeout)),
                                         application_name="policy")
        except psycopg.Error as error:
            raise outage(error, self.dsn) from None
        try:
            self._with_deadline(connection, lambda: migrate(connection))
        except BaseException:
            connection.close()
            raise
        return connection

    def run(self, work: Callable[[Any], Any]) -> Any:
        """`work(connection)` within the timeout. A connection that broke since its last use (the server restarted)
        is reopened and the work tried once more; a server that does not answer in time, or cannot be reached,
        raises BoardOutage, and for the next `timeout` seconds (at least one) every use raises it again at once:
        one evaluation waits for a silent server once, not once per fact and effect."""
        import time

        psycopg = driver()
        if self.outage is not None and time.monotonic() < self.retry_at:
            raise self.outage
        self.outage = None
        for attempt in (1, 2):
            fresh = self.connection is None
            try:
                if fresh:
                    self.connection = self._connect()
                connection = self.connection
                return self._with_deadline(connection, lambda: work(connection))
            except (psycopg.OperationalError, psycopg.InterfaceError, BoardOutage) as error:
                self.close()
                timed_out = getattr(error, "timed_out", False)
                if fresh or timed_out or attempt == 2:
                    self.outage = error if isinstance(error, BoardOutage) else \
                        outage(error, self.dsn, timed_out=timed_out)
                    self.retry_at = time.monotonic() + max(1.0, self.timeout)
                    raise self.outage from None
        raise AssertionError("unreachable")

    def _with_deadline(self, connection: Any, work: Callable[[], Any]) -> Any:
        """Run `work` on `connection`, shutting the connection's socket down if it takes longer than the timeout
        (a server that accepted the connection and stopped answering): the blocked call then fails at once."""
        import socket
        import threading

        expired = threading.Event()

        def cut() -> None:
            expired.set()
            try:
                descriptor = os.dup(connection.pgconn.socket)
            except Exception:  # noqa: BLE001 - already closed: nothing waits on it
                return
            try:
                socket.socket(fileno=descriptor).shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                try:
                    os.close(descriptor)
                except OSError:
                    pass

        timer = threading.Timer(self.timeout, cut)
        timer.daemon = True
        timer.start()
        try:
            return work()
        except Exception as error:
            if expired.is_set():
                error.timed_out = True  # type: ignore[attr-defined]
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001 - a broken connection closes as it can
                pass
            self.connection = None


def driver() -> Any:
    """psycopg, imported on first use (never on a path that reaches no shared fact or effect)."""
    try:
        import psycopg
    except ImportError:
        raise StoreError("the shared store needs psycopg, which is not installed", code="shared-no-driver",
                         hint="pip install 'agent-policy[postgres]' (the config's store.shared names a PostgreSQL "
                              "server)") from None
    return psycopg


def outage(error: BaseException, dsn: str, *, timed_out: bool = False) -> BoardOutage:
    """The error of an unreachable or silent server, with libpq's first line and the DSN (never a password: the
    config refuses DSNs that hold one)."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if timed_out or "timeout" in first.lower():
        return BoardOutage(f"the shared store {dsn} did not answer in time ({first})")
    if "authentication" in first or "does not exist" in first or "permission denied" in first:
        return BoardOutage(f"the shared store {dsn} refused the connection ({first})",
                           hint="check the role, the database and the password (PGPASSWORD, ~/.pgpass or the "
                                "service file; docs/team.md)")
    return BoardOutage(f"the shared store {dsn} is unreachable ({first})")


def migrate(connection: Any) -> int:
    """Bring the shared schema up to LATEST: under an advisory lock, each migration in one transaction with its
    `schema_migrations` row. Cheap when it is current (one read)."""
    import psycopg

    try:
        version = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
    except psycopg.errors.UndefinedTable:
        version = 0
    if version == LATEST:
        return version
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                           "name text NOT NULL, applied_at double precision NOT NULL)")
        version = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
        if version > LATEST:
            raise StoreError(f"the shared store has schema version {version}, newer than this policy knows "
                             f"({LATEST})", code="db-too-new", hint="upgrade policy on this machine")
        for number, name, statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                               "(%s, %s, extract(epoch FROM clock_timestamp()))", (number, name))
    return LATEST


_STORES: dict[tuple[str, float], SharedStore] = {}
# Where a resident process keeps its connections instead (`policy serve`: each worker's per-user Resources.held,
# which closes them when the worker ends): a function (name, opener) -> the resource.
_holder: list[Callable[[str, Callable[[], Any]], Any]] = []


def hold_connections_with(held: Callable[[str, Callable[[], Any]], Any]) -> None:
    """Keep every shared store's connection of this process in `held(name, opener)` from now on (policy serve's
    worker calls it with its Resources.held once, when it starts)."""
    _holder[:] = [held]


def shared_store(dsn: str, timeout: float) -> SharedStore:
    """The process's connection to `dsn` (made on first use): kept for the process, or in the resources of the
    resident `policy serve` worker that answers the event, across its events."""
    if _holder:
        return _holder[0](f"shared-store {timeout:g} {dsn}", lambda: SharedStore(dsn, timeout))  # type: ignore[no-any-return]
    key = (dsn, timeout)
    found = _STORES.get(key)
    if found is None:
        found = _STORES[key] = SharedStore(dsn, timeout)
    return found


def shared_board(settings: Settings, store: Store | None) -> SharedBoard:
    assert settings.shared_store is not None
    return SharedBoard(shared_store(settings.shared_store, settings.shared_timeout), store)


# ---- the board ---------------------------------------------------------------------------------------------------

class SharedBoard:
    """The board on the shared server, for one evaluation or one command: the active board is read once, then
    answered from memory. `cache_store` is the local store, next to which the last known board is kept."""

    shared = True

    def __init__(self, server: SharedStore, cache_store: Store | None) -> None:
        self.server = server
        self.cache_path = None if cache_store is None or cache_store.path == ":memory:" else \
            cache_store.path + "-board.json"
        self._board: list[dict[str, Any]] | None = None  # the active claims, times on the server's clock
        self._shift = 0.0  # the caller's clock less the server's
        self.outage: str | None = None
        self.stale_since: float | None = None

    # ---- reading ---------------------------------------------------------------------------------------------

    def _read(self, now: float) -> list[dict[str, Any]]:
        if self._board is None:
            def work(connection: Any) -> tuple[float, list[tuple[Any, ...]]]:
                rows = connection.execute(
                    f"SELECT t.now, {', '.join(_quoted(CLAIM_COLUMNS, 'c.'))} FROM {_NOW} "
                    "LEFT JOIN claims c ON c.expires_at > t.now ORDER BY c.claimed_at, c.label").fetchall()
                return rows[0][0], [row[1:] for row in rows if row[1] is not None]

            try:
                server_now, values = self.server.run(work)
            except BoardOutage as error:
                self._board, self._shift = self._last_known(error, now)
                return self._board
            self._shift = now - server_now
            self._board = [dict(zip(CLAIM_COLUMNS, row)) for row in values]
            self._remember(server_now)
        return self._board

    def _remember(self, server_now: float) -> None:
        """Keep the board just read as the last known one (written whole, then renamed into place; 0600)."""
        if self.cache_path is None:
            return
        from policy.lean import json_dumps

        temporary = f"{self.cache_path}.{os.getpid()}"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(json_dumps({"server_now": server_now, "shift": self._shift, "claims": self._board}))
            os.replace(temporary, self.cache_path)
        except OSError:
            pass  # best effort: without it, an outage answers with an empty board marked stale

    def _last_known(self, error: BoardOutage, now: float) -> tuple[list[dict[str, Any]], float]:
        import json

        self.outage = error.message
        try:
            with open(self.cache_path or "", encoding="utf-8") as handle:
                saved = json.load(handle)
            shift = float(saved["shift"])
            self.stale_since = float(saved["server_now"]) + shift
            rows = [row for row in saved["claims"] if row["expires_at"] + shift > now]
        except (OSError, ValueError, KeyError, TypeError):
            return [], 0.0
        for row in rows:
            row["stale"] = True
        return rows, shift

    def _shifted(self, row: dict[str, Any], times: tuple[str, ...]) -> dict[str, Any]:
        shifted = dict(row)
        for name in times:
            if shifted.get(name) is not None:
                shifted[name] = shifted[name] + self._shift
        return shifted

    def active(self, *, now: float, session: str | None = None, labels: Any = None, others_of: str | None = None,
               viewer: str | None = None) -> list[dict[str, Any]]:
        if labels is not None and not labels:
            return []
        wanted = None if labels is None else set(labels)
        viewer = viewer if viewer is not None else session
        rows = []
        for row in self._read(now):
            if (wanted is not None and row["label"] not in wanted) or \
                    (session is not None and row["agent_session"] != session) or \
                    (others_of is not None and row["agent_session"] == others_of):
                continue
            shifted = claim_row(self._shifted(row, _CLAIM_TIMES), now, viewer)
            if shifted["expires_in"] > 0:
                rows.append(shifted)
        return rows

    # ---- writing ---------------------------------------------------------------------------------------------

    def _write(self, work: Callable[[Any], Any], now: float, *, changes_claims: bool = True) -> Any:
        """A write: raises BoardOutage when the server does not answer. The board is read again afterwards, at
        once when it is remembered locally (so that the last known board holds this session's own claims)."""
        server_now, result = self.server.run(work)
        self._shift = now - server_now
        if changes_claims:
            self._board = None
            if self.cache_path is not None:
                self._read(now)
        return result

    def claim(self, session: str, labels: list[str], purpose: str, *, now: float, ttl: float, agent: str = "",
              identity: tuple[str, str] | None = None) -> tuple[bool, list[dict[str, Any]]]:
        from policy.boards import local_identity

        user, host = identity or local_identity()

        def work(connection: Any) -> tuple[float, list[dict[str, Any]] | None]:
            # One statement takes every label that is free, expired or already ours; if it took fewer than all,
            # the transaction is rolled back (all or none) and the holders are read instead.
            with connection.transaction():
                taken = connection.execute(
                    f"""INSERT INTO claims AS c (label, agent_session, purpose, claimed_at, heartbeat_at, expires_at,
                                                ttl, host, "user", agent)
                        SELECT label, %(session)s, %(purpose)s, t.now, t.now, t.now + %(ttl)s, %(ttl)s, %(host)s,
                               %(user)s, %(agent)s
                        FROM unnest(%(labels)s::text[]) AS label, {_NOW}
                        ON CONFLICT (label) DO UPDATE SET
                            claimed_at = CASE WHEN c.agent_session = excluded.agent_session
                                              AND c.expires_at > excluded.claimed_at
                                         THEN c.claimed_at ELSE excluded.claimed_at END,
                            fence = CASE WHEN c.agent_session = excluded.agent_session
                                         AND c.expires_at > excluded.claimed_at
                                    THEN c.fence ELSE c.fence + 1 END,
                            agent_session = excluded.agent_session, purpose = excluded.purpose,
                            heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
                            ttl = excluded.ttl, host = excluded.host, "user" = excluded."user",
                            agent = excluded.agent
                        WHERE c.expires_at <= excluded.claimed_at OR c.agent_session = excluded.agent_session
                        RETURNING label, heartbeat_at""",
                    {"session": session, "purpose": purpose, "ttl": ttl, "host": host, "user": user,
                     "agent": agent, "labels": labels}).fetchall()
                if len(taken) == len(labels):
                    return taken[0][1], None
                raise _Held()  # leaving the transaction by an exception rolls it back

        try:
            self._write(_catching_held(work, session, labels), now)
        except _HeldBy as held:
            self._shift = now - held.server_now
            self._board = None
            return False, [claim_row(self._shifted(row, _CLAIM_TIMES), now, session) for row in held.rows]
        return True, []

    def heartbeat(self, session: str, *, now: float, every: float = 0.0) -> list[str] | None:
        def work(connection: Any) -> tuple[float, list[str] | None]:
            server_now, oldest = connection.execute(
                f"SELECT t.now, min(c.heartbeat_at) FROM {_NOW} LEFT JOIN claims c ON c.agent_session = %s "
                "AND c.expires_at > t.now GROUP BY t.now", (session,)).fetchone()
            if oldest is None:
                return server_now, []
            if every > 0 and server_now - oldest < every:
                return server_now, None
            extended = connection.execute(
                f"UPDATE claims SET expires_at = t.now + ttl, heartbeat_at = t.now FROM {_NOW} "
                "WHERE agent_session = %s AND expires_at > t.now RETURNING label, claimed_at", (session,)).fetchall()
            return server_now, [label for label, _ in sorted(extended, key=lambda row: (row[1], row[0]))]

        return self._write(work, now)  # type: ignore[no-any-return]

    def release(self, session: str, label: str | None = None, *, now: float) -> list[str]:
        def work(connection: Any) -> tuple[float, list[str]]:
            rows = connection.execute(
                f"UPDATE claims SET expires_at = t.now FROM {_NOW} WHERE agent_session = %s AND expires_at > t.now "
                "AND (%s::text IS NULL OR label = %s) RETURNING t.now, label, claimed_at",
                (session, label, label)).fetchall()
            server_now = rows[0][0] if rows else connection.execute(f"SELECT t.now FROM {_NOW}").fetchone()[0]
            return server_now, [found for _, found, _ in sorted(rows, key=lambda row: (row[2], row[1]))]

        return self._write(work, now)  # type: ignore[no-any-return]

    # ---- agent sessions ----------------------------------------------------------------------------------------

    def agent_session(self, session: str, *, now: float) -> dict[str, Any] | None:
        rows = self._sessions(now, "agent_session = %s", (session,))
        return rows[0] if rows else None

    def _sessions(self, now: float, condition: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        def work(connection: Any) -> tuple[float, list[tuple[Any, ...]]]:
            rows = connection.execute(
                f"SELECT t.now, {', '.join(_quoted(SHARED_SESSION_COLUMNS, 's.'))} FROM {_NOW} "
                f"LEFT JOIN agent_sessions s ON {condition} ORDER BY s.updated_at DESC, s.agent_session",
                params).fetchall()
            return rows[0][0], [row[1:] for row in rows if row[1] is not None]

        server_now, rows = self.server.run(work)
        shift = now - server_now
        return [{name: value + shift if name in _SESSION_TIMES and value is not None else value
                 for name, value in zip(SHARED_SESSION_COLUMNS, row)} for row in rows]

    def update_agent_session(self, session: str, *, now: float, event: str | None = None,
                             status: str | None = None, task: str | None = None, agent: str | None = None,
                             cwd: str | None = None, source: str | None = None, model: str | None = None,
                             transcript_path: str | None = None, task_default: str | None = None) -> None:
        from policy.boards import local_identity

        user, host = local_identity()
        values = {"session": session, "event": event, "status": status, "task": task, "agent": agent, "cwd": cwd,
                  "source": source, "model": model, "host": host, "user": user, "transcript": transcript_path,
                  "task_default": task_default}

        def work(connection: Any) -> tuple[float, None]:
            server_now = connection.execute(
                f"""INSERT INTO agent_sessions AS s (agent_session, agent, cwd, model, source, task, status,
                                                    last_event, started_at, updated_at, ended_at, host, "user",
                                                    transcript_path)
                    SELECT %(session)s, %(agent)s, %(cwd)s, %(model)s, %(source)s,
                           nullif(coalesce(%(task)s, %(task_default)s), ''),
                           coalesce(%(status)s, 'active'), %(event)s, t.now, t.now,
                           CASE WHEN %(status)s = 'stopped' THEN t.now END, %(host)s, %(user)s, %(transcript)s
                    FROM {_NOW}
                    ON CONFLICT (agent_session) DO UPDATE SET
                        agent = coalesce(%(agent)s, s.agent), cwd = coalesce(%(cwd)s, s.cwd),
                        model = coalesce(%(model)s, s.model), source = coalesce(%(source)s, s.source),
                        transcript_path = coalesce(%(transcript)s, s.transcript_path),
                        task = CASE WHEN %(task)s::text IS NOT NULL THEN nullif(%(task)s, '')
                                    WHEN s.task IS NULL THEN nullif(%(task_default)s, '') ELSE s.task END,
                        status = coalesce(%(status)s, s.status),
                        last_event = coalesce(%(event)s, s.last_event),
                        updated_at = CASE WHEN %(event)s::text IS NULL THEN s.updated_at ELSE excluded.updated_at END,
                        ended_at = CASE WHEN %(status)s = 'stopped' THEN excluded.updated_at
                                        WHEN %(status)s::text IS NULL THEN s.ended_at END,
                        host = CASE WHEN %(event)s::text IS NULL THEN s.host ELSE excluded.host END,
                        "user" = CASE WHEN %(event)s::text IS NULL THEN s."user" ELSE excluded."user" END
                    RETURNING extract(epoch FROM clock_timestamp())::float8""", values).fetchone()[0]
            return server_now, None

        self._write(work, now, changes_claims=False)

    def agent_sessions(self, *, now: float, since: float | None = None) -> list[dict[str, Any]]:
        if since is None:
            return self._sessions(now, "true", ())
        return self._sessions(now, "s.status <> 'stopped' OR s.updated_at >= t.now - %s", (now - since,))

    def find_agent_sessions(self, prefix: str) -> list[str]:
        def work(connection: Any) -> list[str]:
            return [row[0] for row in connection.execute(
                "SELECT agent_session FROM agent_sessions WHERE agent_session LIKE %s ESCAPE '\\' ORDER BY 1",
                (like_prefix(prefix),)).fetchall()]

        return self.server.run(work)  # type: ignore[no-any-return]


def _quoted(columns: tuple[str, ...], prefix: str) -> list[str]:
    return [f'{prefix}"{name}"' for name in columns]


class _Held(Exception):
    """Inside a claim's transaction: not every label was free (rolls the transaction back)."""


class _HeldBy(Exception):
    def __init__(self, server_now: float, rows: list[dict[str, Any]]) -> None:
        super().__init__("held")
        self.server_now = server_now
        self.rows = rows


def _catching_held(work: Callable[[Any], Any], session: str, labels: list[str]) -> Callable[[Any], Any]:
    """The claim's work, reading the holders (in the same connection, right after the rollback) when a label was
    taken by another session."""
    def run(connection: Any) -> Any:
        try:
            return work(connection)
        except _Held:
            rows = connection.execute(
                f"SELECT t.now, {', '.join(_quoted(CLAIM_COLUMNS, 'c.'))} FROM {_NOW} JOIN claims c "
                "ON c.expires_at > t.now AND c.label = ANY(%s) AND c.agent_session <> %s "
                "ORDER BY c.claimed_at, c.label", (labels, session)).fetchall()
            server_now = rows[0][0] if rows else connection.execute(f"SELECT t.now FROM {_NOW}").fetchone()[0]
            raise _HeldBy(server_now, [dict(zip(CLAIM_COLUMNS, row[1:])) for row in rows]) from None

    return run
