"""Fact sources against real things: an HTTP server on 127.0.0.1 serving Claude's usage shape (fast, slow, failing,
refusing, malformed), real commands, real files, a real SQLite store."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, write
from usage_server import CLAUDE_BODY, RESETS, WEEK_RESETS, refused_url, server  # noqa: F401 - a fixture
from policy.model import SourceSpec
from policy.store import Store
from policy.times import parse_iso

NOW = parse_iso("2026-01-05T10:00:00+00:00")[0]


@pytest.fixture
def store(tmp_path: Path) -> object:
    opened = Store.open(str(tmp_path / "facts.db"))
    yield opened
    opened.close()


def http_spec(url: str, **options: object) -> SourceSpec:
    timeout = float(options.pop("timeout", 1.0))  # type: ignore[arg-type]
    return SourceSpec(name="claude", kind="http", feeds="usage", options={"url": url, "format": "claude-usage",
                                                                           **options},
                      ttl=60.0, timeout=timeout, breaker_failures=3, breaker_cooldown=300.0)


def refresh(store: Store, spec: SourceSpec, at: float, *, force: bool = False) -> object:
    from policy.sources import refresh as run

    [outcome] = run(store, [spec], now=at, force=force)
    return outcome


def cache_row(store: Store, name: str = "claude") -> dict:
    return store.row("SELECT value, fetched_at, failures, last_error, open_until FROM source_cache WHERE source = ?",
                     (name,))


# ---- http: Claude's usage endpoint ------------------------------------------------------------------------------

def test_http_source_feeds_both_windows_with_the_token_from_the_credentials_file(server, store, tmp_path):
    credentials = write(tmp_path / "home" / ".claude" / ".credentials.json",
                        '{"claudeAiOauth": {"accessToken": "sk-ant-oat01-test", "expiresAt": 1}}')
    spec = http_spec(server.url, headers={"Authorization": f"Bearer {{file:{credentials}#claudeAiOauth.accessToken}}",
                                          "anthropic-beta": "oauth-2025-04-20"})
    outcome = refresh(store, spec, NOW)
    assert (outcome.status, outcome.detail) == ("ok", "five_hour 62%, seven_day 35%")
    assert server.requests[0]["authorization"] == "Bearer sk-ant-oat01-test"
    assert server.requests[0]["anthropic-beta"] == "oauth-2025-04-20"
    assert store.rows("SELECT observed_at, window, window_seconds, utilization, resets_at, source FROM usage_samples "
                      "ORDER BY id") == [
        {"observed_at": NOW, "window": "five_hour", "window_seconds": 18000.0, "utilization": 62.0,
         "resets_at": parse_iso(RESETS)[0], "source": "claude"},
        {"observed_at": NOW, "window": "seven_day", "window_seconds": 604800.0, "utilization": 35.0,
         "resets_at": parse_iso(WEEK_RESETS)[0], "source": "claude"}]
    assert cache_row(store) == {"value": json.dumps(CLAUDE_BODY, separators=(",", ":")), "fetched_at": NOW,
                                "failures": 0, "last_error": None, "open_until": None}


def test_a_fresh_value_is_not_fetched_again_within_its_ttl(server, store):
    spec = http_spec(server.url)
    assert refresh(store, spec, NOW).status == "ok"
    assert refresh(store, spec, NOW + 59).status == "fresh"
    assert len(server.requests) == 1
    assert refresh(store, spec, NOW + 60).status == "ok"
    assert len(server.requests) == 2


def test_a_clock_moved_back_does_not_leave_a_source_stuck(server, store):
    spec = http_spec(server.url)
    assert refresh(store, spec, NOW).status == "ok"
    assert refresh(store, spec, NOW - 200).status == "fresh"  # another hook's clock, read a little earlier
    assert refresh(store, spec, NOW - 3600).status == "ok"  # --now an hour back: a fetch, not a stale "future"
    assert len(server.requests) == 2


@pytest.mark.parametrize("mode, url, error", [
    ("error", None, "HTTP 500 Internal Server Error"),
    ("malformed", None, "malformed JSON: Expecting value: line 1 column 1 (char 0)"),
    ("redirect", None, "HTTP 302 Found to http://example.invalid/usage"),
    ("ok", "refused", "cannot connect to 127.0.0.1:{port}: Connection refused"),
])
def test_http_failures_are_recorded_in_one_line(server, store, mode, url, error):
    server.mode = mode
    target = refused_url() if url == "refused" else server.url
    outcome = refresh(store, http_spec(target), NOW)
    expected = error.replace("{port}", target.split(":")[2].split("/")[0])
    assert (outcome.status, outcome.detail, outcome.failures, outcome.open_until) == ("failed", expected, 1, None)
    assert cache_row(store) == {"value": None, "fetched_at": None, "failures": 1, "last_error": expected,
                                "open_until": None}
    assert store.value("SELECT count(*) FROM usage_samples") == 0


@pytest.mark.parametrize("body, error", [
    ({"five_hour": {"utilization": "lots", "resets_at": RESETS}}, "five_hour.utilization must be a number, not 'lots'"),
    ({"five_hour": {"utilization": 62, "resets_at": "tomorrow"}}, "five_hour.resets_at 'tomorrow' is not an ISO 8601 time"),
    ({"five_hour": {"utilization": -3, "resets_at": RESETS}}, "five_hour.utilization -3 is out of range"),
    ({"error": {"type": "authentication_error"}}, "no usage window (five_hour, seven_day) in it"),
    ([1, 2], "expected a JSON object, not list"),
])
def test_a_response_of_another_shape_is_a_failure(server, store, body, error):
    server.body = body
    outcome = refresh(store, http_spec(server.url), NOW)
    assert (outcome.status, outcome.detail) == ("failed", f"unexpected usage response: {error}")


def test_a_slow_server_is_given_up_at_the_timeout(server, store):
    server.mode = "slow"
    outcome = refresh(store, http_spec(server.url, timeout=0.3), NOW)
    assert (outcome.status, outcome.detail) == ("failed", "timed out after 0.3s")
    assert outcome.seconds >= 0.3


def test_repeated_failures_open_the_breaker_and_the_last_value_stays_stale(server, store):
    from policy.facts.usage import read_usage
    from policy.model import Settings

    spec = http_spec(server.url)
    settings = Settings(sources=(spec,))
    assert refresh(store, spec, NOW).status == "ok"
    server.mode = "error"
    outcomes = [refresh(store, spec, NOW + seconds) for seconds in (61, 61.5, 70, 80)]
    # 61.5 s: the attempt at 61 s is less than a timeout (1 s) ago, so no second request goes out yet.
    assert [(o.status, o.failures) for o in outcomes[:3]] == [("failed", 1), ("busy", 0), ("failed", 2)]
    assert [o.open_until for o in outcomes[:3]] == [None, None, None]
    # The third failure in a row opens the breaker for breaker_cooldown (300 s), jittered down to half of it.
    opened = outcomes[3]
    assert (opened.status, opened.failures) == ("failed", 3)
    assert NOW + 80 + 150 <= opened.open_until <= NOW + 80 + 300
    assert len(server.requests) == 4
    reading = read_usage(store, now=NOW + 90, settings=settings)
    assert (reading.utilization, reading.stale, reading.observed_at) == (62.0, True, NOW)
    # Open: no requests until the cooldown has passed.
    assert [refresh(store, spec, at).status for at in (NOW + 90, opened.open_until - 0.5)] == ["open", "open"]
    assert len(server.requests) == 4
    # Half-open after the cooldown: one try; it fails, and the breaker opens again for twice as long (backoff).
    again = refresh(store, spec, opened.open_until)
    assert (again.status, again.failures) == ("failed", 4)
    assert opened.open_until + 300 <= again.open_until <= opened.open_until + 600
    server.mode = "ok"
    assert refresh(store, spec, again.open_until - 0.5).status == "open"
    assert refresh(store, spec, again.open_until).status == "ok"
    assert cache_row(store)["failures"] == 0 and cache_row(store)["open_until"] is None
    reading = read_usage(store, now=again.open_until + 1, settings=settings)
    assert (reading.stale, reading.observed_at) == (False, again.open_until)
    assert len(server.requests) == 6


def test_the_breaker_backs_off_exponentially_with_jitter_up_to_its_maximum():
    from policy.sources import backoff

    spec = SourceSpec(name="s", kind="http", feeds="usage", options={}, breaker_failures=3, breaker_cooldown=300.0,
                      breaker_max_cooldown=3600.0)
    # The largest draw (just under 1) gives the whole cooldown, the smallest (0) half of it.
    assert [backoff(spec, failures, draw=lambda: 0.999999) for failures in (1, 2)] == [None, None]
    assert [round(backoff(spec, failures, draw=lambda: 0.999999)) for failures in (3, 4, 5, 6, 7, 8, 100, 10 ** 6)] == [
        300, 600, 1200, 2400, 3600, 3600, 3600, 3600]
    assert [backoff(spec, failures, draw=lambda: 0.0) for failures in (3, 4, 7)] == [150.0, 300.0, 1800.0]
    draws = {round(backoff(spec, 3), 3) for _ in range(50)}  # random.random: spread over [150, 300)
    assert len(draws) > 1 and all(150 <= wait < 300 for wait in draws)


@pytest.mark.parametrize("status, reason", [(429, "Too Many Requests"), (503, "Service Unavailable")])
def test_retry_after_on_429_and_503_is_honoured_from_the_first_failure(server, store, status, reason):
    spec = http_spec(server.url)
    server.mode, server.status, server.retry_after = "throttled", status, "120"
    outcome = refresh(store, spec, NOW)
    assert (outcome.status, outcome.detail, outcome.failures, outcome.open_until) == (
        "failed", f"HTTP {status} {reason} (retry after 120s)", 1, NOW + 120)
    assert [refresh(store, spec, at).status for at in (NOW + 1, NOW + 119.5)] == ["open", "open"]
    assert len(server.requests) == 1
    server.mode = "ok"
    assert refresh(store, spec, NOW + 120).status == "ok"
    assert len(server.requests) == 2


def test_retry_after_as_an_http_date_and_past_the_backoff(server, store):
    import email.utils

    spec = http_spec(server.url)
    server.mode, server.status = "throttled", 429
    server.retry_after = email.utils.formatdate(time.time() + 600, usegmt=True)
    outcome = refresh(store, spec, NOW)
    assert outcome.failures == 1 and NOW + 598 <= outcome.open_until <= NOW + 601
    # A Retry-After longer than the backoff wins; without one (or on another status) the backoff alone counts.
    server.mode = "error"
    outcome = refresh(store, spec, NOW + 700)
    assert (outcome.failures, outcome.open_until) == (2, None)
    server.mode, server.retry_after = "throttled", "7200"
    outcome = refresh(store, spec, NOW + 800)  # the third failure: backoff 150-300 s, but the server asks 2 h
    assert (outcome.failures, outcome.open_until) == (3, NOW + 800 + 7200)
    server.retry_after = None
    outcome = refresh(store, spec, NOW + 8000)
    assert outcome.failures == 4 and NOW + 8000 + 300 <= outcome.open_until <= NOW + 8000 + 600
    server.retry_after, server.mode = "not a time", "throttled"
    outcome = refresh(store, spec, outcome.open_until)
    assert (outcome.detail, outcome.failures) == ("HTTP 429 Too Many Requests", 5)
    server.mode, server.retry_after = "error", "60"  # a 500's Retry-After is not a throttle
    outcome = refresh(store, spec, outcome.open_until)
    assert outcome.detail == "HTTP 500 Internal Server Error" and outcome.failures == 6


def test_a_forced_refresh_ignores_the_cache_and_the_breaker(server, store):
    spec = http_spec(server.url)
    server.mode = "error"
    for seconds in (0, 10, 20):
        refresh(store, spec, NOW + seconds)
    assert refresh(store, spec, NOW + 30).status == "open"
    server.mode = "ok"
    assert refresh(store, spec, NOW + 30, force=True).status == "ok"
    assert refresh(store, spec, NOW + 31, force=True).status == "ok"
    assert len(server.requests) == 5


def test_header_placeholders(tmp_path, monkeypatch):
    from policy.sources import SourceError
    from policy.sources.http import expand_header

    token = write(tmp_path / "token", "abc123\n")
    monkeypatch.setenv("USAGE_TOKEN", "xyz")
    assert expand_header("Authorization", f"Bearer {{file:{token}}}") == "Bearer abc123"
    assert expand_header("Authorization", "Bearer {env:USAGE_TOKEN}; {env:USAGE_TOKEN}") == "Bearer xyz; xyz"
    assert expand_header("X", "no placeholders {here}") == "no placeholders {here}"
    with pytest.raises(SourceError) as missing:
        expand_header("Authorization", f"Bearer {{file:{tmp_path}/nope}}")
    assert str(missing.value) == f"header Authorization: cannot read {tmp_path}/nope: No such file or directory"
    with pytest.raises(SourceError) as no_key:
        expand_header("Authorization", f"Bearer {{file:{token}#a.b}}")
    assert str(no_key.value) == f"header Authorization: {token} is not JSON"
    monkeypatch.delenv("USAGE_TOKEN")
    with pytest.raises(SourceError) as unset:
        expand_header("Authorization", "Bearer {env:USAGE_TOKEN}")
    assert str(unset.value) == "header Authorization: the environment variable USAGE_TOKEN is not set"


# ---- command ----------------------------------------------------------------------------------------------------

def command_spec(code: str, *, feeds: str = "kv:hr", timeout: float = 2.0) -> SourceSpec:
    return SourceSpec(name="heart", kind="command", feeds=feeds, options={"argv": [sys.executable, "-c", code]},
                      timeout=timeout)


def test_a_command_source_feeds_kv_keys_under_its_prefix(store):
    spec = command_spec("import json; print(json.dumps({'bpm': 128, 'zone': 'hard'}))")
    assert refresh(store, spec, NOW).status == "ok"
    assert store.rows("SELECT key, value, updated_at FROM kv ORDER BY key") == [
        {"key": "hr.bpm", "value": "128", "updated_at": NOW},
        {"key": "hr.stale", "value": "false", "updated_at": NOW},
        {"key": "hr.zone", "value": '"hard"', "updated_at": NOW}]
    # A key that is gone from the next value is gone from kv; a failure keeps the values and marks them stale.
    spec = command_spec("print('{\"bpm\": 90}')")
    assert refresh(store, spec, NOW + 60).status == "ok"
    spec = command_spec("import sys; sys.stderr.write('sensor offline\\nmore\\n'); sys.exit(3)")
    outcome = refresh(store, spec, NOW + 120)
    assert (outcome.status, outcome.detail) == ("failed", f"{os.path.basename(sys.executable)} exited with status 3: "
                                                          "sensor offline")
    assert store.rows("SELECT key, value FROM kv ORDER BY key") == [
        {"key": "hr.bpm", "value": "90"}, {"key": "hr.stale", "value": "true"}]


def test_max_stale_drops_a_failing_sources_kv_values_ttl_plus_max_stale_after_the_last_good_fetch(store, tmp_path):
    from policy.facts.kv import get_value

    flag = tmp_path / "bridge-down"
    code = (f"import json, os, sys; sys.exit('bridge down') if os.path.exists({str(flag)!r}) else "
            "print(json.dumps({'active': True, 'intention': 'fix login'}))")
    spec = SourceSpec(name="balance", kind="command", feeds="kv:balance",
                      options={"argv": [sys.executable, "-c", code]}, ttl=30.0, max_stale=90.0)
    assert refresh(store, spec, NOW).status == "ok"
    assert store.rows("SELECT key, value, expires_at FROM kv ORDER BY key") == [
        {"key": "balance.active", "value": "true", "expires_at": NOW + 120},
        {"key": "balance.intention", "value": '"fix login"', "expires_at": NOW + 120},
        {"key": "balance.stale", "value": "false", "expires_at": NOW + 120}]
    flag.write_text("")
    assert refresh(store, spec, NOW + 60).status == "failed"
    # Stale but kept until ttl + max_stale after the good fetch...
    assert [get_value(store, "balance.active", now=NOW + seconds) for seconds in (60, 119)] == [
        (True, True), (True, True)]
    assert get_value(store, "balance.stale", now=NOW + 119) == (True, True)
    # ...then absent: a rule reading it sees None.
    assert get_value(store, "balance.active", now=NOW + 120) == (False, None)
    # A good fetch brings it back, with a new lifetime.
    flag.unlink()
    assert refresh(store, spec, NOW + 200).status == "ok"
    assert get_value(store, "balance.active", now=NOW + 319) == (True, True)


def test_max_stale_makes_a_failing_usage_sources_sample_unavailable(server, store):
    from policy.facts.usage import read_usage
    from policy.lean import replace
    from policy.model import Settings

    spec = replace(http_spec(server.url), max_stale=600.0)
    settings = Settings(sources=(spec,))
    assert refresh(store, spec, NOW).status == "ok"
    server.mode = "error"
    refresh(store, spec, NOW + 61)
    kept = read_usage(store, now=NOW + 660, settings=settings)
    assert (kept.available, kept.stale, kept.utilization) == (True, True, 62.0)
    gone = read_usage(store, now=NOW + 661, settings=settings)
    assert (gone.available, gone.utilization, gone.observed_at) == (False, None, NOW)
    # Without max_stale the same sample counts until its window resets.
    assert read_usage(store, now=NOW + 661, settings=Settings(sources=(http_spec(server.url),))).available


def test_a_command_is_killed_with_its_children_at_the_timeout(store, tmp_path):
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            f"child = subprocess.Popen(['sleep', '30']); open({str(pid_file)!r}, 'w').write(str(child.pid)); "
            "time.sleep(30)")
    outcome = refresh(store, command_spec(code, timeout=1.0), NOW)
    assert (outcome.status, outcome.detail) == ("failed", "timed out after 1s")
    child = int(pid_file.read_text())
    for _ in range(50):  # killed at once; reaping may take a moment
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(") ")[1][0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the command's child {child} is still running")


def test_a_missing_program_is_a_failure(store):
    spec = SourceSpec(name="heart", kind="command", feeds="kv:hr", options={"argv": ["/nonexistent/hr-sensor"]})
    outcome = refresh(store, spec, NOW)
    assert (outcome.status, outcome.detail) == ("failed", "cannot run /nonexistent/hr-sensor: No such file or directory")


# ---- file -------------------------------------------------------------------------------------------------------

def file_spec(path: Path, **options: object) -> SourceSpec:
    return SourceSpec(name="tasks", kind="file", feeds="kv:tasks", options={"path": str(path), **options})


def kv(store: Store) -> dict[str, object]:
    return {key: json.loads(value) for key, value in store.execute("SELECT key, value FROM kv ORDER BY key")}


def test_a_checklist_file_feeds_its_counts_and_open_items(store, tmp_path):
    tasks = write(tmp_path / "TASKS.md", """
        # Cart refactor
        - [x] totals use Decimal
        - [ ] empty carts total 0
          - [ ] nested: half-up rounding
        * [X] tests for quantities
        1. [ ] numbered item
        ```
        - [ ] inside a code fence: not an item
        ```
        - [] not an item either
        - [ ]no space: not an item
        """)
    assert refresh(store, file_spec(tasks), NOW).status == "ok"
    assert kv(store) == {"tasks.open": 3, "tasks.done": 2, "tasks.total": 5, "tasks.exists": True,
                         "tasks.path": str(tasks), "tasks.stale": False,
                         "tasks.open_items": ["empty carts total 0", "nested: half-up rounding", "numbered item"]}


def test_a_file_is_read_again_only_when_it_changes(store, tmp_path):
    tasks = write(tmp_path / "TASKS.md", "- [ ] one\n- [ ] two\n")
    spec = file_spec(tasks)
    assert refresh(store, spec, NOW).status == "ok"
    assert refresh(store, spec, NOW + 3600).status == "fresh"
    tasks.write_text("- [x] one\n- [ ] two\n")
    os.utime(tasks, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new mtime, even on coarse clocks
    assert refresh(store, spec, NOW + 3601).status == "ok"
    assert kv(store)["tasks.open"] == 1


def test_a_missing_checklist_has_no_open_items_and_a_missing_json_file_fails(store, tmp_path):
    assert refresh(store, file_spec(tmp_path / "TASKS.md"), NOW).status == "ok"
    assert kv(store) == {"tasks.open": 0, "tasks.done": 0, "tasks.total": 0, "tasks.exists": False,
                         "tasks.open_items": [], "tasks.path": str(tmp_path / "TASKS.md"), "tasks.stale": False}
    outcome = refresh(store, SourceSpec(name="data", kind="file", feeds="kv:data",
                                        options={"path": str(tmp_path / "data.json")}), NOW)
    assert (outcome.status, outcome.detail) == ("failed", f"{tmp_path}/data.json does not exist")


def test_yaml_and_json_files(store, tmp_path):
    write(tmp_path / "hr.yaml", "bpm: 128\nzones: [easy, hard]\n")
    write(tmp_path / "broken.yaml", "bpm: [128\n")
    assert refresh(store, SourceSpec(name="hr", kind="file", feeds="kv:hr", options={"path": str(tmp_path / "hr.yaml")}),
                   NOW).status == "ok"
    assert kv(store) == {"hr.bpm": 128, "hr.zones": ["easy", "hard"], "hr.stale": False}
    outcome = refresh(store, SourceSpec(name="broken", kind="file", feeds="kv:broken",
                                        options={"path": str(tmp_path / "broken.yaml")}), NOW)
    assert (outcome.status, outcome.detail) == ("failed", "malformed YAML: while parsing a flow sequence")


# ---- which sources an event needs --------------------------------------------------------------------------------

def test_only_sources_whose_facts_the_events_rules_reach_are_refreshed(tmp_path):
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.model import Settings
    from policy.sources import needed_sources

    usage = http_spec("http://127.0.0.1:9/usage")
    tasks = file_spec(tmp_path / "TASKS.md")
    compiled = compile_files([PackSource(str(ROOT / "rules" / "pacing.yaml"), trusted=True)])
    ruleset = build_ruleset(compiled, Settings(sources=(usage, tasks)))
    assert needed_sources(ruleset, "PostToolUse") == (usage,)
    assert needed_sources(ruleset, "PreToolUse") == (usage,)  # delay-before-tool reads usage, even while off
    assert needed_sources(ruleset, "Stop") == (tasks,)
    assert needed_sources(ruleset, "SessionStart") == ()
    assert needed_sources(ruleset, "PostToolUse", frozenset({"pacing"})) == ()


def test_parallel_hooks_fetch_a_source_once(server, tmp_path):
    """Eight hook processes at once, a slow source: one of them fetches, the others use what is cached."""
    import subprocess

    from conftest import BIN, event_bytes, isolated_vars

    server.mode, server.delay = "slow", 0.5
    env = isolated_vars(tmp_path)
    write(Path(env["XDG_CONFIG_HOME"]) / "policy" / "config.yaml", f"""
        version: 1
        packs: [pacing]
        sources:
          claude: {{kind: http, url: "{server.url}", format: claude-usage, feeds: usage, timeout: 5}}
        """)
    processes = [subprocess.Popen([str(BIN / "policy"), "eval", "--dry-run"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path / "work"))
                 for _ in range(8)]
    for process in processes:
        process.communicate(event_bytes("PostToolUse-Bash"), timeout=60)
        assert process.returncode == 0
    assert len(server.requests) == 1


# ---- the configuration --------------------------------------------------------------------------------------------

def test_sources_merge_across_configs_and_an_untrusted_project_cannot_run_commands(tmp_path):
    from policy.config import Request
    from policy.layering import resolve

    home = tmp_path / "home"
    user = write(home / ".config" / "policy" / "config.yaml", """
        version: 1
        sources:
          claude: {kind: http, url: "https://api.anthropic.com/api/oauth/usage", feeds: usage}
        """)
    project = tmp_path / "shop"
    write(project / "policy.yaml", """
        version: 1
        sources:
          tasks: {kind: file, path: docs/TASKS.md, feeds: "kv:tasks"}
          claude: {kind: file, path: fake-usage.json, feeds: usage}
          sensor: {kind: command, argv: [hr-sensor], feeds: "kv:hr"}
        """)
    resolved = resolve(Request(cwd=str(project), environ={"HOME": str(home)}))
    assert [(spec.name, spec.kind, spec.options) for spec in resolved.settings.sources] == [
        ("claude", "http", {"url": "https://api.anthropic.com/api/oauth/usage"}),
        ("tasks", "file", {"path": str(project / "docs" / "TASKS.md")})]
    hint = f"add {project} to `trusted_projects` in {user} to allow it"
    assert [d.render() for d in resolved.diagnostics] == [
        f"{project}/policy.yaml:4:3: warning: not-trusted: the project config cannot replace the user-level source "
        f"'claude' (the user config defines it): ignored\n    hint: {hint}",
        f"{project}/policy.yaml:5:3: warning: not-trusted: the project config cannot define the command source "
        f"'sensor' (only a file source in the checklist format is allowed from an untrusted project: others run "
        f"programs, send requests with your tokens, or write facts other rules read): ignored\n    hint: {hint}"]


def test_config_schema_checks_sources(tmp_path):
    from policy.config import ConfigRef
    from policy.layering import load_config
    from policy.errors import Diagnostic

    path = write(tmp_path / "config.yaml", """
        version: 1
        sources:
          claude: {kind: http, feeds: usage}
          tasks: {kind: file, path: TASKS.md, feeds: tasks}
        """)
    _, problems = load_config(ConfigRef(str(path), "user"))
    assert [d.render() for d in sorted(problems, key=Diagnostic.sort_key)] == [
        f"{path}:3:11: missing-key: sources.claude needs the key 'url'\n    hint: add `url:`",
        f"{path}:4:46: bad-value: 'tasks' is not a valid feeds\n"
        "    hint: it must match ^(usage|kv:[A-Za-z0-9_][A-Za-z0-9_.-]*)$"]


# ---- the eval path stays lean -------------------------------------------------------------------------------------

def _loaded_modules(env: dict[str, str], cwd: Path, event: bytes) -> set[str]:
    """The modules a real `policy eval` process has loaded by the time it answers."""
    import subprocess

    code = ("import io, sys\n"
            "from policy.hook import main\n"
            f"main([], stdin=io.BytesIO({event!r}), stdout=io.BytesIO(), stderr=io.BytesIO(), sleep=lambda s: None)\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, cwd=str(cwd), timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.decode().split())


def test_http_and_thread_modules_load_only_when_a_source_is_fetched(server, tmp_path):
    from conftest import event_bytes, isolated_vars

    env = isolated_vars(tmp_path)
    env["PYTHONPATH"] = str(ROOT)
    write(Path(env["XDG_CONFIG_HOME"]) / "policy" / "config.yaml", f"""
        version: 1
        packs: [pacing]
        sources:
          claude: {{kind: http, url: "{server.url}", format: claude-usage, feeds: usage}}
        """)
    heavy = {"urllib.request", "ssl", "json", "threading", "http.client", "subprocess", "policy.sources.http"}
    first = _loaded_modules(env, tmp_path / "work", event_bytes("PostToolUse-Bash"))
    assert heavy - {"subprocess"} <= first  # the first event fetched the usage
    cached = _loaded_modules(env, tmp_path / "work", event_bytes("PostToolUse-Bash"))
    assert "policy.sources" in cached and not heavy & cached
    unreached = _loaded_modules(env, tmp_path / "work", event_bytes("SessionStart"))
    assert not heavy & unreached  # (policy.sources itself decides that no source is reached: ~0.2 ms)
    assert len(server.requests) == 1


def test_eval_path_queries_use_indexes(store):
    from policy.sources import load_states

    plans = {}
    queries = {
        "latest sample": ("SELECT observed_at, utilization, resets_at, window_seconds, source FROM usage_samples "
                          "WHERE window = ? ORDER BY observed_at DESC LIMIT 1", ("five_hour",)),
        "stale sources": ("SELECT count(*) FROM source_cache WHERE source IN (?, ?) AND failures > 0", ("a", "b")),
        "source states": ("SELECT source, value FROM source_cache WHERE source IN (?)", ("a",)),
        "kv prefix": ("SELECT key FROM kv WHERE key > ? AND key < ?", ("tasks.", "tasks/")),
        "prune samples": ("DELETE FROM usage_samples WHERE window = ? AND observed_at < ?", ("five_hour", 0)),
    }
    for name, (sql, params) in queries.items():
        plans[name] = " | ".join(row[3] for row in store.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert plans == {
        "latest sample": "SEARCH usage_samples USING INDEX idx_usage_samples_window_observed_at (window=?)",
        "stale sources": "SEARCH source_cache USING INDEX sqlite_autoindex_source_cache_1 (source=?)",
        "source states": "SEARCH source_cache USING INDEX sqlite_autoindex_source_cache_1 (source=?)",
        "kv prefix": "SEARCH kv USING COVERING INDEX sqlite_autoindex_kv_1 (key>? AND key<?)",
        "prune samples": "SEARCH usage_samples USING INDEX idx_usage_samples_window_observed_at "
                         "(window=? AND observed_at<?)",
    }
    assert load_states(store, []) == {}


def test_only_the_source_that_feeds_a_kv_prefix_may_write_its_keys(store):
    from policy.effects import EffectContext, apply_effects
    from policy.errors import PolicyError
    from policy.facts.kv import owning_source
    from policy.model import Event, PlannedEffect, Settings

    heart = command_spec("print('{\"ok\": true}')")  # feeds kv:hr
    settings = Settings(sources=(heart,))
    assert [getattr(owning_source(key, settings.sources), "name", None) for key in ("hr", "hr.ok", "hrv.x", "h")] == [
        "heart", "heart", None, None]
    event = Event(host="claude-code", name="PreToolUse", agent_session="s1")

    def set_effect(key: str) -> PlannedEffect:
        return PlannedEffect("mine", "open-gate", "set", "policy.effects.kv", {"key": key, "value": True}, None, trusted=True)  # type: ignore[arg-type]

    with pytest.raises(PolicyError) as refused, store.transaction():
        apply_effects((set_effect("hr.ok"),), EffectContext(store, event, NOW, settings))
    assert (refused.value.code, refused.value.message) == ("effect-failed", (
        "effect set of rule mine/open-gate failed: hr.ok is written only by the source heart (it feeds kv:hr); a rule "
        "may not set it"))
    with store.transaction():
        apply_effects((set_effect("hrv.note"),), EffectContext(store, event, NOW, settings))
    assert store.rows("SELECT key FROM kv") == [{"key": "hrv.note"}]
    assert refresh(store, heart, NOW).status == "ok"  # the source itself writes them
    assert store.rows("SELECT key, value FROM kv ORDER BY key") == [
        {"key": "hr.ok", "value": "true"}, {"key": "hr.stale", "value": "false"}, {"key": "hrv.note", "value": "true"}]
