"""How long the worst payload of each adversarial class takes to get its answer, against the hook's timeout
(docs/security.md#threat-model; the payloads are tests/adversarial.py), and what the deadline's watchdog costs.

    .venv/bin/python bench/worst_payloads.py            # 5 runs per payload, 30 pairs for the watchdog
    .venv/bin/python bench/worst_payloads.py --quick    # 1 run each: checks that everything runs

Each payload runs through the installed launcher (`policy-hook --rules ...`), as Claude Code would run it. The
figure reported is the median wall time and its share of the timeout the hook applied (what `policy install`
writes, or the case's `--timeout`): well under 1 means the answer came well inside it. Nothing is asserted.
The watchdog's cost is a paired ratio (A B A B ...) of the hook with and without it, and of each against a bare
`python -c pass`, on the shipped packs and a real PreToolUse payload. Writes bench/results/worst-payloads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from adversarial import CORPUS, PRESENCE  # noqa: E402

LAUNCHER = Path(sys.executable).parent / "policy-hook"


def environment(workdir: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir / "home"), "LANG": "C.UTF-8",
           "XDG_STATE_HOME": str(workdir / "state"), "XDG_CACHE_HOME": str(workdir / "cache"),
           "XDG_CONFIG_HOME": str(workdir / "config")}
    for name in ("home", "state", "cache", "config"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    return env


def timed(command: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started, done.returncode


def case_timeout(case, rules: str) -> float:
    """The timeout the hook applied to this case: its --timeout, else what policy install writes (the rule files
    of the corpus have no `run` commands and default settings; a file that does not load gets the same)."""
    if "--timeout" in case.args:
        return float(case.args[case.args.index("--timeout") + 1])
    from policy.compiler import CompiledFiles, build_ruleset
    from policy.hook import required_timeout
    from policy.model import Settings

    return float(required_timeout(build_ruleset(CompiledFiles((), ()), Settings()), "PreToolUse"))


def adversarial(runs: int, workdir: Path) -> list[dict[str, object]]:
    env = environment(workdir)
    results = []
    for case in CORPUS:
        if case.rules == PRESENCE:
            rules = str(ROOT / "rules" / "presence.yaml")
        else:
            rules = str(workdir / f"{case.name}.yaml")
            Path(rules).write_text(case.rules, encoding="utf-8")
        command = [str(LAUNCHER), "--rules", rules, *case.args]
        timed(command, case.payload, env)  # compile the rules once (a cold cache is not what is measured)
        times = []
        code = 0
        for _ in range(runs):
            seconds, code = timed(command, case.payload, env)
            times.append(seconds)
        timeout = case_timeout(case, rules)
        median = statistics.median(times)
        results.append({"case": case.name, "class": case.klass, "payload_bytes": len(case.payload),
                        "median_ms": round(median * 1000, 1), "timeout_s": timeout,
                        "share_of_timeout": round(median / timeout, 4), "exit_code": code})
    return results


def watchdog_cost(pairs: int, workdir: Path) -> dict[str, float]:
    env = environment(workdir)
    payload = (ROOT / "examples" / "events" / "PreToolUse-Bash.json").read_bytes()
    hook = [str(LAUNCHER), "--rules", str(ROOT / "rules")]
    bare = [sys.executable, "-c", "pass"]
    without = dict(env, POLICY_NO_WATCHDOG="1")
    for _ in range(3):
        timed(hook, payload, env)
        timed(hook, payload, without)
    watched, plain, baseline = [], [], []
    for _ in range(pairs):
        watched.append(timed(hook, payload, env)[0])
        plain.append(timed(hook, payload, without)[0])
        baseline.append(timed(bare, b"", env)[0])
    return {"watched_ms": round(statistics.median(watched) * 1000, 2),
            "unwatched_ms": round(statistics.median(plain) * 1000, 2),
            "bare_python_ms": round(statistics.median(baseline) * 1000, 2),
            "watched_vs_bare": round(statistics.median(a / c for a, c in zip(watched, baseline)), 3),
            "unwatched_vs_bare": round(statistics.median(b / c for b, c in zip(plain, baseline)), 3),
            "watched_vs_unwatched": round(statistics.median(a / b for a, b in zip(watched, plain)), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run per payload, a few watchdog pairs")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "worst-payloads.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        cases = adversarial(1 if args.quick else 5, workdir / "cases")
        cost = watchdog_cost(3 if args.quick else 30, workdir / "watchdog")
    print(f"{'case':28} {'class':>5} {'payload':>10} {'median':>10} {'timeout':>8} {'share':>8}")
    for row in cases:
        print(f"{row['case']:28} {row['class']:>5} {row['payload_bytes']:>10,} {row['median_ms']:>8} ms "
              f"{row['timeout_s']:>6g} s {row['share_of_timeout']:>8.2%}")
    print(f"watchdog: {cost['watched_ms']} ms watched, {cost['unwatched_ms']} ms without, bare python "
          f"{cost['bare_python_ms']} ms: {cost['watched_vs_bare']}x / {cost['unwatched_vs_bare']}x bare, "
          f"{cost['watched_vs_unwatched']}x")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"cases": cases, "watchdog": cost}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
