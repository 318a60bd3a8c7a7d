"""The pacing pack end to end: `policy eval` as a real process on real payloads, a real HTTP usage source on
127.0.0.1, real task files; and its CLI verbs (`policy usage`, `policy curve`) and the hook-timeout check."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path

import pytest

from conftest import ROOT, event_bytes, event_payload, write
from usage_server import refused_url, server  # noqa: F401 - a fixture

START = "2026-01-05T10:00:00+00:00"  # the usage server's five-hour window resets at 13:00: a 40% pace


def iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).isoformat()


def user_config(env, text: str) -> Path:
    return write(env.config / "policy" / "config.yaml", text)


def message(usage: str, ahead: str, pace: str, wait: str, stale: str = "") -> str:
    return json.dumps({"systemMessage": f"pacing: 5-hour usage {usage}% is {ahead} points ahead of the {pace}% pace; "
                                        f"waiting {wait}s{stale}"}, separators=(",", ":")) + "\n"


# ---- the delay -----------------------------------------------------------------------------------------------

def test_dry_run_reports_the_delay_the_curve_gives(env):
    user_config(env, "version: 1\npacks: [pacing]\n")
    resets = round(time.time()) + 3 * 3600 + 120
    recorded = env.run("usage", "record", "--utilization", "62", "--resets-at", iso(resets))
    assert recorded.returncode == 0, recorded.stderr
    # Two of the window's five hours have passed at `resets - 3h`: a 40% pace, 22 points ahead.
    done = env.eval("--dry-run", "--now", iso(resets - 3 * 3600), stdin=event_bytes("PostToolUse-Bash"))
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (
        0, message("62.0", "22.0", "40.0", "25.3"), "dry run: verdict none; would sleep 25.251s; 0 effect(s) not applied\n")
    assert env.rows("SELECT count(*) AS n FROM decisions") == [{"n": 0}]


def test_eval_sleeps_the_delay(env):
    user_config(env, "version: 1\npacks:\n  - {name: pacing, params: {max_delay: 0.6}}\n")
    assert env.run("usage", "record", "--utilization", "100", "--resets-at", "+3h").returncode == 0
    started = time.monotonic()
    done = env.eval(stdin=event_bytes("PostToolUse-Bash"))
    elapsed = time.monotonic() - started
    assert done.returncode == 0 and done.stderr == b""
    assert json.loads(done.stdout)["systemMessage"].endswith("; waiting 0.6s")
    assert elapsed >= 0.6
    assert env.rows("SELECT event, tool, verdict, rule_ids, delay FROM decisions") == [
        {"event": "PostToolUse", "tool": "Bash", "verdict": None, "rule_ids": '["pacing/delay-after-tool"]',
         "delay": 0.6}]


def test_the_configs_max_delay_caps_the_curve(env):
    user_config(env, "version: 1\nmax_delay: 4\npacks: [pacing]\n")
    assert env.run("usage", "record", "--utilization", "100", "--resets-at", "+3h").returncode == 0
    done = env.eval("--dry-run", stdin=event_bytes("PostToolUse-Bash"))
    assert done.stderr.decode() == "dry run: verdict none; would sleep 4s; 0 effect(s) not applied\n"


def test_the_kill_switch_turns_off_delays_stop_gate_and_fetching(env, server):
    user_config(env, f"""
        version: 1
        packs: [pacing]
        sources:
          claude: {{kind: http, url: "{server.url}", format: claude-usage, feeds: usage}}
        """)
    write(env.root / "policy.yaml", "version: 1\nsources:\n  tasks: {kind: file, path: TASKS.md, feeds: 'kv:tasks'}\n")
    write(env.root / "TASKS.md", "- [ ] one\n")
    off = {"POLICY_PACING": "off"}
    done = env.eval("--now", START, stdin=event_bytes("PostToolUse-Bash"), extra_env=off)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    done = env.eval("--now", START, stdin=event_bytes("Stop"), extra_env=off)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert server.requests == []
    assert env.rows("SELECT event, verdict, rule_ids, delay FROM decisions") == [
        {"event": "PostToolUse", "verdict": None, "rule_ids": "[]", "delay": 0.0},
        {"event": "Stop", "verdict": None, "rule_ids": "[]", "delay": 0.0}]
    assert env.rows("SELECT count(*) AS n FROM source_cache") == [{"n": 0}]
    # Switched back on, the same events fetch, delay and block.
    done = env.eval("--dry-run", "--now", START, stdin=event_bytes("PostToolUse-Bash"))
    assert done.stdout.decode() == message("62.0", "22.0", "40.0", "25.3")
    assert len(server.requests) == 1


# ---- a usage source that is down -----------------------------------------------------------------------------

@pytest.mark.parametrize("failure, error", [
    ("slow", "timed out after 1s"),
    ("error", "HTTP 500 Internal Server Error"),
    ("refused", "cannot connect to 127.0.0.1:{port}: Connection refused"),
    ("malformed", "malformed JSON: Expecting value: line 1 column 1 (char 0)"),
])
def test_the_hook_answers_within_the_source_timeout_with_stale_usage(env, server, failure, error):
    user_config(env, f"""
        version: 1
        packs:
          - {{name: pacing, params: {{max_delay: 0.5}}}}
        sources:
          claude: {{kind: http, url: "{server.url}", format: claude-usage, feeds: usage, timeout: 1, ttl: 60}}
        """)
    first = env.eval("--now", START, stdin=event_bytes("PostToolUse-Bash"))
    assert first.stdout.decode() == message("62.0", "22.0", "40.0", "0.4")  # 0.5 * ln(18) / ln(31)
    port = server.url.split(":")[2].split("/")[0]
    if failure == "refused":
        server.close()
    else:
        server.mode, server.delay = failure, 10.0
    started = time.monotonic()
    later = env.eval("--now", "2026-01-05T10:02:00+00:00", stdin=event_bytes("PostToolUse-Bash"))
    elapsed = time.monotonic() - started
    # The source's timeout (1 s) + the delay (under 0.5 s) + a margin for a loaded machine: never the server's 10 s.
    assert elapsed < 1 + 0.5 + 5
    assert (later.returncode, later.stdout.decode(), later.stderr) == (
        0, message("62.0", "21.3", "40.7", "0.4", " (usage is stale: last read 2m 00s ago)"), b"")
    assert env.rows("SELECT fetched_at, failures, last_error, open_until FROM source_cache") == [
        {"fetched_at": 1767607200.0, "failures": 1, "last_error": error.replace("{port}", port), "open_until": None}]


def test_the_shipped_claude_usage_config_against_a_local_server(env, server):
    import yaml

    config = yaml.safe_load((ROOT / "examples" / "pacing" / "config.yaml").read_text())
    credentials = write(env.vars and Path(env.vars["HOME"]) / ".claude" / ".credentials.json",
                        '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-local", "refreshToken": "r"}}')
    assert config["sources"]["claude"]["url"] == "https://api.anthropic.com/api/oauth/usage"
    config["sources"]["claude"]["url"] = server.url  # everything else exactly as shipped
    user_config(env, json.dumps(config))
    done = env.eval("--dry-run", "--now", START, stdin=event_bytes("PostToolUse-Bash"))
    assert done.stdout.decode() == message("62.0", "22.0", "40.0", "25.3")
    assert [(r["authorization"], r["anthropic-beta"]) for r in server.requests] == [
        ("Bearer sk-ant-oat01-local", "oauth-2025-04-20")]
    assert credentials.exists()
    assert env.rows("SELECT observed_at, window, utilization, resets_at, source FROM usage_samples ORDER BY id") == [
        {"observed_at": 1767607200.0, "window": "five_hour", "utilization": 62.0, "resets_at": 1767618000.0,
         "source": "claude"},
        {"observed_at": 1767607200.0, "window": "seven_day", "utilization": 35.0, "resets_at": 1767952800.0,
         "source": "claude"}]
    status = json.loads(env.run("usage", "status", "--json").stdout)
    assert [(source["name"], source["fetched_at"], source["failures"]) for source in status["sources"]] == [
        ("claude", 1767607200.0, 0)]


# ---- the Stop gate ---------------------------------------------------------------------------------------------

def test_the_stop_gate_reads_the_task_file_and_lets_go_after_the_cap(env):
    write(env.root / "policy.yaml", (ROOT / "examples" / "pacing" / "policy.yaml").read_text())
    tasks = write(env.root / "TASKS.md", """
        # Cart refactor: acceptance criteria
        - [x] totals use Decimal
        - [ ] empty carts total 0
        - [ ] rounding is half-up
        """)
    reason = ("continue: 2 acceptance criteria open in TASKS.md:\n- [ ] empty carts total 0\n- [ ] rounding is "
              "half-up\nKeep working until each one is done and checked off (- [x]); if one cannot be done now, "
              "say why.")
    block = json.dumps({"decision": "block", "reason": reason}, separators=(",", ":")) + "\n"
    outputs = [env.eval(stdin=event_bytes(name)).stdout.decode()
               for name in ("Stop", "Stop-active", "Stop-active", "Stop-active")]
    assert outputs == [block, block, block, ""]
    tasks.write_text("- [x] totals use Decimal\n- [x] empty carts total 0\n- [x] rounding is half-up\n")
    os.utime(tasks, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert env.eval(stdin=event_bytes("Stop")).stdout == b""
    assert env.rows("SELECT key, value FROM kv WHERE key IN ('tasks.open', 'tasks.done') ORDER BY key") == [
        {"key": "tasks.done", "value": "3"}, {"key": "tasks.open", "value": "0"}]


# ---- policy curve ----------------------------------------------------------------------------------------------

CURVE_PLOT = """\
pacing delay per tool call: log curve, threshold 5 points, max_delay 30s reached at 35 points ahead

ahead    log
    0   0.0s  ░░░░░░░░░░░░░░░░░░░░
    5   0.0s  ░░░░░░░░░░░░░░░░░░░░  threshold
   10  15.7s  ██████████░░░░░░░░░░
   15  20.9s  ██████████████░░░░░░
   20  24.2s  ████████████████░░░░
   25  26.6s  ██████████████████░░
   30  28.5s  ███████████████████░
   35  30.0s  ████████████████████  max_delay
   40  30.0s  ████████████████████

   delay (s)
30 ┤                                           ●●●●●●●●●●●●●●
   │                                 ●●●●●●●●●●
   │                          ●●●●●●●
   │                     ●●●●●
   │                 ●●●●
15 ┤              ●●●
   │            ●●
   │          ●●
   │         ●
   │        ●
   │
 0 ┤●●●●●●●●
   └┬──────┬──────┬──────┬──────┬──────┬──────┬──────┬──────┬
    0      5     10     15     20     25     30     35     40   points ahead of pace
"""


def test_policy_curve_prints_and_plots_the_packs_curve(env):
    done = env.run("curve", "--plot")
    assert (done.returncode, done.stdout.decode(), done.stderr) == (0, CURVE_PLOT, b"")


def test_policy_curve_follows_the_configured_params_and_compares_curves(env):
    user_config(env, "version: 1\npacks:\n  - {name: pacing, params: {curve: exp, threshold: 10, max_delay: 20, span: 20}}\n")
    done = env.run("curve", "--json")
    data = json.loads(done.stdout)
    assert (data["curves"], data["threshold"], data["max_delay"], data["span"]) == (["exp"], 10.0, 20.0, 20.0)
    assert [(row["excess"], row["exp"]) for row in data["rows"]] == [
        (0.0, 0.0), (5.0, 0.0), (10.0, 0.0), (15.0, 0.641), (20.0, 2.384), (25.0, 7.122), (30.0, 20.0), (35.0, 20.0)]
    done = env.run("curve", "--curve", "log,linear,exp", "--threshold", "0", "--span", "10", "--max-delay", "10",
                   "--step", "5")
    assert done.stdout.decode() == (
        "pacing delay per tool call: log, linear, exp curves, threshold 0 points, max_delay 10s reached at 10 points "
        "ahead\n\nahead    log  linear    exp\n    0   0.0s    0.0s   0.0s  threshold\n    5   7.5s    5.0s   1.2s\n"
        "   10  10.0s   10.0s  10.0s  max_delay\n   15  10.0s   10.0s  10.0s\n")


def test_policy_curve_refuses_an_unknown_curve(env):
    done = env.run("curve", "--curve", "logarithmic")
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2, b"", "policy: usage: unknown curve 'logarithmic' (choose log, linear or exp (or several: log,exp))\n")


# ---- policy usage ----------------------------------------------------------------------------------------------

def test_usage_status_text_and_status_section(env, monkeypatch, capsys, tmp_path):
    from policy.commands import usage
    from policy.facts.usage import record_sample
    from policy.store import Store
    from policy.times import parse_iso

    for name, value in env.vars.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POLICY_PACING", raising=False)
    monkeypatch.chdir(env.root)
    now = parse_iso(START)[0]
    store = Store.open(str(tmp_path / "facts.db"))
    with store.transaction():
        record_sample(store, utilization=62, resets_at=now + 3 * 3600, now=now - 90)
        record_sample(store, utilization=35, resets_at=now + 4 * 86400, window="seven_day", now=now - 90)
    assert usage.status_text(store, now=now, utc_offset=0, ruleset=None) == """\
five_hour: resets 13:00 (in 3h 00m); observed 09:58 (1:30 ago) from cli
  used       62.0%  ████████████░░░░░░░░
  expected   40.0%  ████████░░░░░░░░░░░░  (2h 00m of 5h 00m elapsed)
  22.0 points ahead of pace: pacing delays each tool call 25.3s (log curve, threshold 5, max_delay 30s); \
the pacing pack is not enabled here
seven_day: resets 2026-01-09 10:00 (in 4d 00h); observed 09:58 (1:30 ago) from cli
  used       35.0%  ███████░░░░░░░░░░░░░
  expected   42.9%  █████████░░░░░░░░░░░  (3d 00h of 7d 00h elapsed)
  7.9 points behind pace"""
    user_config(env, "version: 1\npacks: [pacing]\n")
    monkeypatch.setenv("POLICY_PACING", "off")
    text, data = usage.status_section(store, now + 600, 0)
    assert data["usage"]["windows"]["five_hour"]["utilization"] == 62.0
    assert text == """\
usage
  five_hour: resets 13:00 (in 2h 50m); observed 09:58 (11:30 ago) from cli  STALE
    used       62.0%  ████████████░░░░░░░░
    expected   43.3%  █████████░░░░░░░░░░░  (2h 10m of 5h 00m elapsed)
    18.7 points ahead of pace: pacing delays each tool call 23.5s (log curve, threshold 5, max_delay 30s); \
POLICY_PACING=off"""
    store.close()


def test_usage_record_inherits_the_reset_time_and_refuses_bad_input(env):
    assert env.run("usage", "record", "-u", "40", "--resets-at", "+2h").returncode == 0
    assert env.run("usage", "record", "-u", "45%").returncode == 0
    rows = env.rows("SELECT utilization, resets_at, source FROM usage_samples ORDER BY id")
    assert [(row["utilization"], row["source"]) for row in rows] == [(40.0, "cli"), (45.0, "cli")]
    assert rows[0]["resets_at"] == rows[1]["resets_at"]
    for args, error in [
        (["-u", "lots"], "policy: usage: utilization 'lots' is not a percentage (e.g. 42 or 42.5%)"),
        (["-u", "40", "--resets-at", "-1h"], "policy: usage: the reset time is not in the future (e.g. --resets-at "
                                             "+3h or an ISO time ahead)"),
        (["-u", "40", "--resets-at", "+6h"], "policy: usage: the five_hour window resets within 5 hours, not later "
                                             "(check --resets-at (and its time zone))"),
        (["-u", "40", "--window", "3h"], "policy: usage: unknown usage window '3h' (use 5h (five_hour) or 7d "
                                         "(seven_day))"),
    ]:
        done = env.run("usage", "record", *args)
        assert (done.returncode, done.stderr.decode()) == (2, error + "\n"), args


def test_usage_refresh_fetches_now_and_reports_failures(env, server):
    user_config(env, f"""
        version: 1
        sources:
          claude: {{kind: http, url: "{server.url}", format: claude-usage, feeds: usage, breaker_failures: 1}}
        """)
    done = env.run("usage", "refresh", "--json")
    [outcome] = json.loads(done.stdout)
    assert (done.returncode, outcome["source"], outcome["status"], outcome["detail"]) == (
        0, "claude", "ok", "five_hour 62%, seven_day 35%")
    server.mode = "error"
    done = env.run("usage", "refresh")
    assert done.returncode == 1
    text = done.stdout.decode()
    assert text.startswith("claude: failed: HTTP 500 Internal Server Error (") and \
        text.endswith("s); 1 failure in a row, breaker open until " + text.rsplit(" ", 1)[1])
    done = env.run("usage", "refresh", "--source", "claud")
    assert (done.returncode, done.stderr.decode()) == (
        2, "policy: usage: no source named 'claud' (did you mean 'claude'?)\n")


# ---- the installed hook's timeout --------------------------------------------------------------------------------

def test_validate_warns_when_the_installed_hook_timeout_is_below_the_delay(env):
    user_config(env, "version: 1\npacks: [pacing]\nsources:\n  claude: {kind: http, url: 'http://127.0.0.1:9/', "
                     "feeds: usage, timeout: 2}\n")
    settings = write(Path(env.vars["HOME"]) / ".claude" / "settings.json", json.dumps({"hooks": {
        "PostToolUse": [{"matcher": "*", "hooks": [
            {"type": "command", "command": "/opt/policy/bin/policy-hook", "timeout": 20},
            {"type": "command", "command": "notify-send done", "timeout": 1}]}],
        "PreToolUse": [{"hooks": [{"type": "command", "command": "policy", "args": ["eval"], "timeout": 5}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "python -m policy eval"}]}]}}))
    done = env.run("validate")
    assert done.returncode == 0
    assert done.stdout.decode().splitlines()[:2] == [
        f"{settings}: warning: hook-timeout: the policy hook for PostToolUse (user settings) has a 20s timeout, but "
        "pacing/delay-after-tool can delay 30s + 2s for sources: Claude Code would kill it mid-delay",
        "    hint: set its timeout to at least 33 (policy install does), or lower the pack's max_delay"]
    assert done.stdout.decode().count("hook-timeout") == 2  # PreToolUse too (delay-before-tool can delay there)


def test_installed_hooks_are_found_with_their_effective_timeouts(tmp_path):
    from policy.adapters.claude_settings import installed_hooks, runs_policy

    home, project = tmp_path / "home", tmp_path / "shop"
    write(home / ".claude" / "settings.json", json.dumps({"hooks": {
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "policy-hook"}]}],
        "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "http", "url": "http://x/policy-hook"}]}]}}))
    write(project / ".claude" / "settings.local.json", json.dumps({"hooks": {
        "PostToolUse": [{"hooks": [{"command": "'/opt/my tools/policy' --config x eval", "timeout": 45}]}]}}))
    write(project / ".claude" / "settings.json", "{not json")
    hooks = installed_hooks(cwd=str(project), environ={"HOME": str(home)})
    assert [(hook.scope, hook.event, hook.timeout, hook.explicit) for hook in hooks] == [
        ("user", "UserPromptSubmit", 30.0, False), ("local", "PostToolUse", 45.0, True)]
    assert [runs_policy(command) for command in ("policy eval", "policy-hook", "policy validate", "/x/policy.exe eval",
                                                 "echo policy eval-later", "policy test && echo eval")] == [
        True, True, False, True, False, True]


# ---- compile-time checks ------------------------------------------------------------------------------------------

def test_a_misspelt_curve_and_a_bad_block_cap_are_compile_errors(env):
    rules = write(env.root / "mine.yaml", """
        version: 1
        pack: mine
        params: {cap: 0}
        rules:
          - id: slow
            events: [PostToolUse]
            delay: curve('lgo', facts.usage.excess, 5, 30)
          - id: gate
            events: [Stop]
            decision: deny
            block_cap: params.cap
          - id: gate-two
            events: [Stop]
            decision: deny
            block_cap: facts.kv.get('x')
        """)
    done = env.run("validate", str(rules))
    assert (done.returncode, done.stdout.decode()) == (1, f"""\
{rules}:7:12: bad-value: curve() does not know 'lgo'
    hint: did you mean 'log'?
{rules}:11:16: bad-block-cap: block_cap must be a whole number of at least 1, not 0
    hint: e.g. block_cap: 3, or block_cap: params.max_blocks
{rules}:15:16: bad-block-cap: block_cap can only use params: it is fixed when the rules are compiled
    hint: e.g. block_cap: 3, or block_cap: params.max_blocks
3 errors, 0 warnings in 1 file
""")


def test_facts_usage_window_reads_the_seven_day_window(env):
    rules = write(env.root / "weekly.yaml", """
        version: 1
        pack: weekly
        rules:
          - id: weekly-note
            events: [SessionStart]
            context: "7-day usage {{ facts.usage.window('seven_day').utilization }}%, {{ round(facts.usage.window('seven_day').excess, 1) }} points off pace"
        """)
    assert env.run("usage", "record", "-u", "50", "--window", "7d", "--resets-at", "+84h").returncode == 0
    done = env.eval("--rules", str(rules), stdin=event_bytes("SessionStart"))
    assert json.loads(done.stdout) == {"hookSpecificOutput": {
        "hookEventName": "SessionStart", "additionalContext": "7-day usage 50.0%, 0.0 points off pace"}}
    assert event_payload("SessionStart")["hook_event_name"] == "SessionStart"
