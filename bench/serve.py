"""Benchmarks of the resident evaluator (docs/performance.md#the-resident-evaluator), on the data of bench/run.py.

    .venv/bin/python bench/serve.py            # the full run (1M decisions in the store)
    .venv/bin/python bench/serve.py --quick    # a small run that checks every benchmark executes (CI)

- the installed hook command (the client `policy install` writes) with a server answering, and without one
  (POLICY_NO_SERVER=1: the in-process fall-back), each against a bare `python -c pass`, in alternation;
- the fall-back against today's in-process hook (the `policy-hook` launcher), pair by pair;
- the server's own time per decision (p50, p99) with 8 client processes sending events at once, each timing
  its requests from connecting to the answer (no interpreter start in the figure);
- the engine's cost per decision on 200 rules, as a share of a bare interpreter start.
Nothing here asserts a time; the figures are printed and written to bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base  # noqa: E402  (bench/run.py: the paired measurement, the seeded store, the environment)

CONCURRENT = 8
# One client process of the concurrency figure: `requests` events, one connection each, timed from connecting to
# the answer; prints the latencies (seconds) as JSON.
CLIENT_LOOP = """
import json, os, sys, time
from policy import client, server
path, requests, payload = server.socket_path(os.environ), int(sys.argv[1]), sys.stdin.buffer.read()
environ = {key.encode(): value.encode() for key, value in os.environ.items()}
latencies = []
for _ in range(requests):
    started = time.perf_counter()
    sock = client.connect(path, 5.0)
    client.send(sock, ("eval", ["--agent", "claude-code"], os.getcwd(), environ, payload, time.time(), started))
    while (message := client.receive(sock))[0] != "answer":
        pass
    latencies.append(time.perf_counter() - started)
    sock.close()
print(json.dumps(latencies))
"""


def client_command() -> list[str]:
    from policy.commands.install import CLIENT_FLAGS, HOOK_ARGS
    from policy.server import client_file

    return [sys.executable, *CLIENT_FLAGS, client_file(), *HOOK_ARGS]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def concurrent_latencies(env: dict[str, str], payload: bytes, requests: int,
                         clients: int = CONCURRENT) -> dict[str, float]:
    processes = [subprocess.Popen([sys.executable, "-c", CLIENT_LOOP, str(requests)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env) for _ in range(clients)]
    for process in processes:
        process.stdin.write(payload)
        process.stdin.close()
    latencies = [value for process in processes for value in json.loads(process.stdout.read())]
    for process in processes:
        process.wait()
    return {"clients": clients, "decisions": len(latencies), "load_average": round(os.getloadavg()[0], 2),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
            "max_ms": round(max(latencies) * 1000, 3)}


def start_server(env: dict[str, str]) -> subprocess.Popen:
    from policy import server

    process = subprocess.Popen([str(base.BIN / "policy"), "serve", "--workers", "4", "--idle-timeout", "900"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while server.server_status(env) is None:
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("policy serve did not start")
        time.sleep(0.05)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small and fast: check that every benchmark runs")
    parser.add_argument("--runs", type=int, default=None, help="pairs per process benchmark (default 40, quick 3)")
    parser.add_argument("--output", default=str(base.ROOT / "bench" / "results" / "serve.json"))
    options = parser.parse_args()
    runs = options.runs or (3 if options.quick else 40)
    decisions = 20_000 if options.quick else 1_000_000
    requests = 10 if options.quick else 250
    packs = [name for name in base.SHIPPED_PACKS if (base.ROOT / "rules" / f"{name}.yaml").exists()]
    baseline = [sys.executable, "-c", "pass"]
    summary: dict[str, object] = {"python": sys.version.split()[0], "machine": f"{os.cpu_count()} cpu",
                                  "quick": options.quick, "packs": packs, "client": " ".join(client_command())}
    with tempfile.TemporaryDirectory(prefix="policy-bench-") as directory, \
            tempfile.TemporaryDirectory(prefix="pb-", dir="/tmp") as runtime:
        workdir = Path(directory)
        print(f"seeding {decisions:,} decisions ...", flush=True)
        store = workdir / "big.db"
        base.seed_database(store, decisions, decisions // 10)
        os.sync()
        os.chmod(runtime, 0o700)
        env = {**base.bench_environment(workdir, store, packs), "XDG_RUNTIME_DIR": runtime}
        serverless = {**env, "POLICY_NO_SERVER": "1"}
        payload = base.event_bytes("PreToolUse-Bash", session_id="bench-session")
        command = client_command()
        results: dict[str, object] = {}
        process = start_server(env)
        try:
            results["with_server"] = base.paired(command, baseline, runs, stdin=payload, env=env)
            print(f"installed hook, server answering: {results['with_server']['ratio']:.2f}x bare python "
                  f"({results['with_server']['median_ms']:.1f} ms vs {results['with_server']['baseline_ms']:.1f} ms)",
                  flush=True)
            results["one_client"] = concurrent_latencies(env, payload, requests, clients=1)
            print(f"server, one client: p50 {results['one_client']['p50_ms']} ms, p99 "
                  f"{results['one_client']['p99_ms']} ms per decision", flush=True)
            results["concurrent"] = concurrent_latencies(env, payload, requests)
            print(f"server, {CONCURRENT} clients at once: p50 {results['concurrent']['p50_ms']} ms, p99 "
                  f"{results['concurrent']['p99_ms']} ms per decision ({results['concurrent']['decisions']:,}; load "
                  f"average {results['concurrent']['load_average']})",
                  flush=True)
        finally:
            process.terminate()
            process.wait()
        results["without_server"] = base.paired(command, baseline, runs, stdin=payload, env=serverless)
        print(f"installed hook, no server (in-process): {results['without_server']['ratio']:.2f}x bare python "
              f"({results['without_server']['median_ms']:.1f} ms)", flush=True)
        launcher = base.hook_command()
        results["launcher"] = base.paired(launcher, baseline, runs, stdin=payload, env=serverless)
        print(f"(for reference) the policy-hook launcher: {results['launcher']['ratio']:.2f}x bare python", flush=True)
        results["fallback_vs_launcher"] = base.paired(command, launcher, runs, stdin=payload, env=serverless,
                                                      baseline_stdin=payload, baseline_env=serverless)
        print(f"fall-back / launcher, pair by pair: {results['fallback_vs_launcher']['ratio']:.3f}", flush=True)
        bare_ms = results["without_server"]["baseline_ms"]
    engine = base.engine_throughput(200, 0.5 if options.quick else 3.0)
    engine["share_of_bare_start"] = round(engine["microseconds_per_decision"] / (bare_ms * 1000), 5)
    results["engine"] = engine
    print(f"engine, 200 rules: {engine['microseconds_per_decision']} µs per decision = 1/"
          f"{1 / engine['share_of_bare_start']:.0f} of a bare interpreter start", flush=True)
    summary["results"] = results
    base.write_summary(options.output, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
