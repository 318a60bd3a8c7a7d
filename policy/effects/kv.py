"""`set`: write a key of the `kv` table (the same write as `policy fact set`)."""

from __future__ import annotations

from policy.facts.kv import set_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.model import PlannedEffect


KINDS: dict[str, dict[str, Any]] = {
    "set": {"description": "Set a key of the `kv` table to a value (kept as JSON), with an optional time to live "
                           "(the same as `policy fact set`).",
            "type": "object", "required": ["key", "value"], "additionalProperties": False,
            "properties": {"key": {"type": "string", "description": "The key (a template)."},
                           "value": {"description": "Any value; a one-expression template keeps its type."},
                           "ttl": {"description": "Seconds (or 5m, 1h) until it expires.",
                                   "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}}},
}


def apply_set(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    from policy.times import parse_duration

    from policy.facts.kv import refuse_source_owned

    ttl = args.get("ttl")
    refuse_source_owned(str(args["key"]), context.settings.sources, "a rule")
    set_value(context.store, str(args["key"]), args["value"], now=context.now,
              ttl=None if ttl in (None, "") else parse_duration(ttl, what="ttl"))
    return f"set {args['key']}"
