"""policy.engine: evaluate(ruleset, event, facts, now) → Decision. Pure: facts and time are inputs."""

from __future__ import annotations

import pytest
from conftest import event_bytes, write

from policy.adapters import claude_code
from policy.compiler import PackSource, build_ruleset, compile_files
from policy.engine import evaluate
from policy.errors import EvaluationError, Location
from policy.facts import StaticFacts
from policy.lean import replace
from policy.model import Decision, PlannedEffect, RuleHit, RuleTrace, Settings

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def ruleset(tmp_path, *packs, settings=None):
    """Packs given as (name, rules YAML) pairs, compiled in order."""
    sources = []
    for index, (name, rules) in enumerate(packs):
        path = write(tmp_path / f"{index}-{name}.yaml", f"version: 1\npack: {name}\nrules:\n{rules}")
        sources.append(PackSource(str(path), f"{name}.yaml", trusted=True))
    compiled = compile_files(sources)
    assert compiled.diagnostics == (), [d.render() for d in compiled.diagnostics]
    return build_ruleset(compiled, settings or Settings())


def event(name="PreToolUse-Bash", **changes):
    parsed = claude_code.parse(event_bytes(name))
    return replace(parsed, **changes) if changes else parsed


def decide(rules, event_=None, facts=None, **kwargs):
    return evaluate(rules, event_ or event(), facts or StaticFacts(), NOW, **kwargs)


def rule(rule_id, decision=None, **fields):
    lines = [f"  - id: {rule_id}", f"    events: {fields.pop('events', 'PreToolUse')}"]
    if decision:
        lines.append(f"    decision: {decision}")
    for key, value in fields.items():
        lines.append(f"    {key}: {value}")
    return "\n".join(lines) + "\n"


# ---- verdicts ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("verdicts, expected", [
    ((), None), ((None,), None), (("allow",), "allow"), (("allow", "ask"), "ask"), (("ask", "defer"), "defer"),
    (("defer", "deny"), "deny"), (("deny", "allow", "ask", "defer"), "deny"), (("allow", None, "allow"), "allow"),
    (("ask", "allow", "defer", "ask"), "defer"),
])
def test_verdict_precedence(tmp_path, verdicts, expected):
    rules = ruleset(tmp_path, ("p", "".join(rule(f"r{i}", v) for i, v in enumerate(verdicts)) or "  []\n"))
    assert decide(rules).verdict == expected


def test_no_rule_for_the_event(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("stop-only", "deny", events="Stop")))
    assert decide(rules) == Decision(event_name="PreToolUse")


def test_reasons_of_the_final_verdict_only_and_contexts_and_messages_of_all(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "ask", reason="'ask a'", context="'ctx a'", message="'msg a'")
                               + rule("b", "deny", reason="'deny b'")
                               + rule("c", None, context="'ctx c'", message="'msg c'")
                               + rule("d", "deny", reason="'deny d {{ tool }}'", context="'ctx d'")))
    decision = decide(rules)
    assert (decision.verdict, decision.reason, decision.context, decision.message) == (
        "deny", "deny b\ndeny d Bash", "ctx a\n\nctx c\n\nctx d", "msg a\nmsg c")
    assert decision.rule_ids == ("p/a", "p/b", "p/c", "p/d")
    assert decision.hits == (
        RuleHit("p", "a", "ask", "ask a", "ctx a", "msg a"), RuleHit("p", "b", "deny", "deny b"),
        RuleHit("p", "c", None, None, "ctx c", "msg c"), RuleHit("p", "d", "deny", "deny d Bash", "ctx d"))


def test_default_reason_is_the_description_or_the_rule(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "ask", description="'Needs a human.'") + rule("b", "ask")))
    assert decide(rules).reason == "Needs a human.\nask by policy rule p/b"


def test_rules_across_packs(tmp_path):
    rules = ruleset(tmp_path, ("first", rule("a", "allow", reason="'fine'")), ("second", rule("b", "ask")))
    decision = decide(rules)
    assert (decision.verdict, decision.reason, decision.rule_ids) == ("ask", "ask by policy rule second/b",
                                                                      ("first/a", "second/b"))


# ---- delays -------------------------------------------------------------------------------------------------------------

def test_largest_delay_wins(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", delay=2) + rule("b", "allow", delay="input.timeout / 40000")
                               + rule("c", delay="'1.5'")))
    decision = decide(rules)
    assert (decision.verdict, decision.delay) == ("allow", 3.0)
    assert [hit.delay for hit in decision.hits] == [2.0, 3.0, 1.5]


def test_delay_is_capped_by_max_delay(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", delay=500)), settings=Settings(max_delay=45.0))
    assert decide(rules).delay == 45.0


def test_no_delay_before_a_deny(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", delay=5) + rule("b", "deny")))
    decision = decide(rules)
    assert (decision.verdict, decision.delay) == ("deny", 0.0)


def test_negative_and_missing_delays_are_zero(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", delay="'-3'") + rule("b", delay="input.missing")))
    assert decide(rules).delay == 0.0


def test_a_delay_that_is_not_a_number_is_a_runtime_error(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", delay="tool")))
    with pytest.raises(EvaluationError) as raised:
        decide(rules)
    error = raised.value
    assert error.one_line() == ("p.yaml:6:12: runtime-error: rule p/a: delay `tool` failed: 'Bash' is not a number "
                                "(guard against missing values, e.g. `(x or 0) > 5`; test with `policy test`)")


def untraced(decision):
    """The trace without the rules' locations (checked once, in test_explain_trace)."""
    return tuple(replace(step, location="") for step in decision.trace)


# ---- final and enabled ------------------------------------------------------------------------------------------------------

def test_final_stops_later_rules_of_its_pack_only(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", final="true") + rule("b", "deny")),
                    ("q", rule("c", "ask")))
    decision = decide(rules, explain=True)
    assert (decision.verdict, decision.rule_ids) == ("ask", ("p/a", "q/c"))
    assert untraced(decision)[1] == RuleTrace("p", "b", "final", "an earlier `final` rule of this pack matched")


def test_final_that_does_not_match_stops_nothing(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", final="true", when="false") + rule("b", "deny")))
    assert decide(rules).verdict == "deny"


def test_disabled_rules_and_packs(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "deny", enabled="false") + rule("b", "ask")), ("q", rule("c", "deny")))
    decision = decide(rules, explain=True, disabled_packs=frozenset({"q"}))
    assert (decision.verdict, decision.rule_ids) == ("ask", ("p/b",))
    assert untraced(decision) == (
        RuleTrace("p", "a", "disabled", "enabled: false"),
        RuleTrace("p", "b", "matched", "decision ask"),
        RuleTrace("q", "c", "disabled", "pack q is switched off by its environment variable"))


# ---- Stop and the block cap ----------------------------------------------------------------------------------------------

STOP_RULE = rule("keep-going", "deny", events="Stop", reason="'run the tests'")


@pytest.mark.parametrize("payload, blocks, cap, expected", [
    ("Stop", 0, None, "deny"),          # not yet continuing: block
    ("Stop", 5, None, "deny"),          # stop_hook_active false: the count does not matter
    ("Stop-active", 0, None, "deny"),   # continuing because of another hook: we have not blocked yet
    ("Stop-active", 1, None, None),     # default cap 1: never block again while stop_hook_active
    ("Stop-active", 1, 2, "deny"),
    ("Stop-active", 2, 2, None),
    ("Stop-active", 3, 2, None),
])
def test_stop_block_cap(tmp_path, payload, blocks, cap, expected):
    text = STOP_RULE + (f"    block_cap: {cap}\n" if cap else "")
    rules = ruleset(tmp_path, ("p", text))
    decision = decide(rules, event(payload), StaticFacts(stop_blocks=blocks), explain=True)
    assert decision.verdict == expected
    if expected is None:
        assert untraced(decision) == (RuleTrace("p", "keep-going", "capped",
                                            f"{blocks} consecutive blocks reached block_cap {cap or 1}",
                                            (("stop_hook_active", True), ("consecutive_blocks", blocks))),)


def test_block_cap_applies_to_what_keeps_a_subagent_working_and_nothing_else(tmp_path):
    """On SubagentStop a deny and a context both keep the subagent working: both are capped. A message, or a
    stop (which ends the work), is not."""
    rules = ruleset(tmp_path, ("p", rule("s", "deny", events="SubagentStop") + rule("c", context="'note'",
                                                                                      events="SubagentStop")
                               + rule("m", message="'fyi'", events="SubagentStop")
                               + rule("end", stop="'enough'", events="SubagentStop")))
    decision = decide(rules, event("SubagentStop", stop_hook_active=True), StaticFacts(stop_blocks=1))
    assert (decision.verdict, decision.context, decision.message, decision.stop, decision.rule_ids) == (
        None, None, "fyi", "enough", ("p/m", "p/end"))
    assert decision.keeps_working is False
    first = decide(rules, event("SubagentStop"), StaticFacts(stop_blocks=1))
    assert (first.verdict, first.context, first.rule_ids) == ("deny", "note", ("p/s", "p/c", "p/m", "p/end"))


@pytest.mark.parametrize("verdict, context, stop, keeps", [
    ("deny", None, None, True), (None, "note", None, True), ("deny", "note", "enough", False), (None, None, None, False),
    ("allow", None, None, False),
])
def test_what_keeps_a_stopping_agent_working(verdict, context, stop, keeps):
    assert Decision("Stop", verdict, context=context, stop=stop).keeps_working is keeps
    assert Decision("PostToolUse", verdict, context=context, stop=stop).keeps_working is False


# ---- stops and rewrites --------------------------------------------------------------------------------------------------

def test_stops_are_joined_and_cancel_the_delay(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", stop="'budget spent'", delay="5")
                               + rule("b", stop="'{{ tool }} is off limits'")
                               + rule("c", stop="\"{{ '' }}\"", description="the default text")
                               + rule("d", stop="\"{{ '' }}\"")))
    decision = decide(rules)
    assert (decision.verdict, decision.stop, decision.delay) == (
        "allow", "budget spent\nBash is off limits\nthe default text\nstopped by policy rule p/d", 0.0)


def test_input_rewrites_merge_in_rule_order(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", update_input="{command: '{{ input.command }} -no-color', "
                                                                      "timeout: 1}")
                               + rule("b", "ask", update_input="{timeout: '{{ 2 * 30 }}', run_in_background: null, "
                                                                 "extra: [1, '{{ tool }}']}")))
    decision = decide(rules)
    assert decision.verdict == "ask"
    assert decision.updated_input == {"command": "terraform apply -auto-approve -no-color",
                                      "description": "Apply Terraform changes to the billing stack", "timeout": 60,
                                      "extra": [1, "Bash"]}
    assert decision.hits[0].update_input == {"command": "terraform apply -auto-approve -no-color", "timeout": 1}


@pytest.mark.parametrize("other, kept", [
    (rule("x", "deny"), False), (rule("x", "defer"), True), (rule("x", stop="'enough'"), False), ("", True),
])
def test_an_input_rewrite_goes_only_with_a_call_that_goes_ahead(tmp_path, other, kept):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", update_input="{command: ls}") + other))
    decision = decide(rules)
    assert decision.updated_input == ({**event().tool_input, "command": "ls"} if kept else None)


def test_output_rewrites_merge_fields_or_replace_the_whole_output(tmp_path):
    original = event("PostToolUse-Bash").data["tool_response"]
    rules = ruleset(tmp_path, ("p", rule("a", events="PostToolUse", update_output="{stdout: hidden, extra: null}")
                               + rule("b", "deny", events="PostToolUse", update_output="{stderr: '{{ tool }}'}")))
    decision = decide(rules, event("PostToolUse-Bash"))
    assert (decision.verdict, decision.updated_output) == ("deny", {**original, "stdout": "hidden", "stderr": "Bash"})
    whole = ruleset(tmp_path, ("p", rule("a", events="PostToolUse", update_output="{stdout: hidden}")
                               + rule("b", events="PostToolUse", update_output="'replaced for {{ tool }}'")))
    assert decide(whole, event("PostToolUse-Bash")).updated_output == "replaced for Bash"
    fields_on_text = ruleset(tmp_path, ("p", rule("a", events="PostToolUse", update_output="'text'")
                                        + rule("b", events="PostToolUse", update_output="{stdout: x}")))
    assert decide(fields_on_text, event("PostToolUse-Bash")).updated_output == {"stdout": "x"}


def test_a_failing_rewrite_template_names_the_rule(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "allow", update_input="{command: '{{ 1 / 0 }}'}")))
    with pytest.raises(EvaluationError) as raised:
        decide(rules)
    assert raised.value.message.startswith("rule p/a: update_input failed: ")


class CountingFacts(StaticFacts):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.asked = 0

    def stop_blocks(self):
        self.asked += 1
        return super().stop_blocks()


def test_stop_blocks_are_read_lazily(tmp_path):
    rules = ruleset(tmp_path, ("p", STOP_RULE + STOP_RULE.replace("keep-going", "again")))
    facts = CountingFacts(stop_blocks=0)
    decide(rules, event("Stop"), facts)
    assert facts.asked == 0
    decide(rules, event("Stop-active"), facts)
    assert facts.asked == 1


# ---- the explain trace --------------------------------------------------------------------------------------------------

def test_explain_trace(tmp_path):
    rules = ruleset(tmp_path, ("p",
                               rule("tools", "deny", tools="Edit")
                               + rule("match", "deny", match="{tool_input.command: '^ls'}")
                               + rule("equals", "deny", match="{cwd: {equals: /tmp}}")
                               + rule("glob", "deny", match="{cwd: {glob: '**/web'}}")
                               + rule("when", "deny", when="\"input.timeout < 5 and tool == 'Bash'\"")
                               + rule("matched", "ask", when="facts.kv.age > 1 and input.timeout > 1")))
    facts = StaticFacts({"kv": {"age": 5}})
    decision = decide(rules, explain=True, facts=facts)
    assert decision.verdict == "ask"
    assert untraced(decision) == (
        RuleTrace("p", "tools", "tools", "tool 'Bash' is not ^(?:(?:Edit))$", (("tool", "Bash"),)),
        RuleTrace("p", "match", "match", "tool_input.command does not match /^ls/",
                  (("tool_input.command", "terraform apply -auto-approve"),)),
        RuleTrace("p", "equals", "match", "cwd does not match equals '/tmp'",
                  (("cwd", "/home/dev/shop/infra/stacks/billing"),)),
        RuleTrace("p", "glob", "match", "cwd does not match glob '**/web'",
                  (("cwd", "/home/dev/shop/infra/stacks/billing"),)),
        RuleTrace("p", "when", "when", "when `input.timeout < 5 and tool == 'Bash'` is False",
                  (("input.timeout", 120000),)),
        RuleTrace("p", "matched", "matched", "decision ask", (("facts.kv.age", 5), ("input.timeout", 120000))),
    )
    assert decision.trace[0].location == "p.yaml:4:5"
    assert decide(rules, facts=facts).trace == ()  # only on request


def test_match_on_non_string_values(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("num", "ask", match="{tool_input.timeout: '^120000$'}")
                               + rule("bool", "ask", match="{tool_input.run_in_background: '^false$'}")
                               + rule("eq", "ask", match="{tool_input.timeout: {equals: 120000}}")
                               + rule("dict", "deny", match="{tool_input: '.'}")
                               + rule("none", "deny", match="{tool_input.missing: '.*'}")))
    assert decide(rules).rule_ids == ("p/num", "p/bool", "p/eq")


# ---- effects -------------------------------------------------------------------------------------------------------------

def test_effects_are_planned_with_the_final_verdict_and_now(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "ask", do="[{record: {table: audit, values: {verdict: '{{ verdict }}', "
                                                        "at: '{{ now.isoformat() }}', n: '{{ input.timeout }}', "
                                                        "text: 'v={{ verdict }}'}}}]")
                               + rule("b", "deny", do="[{set: {key: k, value: 1}, if: \"verdict == 'ask'\"}, "
                                                      "{set: {key: j, value: [1, '{{ tool }}']}}]")))
    decision = decide(rules, utc_offset=3600)
    assert decision.effects == (
        PlannedEffect("p", "a", "record", "policy.effects.rows", {"table": "audit", "values": {
            "verdict": "deny", "at": "2027-01-15T09:00:00+01:00", "n": 120000, "text": "v=deny"}},
            Location("p.yaml", 7, 10, "rules[0].do[0]"), trusted=True),
        PlannedEffect("p", "b", "set", "policy.effects.kv", {"key": "j", "value": [1, "Bash"]},
                      Location("p.yaml", 11, 61, "rules[1].do[1]"), trusted=True),
    )


def test_no_effects_when_nothing_matched(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "ask", when="false", do="[{set: {key: k, value: 1}}]")))
    assert decide(rules).effects == ()


# ---- runtime errors ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, expected", [
    ({"when": "\"'x' + input.timeout\""},
     "p.yaml:7:11: runtime-error: rule p/a: when `'x' + input.timeout` failed: TypeError: can only concatenate "
     "str (not \"int\") to str"),
    ({"reason": "'{{ 1 / 0 }}'"},
     "p.yaml:7:13: runtime-error: rule p/a: reason failed: ZeroDivisionError: division by zero"),
    ({"do": "[{set: {key: '{{ input.timeout.x() }}', value: 1}}]"},
     "p.yaml:7:10: runtime-error: rule p/a: effect set failed: int value has no attribute 'x' available to "
     "expressions"),
])
def test_runtime_errors_carry_the_rules_location(tmp_path, fields, expected):
    rules = ruleset(tmp_path, ("p", rule("a", "deny", **fields)))
    with pytest.raises(EvaluationError) as raised:
        decide(rules)
    assert raised.value.one_line() == expected + (" (guard against missing values, e.g. `(x or 0) > 5`; test with "
                                                  "`policy test`)")


def test_evaluation_is_pure(tmp_path):
    rules = ruleset(tmp_path, ("p", rule("a", "deny", reason="'{{ tool }} {{ now.hour }}'")))
    first = decide(rules, utc_offset=0)
    assert decide(rules, utc_offset=0) == first
    assert first.reason == "Bash 8"
    assert decide(rules, utc_offset=-5 * 3600).reason == "Bash 3"
