"""What the per-host protocol tests share: one rule file per part of a decision (a rule on every event of the host
that produces exactly that part), and running one cell of a host's table as a real `policy eval --agent NAME`."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, Env, isolated_vars, write

R, C, M, S = "the reason", "the context", "the message", "policy stops the agent"
REWRITE = "rewritten by policy"
PART_RULES = {
    "deny": ["decision: deny", f"reason: {R}"], "ask": ["decision: ask", f"reason: {R}"],
    "defer": ["decision: defer", f"reason: {R}"], "allow": ["decision: allow", f"reason: {R}"],
    "context": [f"context: {C}"], "message": [f"message: {M}"], "stop": [f"stop: {S}"],
    "update_input": ["decision: allow", f"reason: {R}", f"update_input: {{description: {REWRITE}}}"],
    "update_output": ["update_output: {stdout: '[redacted]'}"],
}
PARTS = tuple(PART_RULES)
NOTHING = (None, "", 0)


def host_events_dir(host: str) -> Path:
    return ROOT / "examples" / "events" / host


def host_payload(host: str, name: str) -> bytes:
    return (host_events_dir(host) / f"{name}.json").read_bytes()


def part_files(root: Path, events: list[str]) -> tuple[Env, dict[str, Path]]:
    """An environment and the rule file of each part, its rule on all `events` (canonical names)."""
    env = Env(root / "work", isolated_vars(root))
    files = {part: write(env.root / f"{part}.yaml", f"version: 1\npack: {part.replace('_', '-')}\nrules:\n"
                         f"  - id: every-event\n    events: [{', '.join(events)}]\n"
                         + "".join(f"    {line}\n" for line in lines)) for part, lines in PART_RULES.items()}
    return env, files


def run_cell(env: Env, host: str, rule_file: Path, payload: bytes) -> tuple[dict | None, str, int]:
    """(stdout as JSON or None, stderr, exit code) of `policy eval --agent HOST` on the payload; stdout must be one
    JSON object on one line, or nothing."""
    done = env.eval("--agent", host, "--rules", str(rule_file), stdin=payload)
    stdout = done.stdout.decode()
    if stdout:
        assert stdout.endswith("\n") and stdout.count("\n") == 1, stdout
    return (json.loads(stdout) if stdout else None), done.stderr.decode(), done.returncode


def quiet_cells_match_the_table(table: dict, expected: dict, cells: list[tuple[str, str]]) -> None:
    """Every cell a test expects nothing from reads "—" or "nothing" in the host's table, and every other does
    not: the test's expectations and docs/protocol.md agree. (A rewrite's rule also allows: where the rewrite does
    nothing, the cell shows the allow.)"""
    quiet = {cell for cell in cells if cell not in expected}
    documented = {(event, part) for event, part in cells
                  if getattr(table[event], part).doc.startswith(("—", "nothing"))
                  and not (part == "update_input" and (event, "allow") in expected)}
    assert quiet == documented
