"""`facts.usage`: how much of the agent's usage window is used, against how much of the window has passed.

A budget spread evenly over the window has used the elapsed share of it: that is the expected pace
(`expected_pct` = `window_elapsed_pct`), and `excess` = `utilization` - `expected_pct`, in percentage points
(positive: ahead of pace). The newest sample of a window counts (`usage_samples`, written by `policy usage record`,
the `usage_record` effect and sources that feed `usage`). This module also holds those writes.
"""

from __future__ import annotations

from policy.errors import UsageError
from policy.facts import Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Settings
    from policy.store import Store
else:
    from policy.lean import dataclass

# The windows Claude's usage endpoint reports, and their lengths in seconds. `five_hour` is the one rules pace.
WINDOWS = {"five_hour": 18000.0, "seven_day": 604800.0}
DEFAULT_WINDOW = "five_hour"
# Without a source feeding usage, a sample older than this is stale (with one: twice its ttl plus its timeout).
STALE_AFTER = 600.0
# Samples are kept this long (the longest window, with room for `policy usage status` history).
KEEP_SECONDS = 35 * 86400.0


@dataclass(frozen=True, slots=True)
class Reading:
    """One window's usage at a moment. Numbers are percentages (0-100) and epoch seconds; None is unknown.

    `available`: there is a sample of the current window (its `resets_at` has not passed; without a `resets_at`,
    it is younger than the window; for a sample of a source with `max_stale`, younger than its ttl + max_stale).
    `stale`: the value is the last known one, not a current reading: the source
    feeding usage failed on its last attempt, or the sample is older than STALE_AFTER (or twice the source's ttl
    plus its timeout).
    """

    window: str
    available: bool = False
    utilization: float | None = None
    resets_at: float | None = None
    window_seconds: float = WINDOWS[DEFAULT_WINDOW]
    window_elapsed_pct: float | None = None
    expected_pct: float | None = None
    excess: float | None = None
    observed_at: float | None = None
    age: float | None = None
    stale: bool = False
    source: str | None = None


def _feeding_sources(settings: Settings | None) -> list[Any]:
    return [spec for spec in (settings.sources if settings is not None else ()) if spec.feeds == "usage"]


def latest_sample(store: Store, window: str) -> tuple[float, float, float | None, float, str] | None:
    """(observed_at, utilization, resets_at, window_seconds, source) of the newest sample of `window`."""
    row = store.execute(
        "SELECT observed_at, utilization, resets_at, window_seconds, source FROM usage_samples WHERE window = ? "
        "ORDER BY observed_at DESC LIMIT 1", (window,)).fetchone()
    return None if row is None else tuple(row)


def read_usage(store: Store | None, window: str = DEFAULT_WINDOW, *, now: float,
               settings: Settings | None = None) -> Reading:
    """The usage of `window` at `now` (see Reading)."""
    sample = None if store is None else latest_sample(store, window)
    if sample is None:
        return Reading(window, window_seconds=WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW]))
    observed_at, utilization, resets_at, window_seconds, source = sample
    age = max(0.0, now - observed_at)
    available = now < resets_at if resets_at is not None else age < window_seconds
    feeding = _feeding_sources(settings)
    # `max_stale`: the source that took the sample lets it count for its ttl + max_stale, no longer
    kept = [spec.ttl + spec.max_stale for spec in feeding if spec.name == source and spec.max_stale is not None]
    if kept and age > kept[0]:
        available = False
    if not available:
        return Reading(window, window_seconds=window_seconds, resets_at=resets_at, observed_at=observed_at,
                       age=age, source=source)
    elapsed_pct = expected = excess = None
    if resets_at is not None:
        elapsed = window_seconds - (resets_at - now)
        elapsed_pct = round(min(100.0, max(0.0, elapsed * 100.0 / window_seconds)), 3)
        expected = elapsed_pct
        excess = round(utilization - expected, 3)
    stale_after = max((2 * spec.ttl + spec.timeout for spec in feeding), default=STALE_AFTER)
    stale = age > stale_after
    if not stale and feeding and store is not None:
        names = [spec.name for spec in feeding]
        marks = ", ".join("?" for _ in names)
        stale = bool(store.execute(f"SELECT count(*) FROM source_cache WHERE source IN ({marks}) AND failures > 0",
                                   names).fetchone()[0])
    return Reading(window, True, utilization, resets_at, window_seconds, elapsed_pct, expected, excess,
                   observed_at, age, stale, source)


class UsageFacts(Family):
    """Usage of the agent's rate-limit window (the five-hour window unless `window()` names another), from the
    latest sample (`policy usage record`, or a source feeding `usage`). Percentages are 0-100; None is unknown."""

    name = "usage"
    fields = {
        "available": "True when there is a sample of the current window (its reset time has not passed).",
        "utilization": "The share of the window's budget used, in percent.",
        "resets_at": "When the window resets (epoch seconds).",
        "window_seconds": "The window's length in seconds (18000 for five hours).",
        "window_elapsed_pct": "How much of the window has elapsed, in percent.",
        "expected_pct": "The utilization an even pace would have reached by now (= window_elapsed_pct).",
        "excess": "utilization - expected_pct: percentage points ahead of pace (negative: behind).",
        "observed_at": "When the sample was taken (epoch seconds).",
        "age": "Seconds since the sample was taken.",
        "stale": "True when the value is the last known one: its source failed, or the sample is old.",
        "source": "Where the sample came from (a source's name, or `cli`).",
        "window": "`window('seven_day')`: another window's reading, as a mapping with the fields above.",
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.reading = read_usage(context.store, DEFAULT_WINDOW, now=context.now, settings=context.settings)

    def expose(self, name: str) -> Any:
        if name == "window":
            return self.window
        if name not in self.fields:
            return super().expose(name)
        return getattr(self.reading, name)

    def window(self, name: str) -> dict[str, Any]:
        from policy.lean import asdict

        return asdict(read_usage(self.context.store, str(name), now=self.context.now, settings=self.context.settings))


FAMILY = UsageFacts


# ---- writes ---------------------------------------------------------------------------------------------------------

def window_name(value: str) -> str:
    """`five_hour` / `seven_day`, or the length of one of them: `5h`, `7d`. Raises UsageError."""
    from policy.times import parse_duration

    text = str(value).strip()
    if text in WINDOWS:
        return text
    try:
        seconds = parse_duration(text, what="window")
    except UsageError:
        seconds = -1.0
    for name, length in WINDOWS.items():
        if seconds == length:
            return name
    raise UsageError(f"unknown usage window {value!r}", hint="use 5h (five_hour) or 7d (seven_day)")


def parse_utilization(value: Any) -> float:
    """A utilization percentage from a number or text like `42`, `42.5%`. Raises UsageError."""
    import math

    if isinstance(value, bool):
        raise UsageError(f"utilization must be a percentage, not {value!r}", hint="e.g. 42 or 42.5%")
    try:
        number = float(str(value).strip().rstrip("%")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise UsageError(f"utilization {value!r} is not a percentage", hint="e.g. 42 or 42.5%") from None
    if not math.isfinite(number) or number < 0 or number > 1000:
        raise UsageError(f"utilization {value!r} is out of range", hint="a percentage from 0 to 100 (more when "
                                                                        "over the limit)")
    return number


def record_sample(store: Store, *, utilization: float, now: float, resets_at: float | None = None,
                  window: str = DEFAULT_WINDOW, source: str = "cli") -> Reading:
    """Insert a sample (inside the caller's transaction) and return the window's reading with it.

    Without `resets_at`, the sample keeps the reset time of the window it belongs to: the newest sample's, if that
    is still ahead. Samples older than KEEP_SECONDS are pruned now and then.
    """
    seconds = WINDOWS[window]
    if resets_at is None:
        previous = latest_sample(store, window)
        if previous is not None and previous[2] is not None and previous[2] > now:
            resets_at = previous[2]
    cursor = store.execute(
        "INSERT INTO usage_samples(observed_at, window, window_seconds, utilization, resets_at, source) "
        "VALUES (?, ?, ?, ?, ?, ?)", (now, window, seconds, float(utilization), resets_at, source))
    if cursor.lastrowid % 256 == 0:
        for name in WINDOWS:
            store.execute("DELETE FROM usage_samples WHERE window = ? AND observed_at < ?", (name, now - KEEP_SECONDS))
    return read_usage(store, window, now=now)


def check_resets_at(resets_at: float, *, now: float, window: str) -> None:
    """A reset time a person typed must lie ahead, within one window. Raises UsageError."""
    if resets_at <= now:
        raise UsageError("the reset time is not in the future", hint="e.g. --resets-at +3h or an ISO time ahead")
    if resets_at > now + WINDOWS[window] + 60:
        raise UsageError(f"the {window} window resets within {_length(WINDOWS[window])}, not later",
                         hint="check --resets-at (and its time zone)")


def _length(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds / 3600:g} hours"


def parse_usage_response(value: Any) -> list[tuple[str, float, float | None]]:
    """(window, utilization, resets_at) for each window in a usage response. Raises ValueError.

    The shape is Claude's usage endpoint's: `{"five_hour": {"utilization": 42.0, "resets_at": "<ISO 8601>"},
    "seven_day": {...}, ...}` (other keys are ignored; a window may be null). A bare
    `{"utilization": ..., "resets_at": ...}` is the five-hour window.
    """
    from policy.times import parse_iso

    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, not {type(value).__name__}")
    entries = [(DEFAULT_WINDOW, value)] if "utilization" in value else [(name, value.get(name)) for name in WINDOWS]
    windows = []
    for name, entry in entries:
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"{name} must be an object with utilization and resets_at")
        utilization = entry.get("utilization")
        if isinstance(utilization, bool) or not isinstance(utilization, (int, float)):
            raise ValueError(f"{name}.utilization must be a number, not {utilization!r}")
        try:
            parse_utilization(utilization)
        except UsageError as error:
            raise ValueError(f"{name}.{error.message}") from None
        resets = entry.get("resets_at")
        if isinstance(resets, str):
            try:
                resets_at: float | None = parse_iso(resets)[0]
            except UsageError:
                raise ValueError(f"{name}.resets_at {resets!r} is not an ISO 8601 time") from None
        elif resets is None or (isinstance(resets, (int, float)) and not isinstance(resets, bool)):
            resets_at = None if resets is None else float(resets)
        else:
            raise ValueError(f"{name}.resets_at must be an ISO 8601 time, not {resets!r}")
        windows.append((name, float(utilization), resets_at))
    if not windows:
        raise ValueError("no usage window (five_hour, seven_day) in it")
    return windows
