"""`usage_record`: record a usage sample (the same write as `policy usage record`)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.model import PlannedEffect

_NUMBER_OR_TEXT = [{"type": "number"}, {"type": "string"}]
KINDS: dict[str, dict[str, Any]] = {
    "usage_record": {
        "description": "Record a usage sample of an agent usage window (the same as `policy usage record`).",
        "type": "object", "required": ["utilization"], "additionalProperties": False,
        "properties": {
            "utilization": {"description": "The percentage of the window used, e.g. 42 or \"42%\".",
                            "anyOf": _NUMBER_OR_TEXT},
            "resets_at": {"description": "When the window resets: ISO 8601, HH:MM, +3h, or epoch seconds. "
                                         "Default: the reset time the window already has.",
                          "anyOf": _NUMBER_OR_TEXT},
            "window": {"type": "string", "description": "five_hour (5h, the default) or seven_day (7d)."},
            "source": {"type": "string", "description": "Where the number came from (default: rule)."},
        },
    },
}


def apply_usage_record(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.facts.usage import parse_utilization, record_sample, window_name
    from policy.times import parse_time

    window = window_name(args.get("window") or "five_hour")
    resets = args.get("resets_at")
    reading = record_sample(
        context.store, utilization=parse_utilization(args["utilization"]), now=context.now, window=window,
        resets_at=None if resets in (None, "") else parse_time(resets, now=context.now, what="resets_at"),
        source=str(args.get("source") or "rule"))
    return f"recorded {window} usage {reading.utilization:g}%"
