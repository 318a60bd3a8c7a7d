"""`record_attempt`: record one tool attempt with its final verdict in `tool_attempts` (seed 001's log)."""

from __future__ import annotations

from policy.errors import EvaluationError
from policy.facts.attempts import attempt_verdict, record_attempt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.model import PlannedEffect

KINDS: dict[str, dict[str, Any]] = {
    "record_attempt": {
        "description": "Record a tool attempt in `tool_attempts`: the time, the agent session, the tool, the final "
                       "verdict (deny → blocked, ask/defer → asked, allow/none → allowed), the ids of the rules "
                       "that decided and extra values. Pass `verdict: \"{{ verdict }}\"` and "
                       "`rules: \"{{ decision.rules }}\"` to record the decision of all packs.",
        "type": "object", "required": ["verdict"], "additionalProperties": False,
        "properties": {
            "verdict": {"description": "The final verdict: a template such as `{{ verdict }}`, or deny, defer, "
                                       "ask, allow, none, allowed, blocked, asked.",
                        "type": ["string", "null"]},
            "rules": {"description": "The ids of the rules behind the verdict: a list, or a template such as "
                                     "`{{ decision.rules }}`.",
                      "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
            "tool": {"type": "string", "description": "The tool (default: the event's tool)."},
            "extra": {"description": "More values to keep with the attempt (a mapping, or a template giving "
                                     "one), e.g. `{bpm: \"{{ facts.kv['hr.bpm'] }}\"}`; null values are left out.",
                      "anyOf": [{"type": "object"}, {"type": "string"}]},
            "retention_days": {"description": "Delete attempts older than this many days, a batch now and then "
                                              "(default: keep them).",
                               "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
        },
    },
}


def apply_record_attempt(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    rules = args.get("rules") or []
    extra = args.get("extra") or {}
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise _bad(effect, f"`rules` must be a list of rule ids, not {rules!r}")
    if not isinstance(extra, dict):
        raise _bad(effect, f"`extra` must be a mapping, not {extra!r}")
    try:
        verdict = attempt_verdict(args.get("verdict"))
        retention = float(args.get("retention_days") or 0)
    except ValueError as error:
        raise _bad(effect, str(error)) from None
    tool = args.get("tool") or context.event.tool
    record_attempt(context.store, at=context.now, agent_session=context.event.agent_session, tool=tool,
                   verdict=verdict, rule_ids=rules,
                   extra={key: value for key, value in extra.items() if value is not None},
                   retention_days=retention or None)
    return f"recorded {tool} {verdict}"


def _bad(effect: PlannedEffect, message: str) -> EvaluationError:
    return EvaluationError(f"effect record_attempt of rule {effect.pack}/{effect.rule_id}: {message}",
                           code="bad-effect", location=effect.location,
                           hint="see docs/packs/activity.md for the arguments of record_attempt")
