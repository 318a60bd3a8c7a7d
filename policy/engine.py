"""The engine (SPEC §1, §5): `evaluate(ruleset, event, facts, now)` → `Decision`. Pure.

No printing, no writes, no environment reads: the facts are an injected read-only view and the time is an input,
which is what makes `policy test` deterministic. Rules are considered in pack order, then file order, using the
ruleset's index so rules of other events cost nothing. The final verdict is the strongest matched one
(deny > defer > ask > allow > none); the reasons of the rules that carry it are joined; contexts, messages and stop
reasons of all matched rules are joined (a stop is stronger than any verdict); rewrites of the tool input are merged
in rule order and kept only when the call goes ahead, rewrites of the output always; the largest delay is kept
(capped, and never before a deny or a stop). Effects of matched rules are rendered last, when the final decision is
known: `verdict` and `decision` (its rules and reason) are in scope.
"""

from __future__ import annotations

from policy import conditions, lean
from policy.conditions import ExpressionError, View, evaluate as run, render
from policy.errors import EvaluationError
from policy.model import STOP_EVENTS, VERDICT_RANK, Decision, PlannedEffect, RuleHit, RuleTrace, Template

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from policy.errors import Location
    from policy.model import Event, Expr, Pack, Rule, RuleSet

    class FactsView(Protocol):
        def scope(self, pack: Pack) -> View: ...

        def stop_blocks(self) -> int: ...

        def stop_run_age(self) -> float | None: ...


def local_datetime(now: float, utc_offset: int | None = None) -> Any:
    """`now` as a timezone-aware datetime (the local zone, or the given UTC offset)."""
    import datetime

    if utc_offset is None:
        return datetime.datetime.fromtimestamp(now).astimezone()
    zone = datetime.timezone(datetime.timedelta(seconds=utc_offset))
    return datetime.datetime.fromtimestamp(now, zone)


def _plain(value: Any) -> Any:
    """A trace value as JSON-friendly data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value[:20]]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in list(value.items())[:20]}
    if isinstance(value, View):
        return f"<{type(value).__name__}>"
    return str(value)


def read_chain(scope: dict[str, Any], chain: str) -> Any:
    """The value of `a.b.c` in `scope`, read the way expressions read it (for explanations)."""
    root, *rest = chain.split(".")
    value = scope.get(root)
    for part in rest:
        value = conditions._attr(value, part)
    return value


class _Evaluation:
    def __init__(self, ruleset: RuleSet, event: Event, facts: FactsView, now: float, utc_offset: int | None,
                 explain: bool) -> None:
        self.ruleset = ruleset
        self.event = event
        self.facts = facts
        self.now = now
        self.utc_offset = utc_offset
        self.explain = explain
        self.packs = {pack.name: pack for pack in ruleset.packs}
        self.scopes: dict[str, dict[str, Any]] = {}
        self.trace: list[RuleTrace] = []
        self._now_value: Any = None

    def scope(self, pack: Pack) -> dict[str, Any]:
        scope = self.scopes.get(pack.name)
        if scope is None:
            event = self.event
            if self.ruleset.uses_now and self._now_value is None:
                self._now_value = local_datetime(self.now, self.utc_offset)
            scope = conditions.make_scope({
                "event": event.data, "tool": event.tool, "input": event.tool_input, "prompt": event.prompt,
                "session": event.agent_session, "facts": self.facts.scope(pack), "params": pack.params,
                "now": self._now_value,
            })
            self.scopes[pack.name] = scope
        return scope

    def note(self, rule: Rule, outcome: str, detail: str = "", values: tuple[tuple[str, Any], ...] = ()) -> None:
        if self.explain:
            self.trace.append(RuleTrace(rule.pack, rule.id, outcome, detail,
                                        tuple((name, _plain(value)) for name, value in values
                                              if not callable(value) and not isinstance(value, View)),
                                        str(rule.location)))

    def fail(self, rule: Rule, where: str, expr: Expr | None, error: Exception,
             location: Location | None = None) -> EvaluationError:
        source = f" `{expr.source}`" if expr is not None else ""
        return EvaluationError(f"rule {rule.pack}/{rule.id}: {where}{source} failed: {error}",
                               location=expr.location if expr is not None else location or rule.location,
                               hint="guard against missing values, e.g. `(x or 0) > 5`; test with `policy test`")

    def value(self, rule: Rule, pack: Pack, expr: Expr, where: str) -> Any:
        try:
            return run(expr, self.scope(pack))
        except ExpressionError as error:
            raise self.fail(rule, where, expr, error) from None

    def text(self, rule: Rule, pack: Pack, template: Template | None, where: str) -> str | None:
        if template is None:
            return None
        try:
            return render(template, self.scope(pack))
        except ExpressionError as error:
            location = next((part.location for part in template.parts if not isinstance(part, str)), None)
            raise self.fail(rule, where, None, error, location) from None

    def reads(self, pack: Pack, expr: Expr) -> tuple[tuple[str, Any], ...]:
        scope = self.scope(pack)
        values = []
        for chain in expr.reads:
            try:
                values.append((chain, read_chain(scope, chain)))
            except Exception as error:  # an explanation must never fail the evaluation
                values.append((chain, f"<error: {error}>"))
        return tuple(values)

    def matches(self, rule: Rule, pack: Pack) -> bool:
        """Whether `match` and `when` hold (`events` and `tools` are checked by the caller)."""
        event = self.event
        for condition in rule.match:
            value = conditions.select(condition.selector, event.data)
            if condition.kind == "equals":
                ok = value == condition.value
            elif value is None or isinstance(value, (dict, list)):
                ok = False
            else:
                text = value if isinstance(value, str) else lean.json_dumps(value)
                pattern = lean.regex(condition.pattern or "")
                ok = (pattern.search(text) if condition.kind == "regex" else pattern.match(text)) is not None
            if not ok:
                wanted = f"/{condition.pattern}/" if condition.kind == "regex" else f"{condition.kind} {condition.value!r}"
                self.note(rule, "match", f"{condition.selector.source} does not match {wanted}",
                          ((condition.selector.source, value),))
                return False
        if rule.when is not None:
            result = self.value(rule, pack, rule.when, "when")
            if not result:
                self.note(rule, "when", f"when `{rule.when.source}` is {result!r}", self.reads(pack, rule.when)
                          if self.explain else ())
                return False
        return True

    def hit(self, rule: Rule, pack: Pack) -> RuleHit:
        delay = 0.0
        if rule.delay is not None:
            raw = self.value(rule, pack, rule.delay, "delay")
            try:
                delay = max(0.0, float(raw or 0))
            except (TypeError, ValueError):
                raise self.fail(rule, "delay", rule.delay, ValueError(f"{raw!r} is not a number")) from None
        reason = self.text(rule, pack, rule.reason, "reason")
        if rule.decision is not None and not reason:
            reason = rule.description or f"{rule.decision} by policy rule {rule.pack}/{rule.id}"
        stop = self.text(rule, pack, rule.stop, "stop")
        if rule.stop is not None and not stop:
            stop = rule.description or f"stopped by policy rule {rule.pack}/{rule.id}"
        return RuleHit(rule.pack, rule.id, rule.decision, reason,
                       self.text(rule, pack, rule.context, "context"), self.text(rule, pack, rule.message, "message"),
                       delay, self.rewrite(rule, pack, rule.update_input, "update_input"),
                       self.rewrite(rule, pack, rule.update_output, "update_output"), stop)

    def rewrite(self, rule: Rule, pack: Pack, value: Any, where: str) -> Any:
        """A rule's update_input/update_output, rendered (one-expression templates keep their value's type)."""
        if value is None:
            return None
        try:
            return render_args(value, self.scope(pack))
        except ExpressionError as error:
            raise self.fail(rule, where, None, error) from None

    def run(self, disabled_packs: frozenset[str]) -> Decision:
        event = self.event
        tool = event.tool
        explain = self.explain
        packs = self.packs
        finished: set[str] = set()
        hits: list[tuple[RuleHit, Rule]] = []
        stop_blocks: int | None = None
        tool_matches: dict[str, bool] = {}  # rules often share a `tools` pattern: match each once
        for rule in self.ruleset.rules_for(event.name):
            if rule.pack in disabled_packs or not rule.enabled or rule.pack in finished:
                if explain:
                    self.note(rule, "disabled" if rule.pack in disabled_packs or not rule.enabled else "final",
                              f"pack {rule.pack} is switched off by its environment variable"
                              if rule.pack in disabled_packs else "enabled: false" if not rule.enabled
                              else "an earlier `final` rule of this pack matched")
                continue
            if rule.agents and event.host not in rule.agents:
                if explain:
                    self.note(rule, "agent", f"the rule is for {', '.join(rule.agents)}, not {event.host}",
                              (("host", event.host),))
                continue
            if rule.tools is not None:
                ok = tool_matches.get(rule.tools)
                if ok is None:  # the canonical name, or the host's own (a rule may name either)
                    pattern = lean.regex(rule.tools)
                    ok = tool is not None and (pattern.match(tool) is not None or (
                        event.host_tool is not None and pattern.match(event.host_tool) is not None))
                    tool_matches[rule.tools] = ok
                if not ok:
                    if explain:
                        self.note(rule, "tools", f"tool {tool!r} is not {rule.tools}", (("tool", tool),))
                    continue
            pack = packs[rule.pack]
            if (rule.match or rule.when is not None) and not self.matches(rule, pack):
                continue
            if event.name in STOP_EVENTS and event.stop_hook_active and rule.keeps_working:
                if stop_blocks is None:
                    stop_blocks = self.facts.stop_blocks()
                if stop_blocks >= rule.block_cap:
                    self.note(rule, "capped", f"{stop_blocks} consecutive blocks reached block_cap {rule.block_cap}",
                              (("stop_hook_active", True), ("consecutive_blocks", stop_blocks)))
                    continue
                if rule.block_time_cap is not None:
                    age = self.facts.stop_run_age()
                    if age is not None and age >= rule.block_time_cap:
                        self.note(rule, "capped", f"blocking since {age:g}s reached block_time_cap "
                                                  f"{rule.block_time_cap:g}s",
                                  (("stop_hook_active", True), ("blocking_for", age)))
                        continue
            hit = self.hit(rule, pack)
            hits.append((hit, rule))
            self.note(rule, "matched", f"decision {rule.decision}" if rule.decision else "matched",
                      self.reads(pack, rule.when) if self.explain and rule.when is not None else ())
            if rule.final:
                finished.add(rule.pack)
        return self.decide(hits)

    def decide(self, hits: list[tuple[RuleHit, Rule]]) -> Decision:
        verdict = None
        for hit, _ in hits:
            if hit.decision is not None and VERDICT_RANK[hit.decision] > VERDICT_RANK.get(verdict or "", 0):
                verdict = hit.decision
        reasons = [hit.reason for hit, _ in hits if hit.decision == verdict and hit.reason] if verdict else []
        contexts = [hit.context for hit, _ in hits if hit.context]
        messages = [hit.message for hit, _ in hits if hit.message]
        stop = "\n".join(hit.stop for hit, _ in hits if hit.stop) or None
        delay = 0.0 if verdict == "deny" or stop else min(max((hit.delay for hit, _ in hits), default=0.0),
                                                          self.ruleset.settings.max_delay)
        reason = "\n".join(reasons) or None
        # A rewrite goes with a call that goes ahead; later rules' fields win over earlier ones'.
        input_rewrites = [hit.update_input for hit, _ in hits if hit.update_input is not None]
        updated_input = rewritten(self.event.tool_input, input_rewrites) \
            if input_rewrites and verdict in ("allow", "ask", "defer") and not stop else None
        output_rewrites = [hit.update_output for hit, _ in hits if hit.update_output is not None]
        updated_output = rewritten(self.event.data.get("tool_response"), output_rewrites) if output_rewrites else None
        effects = self.plan_effects(hits, verdict, reason)
        return Decision(
            event_name=self.event.name, verdict=verdict, reason=reason,
            context="\n\n".join(contexts) or None, message="\n".join(messages) or None, delay=delay,
            hits=tuple(hit for hit, _ in hits), trace=tuple(self.trace), effects=effects,
            updated_input=updated_input, updated_output=updated_output, stop=stop)

    def plan_effects(self, hits: list[tuple[RuleHit, Rule]], verdict: str | None,
                     reason: str | None) -> tuple[PlannedEffect, ...]:
        planned = []
        summary: dict[str, Any] | None = None
        for _, rule in hits:
            if not rule.effects:
                continue
            if summary is None:
                summary = decision_summary([hit for hit, _ in hits], verdict, reason)
            pack = self.packs[rule.pack]
            scope = self.scope(pack)
            scope["verdict"] = verdict
            scope["decision"] = summary
            for effect in rule.effects:
                if effect.condition is not None and not self.value(rule, pack, effect.condition, "if"):
                    continue
                try:
                    args = render_args(effect.args, scope)
                except ExpressionError as error:
                    raise self.fail(rule, f"effect {effect.kind}", None, error, effect.location) from None
                planned.append(PlannedEffect(rule.pack, rule.id, effect.kind, effect.module,
                                             args if isinstance(args, dict) else {}, effect.location, effect.trusted))
        return tuple(planned)


def decision_summary(hits: list[RuleHit], verdict: str | None, reason: str | None) -> dict[str, Any]:
    """`decision` in `do:` templates: the final verdict, the rules that carry it (`rules`, pack/id; empty when no
    rule decided), every matched rule (`matched`) and the reason. The same in every pack."""
    return {
        "verdict": verdict,
        "rules": [f"{hit.pack}/{hit.rule_id}" for hit in hits if verdict is not None and hit.decision == verdict],
        "matched": [f"{hit.pack}/{hit.rule_id}" for hit in hits],
        "reason": reason,
    }


def rewritten(original: Any, rewrites: list[Any]) -> Any:
    """`original` with each rewrite applied in turn: a mapping replaces fields (a None value removes one), anything
    else (or a mapping over a value that is not one) replaces the whole value."""
    result = original
    for rewrite in rewrites:
        if isinstance(rewrite, dict):
            result = dict(result) if isinstance(result, dict) else {}
            for key, value in rewrite.items():
                if value is None:
                    result.pop(key, None)
                else:
                    result[key] = value
        else:
            result = rewrite
    return result


def render_args(value: Any, scope: dict[str, Any]) -> Any:
    """Render effect arguments: a template that is one `{{ expression }}` keeps the expression's value."""
    if isinstance(value, Template):
        if len(value.parts) == 1 and not isinstance(value.parts[0], str):
            return run(value.parts[0], scope)
        return render(value, scope)
    if isinstance(value, dict):
        return {key: render_args(item, scope) for key, item in value.items()}
    if isinstance(value, tuple):
        return [render_args(item, scope) for item in value]
    return value


def evaluate(ruleset: RuleSet, event: Event, facts: FactsView, now: float, *, utc_offset: int | None = None,
             explain: bool = False, disabled_packs: frozenset[str] = frozenset()) -> Decision:
    """Decide on `event`. Raises EvaluationError (with the rule's location) when a rule fails at run time."""
    return _Evaluation(ruleset, event, facts, now, utc_offset, explain).run(disabled_packs)
