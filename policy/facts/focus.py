"""`facts.focus`: the Pomodoro-style focus session and the break after it (seed 000, the Balance lock), and the
writes of the `focus_sessions` and `breaks` tables, shared by `policy session …`, `policy break …` and the
`session_*` / `break_start` effects.

A session runs from `started_at` for `planned_minutes`. It ends when `policy session end` (or a manual break) ends
it, or, without an explicit end, at its planned end; its break of `break_minutes` runs from its end. Reading the
state costs two indexed queries (the latest session, the longest running break); the day's totals, needed only to
decide whether a new session may start, cost a third.
"""

from __future__ import annotations

from policy.conditions import ExpressionError, duration, mmss
from policy.errors import PolicyError
from policy.facts import Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.facts import FactContext
    from policy.store import Store
else:
    from policy.lean import dataclass

SESSION_TYPES = ("expected", "personal")
DISTRACTIONS = ("none", "some", "many")
# Used when an effect or a caller leaves the lengths out; the focus pack always passes its params.
DEFAULT_SESSION_MINUTES = 25.0
DEFAULT_BREAK_MINUTES = 5.0

# The eval-path reads (tests/test_focus.py checks with EXPLAIN QUERY PLAN that each uses an index).
SESSION_SQL = ("SELECT id, type, intention, started_at, planned_minutes, break_minutes, ended_at, agent_used "
               "FROM focus_sessions WHERE started_at <= ? ORDER BY started_at DESC LIMIT 1")
BREAK_SQL = ("SELECT id, started_at, until, focus_session_id FROM breaks WHERE until > ? AND started_at <= ? "
             "ORDER BY until DESC LIMIT 1")
TODAY_SQL = ("SELECT count(*), total(min(coalesce(ended_at, started_at + planned_minutes * 60), ?) - started_at) "
             "FROM focus_sessions WHERE started_at >= ? AND started_at <= ?")


class FocusRefused(PolicyError):
    """A focus write that the current state does not allow (a start during a break, an end with no session)."""

    code = "refused"

    def __init__(self, message: str, *, reason: str, remaining: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
        self.remaining = remaining


def countdown(until: float, now: float) -> int:
    """Whole seconds left until `until`, rounded up, so a countdown never shows 0:00 while it still runs (first
    rounded to the millisecond: times that went through ISO text are off by float noise)."""
    return max(0, -int(-round(until - now, 3) // 1))  # ceil, without importing math for it


# ---- reading ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FocusState:
    """The focus state at `now`: the latest session that started by then, and the break running then (an explicit
    `breaks` row, or the break after a session that ran out without an explicit end)."""

    now: float
    session: tuple[Any, ...] | None  # a row of SESSION_SQL
    active: bool
    ends_at: float | None  # the planned end of the latest session
    on_break: bool
    break_started_at: float | None
    break_until: float | None

    @property
    def session_id(self) -> int | None:
        return self.session[0] if self.session else None

    @property
    def type(self) -> str | None:
        return self.session[1] if self.session else None

    @property
    def intention(self) -> str | None:
        return self.session[2] if self.session else None

    @property
    def started_at(self) -> float | None:
        return self.session[3] if self.session else None

    @property
    def planned_minutes(self) -> float | None:
        return self.session[4] if self.session else None

    @property
    def break_minutes(self) -> float | None:
        return self.session[5] if self.session else None

    @property
    def used(self) -> bool:
        return bool(self.session[7]) if self.session else False

    @property
    def remaining(self) -> int:
        return countdown(self.ends_at, self.now) if self.active and self.ends_at is not None else 0

    @property
    def elapsed(self) -> int:
        return max(0, int(round(self.now - self.session[3], 3))) if self.active and self.session else 0

    @property
    def break_remaining(self) -> int:
        return countdown(self.break_until, self.now) if self.on_break and self.break_until is not None else 0


def read_state(store: Store | None, now: float) -> FocusState:
    """The focus state at `now` (two indexed queries)."""
    if store is None:
        return FocusState(now, None, False, None, False, None, None)
    # "Still running" is decided by the same rounding as the countdown, so nothing shows 0:00 left while it runs.
    session = store.execute(SESSION_SQL, (now,)).fetchone()
    pause = store.execute(BREAK_SQL, (now, now)).fetchone()
    active = False
    ends_at = None
    break_started, break_until = (pause[1], pause[2]) if pause and countdown(pause[2], now) else (None, None)
    if session is not None:
        ends_at = session[3] + session[4] * 60
        if session[6] is None:
            if countdown(ends_at, now):
                active = True
            else:  # ran out without an explicit end: ended at its planned end, its break runs from there
                until = ends_at + (session[5] or 0) * 60
                if countdown(until, now) and (break_until is None or until > break_until):
                    break_started, break_until = ends_at, until
    return FocusState(now, tuple(session) if session else None, active, ends_at, break_until is not None,
                      break_started, break_until)


def read_today(store: Store | None, now: float, midnight: float) -> tuple[int, int]:
    """(sessions started since `midnight`, whole seconds focused in them up to `now`)."""
    if store is None:
        return 0, 0
    count, focused = store.execute(TODAY_SQL, (now, midnight, now)).fetchone()
    return int(count), int(max(0.0, round(focused or 0.0, 3)))


def parse_clock(value: Any, *, what: str = "evening_cutoff") -> int:
    """Seconds after midnight of a local time of day written `HH:MM`. Raises ValueError with what to fix."""
    text = value.strip() if isinstance(value, str) else None
    if text is None or len(text) != 5 or text[2] != ":" or not text.replace(":", "").isdigit() \
            or int(text[:2]) > 23 or int(text[3:]) > 59:
        raise ValueError(f"{what} must be a local time of day like \"21:00\" (or null), not {value!r}")
    return int(text[:2]) * 3600 + int(text[3:]) * 60


def _limit(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{what} must be a number, 0 or more (or null), not {value!r}")
    return float(value)


def _sessions(count: float) -> str:
    return f"{count:g} session{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a session cannot start now: a code (on_break, session_active, evening_cutoff, max_sessions,
    max_focus_hours), the sentence shown to people, and for a break or a running session the seconds left."""

    reason: str
    message: str
    remaining: int | None = None
    hint: str = ""


def start_refusal(state: FocusState, *, local_time: float, today: Any, evening_cutoff: Any = None,
                  max_sessions: Any = None, max_hours: Any = None) -> Refusal | None:
    """None when a session may start now; otherwise why not. `local_time` is the local seconds after midnight
    (rounded to the millisecond); `today()` returns (sessions today, seconds focused today) and is called only when
    a daily limit is set. Raises ValueError for a limit that is not well formed."""
    cutoff = None if evening_cutoff is None else parse_clock(evening_cutoff)
    most_sessions = _limit(max_sessions, "max_sessions_per_day")
    most_hours = _limit(max_hours, "max_focus_hours_per_day")
    prefix = "Cannot start a focus session: "
    if state.on_break:
        return Refusal("on_break", f"{prefix}a break is running, {mmss(state.break_remaining)} left.",
                       state.break_remaining, "wait for it to end: policy break status")
    if state.active:
        return Refusal("session_active", f"{prefix}one is already running ({state.intention}, "
                                         f"{mmss(state.remaining)} left).", state.remaining,
                       "end it first: policy session end")
    if cutoff is not None and local_time >= cutoff:
        return Refusal("evening_cutoff", f"{prefix}it is past the evening cutoff ({evening_cutoff.strip()}).",
                       hint="the focus pack's evening_cutoff param sets it; sessions start again after midnight")
    if most_sessions is not None or most_hours is not None:
        sessions, focused = today()
        if most_sessions is not None and sessions >= most_sessions:
            return Refusal("max_sessions", f"{prefix}the daily maximum of {_sessions(most_sessions)} is "
                                           f"reached.", hint="the focus pack's max_sessions_per_day param sets it")
        if most_hours is not None and focused >= most_hours * 3600:
            return Refusal("max_focus_hours", f"{prefix}the daily maximum of {duration(most_hours * 3600)} of "
                                              f"focus is reached ({duration(focused)} today).",
                           hint="the focus pack's max_focus_hours_per_day param sets it")
    return None


class FocusFacts(Family):
    """The focus session (a person's Pomodoro-style session, not an agent session) and the break after it."""

    name = "focus"
    fields = {
        "active": "True while a focus session runs.",
        "id": "The running session's id (None when none runs).",
        "type": "The running session's type: `expected` or `personal`.",
        "intention": "What the running session is for.",
        "started_at": "When the running session started (epoch seconds).",
        "ends_at": "When the running session is planned to end (epoch seconds).",
        "remaining": "Seconds left in the running session (0 when none runs).",
        "elapsed": "Seconds since the running session started (0 when none runs).",
        "used": "True once an agent was used during the running session.",
        "on_break": "True while a break runs (after a session, or started by hand).",
        "break_until": "When the running break ends (epoch seconds; None when none runs).",
        "break_remaining": "Seconds left in the running break (0 when none runs).",
        "sessions_today": "Focus sessions started today (local day).",
        "focused_today": "Seconds of focus today (local day), counting the running session so far.",
        "refusal": "`refusal(evening_cutoff, max_sessions_per_day, max_focus_hours_per_day)`: the sentence saying "
                   "why a session cannot start now (a break, a running session, the cutoff, a daily maximum), "
                   "or None when it can.",
    }

    def __init__(self, context: FactContext) -> None:
        super().__init__(context)
        state = read_state(context.store, context.now)
        self.state = state
        self.active = state.active
        self.id = state.session_id if state.active else None
        self.type = state.type if state.active else None
        self.intention = state.intention if state.active else None
        self.started_at = state.started_at if state.active else None
        self.ends_at = state.ends_at if state.active else None
        self.remaining = state.remaining
        self.elapsed = state.elapsed
        self.used = state.used if state.active else False
        self.on_break = state.on_break
        self.break_until = state.break_until
        self.break_remaining = state.break_remaining
        self._today: tuple[int, int] | None = None
        self._refusals: dict[tuple[Any, ...], str | None] = {}

    def expose(self, name: str) -> Any:
        if name == "sessions_today":
            return self.today()[0]
        if name == "focused_today":
            return self.today()[1]
        return super().expose(name)

    def today(self) -> tuple[int, int]:
        if self._today is None:
            self._today = read_today(self.context.store, self.context.now, self.context.local_midnight())
        return self._today

    def refusal(self, evening_cutoff: Any = None, max_sessions_per_day: Any = None,
                max_focus_hours_per_day: Any = None) -> str | None:
        key = (evening_cutoff, max_sessions_per_day, max_focus_hours_per_day)
        if key not in self._refusals:
            context = self.context
            try:
                refusal = start_refusal(self.state, local_time=round(context.now - context.local_midnight(), 3),
                                        today=self.today,
                                        evening_cutoff=evening_cutoff, max_sessions=max_sessions_per_day,
                                        max_hours=max_focus_hours_per_day)
            except ValueError as error:
                raise ExpressionError(str(error)) from None
            self._refusals[key] = None if refusal is None else refusal.message
        return self._refusals[key]


FAMILY = FocusFacts


# ---- writing ------------------------------------------------------------------------------------------------------

def _minutes(value: Any, what: str, default: float, *, positive: bool) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} must be a number of minutes, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be a {'positive' if positive else 'non-negative'} number of minutes, "
                         f"not {value!r}")
    return float(value)


def close_expired(store: Store, now: float) -> None:
    """Give sessions that ran out without an explicit end their end (the planned one) and their break row."""
    open_sessions = store.execute("SELECT id, started_at + planned_minutes * 60, break_minutes FROM focus_sessions "
                                  "WHERE ended_at IS NULL").fetchall()
    for session_id, ended_at, break_minutes in open_sessions:
        if countdown(ended_at, now):
            continue
        store.execute("UPDATE focus_sessions SET ended_at = ?, end_reason = 'expired' WHERE id = ?",
                      (ended_at, session_id))
        if break_minutes:
            store.execute("INSERT INTO breaks(started_at, until, focus_session_id, reason) VALUES (?, ?, ?, ?)",
                          (ended_at, ended_at + break_minutes * 60, session_id, "session"))


def start_session(store: Store, now: float, *, session_type: str, intention: str, minutes: Any = None,
                  break_minutes: Any = None) -> int:
    """Start a focus session now; returns its id. Refuses (FocusRefused) during a break or while one runs; the
    daily limits and the evening cutoff are the caller's to check (start_refusal), since they are pack params."""
    if session_type not in SESSION_TYPES:
        raise ValueError(f"the session type must be expected or personal, not {session_type!r}")
    text = intention.strip() if isinstance(intention, str) else ""
    if not text:
        raise ValueError("a focus session needs an intention (what you will do)")
    planned = _minutes(minutes, "minutes", DEFAULT_SESSION_MINUTES, positive=True)
    pause = _minutes(break_minutes, "break_minutes", DEFAULT_BREAK_MINUTES, positive=False)
    state = read_state(store, now)
    refusal = start_refusal(state, local_time=0, today=lambda: (0, 0))
    if refusal is not None:
        raise FocusRefused(refusal.message, reason=refusal.reason, remaining=refusal.remaining, hint=refusal.hint)
    close_expired(store, now)
    cursor = store.execute(
        "INSERT INTO focus_sessions(type, intention, started_at, planned_minutes, break_minutes, agent_used) "
        "VALUES (?, ?, ?, ?, ?, 0)", (session_type, text, now, planned, pause))
    return int(cursor.lastrowid)


def _open_session(store: Store, now: float) -> tuple[Any, ...] | None:
    """The latest session that has no recorded end (running, or ran out without an explicit end)."""
    session = store.execute(SESSION_SQL, (now,)).fetchone()
    return session if session is not None and session[6] is None else None


@dataclass(frozen=True, slots=True)
class Ended:
    """A session just ended: its id, intention, when it ended, how long it ran, and its break (None for none)."""

    session_id: int
    intention: str | None
    ended_at: float
    focused: float
    ran_out: bool
    break_until: float | None


def _end(store: Store, session: tuple[Any, ...], now: float, reason: str, values: dict[str, Any],
         break_minutes: float | None) -> Ended:
    planned_end = session[3] + session[4] * 60
    ended_at = min(now, planned_end)
    assignments = ", ".join(f"{column} = ?" for column in ("ended_at", "end_reason", *values))
    store.execute(f"UPDATE focus_sessions SET {assignments} WHERE id = ?",
                  (ended_at, reason, *values.values(), session[0]))
    minutes = session[5] if break_minutes is None else break_minutes
    until = None
    if minutes:
        start = ended_at if break_minutes is None else now
        until = start + minutes * 60
        store.execute("INSERT INTO breaks(started_at, until, focus_session_id, reason) VALUES (?, ?, ?, ?)",
                      (start, until, session[0], "session" if break_minutes is None else "manual"))
    return Ended(session[0], session[2], ended_at, ended_at - session[3], not countdown(planned_end, now), until)


def end_session(store: Store, now: float, *, distractions: str | None = None, did_the_thing: bool | None = None,
                rabbit_hole: bool | None = None) -> Ended:
    """End the running session (or record the end of one that ran out) with the seed's reflection, and start its
    break from its end. Raises FocusRefused when there is no session to end."""
    if distractions is not None and distractions not in DISTRACTIONS:
        raise ValueError(f"distractions must be none, some or many, not {distractions!r}")
    session = _open_session(store, now)
    if session is None:
        raise FocusRefused("No focus session to end.", reason="no_session",
                           hint='start one: policy session start --type personal --intention "..."')
    values: dict[str, Any] = {}
    if distractions is not None:
        values["distractions"] = distractions
    if did_the_thing is not None:
        values["did_the_thing"] = int(did_the_thing)
    if rabbit_hole is not None:
        values["rabbit_hole"] = int(rabbit_hole)
    return _end(store, session, now, "ended", values, None)


def start_break(store: Store, now: float, *, minutes: Any) -> tuple[float, Ended | None]:
    """Start a break of `minutes` now; a running session ends with it (end_reason `break`). Returns the break's end
    and the session it ended, if any."""
    length = _minutes(minutes, "minutes", DEFAULT_BREAK_MINUTES, positive=True)
    session = _open_session(store, now)
    if session is not None and countdown(session[3] + session[4] * 60, now):
        ended = _end(store, session, now, "break", {}, length)
        assert ended.break_until is not None
        return ended.break_until, ended
    store.execute("INSERT INTO breaks(started_at, until, focus_session_id, reason) VALUES (?, ?, NULL, 'manual')",
                  (now, now + length * 60))
    return now + length * 60, None


def end_break(store: Store, now: float) -> float | None:
    """End the running break now (`policy break end`); returns when it would have ended, or None when no break
    runs."""
    close_expired(store, now)
    state = read_state(store, now)
    if not state.on_break or state.break_until is None:
        return None
    store.execute("UPDATE breaks SET until = ? WHERE until > ? AND started_at <= ?", (now, now, now))
    return float(state.break_until)


def skip_next_break(store: Store, now: float) -> int | None:
    """No break after the running session (`policy break skip` while one runs); returns its id, or None."""
    session = _open_session(store, now)
    if session is None or not countdown(session[3] + session[4] * 60, now):
        return None
    store.execute("UPDATE focus_sessions SET break_minutes = 0 WHERE id = ?", (session[0],))
    return int(session[0])


HISTORY_SQL = ("SELECT s.id, s.type, s.intention, s.started_at, s.planned_minutes, s.break_minutes, s.ended_at, "
               "s.end_reason, s.distractions, s.did_the_thing, s.rabbit_hole, s.agent_used, "
               "(SELECT max(b.until) - min(b.started_at) FROM breaks b WHERE b.focus_session_id = s.id) AS break_taken "
               "FROM focus_sessions s WHERE s.started_at >= ? ORDER BY s.started_at DESC LIMIT ?")


def history(store: Store, now: float, *, since: float, limit: int) -> list[dict[str, Any]]:
    """Focus sessions started since `since`, newest first: what was planned, how long they ran, how they ended,
    the reflection and the break they got (seconds)."""
    rows = []
    for row in store.rows(HISTORY_SQL, (since, limit)):
        planned_end = row["started_at"] + row["planned_minutes"] * 60
        running = row["ended_at"] is None and bool(countdown(planned_end, now))
        ended = row["ended_at"] if row["ended_at"] is not None else (None if running else planned_end)
        rows.append({**row, "ended_at": ended, "running": running,
                     "end_reason": row["end_reason"] or (None if running else "expired"),
                     "focused": round(min(ended if ended is not None else now, planned_end) - row["started_at"], 3),
                     "did_the_thing": None if row["did_the_thing"] is None else bool(row["did_the_thing"]),
                     "rabbit_hole": None if row["rabbit_hole"] is None else bool(row["rabbit_hole"]),
                     "agent_used": bool(row["agent_used"]),
                     "break_taken": None if row["break_taken"] is None else round(row["break_taken"], 3)})
    return rows


def mark_used(store: Store, now: float) -> int | None:
    """Mark the running session as used by the agent (idempotent: the first use's time is kept). Returns the
    session's id, or None when no session is running."""
    state = read_state(store, now)
    if not state.active or state.session_id is None:
        return None
    store.execute("UPDATE focus_sessions SET agent_used = 1, agent_used_at = ? WHERE id = ? AND agent_used = 0",
                  (now, state.session_id))
    return state.session_id


def state_json(state: FocusState, today: tuple[int, int] | None = None) -> dict[str, Any]:
    """The focus state as the JSON of `policy session status --json` (the same names as `facts.focus`)."""
    active = state.active
    data: dict[str, Any] = {
        "active": active,
        "id": state.session_id if active else None,
        "type": state.type if active else None,
        "intention": state.intention if active else None,
        "started_at": state.started_at if active else None,
        "ends_at": state.ends_at if active else None,
        "planned_minutes": state.planned_minutes if active else None,
        "remaining": state.remaining,
        "elapsed": state.elapsed,
        "used": state.used if active else False,
        "on_break": state.on_break,
        "break_started_at": state.break_started_at,
        "break_until": state.break_until,
        "break_remaining": state.break_remaining,
    }
    if today is not None:
        data["sessions_today"], data["focused_today"] = today
    return data
