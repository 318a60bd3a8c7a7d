"""policy benchmarks (docs/performance.md): ratios measured side by side, in one run, on this machine.

    .venv/bin/python bench/run.py            # the full run (1M decisions), under a minute
    .venv/bin/python bench/run.py --quick    # a small run that checks every benchmark executes (CI)

Every figure that involves a process is a ratio against a bare `python -c pass` of the same interpreter, measured
in alternation (A B A B ...) so both see the same machine; the ratio reported is the median of the pair ratios.
Nothing here asserts a time: the script prints, and writes bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "examples" / "events"
BIN = Path(sys.executable).parent
SHIPPED_PACKS = ("focus", "presence", "pacing", "activity")


def hook_command() -> list[str]:
    """The command `policy install` writes into Claude Code's settings (the launcher, absolute path)."""
    launcher = BIN / "policy-hook"
    return [str(launcher)] if launcher.exists() else [sys.executable, "-m", "policy", "eval"]


def paired(command: list[str], baseline: list[str], runs: int, *, stdin: bytes = b"",
           env: dict[str, str] | None = None, warmup: int = 3, baseline_stdin: bytes = b"",
           baseline_env: dict[str, str] | None = None) -> dict[str, float]:
    """Run command and baseline alternately; medians of each and of the pair ratios."""
    def once(cmd: list[str], data: bytes, environment: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        done = subprocess.run(cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=environment or env)
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 2):
            raise SystemExit(f"benchmark command failed ({done.returncode}): {' '.join(cmd)}\n"
                             f"{done.stderr.decode(errors='replace')}")
        return elapsed

    for _ in range(warmup):
        once(command, stdin)
        once(baseline, baseline_stdin, baseline_env)
    pairs = []
    for _ in range(runs):
        a = once(command, stdin)
        b = once(baseline, baseline_stdin, baseline_env)
        pairs.append((a, b))
    return {"median_ms": round(statistics.median(a for a, _ in pairs) * 1000, 3),
            "baseline_ms": round(statistics.median(b for _, b in pairs) * 1000, 3),
            "ratio": round(statistics.median(a / b for a, b in pairs), 3),
            "ratio_min": round(min(a / b for a, b in pairs), 3),
            "ratio_max": round(max(a / b for a, b in pairs), 3), "runs": runs}


def seed_database(path: Path, decisions: int, attempts: int) -> None:
    """A fact store with history: `decisions` rows and `tool_attempts` rows over the last 29 days, and the focus
    session the user is in (so the shipped packs allow the example Bash command, `terraform apply` in the billing
    stack, after every rule has run, and the presence pack claims the stack: the full path, writes included)."""
    from policy.store import Store

    Store.open(str(path)).close()
    rng = random.Random(7)
    now = time.time()
    sessions = [f"session-{index:04d}" for index in range(400)]
    tools = ["Bash", "Edit", "Write", "Read", "Grep", "Glob", "WebFetch", "mcp__github__create_issue"]
    verdicts = [None, None, None, None, "deny", "allow", "ask", "defer"]
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    with connection:
        connection.executemany(
            "INSERT INTO decisions(at, host, event, agent_session, tool, verdict, rule_ids, reason, delay, packs, "
            "ruleset, latency_ms) VALUES (?, 'claude-code', ?, ?, ?, ?, '[]', NULL, 0, '{}', 'bench', 1.0)",
            ((now - rng.random() * 29 * 86400, rng.choice(("PreToolUse", "PostToolUse", "UserPromptSubmit")),
              rng.choice(sessions), rng.choice(tools), rng.choice(verdicts)) for _ in range(decisions)))
        connection.executemany(
            "INSERT INTO tool_attempts(at, agent_session, tool, verdict, rule_ids) VALUES (?, ?, ?, ?, '[]')",
            ((now - rng.random() * 29 * 86400, rng.choice(sessions), rng.choice(tools),
              rng.choice(("allowed", "allowed", "blocked", "asked"))) for _ in range(attempts)))
        connection.execute("INSERT INTO focus_sessions(type, intention, started_at, planned_minutes, break_minutes) "
                           "VALUES ('personal', 'benchmark', ?, 240, 10)", (now - 600,))
    connection.close()


def bench_environment(workdir: Path, db: Path, packs: list[str]) -> dict[str, str]:
    home = workdir / "home"
    (home / ".config" / "policy").mkdir(parents=True, exist_ok=True)
    config = {"version": 1, "packs": packs, "db": str(db)}
    (home / ".config" / "policy" / "config.yaml").write_text(json.dumps(config))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POLICY_", "XDG_", "CLAUDE_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_STATE_HOME=str(home / ".local" / "state"))
    return env


def event_bytes(name: str, **changes: object) -> bytes:
    payload = json.loads((EVENTS / f"{name}.json").read_text())
    payload.update(changes)
    return json.dumps(payload).encode()


def engine_throughput(rule_count: int, seconds: float) -> dict[str, float]:
    """Decisions per second of the engine alone: compiled ruleset, in-memory facts, one process."""
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.engine import evaluate
    from policy.facts import StaticFacts
    from policy.model import Event, Settings

    tools = ["Bash", "Edit", "Write", "Read", "Grep", "Glob", "WebFetch", "Task"]
    events = ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SessionStart"]
    lines = ["version: 1", "pack: synthetic", "params: {limit: 5}", "rules:"]
    for index in range(rule_count):
        event = events[index % len(events)]
        lines += [f"  - id: rule-{index}", f"    events: [{event}]"]
        if event in ("PreToolUse", "PostToolUse"):
            lines.append(f"    tools: {tools[index % len(tools)]}|{tools[(index + 3) % len(tools)]}")
            lines.append(f"    match: {{tool_input.command: '^(git|npm|make) {index}'}}" if index % 3 == 0 else
                         f"    when: \"facts.kv['focus.active'] and len(input.get('command') or '') > {index % 7}\"")
        else:
            lines.append(f"    when: \"(facts.kv['usage.excess'] or 0) > {index % 20} and not facts.kv['on_break']\"")
        lines.append(f"    decision: {('deny', 'ask', 'allow')[index % 3]}")
        lines.append(f"    reason: \"rule {index}: {{{{ tool }}}}\"")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "synthetic.yaml"
        path.write_text("\n".join(lines) + "\n")
        compiled = compile_files([PackSource(str(path), trusted=True)])
        ruleset = build_ruleset(compiled, Settings())
    facts = StaticFacts({"kv": {"focus.active": True, "on_break": False, "usage.excess": 3.0}})
    payload = json.loads((EVENTS / "PreToolUse-Bash.json").read_text())
    event = Event(host="claude-code", name="PreToolUse", agent_session=payload["session_id"], cwd=payload["cwd"],
                  tool="Bash", tool_input=payload["tool_input"], permission_mode="default", data=payload)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    now = time.time()
    while time.perf_counter() < deadline:
        for _ in range(200):
            evaluate(ruleset, event, facts, now)
        count += 200
    elapsed = time.perf_counter() - started
    considered = len(ruleset.rules_for("PreToolUse"))
    return {"rules": rule_count, "rules_for_event": considered, "decisions_per_second": round(count / elapsed),
            "microseconds_per_decision": round(elapsed / count * 1e6, 2)}


def policy_test_time(paths: list[Path], env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "policy"), "test", *map(str, paths)], capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 3), "exit_code": done.returncode,
            "summary": done.stdout.decode(errors="replace").strip().splitlines()[-1:]}


def write_summary(path: str, summary: dict[str, object]) -> None:
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {output}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small and fast: check that every benchmark runs")
    parser.add_argument("--runs", type=int, default=None, help="pairs per process benchmark (default 40, quick 3)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "summary.json"))
    options = parser.parse_args()
    runs = options.runs or (3 if options.quick else 40)
    big = 20_000 if options.quick else 1_000_000
    attempts = 2_000 if options.quick else 100_000
    sustained = 50 if options.quick else 1_000
    packs = [name for name in SHIPPED_PACKS if (ROOT / "rules" / f"{name}.yaml").exists()]
    baseline = [sys.executable, "-c", "pass"]
    summary: dict[str, object] = {
        "python": sys.version.split()[0], "machine": f"{os.cpu_count()} cpu", "quick": options.quick,
        "packs": packs, "hook_command": " ".join(hook_command()),
    }
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as directory:
        workdir = Path(directory)
        print(f"seeding {big:,} decisions and {attempts:,} tool attempts ...", flush=True)
        started = time.perf_counter()
        big_db = workdir / "big.db"
        seed_database(big_db, big, attempts)
        small_db = workdir / "small.db"
        seed_database(small_db, 1_000, 100)
        os.sync()  # so the kernel's write-back of the seeded files does not land inside the measurements
        summary["seed_seconds"] = round(time.perf_counter() - started, 1)
        env = bench_environment(workdir, big_db, packs)
        small_env = bench_environment(workdir / "small", small_db, packs)
        (workdir / "small").mkdir(exist_ok=True)
        command = hook_command()
        cases = {
            "pretooluse_bash": event_bytes("PreToolUse-Bash", session_id="bench-session"),
            "no_match": event_bytes("Notification-idle", session_id="bench-session"),
            "userpromptsubmit_context": event_bytes("UserPromptSubmit", session_id="bench-session"),
        }
        results: dict[str, object] = {}
        for name, payload in cases.items():
            results[name] = paired(command, baseline, runs, stdin=payload, env=env)
            print(f"cold eval {name:<26} {results[name]['ratio']:.2f}x bare python "
                  f"({results[name]['median_ms']:.1f} ms vs {results[name]['baseline_ms']:.1f} ms)", flush=True)
        # the same hook, the same event, against a store of 1M decisions (A) and one of 1k (B), in alternation
        history = paired(command, command, runs, stdin=cases["pretooluse_bash"], env=env,
                         baseline_stdin=cases["pretooluse_bash"], baseline_env=small_env)
        results["history_1m_vs_1k"] = history
        print(f"history: latency with {big:,} rows / with 1,000 rows = {history['ratio']:.3f} "
              f"({history['median_ms']:.1f} ms vs {history['baseline_ms']:.1f} ms)", flush=True)
        # one store over many events: each hook process exits without closing it, and SQLite's write-ahead log
        # must not grow with them (policy.store.Store.leave)
        sustained_db = workdir / "sustained.db"
        seed_database(sustained_db, 1_000, 100)
        sustained_env = bench_environment(workdir / "sustained", sustained_db, packs)
        start = paired(command, baseline, runs, stdin=cases["pretooluse_bash"], env=sustained_env)
        for _ in range(sustained):
            subprocess.run(command, input=cases["pretooluse_bash"], env=sustained_env, stdout=subprocess.DEVNULL,
                           check=True)
        later = paired(command, baseline, runs, stdin=cases["pretooluse_bash"], env=sustained_env)
        wal = sustained_db.with_name(sustained_db.name + "-wal")
        results["sustained"] = {"events_between": sustained, "ratio_at_start": start["ratio"],
                                "ratio_after": later["ratio"], "ratio": round(later["ratio"] / start["ratio"], 3),
                                "wal_bytes_after": wal.stat().st_size if wal.exists() else 0}
        print(f"sustained: latency after {sustained:,} more events on one store / at its start = "
              f"{results['sustained']['ratio']:.3f} (WAL {results['sustained']['wal_bytes_after'] // 1024} KB)",
              flush=True)
        via_console = paired([str(BIN / "policy"), "eval"], baseline, max(3, runs // 4),
                             stdin=cases["pretooluse_bash"], env=env)
        results["console_script_policy_eval"] = via_console
        print(f"(for reference) `policy eval` console script: {via_console['ratio']:.2f}x", flush=True)
        # what the compiled-rules cache saves: every event reads YAML, checks the schema and compiles (as the first
        # event after a rule file changes does)
        cold_cache = paired(command, baseline, max(3, runs // 4), stdin=cases["pretooluse_bash"],
                            env={**env, "POLICY_NO_CACHE": "1"})
        results["without_compiled_cache"] = cold_cache
        print(f"(for reference) without the compiled-rules cache (POLICY_NO_CACHE=1): {cold_cache['ratio']:.2f}x",
              flush=True)
        summary["eval"] = results
    engine = engine_throughput(200, 0.5 if options.quick else 3.0)
    summary["engine"] = engine
    print(f"engine alone: {engine['decisions_per_second']:,} decisions/s with {engine['rules']} rules "
          f"({engine['microseconds_per_decision']} µs each)", flush=True)
    test_files = sorted((ROOT / "rules").glob("*.test.yaml"))
    if test_files:
        with tempfile.TemporaryDirectory() as directory:
            env = bench_environment(Path(directory), Path(directory) / "unused.db", [])
            summary["policy_test"] = policy_test_time(test_files, env)
        print(f"policy test on {len(test_files)} shipped test files: {summary['policy_test']['seconds']} s",
              flush=True)
    write_summary(options.output, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
