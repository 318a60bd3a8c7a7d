"""The team's shared board on a real PostgreSQL server (tests/pg_server.py starts it; no mock): two "machines"
(separate HOMEs, configs and local stores, one server) running `policy` as real processes, concurrent claimers,
clock skew through the engine's time input, a server stopped mid-session, a server that never answers, and
reconnection. docs/team.md describes what is tested here."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pg_server
import pytest
from conftest import EVENTS, POLICY, isolated_vars, write

from policy.boards import BoardOutage, local_identity
from policy.boards.postgres import LATEST, SharedBoard, SharedStore, migrate

S1 = "8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f"
S2 = "3b9e7f10-2c4d-4e6f-8a1b-5c7d9e0f1a2b"
PURPOSE = "Apply Terraform changes to the billing stack"
USER, HOST = local_identity()
WHO = f"{USER}@{HOST}"


# ---- the server ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_template() -> Path:
    if pg_server.binaries() is None:
        reason = ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in "
                  "/usr/lib/postgresql/*/bin: `apt-get install postgresql` to run the shared-store tests")
        if os.environ.get("POLICY_TEST_POSTGRES") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp_path: as root that is 0700, and the servers run as nobody.
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="policy-pg-"))
    yield pg_server.make_template(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(pg_template: Path) -> pg_server.PgServer:
    """One server for the tests that do not stop it; each test gets a database of its own (`team`)."""
    server = pg_server.PgServer(pg_template, pg_template.parent)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def own_pg(pg_template: Path) -> pg_server.PgServer:
    """A server of this test's own, to stop, pause and restart."""
    server = pg_server.PgServer(pg_template, pg_template.parent)
    server.start()
    yield server
    server.destroy()


_databases = iter(range(1, 10_000))


@pytest.fixture
def team(pg: pg_server.PgServer) -> str:
    """The DSN of a new, empty team database (one CREATE DATABASE, as docs/team.md says)."""
    return pg.create_database(f"team{next(_databases)}")


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password, from the environment as libpq reads it (the config never holds one)."""
    monkeypatch.setenv("PGPASSWORD", pg_server.PASSWORD)


# ---- machines ------------------------------------------------------------------------------------------------------

class Machine:
    """One simulated machine: its own HOME, user config (naming the shared store) and local fact store; `policy` is
    run as a real process each time. `clock` shifts its engine time (`--now`) by that many seconds."""

    def __init__(self, root: Path, dsn: str, *, clock: float = 0.0, timeout: float | None = None,
                 on_outage: str | None = None, packs: str = "[presence]") -> None:
        self.env = {**isolated_vars(root), "PGPASSWORD": pg_server.PASSWORD}
        self.work = root / "work"
        self.clock = clock
        store = {"shared": dsn, **({"timeout": timeout} if timeout else {}),
                 **({"on_outage": on_outage} if on_outage else {})}
        write(root / "config" / "policy" / "config.yaml",
              f"version: 1\npacks: {packs}\nstore: {json.dumps(store)}\n")
        self.db = root / "state" / "policy" / "facts.db"

    def now(self) -> str:
        from datetime import datetime, timezone

        return datetime.fromtimestamp(time.time() + self.clock, timezone.utc).isoformat()

    def run(self, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        done = subprocess.run([str(POLICY), *args], input=stdin, capture_output=True, timeout=120, env=self.env,
                              cwd=str(self.work))
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def eval(self, event: str, **changes: object) -> tuple[int, str, str]:
        payload = {**json.loads((EVENTS / f"{event}.json").read_text()), **changes}
        args = ("--now", self.now()) if self.clock else ()
        return self.run("eval", *args, stdin=json.dumps(payload).encode())

    def local_claims(self) -> list[tuple]:
        connection = sqlite3.connect(str(self.db))
        try:
            return connection.execute("SELECT agent_session, label FROM claims").fetchall()
        finally:
            connection.close()

    def effects(self) -> list[list[dict]]:
        connection = sqlite3.connect(str(self.db))
        try:
            return [json.loads(row[0]) for row in connection.execute(
                "SELECT effects FROM decisions WHERE effects IS NOT NULL ORDER BY id")]
        finally:
            connection.close()


def ask(reason: str) -> str:
    return json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                                              "permissionDecisionReason": reason}}, separators=(",", ":")) + "\n"


def decided(out: str) -> dict:
    return json.loads(out)["hookSpecificOutput"]


AGE = r"since \d\d:\d\d \(\d+s ago\)"  # real seconds pass between the processes: the age is read, not predicted


def server_claims(dsn: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, password=pg_server.PASSWORD) as connection:
        return connection.execute("SELECT label, agent_session, fence, expires_at > extract(epoch FROM "
                                  "clock_timestamp()) FROM claims ORDER BY label").fetchall()


# ---- two machines ----------------------------------------------------------------------------------------------

def test_two_machines_see_each_others_claims_within_one_event(tmp_path: Path, team: str) -> None:
    laptop, desktop = Machine(tmp_path / "laptop", team), Machine(tmp_path / "desktop", team)
    # The laptop's session applies the billing stack: let through (the host decides), claimed on the server.
    assert laptop.eval("PreToolUse-Bash") == (0, "", "")
    assert server_claims(team) == [("stack:billing", S1, 1, True)]
    assert laptop.local_claims() == []  # nothing of it in the local store
    # The desktop's very next prompt shows it...
    code, out, err = desktop.eval("UserPromptSubmit", session_id=S2)
    assert (code, err) == (0, "")
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert re.fullmatch(
        "Other agent sessions are changing these resources right now \\(presence board\\):\n"
        f'- stack:billing: session 8f2c1d3e, "{PURPOSE}", {AGE}\n'
        "If your work would mutate any of them, stop and ask the user before you do.", context), context
    # ... and its apply of the same stack is deferred to the user, naming the laptop's session.
    code, out, err = desktop.eval("PreToolUse-Bash-session2")
    assert (code, err) == (0, "")
    assert decided(out)["permissionDecision"] == "ask"
    assert re.fullmatch("Another agent session is working on what this command changes:\n"
                        f'- stack:billing: session 8f2c1d3e, "{PURPOSE}", {AGE}\n'
                        "Go ahead only if the user agrees; they may prefer to wait until it is released.",
                        decided(out)["permissionDecisionReason"])
    # `policy list --all` on the desktop shows the row with its user and host, and the fencing counter.
    code, out, err = desktop.run("list", "--all", "--json")
    assert (code, err) == (0, "")
    assert [(row["label"], row["agent_session"], row["user"], row["host"], row["fence"], row["purpose"])
            for row in json.loads(out)] == [("stack:billing", S1, USER, HOST, 1, PURPOSE)]
    code, out, err = desktop.run("list", "--all")
    assert out.splitlines()[0].split() == ["LABEL", "SESSION", "USER@HOST", "SINCE", "AGE", "EXPIRES", "IN",
                                           "PURPOSE"]
    assert out.splitlines()[2].split()[:3] == ["stack:billing", "8f2c1d3e", WHO]
    # The laptop's session ends: released on the server; the desktop's apply now goes through, and the label has
    # changed hands once more (fence 2).
    assert laptop.eval("SessionEnd") == (0, "", "")
    assert server_claims(team) == [("stack:billing", S1, 1, False)]
    assert desktop.eval("PreToolUse-Bash-session2") == (0, "", "")
    assert server_claims(team) == [("stack:billing", S2, 2, True)]
    assert desktop.run("claim", "stack:billing", "--purpose", "again", "--session", S2)[0] == 0
    assert server_claims(team) == [("stack:billing", S2, 2, True)]  # re-claiming one's own keeps the fence


def test_the_cli_claim_is_exclusive_on_a_shared_board(tmp_path: Path, team: str) -> None:
    laptop, desktop = Machine(tmp_path / "laptop", team), Machine(tmp_path / "desktop", team)
    code, out, err = laptop.run("claim", "node:k8s-node1", "--purpose", "drain", "--session", S1)
    assert (code, err) == (0, "")
    assert re.fullmatch(r"claimed node:k8s-node1 until \d\d:\d\d \(ttl 15m 00s\), fence 1\n", out), out
    code, out, err = desktop.run("claim", "node:k8s-node1", "--purpose", "reboot", "--session", S2)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "not claimed: node:k8s-node1 is held by another agent session:"
    assert re.fullmatch(f'- session 8f2c1d3e, "drain", {AGE}', lines[1]), lines[1]
    assert lines[2:] == ["Defer to the user: tell them who is working on it and ask before you mutate it."]
    code, out, err = desktop.run("claim", "node:k8s-node1", "--purpose", "reboot", "--session", S2, "--json")
    assert (code, [row["agent_session"] for row in json.loads(out)["holders"]]) == (1, [S1])
    assert json.loads(out)["claimed"] is None
    assert laptop.run("release", "node:k8s-node1", "--session", S1) == (0, "released node:k8s-node1\n", "")
    assert desktop.run("claim", "node:k8s-node1", "--purpose", "reboot", "--session", S2)[0] == 0
    assert server_claims(team) == [("node:k8s-node1", S2, 2, True)]


def test_sessions_and_status_show_the_whole_team(tmp_path: Path, team: str) -> None:
    laptop = Machine(tmp_path / "laptop", team, packs="[presence, activity]")
    desktop = Machine(tmp_path / "desktop", team, packs="[presence, activity]")
    assert laptop.eval("SessionStart")[0] == 0
    assert laptop.eval("PreToolUse-Bash")[0] == 0
    code, out, err = desktop.run("sessions", "--json")
    assert (code, err) == (0, "")
    assert [(row["agent_session"], row["status"], row["user"], row["host"]) for row in json.loads(out)] == [
        (S1, "working", USER, HOST)]
    code, out, err = desktop.run("sessions")
    assert out.splitlines()[0].split()[:3] == ["session", "user@host", "task"]
    assert out.splitlines()[2].split()[:4] == ["8f2c1d3e", WHO, "-", "working"]
    code, out, err = desktop.run("status")
    assert (code, err) == (0, "")
    assert "Claims: 1 active\n" in out
    assert re.search(f'  stack:billing: session 8f2c1d3e, "{PURPOSE}", {AGE} \\[{re.escape(WHO)}\\]\n', out), out
    assert f"Agent sessions: 1 working on {WHO}" in out
    # `policy sessions map` labels a session of another machine, found on the server by its prefix.
    assert desktop.run("sessions", "map", "8f2c", "billing-rollout") == (
        0, f"agent session {S1}: task billing-rollout\n", "")
    assert json.loads(laptop.run("sessions", "--json")[1])[0]["task"] == "billing-rollout"


# ---- concurrency -----------------------------------------------------------------------------------------------

ROUNDS, CLAIMERS = 200, 16


def _claimer(dsn: str, index: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One claimer process: every round, all of them claim the same label at once; the winner releases it."""
    server = SharedStore(dsn, 30.0)
    session = f"claimer-{index}"
    try:
        for round_ in range(ROUNDS):
            barrier.wait(60)
            taken, others = SharedBoard(server, None).claim(session, ["stack:contended"], f"round {round_}",
                                                            now=time.time(), ttl=900)
            fence = SharedBoard(server, None).active(now=time.time(), session=session)[0]["fence"] if taken \
                else None
            results.put((round_, index, taken, [row["agent_session"] for row in others], fence))
            barrier.wait(60)
            if taken:
                SharedBoard(server, None).release(session, now=time.time())
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.put(("error", index, repr(error)))
        barrier.abort()


def test_exactly_one_of_sixteen_concurrent_claimers_wins_every_round(team: str, password: None) -> None:
    SharedStore(team, 10.0).run(migrate)  # the schema exists before the race (migrations race on their own below)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(CLAIMERS), context.Queue()
    workers = [context.Process(target=_claimer, args=(team, index, barrier, results)) for index in range(CLAIMERS)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=300) for _ in range(ROUNDS * CLAIMERS)]
    for worker in workers:
        worker.join(60)
    assert [report for report in reports if report[0] == "error"] == []
    by_round: dict[int, list[tuple]] = {}
    for round_, index, taken, holders, fence in reports:
        by_round.setdefault(round_, []).append((index, taken, holders, fence))
    assert sorted(by_round) == list(range(ROUNDS))
    for round_, entries in by_round.items():
        winners = [entry for entry in entries if entry[1]]
        assert len(winners) == 1, (round_, winners)
        winner = winners[0]
        assert winner[3] == round_ + 1  # the fencing counter: one more each time the label changes hands
        # every loser was told who holds it: the winner, nobody else
        assert all(entry[2] == [f"claimer-{winner[0]}"] for entry in entries if not entry[1]), (round_, entries)
    assert server_claims(team) == [("stack:contended", f"claimer-{winner[0]}", ROUNDS, False)]


def test_concurrent_hooks_on_two_machines_let_exactly_one_apply_through(tmp_path: Path, team: str) -> None:
    machines = [Machine(tmp_path / name, team) for name in ("laptop", "desktop")]
    sessions = [f"{index:08d}-race" for index in range(8)]
    event = json.loads((EVENTS / "PreToolUse-Bash.json").read_text())
    barrier = threading.Barrier(len(sessions))
    outcomes: dict[int, tuple[int, str, str]] = {}

    def hook(index: int) -> None:
        barrier.wait(60)
        outcomes[index] = machines[index % 2].run("eval", stdin=json.dumps({**event, "session_id": sessions[index]})
                                                  .encode())

    threads = [threading.Thread(target=hook, args=(index,)) for index in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(outcomes) == list(range(len(sessions)))
    allowed = [index for index, outcome in outcomes.items() if outcome == (0, "", "")]
    assert len(allowed) == 1, outcomes
    winner = sessions[allowed[0]]
    assert server_claims(team) == [("stack:billing", winner, 1, True)]
    for index, (code, out, err) in outcomes.items():
        if index != allowed[0]:
            assert (code, err, decided(out)["permissionDecision"]) == (0, "", "ask")
            assert f"- stack:billing: session {winner[:8]}, \"{PURPOSE}\"" in decided(out)["permissionDecisionReason"]


# ---- clocks --------------------------------------------------------------------------------------------------------

def test_machines_with_skewed_clocks_agree_on_what_is_active(tmp_path: Path, team: str) -> None:
    # The desktop's clock runs an hour ahead: past the laptop's 15-minute ttl, were its own clock the judge.
    laptop = Machine(tmp_path / "laptop", team)
    desktop = Machine(tmp_path / "desktop", team, clock=3600)
    assert laptop.eval("PreToolUse-Bash") == (0, "", "")
    code, out, err = desktop.eval("PreToolUse-Bash-session2")
    assert (code, err, decided(out)["permissionDecision"]) == (0, "", "ask")
    code, out, err = desktop.run("list", "--json", "--now", desktop.now())
    (row,) = json.loads(out)
    assert row["agent_session"] == S1
    assert 0 <= row["age"] < 60 and 840 < row["expires_in"] <= 900  # on the desktop's clock, as on the server's
    # Its own claim, made an hour "in the future", is as fresh as any to the laptop.
    skewed_back = Machine(tmp_path / "old-laptop", team, clock=-3600)
    assert skewed_back.eval("PreToolUse-Bash", session_id=S2, cwd="/srv/stacks/payments") == (0, "", "")
    code, out, err = laptop.run("peek", "stack:payments", "--json")
    (row,) = json.loads(out)
    assert row["agent_session"] == S2 and 840 < row["expires_in"] <= 900


def test_heartbeats_are_throttled_by_the_servers_clock(team: str, password: None) -> None:
    server = SharedStore(team, 5.0)
    board = SharedBoard(server, None)
    assert board.claim(S1, ["stack:a", "stack:b"], "apply", now=1000.0, ttl=60) == (True, [])
    # The caller's clock says 10 minutes passed; the server's says a moment did: throttled.
    assert board.heartbeat(S1, now=1600.0, every=120) is None
    assert board.heartbeat(S1, now=1600.0) == ["stack:a", "stack:b"]
    rows = board.active(now=2000.0, session=S1)
    assert [(row["label"], row["mine"], row["fence"]) for row in rows] == [("stack:a", True, 1), ("stack:b", True, 1)]
    assert all(59 < row["expires_in"] <= 60 for row in rows)
    assert board.release(S1, "stack:a", now=2000.0) == ["stack:a"]
    assert board.release(S1, now=2000.0) == ["stack:b"]
    assert board.heartbeat(S1, now=2000.0) == []


# ---- outages -----------------------------------------------------------------------------------------------------

DENY_DESTROY = """
version: 1
pack: guard
rules:
  - id: no-destroy
    events: PreToolUse
    tools: Bash
    match: {tool_input.command: '^terraform destroy'}
    decision: deny
    reason: No terraform destroy.
"""


def test_a_stopped_server_never_turns_a_deny_into_an_allow(tmp_path: Path, own_pg: pg_server.PgServer) -> None:
    team = own_pg.create_database("team")
    guard = write(tmp_path / "guard.yaml", DENY_DESTROY)
    laptop = Machine(tmp_path / "laptop", team, timeout=1)
    desktop = Machine(tmp_path / "desktop", team, timeout=1, packs=f"[presence, {guard}]")
    assert laptop.eval("PreToolUse-Bash") == (0, "", "")
    assert desktop.eval("UserPromptSubmit", session_id=S2)[0] == 0  # the desktop has seen the board once
    own_pg.stop()
    # The claimed stack: still deferred, from the last known board, which says it is that.
    code, out, err = desktop.eval("PreToolUse-Bash-session2")
    assert (code, err, decided(out)["permissionDecision"]) == (0, "", "ask")
    assert re.fullmatch("Another agent session is working on what this command changes:\n"
                        f'- stack:billing: session 8f2c1d3e, "{PURPOSE}", {AGE}\n'
                        "\\(the last known board: the shared store does not answer right now\\)\n"
                        "Go ahead only if the user agrees; they may prefer to wait until it is released.",
                        decided(out)["permissionDecisionReason"]), decided(out)["permissionDecisionReason"]
    # A stack nobody claimed: it cannot be claimed, so the user is asked, and told why.
    code, out, err = desktop.eval("PreToolUse-Bash-session2", cwd="/srv/stacks/payments")
    assert (code, err, decided(out)["permissionDecision"]) == (0, "", "ask")
    assert re.fullmatch(
        "policy could not claim what this changes: the shared store postgresql://policy@127.0.0.1:\\d+/team is "
        "unreachable \\(.*\\)\\. Other machines' claims cannot be seen or taken until it answers again; go ahead "
        "only if you know nobody else is working on it\\.", decided(out)["permissionDecisionReason"])
    assert desktop.effects()[-1] == [{"rule": "presence/claim-before-mutating", "effect": "claim", "result": (
        desktop.effects()[-1][0]["result"])}]
    assert desktop.effects()[-1][0]["result"].startswith("not claimed (stack:payments): the shared store ")
    # A deny stays a deny.
    code, out, err = desktop.eval("PreToolUse-Bash-session2", cwd="/srv/stacks/payments",
                                  tool_input={"command": "terraform destroy", "description": "tear down"})
    assert (code, err) == (0, "")
    assert decided(out) == {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                            "permissionDecisionReason": "No terraform destroy."}
    # The prompt still shows the last known board, and says so.
    code, out, err = desktop.eval("UserPromptSubmit", session_id=S2)
    context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    assert "(the last known board: the shared store does not answer right now)" in context.splitlines()
    assert context.splitlines()[1].startswith("- stack:billing: session 8f2c1d3e")
    # Heartbeats are not written, and say so in the decision log; the answer is the usual one (nothing). (The
    # laptop's last known board holds its own claim: it was read again after the claim.)
    assert laptop.eval("PostToolUse-Bash") == (0, "", "")
    assert laptop.effects()[-1][0]["result"].startswith("heartbeat not written: the shared store ")
    # `policy list` says the board is stale; `on_outage: fail` answers in the fail mode (closed: blocked).
    code, out, err = desktop.run("list")
    assert out.splitlines()[-1].startswith("(the last known board: the shared store does not answer right now): ")
    failing = Machine(tmp_path / "failing", team, timeout=1, on_outage="fail")
    code, out, err = failing.eval("PreToolUse-Bash-session2", cwd="/srv/stacks/payments")
    assert (code, out) == (2, "")
    assert err.startswith("policy: shared-unreachable: the shared store ")
    # The server is back: the next event connects again, and claims.
    own_pg.start()
    assert desktop.eval("PreToolUse-Bash-session2", cwd="/srv/stacks/payments") == (0, "", "")
    assert [row[:2] for row in server_claims(team)] == [("stack:billing", S1), ("stack:payments", S2)]


class SilentServer:
    """A TCP server that accepts connections and never says anything: a network that drops the answers."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.held:
            connection.close()


def test_a_server_that_never_answers_costs_one_timeout_and_asks(tmp_path: Path) -> None:
    silent = SilentServer()
    try:
        dsn = f"postgresql://policy@127.0.0.1:{silent.port}/team"
        machine = Machine(tmp_path / "laptop", dsn, timeout=1)
        code, out, err = machine.eval("PreToolUse-Bash")
        assert (code, err, decided(out)["permissionDecision"]) == (0, "", "ask")
        assert f"the shared store {dsn} did not answer in time" in decided(out)["permissionDecisionReason"]
        with pytest.raises(BoardOutage, match="did not answer in time"):
            SharedStore(dsn, 1.0).run(migrate)
    finally:
        silent.close()


def test_a_server_that_stops_answering_mid_session_and_reconnection(own_pg: pg_server.PgServer,
                                                                   password: None) -> None:
    team = own_pg.create_database("team")
    server = SharedStore(team, 1.0)
    assert SharedBoard(server, None).claim(S1, ["stack:a"], "apply", now=time.time(), ttl=900)[0] is True
    first = server.connection
    # Frozen (SIGSTOP): the open connection's next statement is cut off by the client-side timeout.
    own_pg.pause()
    try:
        with pytest.raises(BoardOutage, match="did not answer in time"):
            SharedBoard(server, None).heartbeat(S1, now=time.time())
    finally:
        own_pg.resume()
    assert server.connection is None
    # Right after an outage, uses fail at once (one evaluation waits once); then it connects again.
    with pytest.raises(BoardOutage):
        SharedBoard(server, None).heartbeat(S1, now=time.time())
    assert pg_server.wait_until(lambda: _answers(server), seconds=15)
    # A restart breaks the held connection: the next use reconnects and retries, without an error.
    second = server.connection
    assert second is not None and second is not first
    own_pg.stop()
    own_pg.start()
    assert SharedBoard(server, None).heartbeat(S1, now=time.time()) == ["stack:a"]
    assert server.connection is not second


def _answers(server: SharedStore) -> bool:
    board = SharedBoard(server, None)
    board.active(now=time.time())  # a read never raises: it says so in `outage` instead
    return board.outage is None


def test_an_outage_read_falls_back_to_nothing_marked_stale_without_a_last_known_board(
        tmp_path: Path, own_pg: pg_server.PgServer, password: None) -> None:
    from policy.store import Store

    team = own_pg.create_database("team")
    with Store.open(str(tmp_path / "facts.db")) as store:
        board = SharedBoard(SharedStore(team, 1.0), store)
        assert board.claim(S1, ["stack:a"], "apply", now=time.time(), ttl=900)[0] is True
        assert [row["label"] for row in board.active(now=time.time())] == ["stack:a"]  # remembered
        assert os.stat(str(tmp_path / "facts.db") + "-board.json").st_mode & 0o777 == 0o600
        own_pg.stop()
        stale = SharedBoard(SharedStore(team, 1.0), store)
        rows = stale.active(now=time.time())
        assert [(row["label"], row["stale"]) for row in rows] == [("stack:a", True)]
        assert stale.outage is not None and "is unreachable" in stale.outage
        assert SharedBoard(SharedStore(team, 1.0), None).active(now=time.time()) == []  # nothing known
        with pytest.raises(BoardOutage):
            stale.claim(S2, ["stack:a"], "x", now=time.time(), ttl=900)


# ---- schema and config -------------------------------------------------------------------------------------------

def test_the_schema_is_migrated_once_and_a_newer_one_is_refused(team: str, password: None) -> None:
    import psycopg

    from policy.errors import StoreError

    assert SharedStore(team, 5.0).run(migrate) == LATEST
    assert SharedStore(team, 5.0).run(migrate) == LATEST
    with psycopg.connect(team, autocommit=True) as connection:
        assert connection.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall() == [
            (1, "claims with a fencing counter per label; agent sessions with host and user"),
            (2, "agent sessions: transcript_path")]
        connection.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    with pytest.raises(StoreError, match=r"^the shared store has schema version 99, newer than this policy "
                                         r"knows \(2\)$"):
        SharedStore(team, 5.0).run(lambda connection: None)


def test_only_the_user_config_names_the_shared_store_and_never_with_a_password(tmp_path: Path) -> None:
    from policy.config import Request
    from policy.layering import resolve

    environ = isolated_vars(tmp_path)
    write(tmp_path / "config" / "policy" / "config.yaml", "store: {shared: 'service=team', timeout: 3}\n")
    project = tmp_path / "repo"
    write(project / "policy.yaml", "store: {shared: 'postgresql://evil.example/steal'}\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert (resolved.settings.shared_store, resolved.settings.shared_timeout) == ("service=team", 3.0)
    assert [(d.code, d.message) for d in resolved.diagnostics] == [
        ("not-trusted", "the project config cannot choose the shared store (only the user config can: it names "
                        "the server your claims and sessions are sent to): ignored")]
    for dsn in ("postgresql://policy:hunter2@db/team", "postgresql://db/team?password=hunter2",
                "host=db password=hunter2"):
        write(tmp_path / "config" / "policy" / "config.yaml", f"store: {{shared: '{dsn}'}}\n")
        resolved = resolve(Request(cwd=str(tmp_path), environ=environ))
        assert resolved.settings.shared_store is None
        assert [(d.code, d.message) for d in resolved.diagnostics] == [
            ("shared-dsn", "store.shared holds a password, and config files are not secret")], dsn


def test_doctor_checks_the_shared_store(tmp_path: Path, team: str) -> None:
    laptop = Machine(tmp_path / "laptop", team)
    assert laptop.eval("PreToolUse-Bash") == (0, "", "")
    code, out, err = laptop.run("doctor")
    assert f"ok    shared  {team}: answers, schema current, 1 active claim on the team's board" in out.splitlines()
    laptop.env["PGPASSWORD"] = "wrong"
    code, out, err = laptop.run("doctor")
    (line,) = [line for line in out.splitlines() if line.startswith("fail  shared  ")]
    assert line.startswith(f"fail  shared  the shared store {team} refused the connection (")
    assert 'password authentication failed for user "policy"' in line
    assert code == 1


def test_without_psycopg_the_shared_store_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from policy.errors import StoreError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StoreError) as raised:
        SharedBoard(SharedStore("service=team", 1.0), None).claim(S1, ["stack:a"], "x", now=0.0, ttl=60)
    assert (raised.value.code, raised.value.message, raised.value.hint) == (
        "shared-no-driver", "the shared store needs psycopg, which is not installed",
        "pip install 'agent-policy[postgres]' (the config's store.shared names a PostgreSQL server)")


# ---- policy serve ---------------------------------------------------------------------------------------------------

def _policy_backends(dsn: str) -> list[int]:
    """The server processes of connections policy opened (application_name policy), other than this one's."""
    import psycopg

    with psycopg.connect(dsn, password=pg_server.PASSWORD) as connection:
        return [row[0] for row in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'policy' "
            "AND pid <> pg_backend_pid() ORDER BY pid").fetchall()]


def test_policy_serve_keeps_one_connection_across_events_and_closes_it(tmp_path: Path, team: str) -> None:
    import shutil
    import tempfile

    from conftest import Env
    from test_serve import start_server, through_server

    machine = Machine(tmp_path / "laptop", team)
    runtime = Path(tempfile.mkdtemp(prefix="policy-t-", dir="/tmp"))  # (a socket path has at most 107 bytes)
    os.chmod(runtime, 0o700)
    env = Env(machine.work, {**machine.env, "XDG_RUNTIME_DIR": str(runtime)})
    env.vars.pop("POLICY_NO_SERVER", None)
    process = start_server(env, "--workers", "1")
    try:
        event = (EVENTS / "PreToolUse-Bash.json").read_bytes()
        assert _policy_backends(team) == []
        done = through_server(env, event)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        assert server_claims(team) == [("stack:billing", S1, 1, True)]
        held = _policy_backends(team)
        assert len(held) == 1  # the worker's connection, still open after the event
        prompt = json.loads((EVENTS / "UserPromptSubmit.json").read_text())
        done = through_server(env, json.dumps({**prompt, "session_id": S2}).encode())
        assert done.returncode == 0
        assert "- stack:billing: session 8f2c1d3e" in json.loads(done.stdout)["hookSpecificOutput"][
            "additionalContext"]
        assert _policy_backends(team) == held  # the same connection answered the second event
    finally:
        env.run("serve", "stop")
        process.wait(timeout=30)
        shutil.rmtree(runtime, ignore_errors=True)
    assert pg_server.wait_until(lambda: _policy_backends(team) == [], seconds=15)  # closed with the worker


def test_the_hook_timeout_policy_install_writes_covers_the_shared_store() -> None:
    from policy.hook import required_timeout
    from policy.lean import replace
    from policy.model import RuleSet, Settings

    local = RuleSet(packs=(), settings=Settings(), digest="")
    shared = replace(local, settings=Settings(shared_store="service=team", shared_timeout=3.0))
    # connecting (3 s, at least libpq's 2), then a read and a write (3 s each)
    assert required_timeout(shared, "PreToolUse") == required_timeout(local, "PreToolUse") + 9


def test_every_family_and_effect_on_the_board_declares_what_an_outage_does() -> None:
    from conftest import ROOT

    from policy.effects import effect_modules
    from policy.facts import family_class, family_names

    # Who goes through the board, read from the source: a family that builds one, an effect module that asks for
    # it. A new one fails here until it says what it does while the shared store does not answer.
    on_board = {path.stem for directory in ("facts", "effects") for path in (ROOT / "policy" / directory).glob("*.py")
                if "board_for(" in path.read_text() or "context.board()" in path.read_text()}
    families = {name for name in family_names() if family_class(name).on_outage}
    effect_kinds = {kind for kind, module in effect_modules().items()
                    if kind in getattr(__import__(module, fromlist=["KINDS"]), "ON_OUTAGE", {})}
    assert families == {"claims", "agent"}
    assert effect_kinds == {"claim", "heartbeat", "release", "agent_status"}
    assert on_board == {"claims", "agent", "__init__"}  # (effects/__init__: EffectContext.board itself)
    for module in {module for kind, module in effect_modules().items() if module.rsplit(".", 1)[1] in on_board}:
        kinds = set(__import__(module, fromlist=["KINDS"]).KINDS)
        assert kinds <= effect_kinds, module


def test_a_claim_lost_between_reading_the_board_and_claiming_is_evaluated_again(tmp_path: Path, team: str,
                                                                              password: None) -> None:
    from policy.hook import Options, evaluate_event
    from policy.store import Store

    environ = isolated_vars(tmp_path)
    write(tmp_path / "config" / "policy" / "config.yaml", f"packs: [presence]\nstore: {{shared: '{team}'}}\n")

    class RacingStore(Store):
        """The local store, whose write lock is taken just after another machine's session claimed the stack:
        the evaluation has read an empty board, and its claim will lose."""

        raced = False

        def begin(self, *, timeout: float | None = None) -> None:
            if not RacingStore.raced:
                RacingStore.raced = True
                other = SharedBoard(SharedStore(team, 5.0), None)
                assert other.claim(S2, ["stack:billing"], "racing apply", now=time.time(), ttl=900) == (True, [])
            super().begin(timeout=timeout)

    outcome = evaluate_event((EVENTS / "PreToolUse-Bash.json").read_bytes(), Options(), environ, now=time.time(),
                             utc_offset=None, cwd=str(tmp_path / "work"), store_opener=RacingStore.open)
    assert RacingStore.raced
    answer = decided(outcome.output.stdout)
    assert answer["permissionDecision"] == "ask"
    assert re.fullmatch("Another agent session is working on what this command changes:\n"
                        f'- stack:billing: session 3b9e7f10, "racing apply", {AGE}\n'
                        "Go ahead only if the user agrees; they may prefer to wait until it is released.",
                        answer["permissionDecisionReason"]), answer
    assert outcome.decision is not None
    assert outcome.decision.rule_ids == ("presence/defer-on-claim-conflict", "presence/claim-before-mutating")
    assert (outcome.decision.verdict, outcome.decision.effects, outcome.effects) == ("defer", (), ())  # no claim
    assert server_claims(team) == [("stack:billing", S2, 1, True)]  # the race's winner keeps it; nothing of ours
