"""The shipped packs' scenarios on every host (`policy test rules/ --agent NAME` as a real process): each event
becomes the payload that host sends and is read back by its adapter. Everything a host can run passes; what it
cannot run is skipped, each for a reason that holds (an event the host never raises, a tool it does not have, a
Claude Code transcript, a test pinned to other hosts). Then what a test file may say about hosts."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, write

from policy.vocabulary import HOSTS, HOST_TITLES, canonical_events, host_tools

REASONS = re.compile(r"not on (?P<host>[a-z-]+): (?:(?P<title>.+) never raises (?P<event>\w+) \(step \d+\)|"
                     r"(?P<title2>.+) has no (?P<tool>\w+) tool \(step \d+\)|"
                     r"(?P<transcript>transcript steps are Claude Code's transcript format)|for (?P<pinned>[a-z, -]+))$")


@pytest.mark.parametrize("host", HOSTS)
def test_the_shipped_packs_pass_their_scenarios_on_every_host(env, host):
    done = env.run_text("test", str(ROOT / "rules"), "--agent", host, "--format", "json", cwd=ROOT)
    report = json.loads(done.stdout)
    assert (done.returncode, report["failed"], report["errors"]) == (0, 0, 0), done.stdout
    assert report["passed"] + report["skipped"] == len(report["tests"])
    assert report["passed"] >= 50
    for test in report["tests"]:
        if test["status"] != "skipped":
            assert test["status"] == "passed"
            continue
        found = REASONS.match(test["error"])
        assert found is not None and found["host"] == host, test["error"]
        assert host != "claude-code" or found["pinned"], test["error"]
        if found["event"]:
            assert found["title"] == HOST_TITLES[host] and found["event"] not in canonical_events(host)
        elif found["tool"]:
            assert found["tool"] not in {tool.canonical for tool in host_tools(host)}
        elif found["pinned"]:
            assert host not in found["pinned"].split(", ")


PINNED = """
version: 1
rules: rules.yaml
tests:
  - name: a neutral event, a Claude Code answer
    agents: [claude-code]
    steps:
      - event: {hook_event_name: before_tool, tool_name: Bash, tool_input: {command: rm -rf build}}
        expect:
          verdict: deny
          output: {hookSpecificOutput: {hookEventName: PreToolUse, permissionDecision: deny,
                   permissionDecisionReason: no rm}}
  - name: Gemini's answer, checked on Gemini only
    agents: [gemini, codex]
    steps:
      - event: {hook_event_name: PreToolUse, tool_name: Bash, tool_input: {command: rm -rf build}}
        expect: {verdict: deny, output: {decision: deny, reason: no rm}}
  - name: everywhere, the claim's host is the host under test
    steps:
      - event: {hook_event_name: PreToolUse, tool_name: Bash, tool_input: {command: rm -rf build}}
        expect: {verdict: deny, reason: no rm}
      - event: {hook_event_name: PreToolUse, tool_name: Bash, tool_input: {command: ls}}
        expect:
          verdict: none
          facts: [{table: decisions, where: {host: host, verdict: deny}, count: 1}]
"""
RULES = """
version: 1
pack: guard
rules:
  - id: no-rm
    events: before_tool
    tools: shell
    match: {tool_input.command: '^rm '}
    decision: deny
    reason: no rm
"""


@pytest.mark.parametrize("host, statuses", [
    ("claude-code", ["passed", "skipped", "passed"]),
    ("gemini", ["skipped", "passed", "passed"]),
    # pinned second: Codex runs the test, but the output is Gemini's, not checked on Codex
    ("codex", ["skipped", "passed", "passed"]),
    ("copilot", ["skipped", "skipped", "passed"]),
])
def test_a_test_file_pins_hosts_and_checks_the_first_ones_output(env, host, statuses):
    write(env.root / "rules.yaml", RULES)
    write(env.root / "guard.test.yaml", PINNED)
    done = env.run_text("test", "guard.test.yaml", "--agent", host, "--format", "json")
    report = json.loads(done.stdout)
    assert [test["status"] for test in report["tests"]] == statuses, done.stdout
    assert done.returncode == 0
    skipped = [test["error"] for test in report["tests"] if test["status"] == "skipped"]
    assert all(reason.startswith(f"not on {host}: for ") for reason in skipped)


def test_an_unknown_agent_is_a_usage_error(env):
    write(env.root / "rules.yaml", RULES)
    write(env.root / "guard.test.yaml", PINNED)
    done = env.run_text("test", "guard.test.yaml", "--agent", "gemni")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "policy: usage: unknown agent 'gemni' (did you mean 'gemini'?)\n"


@pytest.mark.parametrize("host, gets", [
    ("claude-code", '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",'
                    '"permissionDecisionReason":"no rm"}}'),
    ("codex", '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",'
              '"permissionDecisionReason":"no rm"}}'),
    ("gemini", '{"decision":"deny","reason":"no rm"}'),
    ("cursor", '{"permission":"deny","user_message":"no rm","agent_message":"no rm"}'),
    ("copilot", '{"permissionDecision":"deny","permissionDecisionReason":"no rm"}'),
])
def test_explain_makes_up_each_hosts_payload(env, host, gets):
    write(env.root / "rules.yaml", RULES)
    done = env.run_text("explain", "--agent", host, "--rules", "rules.yaml", "rm -rf build")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"call: PreToolUse Bash: rm -rf build ({host}, in {env.root})"
    assert done.stdout.splitlines()[-1] == f"  {host} gets: {gets}"
    # what the host does not have is a usage error, not a made-up call
    if host == "codex":
        missing = env.run_text("explain", "--agent", host, "--rules", "rules.yaml", "--tool", "Read", "--file", "a")
        assert (missing.returncode, missing.stderr) == (
            2, "policy: usage: Codex CLI has no Read tool (docs/hosts.md lists each host's events and tools)\n")
