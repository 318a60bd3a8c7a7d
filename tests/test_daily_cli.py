"""The daily CLI (issue 20): breaks that end or are skipped, session lengths and history, exit codes that say what
happened, short session ids and --project in the log and stats, unknown events refused. Each as a real `policy`
process in a private HOME, against a real store."""

from __future__ import annotations

import json

from conftest import EVENTS, Env, write

FOCUS = "version: 1\npacks: [focus]\n"


def test_break_start_defaults_to_the_packs_break_minutes_and_break_end(env: Env) -> None:
    write(env.root / "policy.yaml", "version: 1\npacks: [{name: focus, params: {break_minutes: 7}}]\n")
    result = env.run_text("break", "start", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["break_remaining"] == 420
    result = env.run_text("break", "end")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Break ended at ") and result.stdout.endswith(
        " (7:00 early): the agent may work again.\n")
    assert env.run_text("break", "status").stdout == "No break running.\n"
    result = env.run_text("break", "end")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "No break running.\n")


def test_break_skip_during_a_session_and_session_start_minutes(env: Env) -> None:
    write(env.root / "policy.yaml", FOCUS)
    result = env.run_text("session", "start", "--type", "personal", "--intention", "write tests", "--minutes", "50",
                          "--json")
    assert (result.returncode, json.loads(result.stdout)["remaining"]) == (0, 3000)
    result = env.run_text("break", "skip")
    assert (result.returncode, result.stdout) == (0, "No break after this focus session (session 1).\n")
    assert env.run_text("session", "end").stdout.splitlines()[1] == "No break (the focus pack's break_minutes is 0)."
    assert env.run_text("break", "status").stdout == "No break running.\n"
    result = env.run_text("break", "skip")
    assert (result.returncode, result.stderr) == (
        1, "No break running, and no focus session whose break to skip.\n")
    result = env.run_text("session", "start", "--type", "personal", "--intention", "x", "--minutes", "0")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: --minutes must be more than 0, not 0 (policy session start --type personal --intention "
           "\"fix the login bug\" --minutes 50)\n")


def test_session_history(env: Env) -> None:
    write(env.root / "policy.yaml", FOCUS)
    assert env.run_text("session", "history").stdout == "no focus sessions in the last 7d\n"
    env.run("session", "start", "--type", "expected", "--intention", "review the billing migration plan in depth")
    env.run("session", "end", "--did-the-thing")
    env.run("break", "end")
    env.run("session", "start", "--type", "personal", "--intention", "tests")
    lines = env.run_text("session", "history").stdout.splitlines()
    assert lines[0].split() == ["id", "started", "type", "intention", "focused", "end", "break"]
    parts = lines[2].split()
    assert (parts[0], parts[3:5], parts[5].endswith("/25:00"), parts[6:]) == ("2", ["personal", "tests"], True,
                                                                               ["running", "-"])
    assert "review the billing mi…" in lines[3] and " ended " in lines[3]
    assert max(len(line) for line in lines) <= 80
    rows = json.loads(env.run_text("session", "history", "--json").stdout)
    assert [(row["id"], row["running"], row["end_reason"], row["did_the_thing"]) for row in rows] == [
        (2, True, None, None), (1, False, "ended", True)]
    assert rows[1]["break_taken"] is not None and rows[1]["break_taken"] < 300


def test_exit_codes_of_claim_release_test_and_usage(env: Env) -> None:
    assert env.run("claim", "stack:a", "--purpose", "x", "--session", "s1").returncode == 0
    held = env.run_text("claim", "stack:a", "--purpose", "y", "--session", "s2")
    assert held.returncode == 1 and "also claimed by another agent session:" in held.stdout
    assert env.run("release", "stack:a", "--session", "s2").returncode == 0
    nothing = env.run_text("release", "stack:a", "--session", "s2")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (
        1, "", "session s2 holds no active claim on stack:a\n")
    assert env.run("init").returncode == 0
    result = env.run_text("test", ".policy", "-k", "nomatch")
    assert (result.returncode, result.stderr) == (5, "policy: no tests match -k 'nomatch'\n")
    result = env.run_text("usage", "record", "-u", "142")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: utilization '142' is over 100% (the share of the window used, from 0 to 100 (100: the "
           "limit is reached))\n")
    assert env.run("usage", "record", "-u", "100").returncode == 0


def logged(env: Env) -> None:
    """Decisions of two agent sessions in two projects (the activity pack records where each session works)."""
    write(env.root / "policy.yaml", "version: 1\npacks: [activity]\n")
    for cwd, session in (("/srv/shop", "8f2c1d3e-aaaa"), ("/srv/blog", "77aa0000-bbbb")):
        data = json.loads((EVENTS / "PreToolUse-Bash-ls.json").read_text())
        data.update(cwd=cwd, session_id=session)
        assert env.eval(stdin=json.dumps(data).encode()).returncode == 0


def test_log_takes_short_session_ids_and_project_and_refuses_unknown_events(env: Env) -> None:
    logged(env)
    rows = json.loads(env.run_text("log", "--session", "8f2c1d3e", "--json").stdout)
    assert [row["agent_session"] for row in rows] == ["8f2c1d3e-aaaa"]
    rows = json.loads(env.run_text("log", "--project", "/srv/blog", "--json").stdout)
    assert [row["agent_session"] for row in rows] == ["77aa0000-bbbb"]
    assert json.loads(env.run_text("log", "--project", "/srv/sho", "--json").stdout) == []  # a directory, not a prefix
    result = env.run_text("log", "--event", "PreTooluse")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: unknown event 'PreTooluse' (did you mean 'PreToolUse'?)\n")
    both = env.run_text("log", "--session", "8")
    assert both.returncode == 0  # one session starts with 8
    assert env.run_text("log", "--session", "zz").stdout == "no decisions\n"


def test_stats_project(env: Env) -> None:
    logged(env)
    data = json.loads(env.run_text("stats", "--project", "/srv/shop", "--json").stdout)
    assert (data["total"], [group["tool"] for group in data["groups"]]) == (1, ["Bash"])
    assert json.loads(env.run_text("stats", "--json").stdout)["total"] == 2


def test_init_adds_a_pack_to_an_existing_config(env: Env) -> None:
    assert env.run("init", "--packs", "focus").returncode == 0
    config = env.root / "policy.yaml"
    before = config.read_text()
    result = env.run_text("init", "--packs", "focus,pacing")
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "added      policy.yaml (packs: pacing)"
    after = config.read_text()
    # one line added, after the focus entry and its commented params; every other byte kept
    assert after.replace("  - name: pacing\n", "", 1) == before
    assert "#   external_session: null\n  - name: pacing\n\n# This project's own rule files" in after
    assert env.run_text("validate").returncode == 0
    assert env.run_text("init", "--packs", "pacing").stdout.splitlines()[0] == \
        "unchanged  policy.yaml (it has pacing already)"
    config.write_text("version: 1\npacks: [focus]\nmax_delay: 30\n")
    env.run("init", "--packs", "presence")
    assert config.read_text() == "version: 1\npacks: [focus, presence]\nmax_delay: 30\n"
    config.write_text("version: 1\nmax_delay: 30")
    env.run("init", "--packs", "activity")
    assert config.read_text() == "version: 1\nmax_delay: 30\npacks:\n  - name: activity\n"
    assert env.run_text("validate").returncode == 0
