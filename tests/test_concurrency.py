"""Many hook processes on one fact store at once (SPEC §9): nothing lost, nothing locked, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import POLICY_HOOK, event_payload, write

from policy.migrations import LATEST

WORKERS = 8
# SPEC §9: 8 processes x 250 evals. Each eval is a fresh interpreter (~40 ms of CPU on a small CI box, more with an
# editable install), so this takes a minute or two there; POLICY_CONCURRENCY_RUNS lowers it for quick local runs.
RUNS = int(os.environ.get("POLICY_CONCURRENCY_RUNS", "250"))

RULES = """
version: 1
pack: load
rules:
  - id: log-attempt
    events: PreToolUse
    decision: allow
    reason: "{{ event.tool_use_id }}"
    do:
      - record: {table: attempts, values: {tool_use_id: "{{ event.tool_use_id }}", session: "{{ session }}"}}
"""


def payload(worker: int, run: int) -> bytes:
    data = event_payload("PreToolUse-Bash-ls")
    data["session_id"] = f"session-{worker}"
    data["tool_use_id"] = f"toolu_{worker}_{run}"
    return json.dumps(data).encode()


def test_many_processes_lose_nothing(env):
    write(env.root / "rules.yaml", RULES)
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nlog: {keep_payload: true}\n")
    first = env.run(stdin=payload(99, 0), hook=True)  # compile the rules once, so the runs below share the cache
    assert (first.returncode, first.stderr) == (0, b"")
    env.db.unlink()  # and start from no store at all: the workers race to create and migrate it

    def work(worker: int) -> list[tuple[int, bytes, bytes]]:
        problems = []
        for run in range(RUNS):
            result = subprocess.run([str(POLICY_HOOK)], input=payload(worker, run), capture_output=True,
                                    env=env.vars, cwd=env.root, timeout=60)
            expected = json.dumps({"hookSpecificOutput": {
                "hookEventName": "PreToolUse", "permissionDecision": "allow",
                "permissionDecisionReason": f"toolu_{worker}_{run}"}}, separators=(",", ":")).encode() + b"\n"
            if (result.returncode, result.stdout, result.stderr) != (0, expected, b""):
                problems.append((result.returncode, result.stdout, result.stderr))
        return problems

    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [problem for batch in pool.map(work, range(WORKERS)) for problem in batch]
    assert problems == []  # among them: any "database is locked"

    expected = {f"toolu_{worker}_{run}" for worker in range(WORKERS) for run in range(RUNS)}
    logged = env.rows("SELECT json_extract(payload, '$.tool_use_id') AS id, verdict, reason FROM decisions")
    assert len(logged) == WORKERS * RUNS
    assert {row["id"] for row in logged} == expected
    assert all(row["verdict"] == "allow" and row["reason"] == row["id"] for row in logged)
    recorded = env.rows("SELECT tool_use_id, session FROM attempts")
    assert len(recorded) == WORKERS * RUNS
    assert {row["tool_use_id"] for row in recorded} == expected
    assert all(row["session"] == "session-" + row["tool_use_id"].split("_")[1] for row in recorded)
    assert env.rows("SELECT count(*) AS n FROM schema_migrations") == [{"n": LATEST}]
    assert env.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


PARTS = 40
# 40 rows of ~96 KB: about 4 MB per decision, more than SQLite's default 2 MB page cache, so the transaction spills
# pages to the WAL before it commits, and a kill can land between its first and its last write.
SLOW_RULES = """
version: 1
pack: parts
rules:
  - id: many-effects
    events: PreToolUse
    do:
""" + "".join(f"      - record: {{table: parts, values: {{tool_use_id: \"{{{{ event.tool_use_id }}}}\", part: {i}, "
              f"filler: \"{{{{ event.tool_input.command * 16000 }}}}\"}}}}\n" for i in range(PARTS)) + """
      - set: {key: "parts.last-{{ event.tool_use_id }}", value: "{{ event.tool_use_id }}"}
"""


def uncommitted_frames(wal) -> int:
    """Frames at the end of the WAL that no commit frame follows: writes of a transaction that never committed."""
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 32:
        return 0
    page_size = int.from_bytes(data[8:12], "big")
    salts = data[16:24]
    pending = 0
    for offset in range(32, len(data) - 24 - page_size + 1, 24 + page_size):
        header = data[offset:offset + 24]
        if header[8:16] != salts:
            break  # a frame of an older generation of the log
        pending = 0 if int.from_bytes(header[4:8], "big") else pending + 1
    return pending


def test_killed_processes_leave_whole_effect_sets_or_none(env):
    """SIGKILL while a process writes the effects of a decision (detected as the WAL changing under it): the store
    stays intact, and every decision has all 41 of its effect writes and its log row, or none of them."""
    write(env.root / "rules.yaml", SLOW_RULES)
    write(env.root / "policy.yaml", "version: 1\nrules: [rules.yaml]\nlog: {keep_payload: true}\n")
    write(env.config / "policy" / "config.yaml", "version: 1\nproject_kv: [parts]\n")  # the project's kv keys
    first = env.run(stdin=payload(0, 0), hook=True)
    assert (first.returncode, first.stderr) == (0, b"")
    wal = env.db.with_name("facts.db-wal")
    def wal_state():
        try:
            info = wal.stat()
        except FileNotFoundError:
            return None
        return info.st_size, info.st_mtime_ns

    runs, killed, killed_mid_transaction = 40, 0, 0
    for run in range(1, runs + 1):
        before = wal_state()
        process = subprocess.Popen([str(POLICY_HOOK)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env.vars, cwd=env.root)
        process.stdin.write(payload(0, run))
        process.stdin.close()
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            now = wal_state()
            if now is not None and now != before and now[0] > 32 and run % 4:  # every 4th run may finish
                process.send_signal(signal.SIGKILL)
                killed += 1
                break
        process.wait(timeout=60)
        if process.returncode == -signal.SIGKILL and uncommitted_frames(wal):
            killed_mid_transaction += 1
    assert killed_mid_transaction >= 3, (killed, killed_mid_transaction)  # or the test proves nothing

    assert env.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    parts = env.rows("SELECT tool_use_id AS id, count(*) AS n, count(DISTINCT part) AS distinct_parts FROM parts "
                     "GROUP BY tool_use_id")
    assert {(row["n"], row["distinct_parts"]) for row in parts} == {(PARTS, PARTS)}  # all of a decision's, or none
    with_parts = {row["id"] for row in parts}
    with_kv = {json.loads(row["value"]) for row in env.rows("SELECT value FROM kv WHERE key LIKE 'parts.last-%'")}
    logged = {row["id"] for row in env.rows("SELECT json_extract(payload, '$.tool_use_id') AS id FROM decisions")}
    assert with_parts == with_kv == logged
    assert "toolu_0_4" in logged and len(logged) <= runs + 1 - killed_mid_transaction
