"""The focus pack (seed 000): facts.focus and its writes, the focus effects, `policy session|break|status`, and the
end-to-end run a new user would do: real payloads piped into `policy eval --rules rules/focus.yaml` with the clock
moved by --now, and `policy session start|end` run as real processes on the same fact store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import EVENTS, POLICY, ROOT

from policy.commands import session as session_cli
from policy.commands import status as status_cli
from policy.conditions import ExpressionError
from policy.effects import EffectContext, apply_effects
from policy.errors import EvaluationError, Location, UsageError
from policy.facts import FactContext, Facts
from policy.facts import focus
from policy.model import Event, PlannedEffect, Settings
from policy.store import Store
from policy.times import format_duration

FOCUS_RULES = ROOT / "rules" / "focus.yaml"

# 2026-11-20 10:00:00 at UTC+01:00 (09:00 UTC); local midnight is 23:00 UTC the day before.
OFFSET = 3600
T10 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc).timestamp()
MINUTE = 60.0
PARAMS = {"session_minutes": 25, "break_minutes": 5, "evening_cutoff": None, "max_sessions_per_day": None,
          "max_focus_hours_per_day": None}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(str(tmp_path / "facts.db"))
    yield opened
    opened.close()


def rows(store: Store, table: str) -> list[dict]:
    return store.rows(f"SELECT * FROM {table} ORDER BY id")


def facts_at(store: Store, now: float, offset: int = OFFSET) -> focus.FocusFacts:
    event = Event(host="claude-code", name="PreToolUse", agent_session="s1", tool="Edit")
    return Facts(FactContext(store, event, now, Settings(), offset)).family("focus")  # type: ignore[return-value]


def start(store: Store, now: float, intention: str = "fix login", **kwargs: object) -> int:
    with store.transaction():
        return focus.start_session(store, now, session_type=kwargs.pop("session_type", "personal"),  # type: ignore
                                   intention=intention, **kwargs)


# ---- reading ----------------------------------------------------------------------------------------------------

def test_no_rows_means_no_session_and_no_break(store: Store) -> None:
    facts = facts_at(store, T10)
    assert [facts.expose(name) for name in focus.FocusFacts.fields if name != "refusal"] == [
        False, None, None, None, None, None, 0, 0, False, False, None, 0, 0, 0]
    assert facts.refusal() is None


def test_a_running_session_shows_its_fields(store: Store) -> None:
    session_id = start(store, T10, "fix the login bug", minutes=25, break_minutes=5)
    facts = facts_at(store, T10 + 10 * MINUTE + 0.25)
    assert (facts.active, facts.id, facts.type, facts.intention, facts.started_at, facts.ends_at) == (
        True, session_id, "personal", "fix the login bug", T10, T10 + 25 * MINUTE)
    # remaining rounds up (a countdown never shows 0:00 while it runs), elapsed rounds down
    assert (facts.remaining, facts.elapsed, facts.used, facts.on_break) == (900, 600, False, False)
    assert (facts.expose("sessions_today"), facts.expose("focused_today")) == (1, 600)


def test_a_session_is_active_until_its_last_second_then_its_break_runs(store: Store) -> None:
    start(store, T10, minutes=25, break_minutes=5)
    last = facts_at(store, T10 + 25 * MINUTE - 1)
    assert (last.active, last.remaining, last.on_break) == (True, 1, False)
    ran_out = facts_at(store, T10 + 25 * MINUTE)
    assert (ran_out.active, ran_out.on_break, ran_out.break_until, ran_out.break_remaining) == (
        False, True, T10 + 30 * MINUTE, 300)
    assert facts_at(store, T10 + 30 * MINUTE - 1).break_remaining == 1
    over = facts_at(store, T10 + 30 * MINUTE)
    assert (over.active, over.on_break, over.break_until) == (False, False, None)


def test_running_and_its_countdown_agree_within_float_noise(store: Store) -> None:
    # `policy eval --now ISO` turns a stored time into text and back: it can come out a fraction of a microsecond
    # early. A break 0.4 µs from its end is over (not "0:00 left"); 0.6 ms from its end it shows 0:01.
    start(store, T10, minutes=25, break_minutes=5)
    assert start(store, T10 + 30 * MINUTE - 4e-7, "next") == 2
    with store.transaction():
        ended = focus.end_session(store, T10 + 31 * MINUTE)
    assert rows(store, "focus_sessions")[0]["end_reason"] == "expired"
    almost = facts_at(store, ended.break_until - 4e-7)  # type: ignore[operator]
    assert (almost.on_break, almost.break_remaining) == (False, 0)
    last = facts_at(store, ended.break_until - 6e-4)  # type: ignore[operator]
    assert (last.on_break, last.break_remaining) == (True, 1)


def test_the_day_counts_sessions_from_local_midnight_up_to_now(store: Store) -> None:
    for local_start in (-(10 * 3600 + 5 * MINUTE), -(9 * 3600 + 30 * MINUTE)):  # 23:55 the day before, 00:30
        start(store, T10 + local_start, "early", minutes=25)
        with store.transaction():
            focus.end_session(store, T10 + local_start + 25 * MINUTE)
    start(store, T10, "now", minutes=25)
    assert facts_at(store, T10 + 5 * MINUTE).today() == (2, 25 * 60 + 300)
    # at UTC, 00:30 local (23:30 UTC) was the day before
    assert facts_at(store, T10 + 5 * MINUTE, offset=0).today() == (1, 300)


def test_the_eval_path_queries_use_an_index(store: Store) -> None:
    for sql, params in ((focus.SESSION_SQL, (T10,)), (focus.BREAK_SQL, (T10, T10)),
                        (focus.TODAY_SQL, (T10, T10 - 3600, T10))):
        plan = " ".join(row[3] for row in store.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)


# ---- refusing a start -------------------------------------------------------------------------------------------

def refusal_at(store: Store, now: float, **limits: object) -> focus.Refusal | None:
    state = focus.read_state(store, now)
    local = int((now + OFFSET) % 86400)
    return focus.start_refusal(state, local_time=local, today=lambda: focus.read_today(
        store, now, now - (now + OFFSET) % 86400), **limits)  # type: ignore[arg-type]


def test_refusals_in_order_break_running_session_cutoff_and_daily_maxima(store: Store) -> None:
    start(store, T10 - 3 * 3600, "early", minutes=60)
    with store.transaction():
        focus.end_session(store, T10 - 2 * 3600)
    start(store, T10, "fix login", minutes=25)
    assert refusal_at(store, T10 + 60) == focus.Refusal(
        "session_active", "Cannot start a focus session: one is already running (fix login, 24:00 left).", 1440,
        "end it first: policy session end")
    with store.transaction():
        focus.end_session(store, T10 + 60)
    assert refusal_at(store, T10 + 120, evening_cutoff="09:00") == focus.Refusal(
        "on_break", "Cannot start a focus session: a break is running, 4:00 left.", 240,
        "wait for it to end: policy break status")
    after = T10 + 6 * MINUTE
    assert refusal_at(store, after) is None
    assert refusal_at(store, after, evening_cutoff="10:06").reason == "evening_cutoff"  # type: ignore[union-attr]
    assert refusal_at(store, after, evening_cutoff="10:07") is None
    assert refusal_at(store, after, max_sessions=2).message == (  # type: ignore[union-attr]
        "Cannot start a focus session: the daily maximum of 2 sessions is reached.")
    assert refusal_at(store, after, max_sessions=3) is None
    assert refusal_at(store, after, max_hours=1.01).message == (  # type: ignore[union-attr]
        "Cannot start a focus session: the daily maximum of 1h 00m of focus is reached (1h 01m today).")
    assert refusal_at(store, after, max_hours=1.1) is None


@pytest.mark.parametrize(("limits", "message"), [
    ({"evening_cutoff": "9pm"}, "evening_cutoff must be a local time of day like \"21:00\" (or null), not '9pm'"),
    ({"evening_cutoff": "24:00"}, "evening_cutoff must be a local time of day like \"21:00\" (or null), not '24:00'"),
    ({"evening_cutoff": 21}, "evening_cutoff must be a local time of day like \"21:00\" (or null), not 21"),
    ({"max_sessions": "8"}, "max_sessions_per_day must be a number, 0 or more (or null), not '8'"),
    ({"max_hours": True}, "max_focus_hours_per_day must be a number, 0 or more (or null), not True"),
])
def test_bad_limits_are_reported_with_what_to_fix(store: Store, limits: dict, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        refusal_at(store, T10, **limits)
    assert str(raised.value) == message
    facts = facts_at(store, T10)
    with pytest.raises(ExpressionError) as raised_in_rules:
        facts.refusal(limits.get("evening_cutoff"), limits.get("max_sessions"), limits.get("max_hours"))
    assert str(raised_in_rules.value) == message


def test_the_family_memoises_a_refusal_and_reads_the_day_once(store: Store) -> None:
    start(store, T10 - 3 * 3600, "early", minutes=25)
    facts = facts_at(store, T10)
    calls = []
    original = focus.read_today
    try:
        focus.read_today = lambda *args: calls.append(args) or original(*args)  # type: ignore[assignment]
        assert facts.refusal(None, 1, None) == "Cannot start a focus session: the daily maximum of 1 session is reached."
        assert facts.refusal(None, 1, None) is facts.refusal(None, 1, None)
        assert facts.refusal(None, None, 0.4) == (
            "Cannot start a focus session: the daily maximum of 24m 00s of focus is reached (25m 00s today).")
        assert facts.expose("sessions_today") == 1
    finally:
        focus.read_today = original  # type: ignore[assignment]
    assert len(calls) == 1


# ---- writing ----------------------------------------------------------------------------------------------------

def test_start_then_end_records_the_reflection_and_the_break(store: Store) -> None:
    session_id = start(store, T10, "fix the login bug", session_type="expected", minutes=50, break_minutes=10)
    with store.transaction():
        ended = focus.end_session(store, T10 + 20 * MINUTE, distractions="some", did_the_thing=True,
                                  rabbit_hole=False)
    assert ended == focus.Ended(session_id, "fix the login bug", T10 + 20 * MINUTE, 1200.0, False,
                                T10 + 30 * MINUTE)
    assert rows(store, "focus_sessions") == [{
        "id": session_id, "type": "expected", "intention": "fix the login bug", "started_at": T10,
        "planned_minutes": 50.0, "break_minutes": 10.0, "ended_at": T10 + 20 * MINUTE, "end_reason": "ended",
        "distractions": "some", "did_the_thing": 1, "rabbit_hole": 0, "agent_used": 0, "agent_used_at": None}]
    assert rows(store, "breaks") == [{"id": 1, "started_at": T10 + 20 * MINUTE, "until": T10 + 30 * MINUTE,
                                      "focus_session_id": session_id, "reason": "session"}]
    with pytest.raises(focus.FocusRefused) as raised:
        start(store, T10 + 29 * MINUTE)
    assert (raised.value.reason, raised.value.message, raised.value.remaining) == (
        "on_break", "Cannot start a focus session: a break is running, 1:00 left.", 60)


def test_ending_a_session_that_ran_out_records_its_planned_end(store: Store) -> None:
    session_id = start(store, T10, minutes=25, break_minutes=5)
    with store.transaction():
        ended = focus.end_session(store, T10 + 27 * MINUTE, distractions="none")
    assert ended == focus.Ended(session_id, "fix login", T10 + 25 * MINUTE, 1500.0, True, T10 + 30 * MINUTE)
    assert facts_at(store, T10 + 27 * MINUTE).break_remaining == 180


def test_the_next_start_closes_a_session_that_ran_out(store: Store) -> None:
    first = start(store, T10, minutes=25, break_minutes=5)
    second = start(store, T10 + 40 * MINUTE, "next")
    assert [(row["id"], row["ended_at"], row["end_reason"]) for row in rows(store, "focus_sessions")] == [
        (first, T10 + 25 * MINUTE, "expired"), (second, None, None)]
    assert rows(store, "breaks") == [{"id": 1, "started_at": T10 + 25 * MINUTE, "until": T10 + 30 * MINUTE,
                                      "focus_session_id": first, "reason": "session"}]


def test_end_without_a_session_and_a_start_during_one_are_refused(store: Store) -> None:
    with pytest.raises(focus.FocusRefused) as no_session:
        focus.end_session(store, T10)
    assert (no_session.value.reason, no_session.value.message) == ("no_session", "No focus session to end.")
    start(store, T10)
    with pytest.raises(focus.FocusRefused) as running:
        start(store, T10 + 1)
    assert running.value.reason == "session_active"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"session_type": "work"}, "the session type must be expected or personal, not 'work'"),
    ({"intention": "  "}, "a focus session needs an intention (what you will do)"),
    ({"minutes": 0}, "minutes must be a positive number of minutes, not 0"),
    ({"minutes": "soon"}, "minutes must be a number of minutes, not 'soon'"),
    ({"break_minutes": -1}, "break_minutes must be a non-negative number of minutes, not -1"),
])
def test_start_rejects_bad_values(store: Store, kwargs: dict, message: str) -> None:
    values = {"session_type": "personal", "intention": "x", **kwargs}
    with pytest.raises(ValueError) as raised:
        focus.start_session(store, T10, **values)
    assert str(raised.value) == message
    assert rows(store, "focus_sessions") == []


def test_mark_used_is_idempotent_and_keeps_the_first_use(store: Store) -> None:
    assert focus.mark_used(store, T10) is None
    session_id = start(store, T10)
    assert focus.mark_used(store, T10 + 60) == session_id
    assert focus.mark_used(store, T10 + 120) == session_id
    assert [(row["agent_used"], row["agent_used_at"]) for row in rows(store, "focus_sessions")] == [(1, T10 + 60)]
    assert facts_at(store, T10 + 180).used is True
    assert focus.mark_used(store, T10 + 25 * MINUTE) is None  # ran out


def test_a_manual_break_ends_the_running_session(store: Store) -> None:
    session_id = start(store, T10, minutes=25, break_minutes=5)
    with store.transaction():
        until, ended = focus.start_break(store, T10 + 10 * MINUTE, minutes=15)
    assert until == T10 + 25 * MINUTE
    assert ended is not None and (ended.session_id, ended.focused) == (session_id, 600.0)
    assert [(row["ended_at"], row["end_reason"]) for row in rows(store, "focus_sessions")] == [
        (T10 + 10 * MINUTE, "break")]
    assert rows(store, "breaks")[0]["reason"] == "manual"
    facts = facts_at(store, T10 + 24 * MINUTE)
    assert (facts.active, facts.on_break, facts.break_remaining) == (False, True, 60)
    with store.transaction():
        assert focus.start_break(store, T10 + 60 * MINUTE, minutes=2) == (T10 + 62 * MINUTE, None)


# ---- effects ----------------------------------------------------------------------------------------------------

def apply(store: Store, now: float, kind: str, args: dict) -> list[dict]:
    effect = PlannedEffect("focus", "r", kind, "policy.effects.focus", args, Location("rules/focus.yaml", 1, 1),
                           trusted=True)
    event = Event(host="claude-code", name="UserPromptSubmit", agent_session="s1")
    with store.transaction():
        return apply_effects((effect,), EffectContext(store, event, now, Settings()))


def test_the_effects_write_what_the_cli_writes(store: Store) -> None:
    assert apply(store, T10, "session_start", {"type": "expected", "intention": "ship it", "minutes": 30,
                                               "break_minutes": 10}) == [
        {"rule": "focus/r", "effect": "session_start", "result": "started focus session 1"}]
    assert apply(store, T10 + 1, "session_mark_used", {})[0]["result"] == "marked focus session 1 as used"
    assert apply(store, T10 + 2, "session_mark_used", {})[0]["result"] == "marked focus session 1 as used"
    assert apply(store, T10 + 600, "session_end", {"distractions": "many", "did_the_thing": "false",
                                                   "rabbit_hole": True})[0]["result"] == "ended focus session 1"
    assert apply(store, T10 + 601, "session_mark_used", {})[0]["result"] == "no focus session running"
    assert apply(store, T10 + 7200, "break_start", {"minutes": 1.5})[0]["result"] == (
        "started a break of 1.5 minutes")
    session = rows(store, "focus_sessions")[0]
    assert (session["planned_minutes"], session["break_minutes"], session["agent_used_at"], session["distractions"],
            session["did_the_thing"], session["rabbit_hole"]) == (30.0, 10.0, T10 + 1, "many", 0, 1)
    assert [(row["started_at"], row["until"], row["reason"]) for row in rows(store, "breaks")] == [
        (T10 + 600, T10 + 1200, "session"), (T10 + 7200, T10 + 7290, "manual")]


def test_session_start_takes_the_default_lengths(store: Store) -> None:
    apply(store, T10, "session_start", {"type": "personal", "intention": "x"})
    assert [(row["planned_minutes"], row["break_minutes"]) for row in rows(store, "focus_sessions")] == [(25.0, 5.0)]


def test_a_refused_effect_fails_the_evaluation_with_the_reason(store: Store) -> None:
    apply(store, T10, "session_start", {"type": "personal", "intention": "x"})
    with pytest.raises(EvaluationError) as raised:
        apply(store, T10 + 60, "session_start", {"type": "personal", "intention": "y"})
    assert raised.value.message == ("effect session_start of rule focus/r failed: Cannot start a focus session: "
                                    "one is already running (x, 24:00 left).")
    with pytest.raises(EvaluationError) as bad_flag:
        apply(store, T10 + 60, "session_end", {"did_the_thing": "maybe"})
    assert bad_flag.value.message == ("effect session_end of rule focus/r failed: did_the_thing must be true or "
                                      "false, not 'maybe'")
    assert len(rows(store, "focus_sessions")) == 1


def test_effect_arguments_are_checked_at_compile_time(tmp_path: Path) -> None:
    rule_file = tmp_path / "mine.yaml"
    rule_file.write_text(
        "version: 1\npack: mine\nrules:\n"
        "  - id: start\n    events: UserPromptSubmit\n    do: [{session_start: {type: work, intention: x}}]\n"
        "  - id: end\n    events: UserPromptSubmit\n    do: [{session_end: {distractions: lots}}]\n"
        "  - id: pause\n    events: UserPromptSubmit\n    do: [{break_start: {minutes: 0}}]\n"
        "  - id: mark\n    events: UserPromptSubmit\n    do: [{session_mark_used: {session: 1}}]\n",
        encoding="utf-8")
    result = run_policy(tmp_path, "validate", str(rule_file))
    assert (result.returncode, result.stdout.decode().splitlines()) == (1, [
        f"{rule_file}:6:10: bad-effect: session_start type must be expected or personal, not 'work'",
        "    hint: expected one of: expected, personal",
        f"{rule_file}:9:10: bad-effect: session_end distractions must be none, some or many, not 'lots'",
        "    hint: expected one of: many, none, some",
        f"{rule_file}:12:34: schema: rules[2].do[0].break_start.minutes: 0 is less than or equal to the minimum "
        "of 0",
        f"{rule_file}:15:31: unknown-key: unknown key 'session' in rules[3].do[0].session_mark_used",
        "4 errors, 0 warnings in 1 file",
    ])


# ---- the CLI, in process (exact output with a fixed clock) --------------------------------------------------------

def test_session_start_prints_the_session_and_its_end(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code = session_cli.session_start(store, T10, session_type="personal", intention=" fix the login bug ",
                                     params=PARAMS, utc_offset=OFFSET)
    assert (code, capsys.readouterr()) == (0, ("Focus session started: fix the login bug — 25:00, until 10:25.\n",
                                               ""))


@pytest.mark.parametrize(("setup", "params", "now", "stderr"), [
    ("session", PARAMS, T10 + 60, "Cannot start a focus session: one is already running (fix login, 24:00 left).\n"
                                  "    hint: end it first: policy session end\n"),
    ("break", PARAMS, T10 + 30 * MINUTE - 75, "Cannot start a focus session: a break is running, 1:15 left.\n"
                                              "    hint: wait for it to end: policy break status\n"),
    (None, {**PARAMS, "evening_cutoff": "10:00"}, T10,
     "Cannot start a focus session: it is past the evening cutoff (10:00).\n"
     "    hint: the focus pack's evening_cutoff param sets it; sessions start again after midnight\n"),
    ("break", {**PARAMS, "max_sessions_per_day": 1}, T10 + 2 * 3600,
     "Cannot start a focus session: the daily maximum of 1 session is reached.\n"
     "    hint: the focus pack's max_sessions_per_day param sets it\n"),
    ("break", {**PARAMS, "max_focus_hours_per_day": 0.25}, T10 + 2 * 3600,
     "Cannot start a focus session: the daily maximum of 15m 00s of focus is reached (25m 00s today).\n"
     "    hint: the focus pack's max_focus_hours_per_day param sets it\n"),
])
def test_session_start_refusals_exit_1_with_the_reason(store: Store, capsys: pytest.CaptureFixture[str],
                                                        setup: str | None, params: dict, now: float,
                                                        stderr: str) -> None:
    if setup:
        start(store, T10, minutes=25, break_minutes=5)
    code = session_cli.session_start(store, now, session_type="expected", intention="more", params=params,
                                     utc_offset=OFFSET)
    assert (code, capsys.readouterr()) == (1, ("", stderr))
    assert len(rows(store, "focus_sessions")) == (1 if setup else 0)


def test_session_start_json_says_why_it_was_refused(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    start(store, T10)
    with store.transaction():
        focus.end_session(store, T10 + 60)
    assert session_cli.session_start(store, T10 + 120, session_type="personal", intention="x", params=PARAMS,
                                     as_json=True) == 1
    assert json.loads(capsys.readouterr().out) == {
        "started": False, "reason": "on_break", "remaining": 240,
        "message": "Cannot start a focus session: a break is running, 4:00 left."}
    assert session_cli.session_start(store, T10 + 360, session_type="personal", intention="x", params=PARAMS,
                                     as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == {
        "started": True, "active": True, "id": 2, "type": "personal", "intention": "x", "started_at": T10 + 360,
        "ends_at": T10 + 360 + 1500, "planned_minutes": 25.0, "remaining": 1500, "elapsed": 0, "used": False,
        "on_break": False, "break_started_at": None, "break_until": None, "break_remaining": 0}


def test_session_start_usage_errors(store: Store) -> None:
    with pytest.raises(UsageError) as bad_type:
        session_cli.session_start(store, T10, session_type="work", intention="x", params=PARAMS)
    assert (bad_type.value.message, bad_type.value.hint) == (
        "--type must be expected or personal, not 'work'", session_cli.START_EXAMPLE)
    with pytest.raises(UsageError) as empty:
        session_cli.session_start(store, T10, session_type="personal", intention=" ", params=PARAMS)
    assert empty.value.message == "--intention is empty: say what you will do in this session"
    with pytest.raises(UsageError) as bad_param:
        session_cli.session_start(store, T10, session_type="personal", intention="x",
                                  params={**PARAMS, "evening_cutoff": "9pm"})
    assert bad_param.value.message == ("the focus pack's params are wrong: evening_cutoff must be a local time of "
                                       "day like \"21:00\" (or null), not '9pm'")


def test_session_end_prints_what_was_focused_and_the_break(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    start(store, T10, "fix the login bug", minutes=25, break_minutes=5)
    code = session_cli.session_end(store, T10 + 18 * MINUTE + 20, distractions="some", did_the_thing=True,
                                   rabbit_hole=False, utc_offset=OFFSET)
    assert (code, capsys.readouterr().out) == (0, (
        "Focus session ended: fix the login bug — 18:20 focused.\n"
        "Break until 10:23 (5:00 left): the agent is locked until then.\n"))
    start(store, T10 + 3600, "ran out", minutes=25, break_minutes=5)
    session_cli.session_end(store, T10 + 3600 + 28 * MINUTE, utc_offset=OFFSET)
    assert capsys.readouterr().out == (
        "Focus session ended: ran out — 25:00 focused (it ran out at 11:25).\n"
        "Break until 11:30 (2:00 left): the agent is locked until then.\n")
    start(store, T10 + 2 * 3600, "late", minutes=25, break_minutes=5)
    session_cli.session_end(store, T10 + 3 * 3600, utc_offset=OFFSET)
    assert capsys.readouterr().out == ("Focus session ended: late — 25:00 focused (it ran out at 12:25).\n"
                                       "Its break is already over (it ended at 12:30).\n")
    start(store, T10 + 4 * 3600, "no break", minutes=60, break_minutes=0)
    session_cli.session_end(store, T10 + 5 * 3600, utc_offset=OFFSET)
    assert capsys.readouterr().out == ("Focus session ended: no break — 1h 00m focused (it ran out at 15:00).\n"
                                       "No break (the focus pack's break_minutes is 0).\n")


def test_session_end_without_a_session_exits_1(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert session_cli.session_end(store, T10) == 1
    assert capsys.readouterr() == ("", "No focus session to end.\n"
                                       "    hint: start one: policy session start --type personal --intention \"...\"\n")
    assert session_cli.session_end(store, T10, as_json=True) == 1
    assert json.loads(capsys.readouterr().out) == {"ended": False, "reason": "no_session",
                                                    "message": "No focus session to end."}


def test_session_status_and_break_status(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    params = {**PARAMS, "max_sessions_per_day": 8, "max_focus_hours_per_day": 4, "evening_cutoff": "21:00"}
    session_cli.session_status(store, T10, params=PARAMS, utc_offset=OFFSET)
    assert capsys.readouterr().out == (
        'Focus   none (start one: policy session start --type personal --intention "fix the login bug")\n'
        "Break   none\n"
        "Today   0 sessions, 0:00 focused\n")
    start(store, T10, "fix the login bug", minutes=25)
    focus.mark_used(store, T10 + 60)
    session_cli.session_status(store, T10 + 10 * MINUTE, params=params, utc_offset=OFFSET)
    assert capsys.readouterr().out == (
        "Focus   fix the login bug (personal, session 1), agent used\n"
        "        ████████░░░░░░░░░░░░  10:00 / 25:00, 15:00 left (until 10:25)\n"
        "Break   none\n"
        "Today   1/8 sessions, 10:00/4h 00m focused, new sessions until 21:00\n")
    session_cli.break_status(store, T10 + 10 * MINUTE, utc_offset=OFFSET)
    assert capsys.readouterr().out == "No break running.\n"
    session_cli.session_status(store, T10 + 27 * MINUTE, params=PARAMS, utc_offset=OFFSET)
    assert capsys.readouterr().out == ("Focus   none\n"
                                       "Break   3:00 left (until 10:30)\n"
                                       "Today   1 session, 25:00 focused\n")
    session_cli.break_status(store, T10 + 27 * MINUTE, utc_offset=OFFSET)
    assert capsys.readouterr().out == "Break in progress: 3:00 left (until 10:30).\n"
    session_cli.break_status(store, T10 + 27 * MINUTE, as_json=True)
    assert json.loads(capsys.readouterr().out) == {"on_break": True, "break_started_at": T10 + 25 * MINUTE,
                                                   "break_until": T10 + 30 * MINUTE, "break_remaining": 180}
    session_cli.session_status(store, T10 + 27 * MINUTE, params=PARAMS, as_json=True, utc_offset=OFFSET)
    assert json.loads(capsys.readouterr().out) == {
        "active": False, "id": None, "type": None, "intention": None, "started_at": None, "ends_at": None,
        "planned_minutes": None, "remaining": 0, "elapsed": 0, "used": False, "on_break": True,
        "break_started_at": T10 + 25 * MINUTE, "break_until": T10 + 30 * MINUTE, "break_remaining": 180,
        "sessions_today": 1, "focused_today": 1500}


def test_break_start_ends_a_running_session(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    start(store, T10, "fix the login bug")
    assert session_cli.break_start(store, T10 + 12 * MINUTE, minutes=15, utc_offset=OFFSET) == 0
    assert capsys.readouterr().out == ("Focus session ended: fix the login bug — 12:00 focused.\n"
                                       "Break until 10:27 (15:00 left): the agent is locked until then.\n")
    assert session_cli.break_start(store, T10 + 3600, minutes=10, as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == {"break_started_at": T10 + 3600, "break_until": T10 + 4200,
                                                   "break_remaining": 600, "ended_session": None}
    with pytest.raises(UsageError) as raised:
        session_cli.break_start(store, T10, minutes=0)
    assert raised.value.message == "--minutes must be more than 0, not 0"


def test_policy_status_collects_sections_focus_first(store: Store, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_cli._shared, "pack_params", lambda name: dict(PARAMS))
    monkeypatch.setattr(status_cli, "section_providers", lambda: [
        ("session", session_cli.status_section),
        ("silent", lambda store, now, offset: None),
        ("zz_extra", lambda store, now, offset: ("Extra   hello", {"extra": {"ok": True}}))])
    start(store, T10, "fix the login bug", minutes=25)
    assert status_cli.show_status(store, T10 + 5 * MINUTE, utc_offset=OFFSET) == 0
    assert capsys.readouterr().out == (
        "Focus   fix the login bug (personal, session 1)\n"
        "        ████░░░░░░░░░░░░░░░░  5:00 / 25:00, 20:00 left (until 10:25)\n"
        "Break   none\n"
        "Today   1 session, 5:00 focused\n"
        "\n"
        "Extra   hello\n")
    status_cli.show_status(store, T10 + 5 * MINUTE, utc_offset=OFFSET, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["at", "focus", "extra"]
    assert (data["at"], data["focus"]["remaining"], data["extra"]) == (T10 + 300, 1200, {"ok": True})


def test_section_providers_find_the_focus_section_first() -> None:
    providers = status_cli.section_providers()
    assert providers[0] == ("session", session_cli.status_section)
    names = [name for name, _ in providers]
    known = [name for name in status_cli.SECTION_ORDER if name in names]
    assert names[:len(known)] == known
    assert names[len(known):] == sorted(names[len(known):])


# ---- the CLI and policy eval as real processes --------------------------------------------------------------------

def isolated_env(root: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC",
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(root / "home"), "XDG_STATE_HOME": str(root / "state"),
           "XDG_CACHE_HOME": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "config")}
    for name in ("home", "state", "cache", "config", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return env


def run_policy(root: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(POLICY), *args], input=stdin, capture_output=True, env=isolated_env(root),
                          cwd=str(root / "work"), timeout=60)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()


def clock(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M")


def db_rows(root: Path, sql: str) -> list[dict]:
    connection = sqlite3.connect(str(root / "state" / "policy" / "facts.db"))
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql)]
    finally:
        connection.close()


NO_SESSION = ('No active focus session. Start one in a terminal: policy session start --type personal --intention '
              '"..." (or --type expected), or send the prompt: !focus personal <what you will do>')


def pre_tool_use_deny(reason: str) -> dict:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": reason}}


def test_end_to_end_a_new_user_locks_the_agent_to_focus_sessions(tmp_path: Path) -> None:
    edit = (EVENTS / "PreToolUse-Edit.json").read_bytes()
    prompt = (EVENTS / "UserPromptSubmit.json").read_bytes()
    focus_prompt = (EVENTS / "UserPromptSubmit-focus.json").read_bytes()

    def evaluate(payload: bytes, at: float) -> tuple[int, dict | None, str]:
        result = run_policy(tmp_path, "eval", "--rules", str(FOCUS_RULES), "--now", iso(at), stdin=payload)
        out = result.stdout.decode()
        return result.returncode, json.loads(out) if out else None, result.stderr.decode()

    import time

    before = round(time.time())
    assert evaluate(edit, before) == (0, pre_tool_use_deny(NO_SESSION), "")
    assert evaluate(prompt, before) == (0, {"decision": "block", "reason": NO_SESSION}, "")

    started = run_policy(tmp_path, "session", "start", "--type", "personal", "--intention", "fix the login bug")
    [session] = db_rows(tmp_path, "SELECT * FROM focus_sessions")
    assert (started.returncode, started.stdout.decode(), started.stderr.decode()) == (
        0, f"Focus session started: fix the login bug — 25:00, until {clock(session['started_at'] + 1500)}.\n", "")
    start_at = session["started_at"]
    assert evaluate(edit, start_at + 60) == (0, None, "")
    assert evaluate(prompt, start_at + 61) == (0, None, "")

    ended = run_policy(tmp_path, "session", "end", "--distractions", "none", "--did-the-thing", "--no-rabbit-hole")
    [session] = db_rows(tmp_path, "SELECT * FROM focus_sessions")
    [pause] = db_rows(tmp_path, "SELECT * FROM breaks")
    end_at = session["ended_at"]
    focused = end_at - start_at
    assert (ended.returncode, ended.stdout.decode(), ended.stderr.decode()) == (0, (
        f"Focus session ended: fix the login bug — {format_duration(focused)} focused.\n"
        f"Break until {clock(end_at + 300)} (5:00 left): the agent is locked until then.\n"), "")
    assert {key: session[key] for key in ("type", "intention", "planned_minutes", "break_minutes", "end_reason",
                                          "distractions", "did_the_thing", "rabbit_hole", "agent_used")} == {
        "type": "personal", "intention": "fix the login bug", "planned_minutes": 25.0, "break_minutes": 5.0,
        "end_reason": "ended", "distractions": "none", "did_the_thing": 1, "rabbit_hole": 0, "agent_used": 1}
    assert round(session["agent_used_at"], 3) == round(start_at + 60, 3)
    assert (pause["started_at"], pause["until"], pause["reason"]) == (end_at, end_at + 300, "session")

    assert evaluate(edit, end_at + 60) == (0, pre_tool_use_deny("Break in progress: 4:00 left."), "")
    assert evaluate(prompt, end_at + 61) == (0, {"decision": "block", "reason": "Break in progress: 3:59 left."}, "")
    assert evaluate(edit, end_at + 299) == (0, pre_tool_use_deny("Break in progress: 0:01 left."), "")
    # The break is over: no verdict about it any more; without a new session the agent stays locked.
    assert evaluate(edit, end_at + 300) == (0, pre_tool_use_deny(NO_SESSION), "")
    # `!focus` starts a session and lets the prompt through, telling the model what the command was.
    assert evaluate(focus_prompt, end_at + 301) == (0, {
        "systemMessage": "Focus session started: fix the login bug — 25:00",
        "hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": (
            'The user started a personal focus session of 25:00 with the `!focus` command that begins this prompt; '
            'its intention: "fix the login bug". The command is not part of the request: work on the intention and '
            "on anything the prompt says after it.")}}, "")
    assert evaluate(edit, end_at + 302) == (0, None, "")

    decisions = db_rows(tmp_path, "SELECT at, event, verdict, rule_ids, reason FROM decisions ORDER BY id")
    assert [(row["event"], row["verdict"], json.loads(row["rule_ids"])) for row in decisions] == [
        ("PreToolUse", "deny", ["focus/require-session"]),
        ("UserPromptSubmit", "deny", ["focus/require-session"]),
        ("PreToolUse", None, ["focus/mark-used"]),
        ("UserPromptSubmit", None, ["focus/mark-used"]),
        ("PreToolUse", "deny", ["focus/block-on-break"]),
        ("UserPromptSubmit", "deny", ["focus/block-on-break"]),
        ("PreToolUse", "deny", ["focus/block-on-break"]),
        ("PreToolUse", "deny", ["focus/require-session"]),
        ("UserPromptSubmit", None, ["focus/focus-prompt-start"]),
        ("PreToolUse", None, ["focus/mark-used"]),
    ]
    assert [round(row["at"], 3) for row in decisions][2:] == [round(at, 3) for at in (
        start_at + 60, start_at + 61, end_at + 60, end_at + 61, end_at + 299, end_at + 300, end_at + 301,
        end_at + 302)]
    [second] = db_rows(tmp_path, "SELECT intention, started_at, agent_used FROM focus_sessions WHERE id = 2")
    assert (second["intention"], round(second["started_at"], 3), second["agent_used"]) == (
        "fix the login bug", round(end_at + 301, 3), 1)


def test_cli_exit_codes_and_messages_as_processes(tmp_path: Path) -> None:
    first = run_policy(tmp_path, "session", "start", "--type", "expected", "--intention", "write the docs")
    assert first.returncode == 0
    again = run_policy(tmp_path, "session", "start", "--type", "expected", "--intention", "something else")
    assert again.returncode == 1
    assert again.stdout == b""
    assert again.stderr.decode().startswith("Cannot start a focus session: one is already running (write the "
                                            "docs, ")
    bad_type = run_policy(tmp_path, "session", "start", "--type", "work", "--intention", "x")
    assert (bad_type.returncode, bad_type.stderr.decode()) == (
        2, "policy: usage: --type must be expected or personal, not 'work' "
           f"({session_cli.START_EXAMPLE})\n")
    missing = run_policy(tmp_path, "session", "start", "--type", "personal")
    assert missing.returncode == 2
    assert missing.stderr.decode() == ("Usage: policy session start [OPTIONS]\n"
                                       "Try 'policy session start -h' for help.\n\n"
                                       "Error: Missing option '--intention'.\n")
    bad_distractions = run_policy(tmp_path, "session", "end", "--distractions", "lots")
    assert (bad_distractions.returncode, bad_distractions.stderr.decode()) == (
        2, "policy: usage: --distractions must be none, some or many, not 'lots' "
           "(policy session end --distractions some --did-the-thing)\n")
    assert run_policy(tmp_path, "session", "end", "--not").returncode == 0
    assert db_rows(tmp_path, "SELECT did_the_thing, distractions, rabbit_hole FROM focus_sessions") == [
        {"did_the_thing": 0, "distractions": None, "rabbit_hole": None}]
    no_session = run_policy(tmp_path, "session", "end")
    assert (no_session.returncode, no_session.stderr.decode()) == (1, (
        "No focus session to end.\n"
        "    hint: start one: policy session start --type personal --intention \"...\"\n"))
    status = run_policy(tmp_path, "break", "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["on_break"] is True
    assert run_policy(tmp_path, "status").returncode == 0


def test_config_params_reach_the_cli_and_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "config" / "policy" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("version: 1\npacks:\n  - name: focus\n    params: {session_minutes: 50, break_minutes: 10}\n",
                      encoding="utf-8")
    started = run_policy(tmp_path, "session", "start", "--type", "expected", "--intention", "deep work")
    [session] = db_rows(tmp_path, "SELECT started_at, planned_minutes, break_minutes FROM focus_sessions")
    assert started.stdout.decode() == (f"Focus session started: deep work — 50:00, until "
                                       f"{clock(session['started_at'] + 3000)}.\n")
    assert (session["planned_minutes"], session["break_minutes"]) == (50.0, 10.0)
    # `policy eval` without --rules runs the configured packs
    result = run_policy(tmp_path, "eval", "--now", iso(session["started_at"] + 3001),
                        stdin=(EVENTS / "PreToolUse-Edit.json").read_bytes())
    assert json.loads(result.stdout) == pre_tool_use_deny("Break in progress: 9:59 left.")


def test_the_shipped_pack_passes_its_scenario_tests_at_full_coverage(tmp_path: Path) -> None:
    result = run_policy(tmp_path, "test", str(ROOT / "rules" / "focus.test.yaml"), "--min-coverage", "100")
    assert result.returncode == 0, result.stdout.decode()
    assert "focus        100.0%" in result.stdout.decode()


def test_cli_says_when_a_broken_config_leaves_it_the_shipped_params(tmp_path: Path) -> None:
    def start(root: Path, config: str) -> subprocess.CompletedProcess[bytes]:
        path = root / "config" / "policy" / "config.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(config, encoding="utf-8")
        return run_policy(root, "session", "start", "--type", "personal", "--intention", "write the docs")

    configured = start(tmp_path / "a", "version: 1\npacks:\n  - name: focus\n    params: {session_minutes: 50}\n")
    assert (configured.returncode, configured.stderr) == (0, b"")
    assert db_rows(tmp_path / "a", "SELECT planned_minutes FROM focus_sessions") == [{"planned_minutes": 50.0}]

    broken = start(tmp_path / "b", "version: 1\npacks:\n  - name: focus\n    params: {session_minutes: 50}\n"
                                   "  - focsu\n")
    assert broken.returncode == 0
    assert broken.stderr.decode() == (
        f"policy: warning: {tmp_path / 'b' / 'config' / 'policy' / 'config.yaml'}:5:5: unknown-pack: there is no "
        "shipped pack 'focsu' (did you mean 'focus'?)\n"
        "    using the focus pack's shipped params; `policy validate` shows what to fix\n")
    assert db_rows(tmp_path / "b", "SELECT planned_minutes FROM focus_sessions") == [{"planned_minutes": 25.0}]


def test_end_to_end_an_external_focus_servers_session_through_a_source_expires_with_max_stale(tmp_path: Path) -> None:
    """A `command` source bridges an external focus server (seed 000's Balance API) into kv `balance.*`; the pack's
    `external_session` reads it. When the bridge fails, its last value stays `ttl + max_stale`, then the agent is
    locked again: the rule fails closed instead of trusting a dead bridge's value forever."""
    import sys

    down = tmp_path / "server-down"
    bridge = tmp_path / "balance_bridge.py"
    bridge.write_text(
        "import json, os, sys\n"
        f"if os.path.exists({str(down)!r}):\n"
        "    sys.exit('connection refused')\n"
        "print(json.dumps({'active': True, 'intention': 'fix the login bug'}))\n", encoding="utf-8")
    config = tmp_path / "config" / "policy" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "version: 1\n"
        "packs: [{name: focus, params: {external_session: balance.active}}]\n"
        "sources:\n"
        f"  balance: {{kind: command, argv: [{sys.executable}, {bridge}], feeds: 'kv:balance', ttl: 30,\n"
        "            max_stale: 90}\n", encoding="utf-8")
    edit = (EVENTS / "PreToolUse-Edit.json").read_bytes()
    t0 = 1767607200.0  # 2026-01-05T10:00:00Z

    def evaluate(at: float) -> tuple[int, dict | None]:
        result = run_policy(tmp_path, "eval", "--now", iso(at), stdin=edit)
        assert result.stderr == b""
        out = result.stdout.decode()
        return result.returncode, json.loads(out) if out else None

    assert evaluate(t0) == (0, None)
    down.write_text("")
    assert evaluate(t0 + 60) == (0, None)  # the bridge failed: its last value is stale, and kept
    assert db_rows(tmp_path, "SELECT key, value, expires_at FROM kv ORDER BY key") == [
        {"key": "balance.active", "value": "true", "expires_at": t0 + 120},
        {"key": "balance.intention", "value": '"fix the login bug"', "expires_at": t0 + 120},
        {"key": "balance.stale", "value": "true", "expires_at": None}]
    assert evaluate(t0 + 119) == (0, None)
    assert evaluate(t0 + 121) == (0, pre_tool_use_deny(NO_SESSION))
    down.unlink()
    assert evaluate(t0 + 430) == (0, None)  # past the breaker (opened at +121 for at most 300 s): it answers again
