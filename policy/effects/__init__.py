"""Effects (SPEC §4): the writes rules ask for, applied after the final decision, all in one transaction.

Each effect kind is an `EffectKind` in EFFECTS: a compile-time `check` (beyond the JSON Schema: tables, columns,
trust) and an `apply` that writes through the same functions the CLI verbs use. Modules are imported on first use.
`apply_effects` runs inside the caller's transaction; if any effect fails, the caller rolls everything back.
"""

from __future__ import annotations

from policy.errors import Diagnostic, EvaluationError
from policy.lean import sqlite
from policy.store import translate_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
    from typing import Any

    from policy.errors import Location
    from policy.model import Event, PlannedEffect, Settings
    from policy.store import Store
else:
    from policy.lean import dataclass

# kind -> module holding `check_<kind>` (optional) and `apply_<kind>`
EFFECTS: dict[str, str] = {
    "record": "policy.effects.rows",
    "upsert": "policy.effects.rows",
    "delete": "policy.effects.rows",
    "set": "policy.effects.kv",
}


@dataclass(frozen=True, slots=True)
class EffectContext:
    """What an effect may use: the store (inside the open transaction), the event, the time, the settings."""

    store: Store
    event: Event
    now: float
    settings: Settings


def _module(kind: str) -> Any:
    return __import__(EFFECTS[kind], fromlist=["_"])


def check_effect(kind: str, args: Any, location: Location, *, trusted: bool) -> list[Diagnostic]:
    """Compile-time checks of one effect (the schema has checked its shape already)."""
    if kind not in EFFECTS:
        from policy.schema import suggest

        return [Diagnostic(location, "unknown-effect", f"unknown effect {kind!r}", suggest(kind, set(EFFECTS)))]
    check: Callable[..., list[Diagnostic]] | None = getattr(_module(kind), f"check_{kind}", None)
    return [] if check is None else check(args, location, trusted=trusted)


def apply_effects(effects: tuple[PlannedEffect, ...], context: EffectContext) -> list[dict[str, Any]]:
    """Apply planned effects in order; returns one result entry per effect (for the decision log)."""
    results = []
    for effect in effects:
        apply: Callable[[dict[str, Any], EffectContext, PlannedEffect], str] = getattr(
            _module(effect.kind), f"apply_{effect.kind}")
        try:
            outcome = apply(effect.args, context, effect)
        except EvaluationError:
            raise
        except sqlite.Error as error:
            # A full disk, a lock held too long or a corrupt file is the store's problem, not the rule's.
            translated = translate_error(error, context.store.path)
            if translated.code != "db-error":
                raise translated from None
            raise EvaluationError(f"effect {effect.kind} of rule {effect.pack}/{effect.rule_id} failed: {error}",
                                  code="effect-failed", location=effect.location,
                                  hint="nothing was written; fix the rule or the data it writes") from None
        except Exception as error:
            raise EvaluationError(f"effect {effect.kind} of rule {effect.pack}/{effect.rule_id} failed: {error}",
                                  code="effect-failed", location=effect.location,
                                  hint="nothing was written; fix the rule or the data it writes") from None
        results.append({"rule": f"{effect.pack}/{effect.rule_id}", "effect": effect.kind, "result": outcome})
    return results


def describe(effect: PlannedEffect) -> str:
    """One line for dry runs: what the effect would write."""
    from policy.lean import json_dumps

    return f"{effect.pack}/{effect.rule_id}: {effect.kind} {json_dumps(effect.args, spaced=True)}"
