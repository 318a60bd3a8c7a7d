"""`set`: write a key of the `kv` table (the same write as `policy fact set`)."""

from __future__ import annotations

from policy.facts.kv import set_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.model import PlannedEffect


def apply_set(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    ttl = args.get("ttl")
    set_value(context.store, str(args["key"]), args["value"], now=context.now,
              ttl=None if ttl in (None, "") else float(ttl))
    return f"set {args['key']}"
