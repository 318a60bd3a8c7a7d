"""The adversarial corpus: the worst payload found for each class of issue 14 (docs/security.md#threat-model).

Each entry is what an agent, or a repository it works in, can hand the hook to make it miss its answer or
switch a rule off. tests/test_adversarial.py checks the answer to each one exactly; bench/worst_payloads.py measures
how long each takes against the hook timeout. Payloads are built here, not stored: some are megabytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One adversarial input: the rules it is evaluated against (a rule file's text, or PRESENCE: the shipped
    pack), the payload, the hook arguments, and its class (the issue's numbering). `expect`: the exit code and
    a part of the one stderr line of the answer ("": no output at all)."""

    name: str
    klass: str
    rules: str
    payload: bytes
    args: tuple[str, ...] = ()
    expect: tuple[int, str] = (2, "")


def bash(command: str, **extra: object) -> bytes:
    return json.dumps({"hook_event_name": "PreToolUse", "session_id": "agent-1", "cwd": "/home/dev/shop",
                       "tool_name": "Bash", "tool_input": {"command": command}, **extra}).encode()


def rule(when: str, *, facts: str = "", events: str = "PreToolUse") -> str:
    return (f"version: 1\npack: adversary\n{facts}rules:\n"
            f"  - {{id: slow, events: [{events}], when: {json.dumps(when)}, decision: deny, reason: matched}}\n")


PRESENCE = "presence"  # the shipped pack
STEPS = "CommandTooComplex: the command line takes more than 20,000 steps to read"

CORPUS: list[Case] = [
    # 1. Time: one C call that holds the GIL for minutes.
    Case("round-digits", "1", rule("round(1, -10**9) == 0"), bash("ls"),
         expect=(2, "failed: round() takes at most 400 digits either way, not -1000000000")),
    Case("big-power-comprehension", "1", rule("len([x * x for x in [2 ** 499999] * 10000]) > 0"), bash("ls"),
         expect=(2, "failed: 2 ** 499999 is too large")),
    Case("big-product-comprehension", "1", rule("len([x * x * x for x in [2 ** 4000] * 10000]) > 0"),
         bash("ls"), expect=(2, "failed: multiplication result would be too large")),
    Case("regex-refused", "1", rule("matches('^(a|a)*$', input.command)"), bash("a" * 64 + "b"),
         expect=(2, "bad-regex: the regex '^(a|a)*$' can backtrack exponentially")),
    # (x+x+)+y backtracks exponentially too, in a shape the compile-time check does not know: the deadline.
    Case("regex-deadline", "1", rule("matches('^(x+x+)+y$', input.command)"), bash("x" * 64),
         args=("--timeout", "3"),
         expect=(2, "policy: deadline: the evaluation did not finish in time (the hook's timeout is 3s)")),
    Case("regex-deadline-stop", "1", rule("matches('^(x+x+)+y$', event.x)", events="Stop"),
         json.dumps({"hook_event_name": "Stop", "session_id": "agent-1", "x": "x" * 64}).encode(),
         args=("--timeout", "3"),
         expect=(0, "policy: deadline: the evaluation did not finish in time (the hook's timeout is 3s)")),
    Case("sql-printf", "1", rule("facts.big > 0", facts="facts:\n  big: {sql: \"select length(printf('%.*c', "
                                                       "1000000000, 'x'))\", value: true}\n"),
         bash("ls"), expect=(2, "bad-sql: fact 'big': the SQL function printf() is not allowed in facts")),
    Case("sql-randomblob", "1", rule("facts.big > 0", facts="facts:\n  big: {sql: \"select length(randomblob("
                                                          "1000000000))\", value: true}\n"),
         bash("ls"), expect=(2, "bad-sql: fact 'big': the SQL function randomblob() is not allowed in facts")),
    Case("sql-fts3-tokenizer", "1", rule("facts.ptr != None", facts="facts:\n  ptr: {sql: \"select "
                                                                   "hex(fts3_tokenizer('simple'))\", value: true}\n"),
         bash("ls"), expect=(2, "bad-sql: fact 'ptr': the SQL function fts3_tokenizer() is not allowed in facts")),
    # 2. Cost: the shell reader on text built to make it quadratic, run by the presence pack.
    Case("backticks", "2", PRESENCE, bash("`" * 420_000), expect=(2, STEPS)),
    Case("cd-semicolons", "2", PRESENCE, bash("cd a; " * 150_000), expect=(2, STEPS)),
    Case("cd-and", "2", PRESENCE, bash("cd x && " * 120_000), expect=(2, STEPS)),
    Case("nested-quotes", "2", PRESENCE, bash('"$(' * 300_000), expect=(2, STEPS)),
    Case("eight-mib", "2", PRESENCE, bash("echo " + "x" * (8 * 1024 * 1024 - 200)),
         expect=(2, "CommandTooComplex: the command line is longer than 1,048,576 characters")),
    # 6. Parsing: nested ~950 deep with a lone surrogate escape (RecursionError outside the fail mode before).
    Case("deep-surrogate", "6", rule("false", events="Stop"),
         b'{"hook_event_name": "Stop", "session_id": "agent-1", "x": ' + b"[" * 950 + b'"\\ud800"' + b"]" * 950
         + b"}", expect=(0, "")),
]
