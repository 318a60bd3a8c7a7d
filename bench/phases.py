"""Where a warm `policy eval` spends its time (docs/performance.md): phase medians over fresh processes.

    .venv/bin/python bench/phases.py               # 40 processes, all shipped packs, 1M-row store
    .venv/bin/python bench/phases.py --runs 5      # quicker

Then what importing each module the hook avoids would add to it, as a share of a bare interpreter start.

Each process runs outside the source tree (so the installed package is what is imported), is started the way the hook launcher starts (gc off), imports exactly the modules a warm hook run
imports (timed as one phase), then runs the real `policy.hook.main` with timers wrapped around its stages. The
process's own wall time, measured from outside, gives what is left: interpreter start-up and exit. Like
bench/run.py it prints and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SHIPPED_PACKS, bench_environment, event_bytes, paired, seed_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# What the warm hook path does not import (tests/test_imports.py keeps it so): the standard library's wrappers
# whose C cores policy.lean uses, and the libraries only the cold path and the other commands need.
AVOIDED = ("dataclasses", "typing", "enum", "re", "json", "sqlite3", "hashlib", "runpy", "simpleeval", "yaml",
           "jsonschema", "sqlite_utils", "typer")

# The child: runs in a fresh interpreter, prints one line per phase: name, tab, milliseconds.
CHILD = r"""
import gc, sys, time
gc.disable()
started = time.perf_counter()
modules = sys.argv[1].split(",") if sys.argv[1] else []
for name in modules:
    __import__(name)
phases = {"import modules": time.perf_counter() - started}

import io, policy.hook, policy.cache, policy.store, policy.engine, policy.effects, policy.adapters.claude_code

def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - begin
    setattr(owner, name, wrapper)

timed(policy.adapters.claude_code, "parse", "parse event")
timed(policy.cache, "load_ruleset", "load compiled rules")
timed(policy.store.Store, "open", "open fact store")
timed(policy.engine, "evaluate", "evaluate rules + fact queries")
timed(policy.effects, "apply_effects", "apply effects")
timed(policy.hook, "log_decision", "log decision")
timed(policy.store.Store, "commit", "commit")
timed(policy.adapters.claude_code, "render", "render output")
out = io.BytesIO()
begin = time.perf_counter()
policy.hook.main([], exiting=True, stdin=io.BytesIO(sys.stdin.buffer.read()), stdout=out, stderr=io.BytesIO())
phases["hook total (in process)"] = time.perf_counter() - begin
if sys.argv[2] == "list":
    print(",".join(sorted(name for name in sys.modules if name not in sys.builtin_module_names)))
else:  # plain lines: importing json (it imports re) would add to the wall time measured from outside
    print("\n".join(f"{key}\t{value * 1000}" for key, value in phases.items()))
sys.stdout.flush()
import os
os._exit(0)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    options = parser.parse_args()
    packs = [name for name in SHIPPED_PACKS if (ROOT / "rules" / f"{name}.yaml").exists()]
    payload = event_bytes("PreToolUse-Bash", session_id="bench-session")
    with tempfile.TemporaryDirectory(prefix="policy-profile-") as directory:
        workdir = Path(directory)
        db = workdir / "facts.db"
        seed_database(db, options.decisions, options.decisions // 10)
        env = bench_environment(workdir, db, packs)

        def child(modules: str, mode: str) -> tuple[str, float]:
            begin = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, modules, mode], input=payload, env=env,
                                  capture_output=True, check=True, cwd=workdir)
            return done.stdout.decode(), (time.perf_counter() - begin) * 1000

        # the modules a warm run loads beyond a bare interpreter (the first run also fills the compiled cache)
        child("", "list")
        bare_modules = subprocess.run([sys.executable, "-c", "import sys; print(','.join(sys.modules))"],
                                      capture_output=True, text=True, check=True, cwd=workdir).stdout.strip().split(",")
        loaded = child("", "list")[0].strip().split(",")
        modules = ",".join(name for name in loaded if name not in bare_modules and name != "__main__")
        samples: dict[str, list[float]] = {}
        for _ in range(options.runs):
            bare_begin = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=workdir)
            samples.setdefault("bare `python -c pass`", []).append((time.perf_counter() - bare_begin) * 1000)
            output, wall = child(modules, "profile")
            phases = {key: float(value) for key, value in (line.split("\t") for line in output.splitlines())}
            for key, value in phases.items():
                samples.setdefault(key, []).append(value)
            samples.setdefault("process wall time", []).append(wall)
    median = {key: statistics.median(values) for key, values in samples.items()}
    in_process = median["import modules"] + median["hook total (in process)"]
    stages = [key for key in median if key not in ("bare `python -c pass`", "process wall time", "import modules",
                                                  "hook total (in process)")]
    print(f"{options.runs} fresh processes, packs: {', '.join(packs)}; {options.decisions:,} decision rows; "
          f"{len(modules.split(','))} modules imported beyond a bare interpreter\n")
    print(f"{'phase':<36}{'median ms':>10}")
    print(f"{'interpreter start + exit (rest)':<36}{median['process wall time'] - in_process:>10.2f}")
    print(f"{'import modules':<36}{median['import modules']:>10.2f}")
    for key in stages:
        print(f"  {key:<34}{median[key]:>10.2f}")
    other = median["hook total (in process)"] - sum(median[key] for key in stages)
    print(f"  {'other (options, stdin, glue)':<34}{other:>10.2f}")
    print(f"{'process wall time':<36}{median['process wall time']:>10.2f}")
    print(f"{'bare `python -c pass`':<36}{median['bare `python -c pass`']:>10.2f}")
    print("\nwhat importing a module adds to a bare interpreter start (median of paired runs)")
    for name in AVOIDED:
        cost = paired([sys.executable, "-c", f"import {name}"], [sys.executable, "-c", "pass"], options.runs)
        print(f"  {name:<20}+{cost['ratio'] - 1:.2f}x  ({cost['median_ms'] - cost['baseline_ms']:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
