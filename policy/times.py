"""Times and durations as people write them: `90`, `30s`, `5m`, `1h30m`, `2d`; ISO 8601 times; `HH:MM` on the day
of a reference time; `+5m` / `-25m` relative to it. Stored times are UNIX epoch seconds."""

from __future__ import annotations

from policy.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Seconds from a number or text like `45`, `30s`, `5m`, `1h30m`, `2d`. Raises UsageError."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a duration, not {value!r}", hint="e.g. 90, 30s, 5m, 1h30m")
    if isinstance(value, (int, float)):
        if value < 0:
            raise UsageError(f"{what} cannot be negative", hint="e.g. 90, 30s, 5m, 1h30m")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if not text:
        raise UsageError(f"{what} is empty", hint="e.g. 90, 30s, 5m, 1h30m")
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            try:
                total += float(number) * _UNITS[char]
            except ValueError:
                break
            number = ""
        else:
            raise UsageError(f"{what} {value!r} is not a duration", hint="e.g. 90, 30s, 5m, 1h30m, 2d")
    if number:
        try:
            total += float(number)
        except ValueError:
            raise UsageError(f"{what} {value!r} is not a duration", hint="e.g. 90, 30s, 5m, 1h30m") from None
    return total


def parse_iso(text: str, *, what: str = "") -> tuple[float, int | None]:
    """An ISO 8601 time as (epoch seconds, UTC offset in seconds or None for local time). Raises UsageError naming
    `what` (e.g. the flag) when the text is not one."""
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what + ' ' if what else ''}{text!r} is not an ISO 8601 time",
                         hint="e.g. 2026-11-20T10:00:00+01:00") from None
    offset = moment.utcoffset()
    return moment.timestamp(), None if offset is None else int(offset.total_seconds())


def parse_time(value: object, *, now: float, utc_offset: int | None = None, what: str = "time") -> float:
    """Epoch seconds from: a number (epoch), ISO 8601, `HH:MM[:SS]` (that day, local to `now`), `+5m`/`-25m`."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a time, not {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text[:1] in "+-" and len(text) > 1:
        seconds = parse_duration(text[1:], what=what)
        return now + seconds if text[0] == "+" else now - seconds
    if len(text) in (5, 8) and text[2] == ":" and text.replace(":", "").isdigit():
        parts = [int(part) for part in text.split(":")]
        hours, minutes, seconds = (parts + [0])[:3]
        if hours > 23 or minutes > 59 or seconds > 59:
            raise UsageError(f"{what} {text!r} is not a time of day")
        return local_midnight(now, utc_offset) + hours * 3600 + minutes * 60 + seconds
    moment, _ = parse_iso(text)
    return moment


def local_offset(at: float, utc_offset: int | None = None) -> int:
    """The UTC offset (seconds) of local time at `at`, or the given fixed offset."""
    if utc_offset is not None:
        return utc_offset
    import time

    return time.localtime(at).tm_gmtoff


def local_midnight(now: float, utc_offset: int | None = None) -> float:
    """The start of the local day (or of the day at the given offset) that contains `now`."""
    return now - ((now + local_offset(now, utc_offset)) % 86400)


def format_local(at: float | None, *, utc_offset: int | None = None, seconds: bool = False) -> str:
    """`2026-11-20 10:05` in local time (or the given offset); `-` for None."""
    if at is None:
        return "-"
    import time

    moment = time.gmtime(at + local_offset(at, utc_offset))
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", moment)


def format_clock(at: float | None, *, utc_offset: int | None = None) -> str:
    """`10:05` in local time (or the given offset)."""
    if at is None:
        return "-"
    import time

    return time.strftime("%H:%M", time.gmtime(at + local_offset(at, utc_offset)))


def format_iso(at: float | None, *, utc_offset: int | None = None) -> str | None:
    """`2026-11-20T10:05:00+01:00`: ISO 8601 in local time (or the given offset), for JSON output; None for None."""
    if at is None:
        return None
    import datetime

    offset = local_offset(at, utc_offset)
    zone = datetime.timezone(datetime.timedelta(seconds=offset))
    return datetime.datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: `4:05` under an hour, `1h 05m` under a day, `2d 03h` beyond; `-` for None."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    if total < 3600:
        return f"{total // 60}:{total % 60:02d}"
    if total < 86400:
        return f"{total // 3600}h {total % 3600 // 60:02d}m"
    return f"{total // 86400}d {total % 86400 // 3600:02d}h"
