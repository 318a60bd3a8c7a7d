"""policy.compiler: rule files → RuleSet. Every kind of broken rule file gives its located error, rendered as
`file:line:col: code: message` with its hint, all of them at once, sorted."""

from __future__ import annotations

import pytest

from policy.effects import effect_modules
from policy.facts import family_fields
from conftest import write

from policy.compiler import PackSource, build_ruleset, compile_files
from policy.errors import Diagnostic, ValidationFailed
from policy.model import Settings

HEADER = "version: 1\npack: demo\n"


def compile_text(tmp_path, text, *, name="rules.yaml", **source):
    """Compile `text` as a trusted file (as the user's own; tests of trust say trusted=False)."""
    path = write(tmp_path / name, text)
    return compile_files([PackSource(path=str(path), display=name, **{"trusted": True, **source})])


def rendered(compiled):
    return [diagnostic.render() for diagnostic in sorted(compiled.diagnostics, key=Diagnostic.sort_key)]


def errors_of(tmp_path, text, **kwargs):
    return rendered(compile_text(tmp_path, text, **kwargs))


# ---- a valid file ---------------------------------------------------------------------------------------------------

VALID = """
version: 1
pack: guard
revision: "2026-11-20.1"
description: Guards.
params:
  limit: 3
  pattern: '^rm '
facts:
  denials:
    sql: select count(*) from decisions where agent_session = :session_id and verdict = 'deny' and at > :now - 600
    value: true
rules:
  - id: guard-prod-terraform
    description: Terraform against prod needs a human.
    events: [PreToolUse, PermissionRequest]
    tools: [Bash, 'mcp__.*']
    match:
      tool_input.command: '^terraform (apply|destroy)\\b'
      cwd: {glob: '**/billing'}
      hook_event_name: {equals: PreToolUse}
    when: "facts.denials < params.limit and matches(params.pattern, input.command) == False"
    decision: ask
    reason: "Terraform in {{ basename(event.cwd) }}"
    delay: 0.5
    do:
      - record: {table: audit, values: {command: "{{ input.command }}", verdict: "{{ verdict }}"}}
      - set: {key: last, value: "{{ tool }}", ttl: 60}
        if: verdict == 'ask'
  - id: stop-gate
    events: Stop
    decision: deny
    block_cap: 2
    enabled: false
    final: true
"""


def test_a_valid_file_compiles_to_its_records(tmp_path):
    compiled = compile_text(tmp_path, VALID, params={"limit": 5})
    assert compiled.diagnostics == ()
    (pack,) = compiled.packs
    assert (pack.name, pack.revision, pack.description, pack.source) == ("guard", "2026-11-20.1", "Guards.",
                                                                         "rules.yaml")
    assert pack.params == {"limit": 5, "pattern": "^rm "}
    (fact,) = pack.facts
    assert (fact.name, fact.returns, fact.binds) == ("denials", "value", ("session_id", "now"))
    guard, stop = pack.rules
    assert guard.events == ("PreToolUse", "PermissionRequest")
    assert guard.tools == "^(?:(?:Bash)|(?:mcp__.*))$"
    assert [(c.selector.source, c.kind, c.pattern, c.value) for c in guard.match] == [
        ("tool_input.command", "regex", "^terraform (apply|destroy)\\b", None),
        ("cwd", "glob", "(?s:(?:.*/)?billing)\\Z", "**/billing"),
        ("hook_event_name", "equals", None, "PreToolUse")]
    assert guard.when.names == ("facts", "input", "params")
    assert guard.when.facts == ("denials",)
    assert guard.when.reads == ("facts.denials", "params.limit", "params.pattern", "input.command")
    assert (guard.when.location.line, guard.when.location.col) == (21, 11)
    assert guard.reason.source == "Terraform in {{ basename(event.cwd) }}"
    assert guard.delay.source == "0.5"
    assert [(e.kind, e.condition.source if e.condition else None) for e in guard.effects] == [
        ("record", None), ("set", "verdict == 'ask'")]
    assert (guard.location.line, guard.location.col) == (13, 5)
    assert (stop.enabled, stop.final, stop.block_cap, stop.decision) == (False, True, 2, "deny")
    ruleset = build_ruleset(compiled, Settings())
    assert [rule.id for rule in ruleset.rules_for("PreToolUse")] == ["guard-prod-terraform"]
    assert [rule.id for rule in ruleset.rules_for("Stop")] == ["stop-gate"]
    assert ruleset.rules_for("SessionStart") == ()
    assert ruleset.revisions == {"guard": "2026-11-20.1"}
    assert ruleset.uses_now is False


def test_digest_changes_with_content_and_settings(tmp_path):
    first = build_ruleset(compile_text(tmp_path, VALID), Settings()).digest
    assert build_ruleset(compile_text(tmp_path, VALID), Settings()).digest == first
    assert build_ruleset(compile_text(tmp_path, VALID), Settings(), settings_key=b"other").digest != first
    assert build_ruleset(compile_text(tmp_path, VALID.replace("limit: 3", "limit: 4")), Settings()).digest != first


def test_uses_now(tmp_path):
    text = HEADER + "rules:\n  - id: late\n    events: Stop\n    when: now.hour > 22\n"
    assert build_ruleset(compile_text(tmp_path, text), Settings()).uses_now is True


# ---- the schema stage ---------------------------------------------------------------------------------------------

def test_unknown_key_with_did_you_mean(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: Stop\n    decison: deny\n") == [
        "rules.yaml:6:5: unknown-key: unknown key 'decison' in rules[0]\n    hint: did you mean 'decision'?"]


def test_unknown_top_level_key(tmp_path):
    assert errors_of(tmp_path, HEADER + "rule: []\nrules: []\n") == [
        "rules.yaml:3:1: unknown-key: unknown key 'rule' in the top level\n    hint: did you mean 'rules'?"]


def test_missing_key(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    decision: deny\n") == [
        "rules.yaml:4:5: missing-key: rules[0] needs the key 'events'\n    hint: add `events:`"]


def test_missing_pack_and_rules(tmp_path):
    assert errors_of(tmp_path, "version: 1\n") == [
        "rules.yaml:1:1: missing-key: the top level needs the key 'pack'\n    hint: add `pack:`",
        "rules.yaml:1:1: missing-key: the top level needs the key 'rules'\n    hint: add `rules:`"]


def test_bad_enum_value_with_did_you_mean(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: [Stop, PreToolUs]\n    decision: denny\n") == [
        "rules.yaml:5:20: bad-value: 'PreToolUs' is not a valid value for rules[0].events[1]\n"
        "    hint: did you mean 'PreToolUse'?",
        "rules.yaml:6:15: bad-value: 'denny' is not a valid value for rules[0].decision\n    hint: did you mean 'deny'?"]


def test_bad_type_and_bad_pattern(tmp_path):
    assert errors_of(tmp_path, "version: 1\npack: Demo Pack\nrules:\n  - id: a\n    events: Stop\n"
                               "    final: sometimes\n") == [
        "rules.yaml:2:7: bad-value: 'Demo Pack' is not a valid pack\n    hint: it must match ^[a-z0-9]+(-[a-z0-9]+)*$",
        "rules.yaml:6:12: bad-type: rules[0].final must be true or false, not a string"]


def test_duplicate_rule_ids(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: Stop\n  - id: b\n    events: Stop\n"
                                        "  - id: a\n    events: PreToolUse\n") == [
        "rules.yaml:8:9: duplicate-id: rule id 'a' is used twice in pack 'demo' (first at line 4)\n"
        "    hint: give each rule its own id"]


def test_duplicate_rule_id_is_reported_even_when_the_rule_has_other_errors(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: Stop\n  - id: a\n    events: Stp\n") == [
        "rules.yaml:6:9: duplicate-id: rule id 'a' is used twice in pack 'demo' (first at line 4)\n"
        "    hint: give each rule its own id",
        "rules.yaml:7:13: bad-value: 'Stp' is not a valid value for rules[1].events\n    hint: did you mean 'Stop'?"]


def test_duplicate_pack_names_across_files(tmp_path):
    first = write(tmp_path / "one.yaml", HEADER + "rules: []\n")
    second = write(tmp_path / "two.yaml", "# the same pack again\n" + HEADER + "rules: []\n")
    compiled = compile_files([PackSource(str(first), "one.yaml", trusted=True),
                              PackSource(str(second), "two.yaml", trusted=True)])
    assert rendered(compiled) == [
        "two.yaml:3:7: duplicate-pack: pack 'demo' is already loaded from one.yaml\n"
        "    hint: pack names must be unique among loaded files"]
    assert [pack.source for pack in compiled.packs] == ["one.yaml"]


def test_missing_version(tmp_path):
    assert errors_of(tmp_path, "pack: demo\nrules: []\n") == [
        "rules.yaml:1:1: missing-version: the rule file has no `version:`\n    hint: add `version: 1` at the top"]


@pytest.mark.parametrize("version", ["2", "'1'", "true", "1.5"])
def test_unknown_format_version(tmp_path, version):
    shown = {"2": "2", "'1'": "'1'", "true": "True", "1.5": "1.5"}[version]
    assert errors_of(tmp_path, f"version: {version}\npack: demo\nrules: []\n") == [
        f"rules.yaml:1:10: unknown-version: unknown format version {shown}; this policy reads version 1\n"
        "    hint: upgrade policy, or write the file in version 1"]


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "rules.yaml:1:1: bad-type: a rule file must be a mapping at the top level\n"
                   "    hint: start with `version: 1`"),
    ("null\n", "rules.yaml:1:1: bad-type: a rule file must be a mapping at the top level\n"
               "    hint: start with `version: 1`"),
    ("---\n", "rules.yaml:1:1: empty-file: the file is empty\n    hint: see docs/rules.md for the format"),
])
def test_not_a_mapping(tmp_path, text, expected):
    assert errors_of(tmp_path, text) == [expected]


# ---- regexes, globs, JMESPath ---------------------------------------------------------------------------------------

def test_bad_regex_in_tools(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    tools: 'Bash('\n") == [
        "rules.yaml:6:12: bad-regex: invalid regex 'Bash(': missing ), unterminated subpattern at position 4\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_regex_in_a_tools_list_is_located_at_the_item(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    tools:\n      - Bash\n"
                                        "      - '[Edit'\n") == [
        "rules.yaml:8:9: bad-regex: invalid regex '[Edit': unterminated character set at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_regex_in_match(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    match:\n"
                                        "      tool_input.command: '(rm'\n      cwd: {regex: '*x'}\n") == [
        "rules.yaml:7:27: bad-regex: invalid regex '(rm': missing ), unterminated subpattern at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)",
        "rules.yaml:8:20: bad-regex: invalid regex '*x': nothing to repeat at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_regex_in_matches_with_a_constant(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n"
                                        "    when: matches('(x', input.command)\n") == [
        "rules.yaml:6:11: bad-regex: invalid regex '(x': missing ), unterminated subpattern at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_regex_in_matches_with_a_param(tmp_path):
    assert errors_of(tmp_path, HEADER + "params:\n  pattern: '[a-'\nrules:\n  - id: a\n    events: PreToolUse\n"
                                        "    when: matches(params.pattern, input.command)\n") == [
        "rules.yaml:8:11: bad-regex: invalid regex '[a-': unterminated character set at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_regex_in_a_param_overridden_by_the_config(tmp_path):
    text = HEADER + "params:\n  pattern: 'ok'\nrules:\n  - id: a\n    events: PreToolUse\n" \
                    "    when: matches(params.pattern, input.command)\n"
    assert errors_of(tmp_path, text, params={"pattern": "(("}) == [
        "rules.yaml:8:11: bad-regex: invalid regex '((': missing ), unterminated subpattern at position 1\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)"]


def test_bad_jmespath_in_match_and_in_jp(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    match:\n"
                                        "      'tool_input.[': x\n    when: jp('a[', input) == 1\n") == [
        "rules.yaml:7:7: bad-jmespath: invalid JMESPath 'tool_input.[': Invalid jmespath expression: "
        "Incomplete expression:\n    hint: match keys are JMESPath paths into the event, e.g. tool_input.command",
        "rules.yaml:8:11: bad-jmespath: invalid JMESPath 'a[': Invalid jmespath expression: Incomplete expression:\n"
        "    hint: see https://jmespath.org for the syntax"]


def test_bad_glob_in_match_and_in_glob(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    match:\n"
                                        "      tool_input.file_path: {glob: 'src/[z-a].py'}\n"
                                        "    when: glob('[9-0]*', input.file_path)\n") == [
        "rules.yaml:7:36: bad-glob: invalid glob 'src/[z-a].py': bad character range z-a\n"
        "    hint: globs use * and ? (within a path segment), ** (across segments) and [...] (a set of characters)",
        "rules.yaml:8:11: bad-glob: invalid glob '[9-0]*': bad character range 9-0\n"
        "    hint: globs use * and ? (within a path segment), ** (across segments) and [...] (a set of characters)"]


# ---- expressions -----------------------------------------------------------------------------------------------------

def when_errors(tmp_path, expression, extra=""):
    text = HEADER + extra + "rules:\n  - id: a\n    events: PreToolUse\n    when: " + expression + "\n"
    return errors_of(tmp_path, text)


@pytest.mark.parametrize("expression, expected", [
    ("'tool ==='", "bad-expression: invalid expression 'tool ===': invalid syntax\n"
                   "    hint: expressions use Python syntax: and/or/not, ==, in, f(x)"),
    ("'tool == 1; tool == 2'", "bad-expression: 'tool == 1; tool == 2' holds more than one expression\n"
                               "    hint: combine conditions with `and` / `or`"),
    ("'x = 1'", "not-allowed: 'x = 1' is a statement, not an expression\n    hint: assignments are not allowed"),
    ("'  '", "bad-expression: empty expression\n    hint: write a condition, e.g. `true`"),
    ("'toool == 1'", "unknown-name: unknown name 'toool'\n    hint: did you mean 'tool'?"),
    ("'verdict == 1'", "unknown-name: unknown name 'verdict'\n"
                       "    hint: `verdict` exists only in `do:` effects and their `if:`"),
    ("'lenn(input) > 1'", "unknown-function: unknown function 'lenn'\n    hint: did you mean 'len'?"),
    ("'open(input)'", "unknown-function: unknown function 'open'\n"
                      "    hint: the functions are listed in docs/expressions.md"),
    ("'nothing_like_it'", "unknown-name: unknown name 'nothing_like_it'\n"
                          "    hint: names in scope: event, tool, input, prompt, session, facts, params, now"),
    ("'facts.qqq'", "unknown-fact: unknown fact 'facts.qqq'\n    hint: facts are: "
                    + ", ".join(sorted(family_fields()))),
    ("'facts.kv.qqq'", "unknown-fact: facts.kv has no field 'qqq'\n    hint: facts.kv has: age, get"),
    ("'tool(1)'", "not-callable: 'tool' is not a function"),
    ("'facts.kvv'", "unknown-fact: unknown fact 'facts.kvv'\n    hint: did you mean 'kv'?"),
    ("'facts.kv.gett'", "unknown-fact: facts.kv has no field 'gett'\n    hint: did you mean 'get'?"),
    ("'params.limt > 1'", "unknown-param: the pack has no param 'limt'\n    hint: declare it under `params:`"),
    ("'(lambda: 1)()'", "not-allowed: lambda is not allowed in expressions\n"
                        "    hint: see docs/expressions.md for the language"),
    ("\"''.__class__\"", "not-allowed: the attribute '__class__' is not allowed"),
    ("'input.__class__.__mro__'", "not-allowed: the attribute '__mro__' is not allowed"),
    ("'().__class__'", "not-allowed: the attribute '__class__' is not allowed"),
    ("'input.format()'", "not-allowed: the attribute 'format' is not allowed"),
    ("'__import__'", "not-allowed: names starting with '_' are not allowed"),
    ("\"f'{tool}' == 'x'\"", "not-allowed: an f-string is not allowed in expressions\n"
                              "    hint: use `{{ }}` templates for text"),
    ("'(y := 1)'", "not-allowed: := is not allowed in expressions\n    hint: see docs/expressions.md for the language"),
    ("'[[a for a in b] for b in input]'", "not-allowed: comprehensions cannot be nested"),
    ("'[a for a in input for b in a]'", "not-allowed: a comprehension may have only one `for`"),
    ("'{a for a in input}'", "not-allowed: a set comprehension is not allowed in expressions\n"
                             "    hint: see docs/expressions.md for the language"),
    ("'[_x for _x in input]'", "not-allowed: names starting with '_' are not allowed"),
    ("\"b'x'\"", "not-allowed: bytes literals are not allowed"),
    ("'input[0]()'", "not-allowed: only named functions and methods can be called"),
    ("'x' * 4001 + \"'\"", None),
])
def test_expression_errors(tmp_path, expression, expected):
    if expected is None:  # an expression longer than MAX_EXPRESSION_LENGTH
        expression = "'" + "x" * 4001 + "'"
        expected = "too-long: expression longer than 4000 characters"
    assert when_errors(tmp_path, expression) == [f"rules.yaml:6:11: {expected}"]


def test_unknown_param_with_suggestion(tmp_path):
    assert when_errors(tmp_path, "params.limt > 1", "params:\n  limit: 1\n") == [
        "rules.yaml:8:11: unknown-param: the pack has no param 'limt'\n    hint: did you mean 'limit'?"]


def test_every_problem_of_one_expression_is_reported_once(tmp_path):
    assert when_errors(tmp_path, "toool == 1 and lenn(input) and facts.kvv.x and facts.kv.gett") == [
        "rules.yaml:6:11: unknown-fact: unknown fact 'facts.kvv'\n    hint: did you mean 'kv'?",
        "rules.yaml:6:11: unknown-fact: facts.kv has no field 'gett'\n    hint: did you mean 'get'?",
        "rules.yaml:6:11: unknown-function: unknown function 'lenn'\n    hint: did you mean 'len'?",
        "rules.yaml:6:11: unknown-name: unknown name 'toool'\n    hint: did you mean 'tool'?"]


def test_template_errors(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    decision: deny\n"
                                        "    reason: 'no {{ toool }}'\n    context: 'open {{ tool'\n") == [
        "rules.yaml:7:13: unknown-name: unknown name 'toool'\n    hint: did you mean 'tool'?",
        "rules.yaml:8:14: bad-template: unclosed '{{' in 'open {{ tool'\n    hint: close it with '}}'"]


def test_tools_on_a_rule_without_a_tool_event(tmp_path):
    assert errors_of(tmp_path, HEADER + "rules:\n  - id: a\n    events: [Stop, UserPromptSubmit]\n"
                                        "    tools: Bash\n") == [
        "rules.yaml:6:5: tools-without-tool-event: rule 'a' filters on tools but none of its events is a tool event\n"
        "    hint: tool events are PermissionDenied, PermissionRequest, PostToolUse, PostToolUseFailure, PreToolUse"]


@pytest.mark.parametrize("rule", [
    "events: PreToolUse\n    decision: deny\n",
    "events: Stop\n    decision: ask\n",
    "events: Stop\n    message: hi\n",
    "events: Stop\n    decision: deny\n    stop: enough\n",  # a stop ends the agent's work: nothing to cap
])
def test_block_cap_where_nothing_keeps_the_agent_working_is_a_warning(tmp_path, rule):
    compiled = compile_text(tmp_path, HEADER + "rules:\n  - id: a\n    " + rule + "    block_cap: 3\n")
    (diagnostic,) = compiled.diagnostics
    assert diagnostic.render().endswith(
        "warning: useless-block-cap: block_cap only applies to Stop or SubagentStop rules that keep the agent "
        "working (a deny or a context)\n    hint: remove it")


@pytest.mark.parametrize("rule", ["decision: deny", "context: run the tests"])
def test_block_cap_on_a_rule_that_keeps_the_agent_working(tmp_path, rule):
    compiled = compile_text(tmp_path, HEADER + f"rules:\n  - id: a\n    events: SubagentStop\n    {rule}\n"
                                               "    block_cap: 3\n")
    assert (compiled.diagnostics, compiled.packs[0].rules[0].block_cap) == ((), 3)


# ---- rewrites and stops -------------------------------------------------------------------------------------------

def test_rewrites_and_stops_compile_to_templates(tmp_path):
    from policy.model import Template

    compiled = compile_text(tmp_path, HEADER + """rules:
  - id: a
    events: [PreToolUse, PostToolUse]
    decision: ask
    update_input: {command: "{{ input.command }} --dry-run", timeout: 5, run_in_background: null, flags: [a, "{{ tool }}"]}
    update_output: {stdout: "[redacted]"}
    stop: "{{ tool }} is over budget"
  - id: b
    events: PostToolUse
    update_output: "the output of {{ tool }} is hidden"
""")
    assert compiled.diagnostics == ()
    first, second = compiled.packs[0].rules
    assert isinstance(first.update_input["command"], Template) and first.update_input["command"].source == \
        "{{ input.command }} --dry-run"
    assert (first.update_input["timeout"], first.update_input["run_in_background"]) == (5, None)
    assert first.update_input["flags"][0] == "a" and isinstance(first.update_input["flags"][1], Template)
    assert first.update_output == {"stdout": "[redacted]"}
    assert (first.stop.source, second.update_output.source) == ("{{ tool }} is over budget",
                                                               "the output of {{ tool }} is hidden")
    assert {expr.source for expr in first.expressions()} >= {"input.command", "tool"}


@pytest.mark.parametrize("decision, shown", [(None, "missing"), ("deny", "deny"), ("defer", "defer")])
def test_a_rewrite_needs_a_verdict_that_lets_the_call_go_ahead(tmp_path, decision, shown):
    rule = "  - id: a\n    events: PreToolUse\n" + (f"    decision: {decision}\n" if decision else "") + \
        "    update_input: {command: ls}\n"
    compiled = compile_text(tmp_path, HEADER + "rules:\n" + rule)
    assert rendered(compiled) == [
        f"rules.yaml:{7 if decision else 6}:5: rewrite-needs-verdict: rule 'a' rewrites the tool input but its decision "
        f"is {shown}: a rewrite only takes effect with a call that goes ahead\n"
        "    hint: add `decision: allow` (run the rewritten call) or `decision: ask` (show it to the user first)"]


@pytest.mark.parametrize("field, value, expected", [
    ("update_input", "ls -la", "rules.yaml:7:19: bad-type: rules[0].update_input must be a mapping, not a string"),
    ("update_output", "[1]", "rules.yaml:7:20: bad-type: rules[0].update_output must be a mapping, not a list"),
    ("update_input", "{command: '{{ nope }}'}", "rules.yaml:7:29: unknown-name: unknown name 'nope'\n"
     "    hint: names in scope: event, tool, input, prompt, session, facts, params, now"),
    # (jsonschema words these itself: only where and what kind of error is checked)
    ("update_input", "{}", "rules.yaml:7:19: schema: rules[0].update_input: "),
    ("stop", "''", "rules.yaml:7:11: schema: rules[0].stop: "),
])
def test_bad_rewrites_and_stops(tmp_path, field, value, expected):
    compiled = compile_text(tmp_path, HEADER + f"rules:\n  - id: a\n    events: PreToolUse\n    decision: allow\n"
                                               f"    {field}: {value}\n")
    (line,) = rendered(compiled)
    assert line == expected or (expected.endswith(": ") and line.startswith(expected)), line


# ---- SQL facts -------------------------------------------------------------------------------------------------------

SQL_HINT = "    hint: facts are one read-only SELECT; bind :session_id, :now, :tool, :cwd or a param by name"


@pytest.mark.parametrize("sql, message", [
    ("delete from decisions", "only a read-only SELECT is allowed"),
    ("insert into kv(key, value, updated_at) values ('a', '1', 0)", "only a read-only SELECT is allowed"),
    ("select 1; select 2", "only one statement is allowed"),
    ("select count(*) from decisions where agent_session = :sesion",
     "unknown parameter :sesion (allowed: :cwd, :event, :limit, :now, :session_id, :tool)"),
    ("select * from decisions where id = ?", "use named parameters (:name), not positional ones"),
    ("select nope from decisions", "no such column: nope"),
    ("select 1 from nowhere", "no such table: nowhere"),
    ("pragma user_version", "only a read-only SELECT is allowed"),
])
def test_bad_sql_facts(tmp_path, sql, message):
    text = HEADER + f"params:\n  limit: 1\nfacts:\n  mine:\n    sql: \"{sql}\"\nrules: []\n"
    assert errors_of(tmp_path, text) == [f"rules.yaml:7:10: bad-sql: fact 'mine': {message}\n{SQL_HINT}"]


def test_sql_fact_binding_a_param_and_a_comment_with_a_colon(tmp_path):
    text = HEADER + "params:\n  limit: 1\nfacts:\n  mine:\n    sql: |\n      -- at :00 of each hour\n" \
                    "      select count(*) from decisions where at > :now - :limit and reason != ':x'\n    one: true\n" \
                    "rules: []\n"
    compiled = compile_text(tmp_path, text)
    assert compiled.diagnostics == ()
    assert compiled.packs[0].facts[0].binds == ("now", "limit")
    assert compiled.packs[0].facts[0].returns == "row"


def test_fact_named_like_a_family(tmp_path):
    assert errors_of(tmp_path, HEADER + "facts:\n  kv:\n    sql: select 1\nrules: []\n") == [
        "rules.yaml:4:3: fact-clash: the fact name 'kv' is a built-in fact family\n    hint: choose another name"]


# ---- effects --------------------------------------------------------------------------------------------------------

def effect_errors(tmp_path, effects, **kwargs):
    text = HEADER + "rules:\n  - id: a\n    events: PreToolUse\n    do:\n" + "".join(
        f"      - {effect}\n" for effect in effects)
    return errors_of(tmp_path, text, **kwargs)


def test_unknown_effect(tmp_path):
    assert effect_errors(tmp_path, ["recrod: {table: audit, values: {a: 1}}", "launch"]) == [
        "rules.yaml:7:9: unknown-effect: unknown effect 'recrod'\n    hint: did you mean 'record'?",
        "rules.yaml:8:9: unknown-effect: unknown effect 'launch'\n    hint: expected one of: "
        + ", ".join(sorted(effect_modules()))]


def test_effect_argument_errors(tmp_path):
    assert effect_errors(tmp_path, ["record: {table: audit}", "record: {table: audit, values: {a: 1}, extra: 2}",
                                    "{record: {table: t, values: {a: 1}}, set: {key: k, value: 1}}",
                                    "{if: 'true'}", "record: {table: Audit, values: {a: 1}}"]) == [
        "rules.yaml:7:17: missing-key: rules[0].do[0].record needs the key 'values'\n    hint: add `values:`",
        "rules.yaml:8:48: unknown-key: unknown key 'extra' in rules[0].do[1].record\n"
        "    hint: expected one of: table, values",
        "rules.yaml:9:9: bad-effect: rules[0].do[2] must name exactly one effect, not 2\n"
        "    hint: write each effect as its own list item, e.g. `- record: {...}`",
        "rules.yaml:10:9: bad-effect: rules[0].do[3] must name exactly one effect, not 0\n"
        "    hint: write each effect as its own list item, e.g. `- record: {...}`",
        "rules.yaml:11:25: bad-value: 'Audit' is not a valid table\n    hint: it must match ^[a-z_][a-z0-9_]*$"]


@pytest.mark.parametrize("table", ["decisions", "meta", "schema_migrations", "source_cache"])
def test_effect_writing_to_a_bookkeeping_table(tmp_path, table):
    assert effect_errors(tmp_path, [f"record: {{table: {table}, values: {{a: 1}}}}"]) == [
        f"rules.yaml:7:9: protected-table: rules cannot write to the {table!r} table\n"
        "    hint: record into a table of your own instead"]


def test_effect_writing_to_a_sqlite_table(tmp_path):
    assert effect_errors(tmp_path, ["delete: {table: sqlite_master, where: {name: x}}"]) == [
        "rules.yaml:7:9: protected-table: 'sqlite_master' is reserved by SQLite\n    hint: choose another name"]


def test_unknown_column_in_a_builtin_table(tmp_path):
    assert effect_errors(tmp_path, ["record: {table: tool_attempts, values: {at: 1, tol: x, verdict: v}}",
                                    "upsert: {table: kv, key: key, values: {key: a, valu: 1}}"]) == [
        "rules.yaml:7:9: unknown-column: table 'tool_attempts' has no column 'tol'\n    hint: did you mean 'tool'?",
        "rules.yaml:8:9: unknown-column: table 'kv' has no column 'valu'\n    hint: did you mean 'value'?"]


def test_upsert_into_a_builtin_table_must_use_its_primary_key(tmp_path):
    assert effect_errors(tmp_path, ["upsert: {table: kv, key: value, values: {key: a, value: '1', updated_at: 0}}",
                                    "upsert: {table: audit, key: [a, b], values: {a: 1}}"]) == [
        "rules.yaml:7:9: bad-effect: upsert into 'kv' must use its primary key ['key'] as key\n    hint: key: ['key']",
        "rules.yaml:8:9: bad-effect: upsert key column(s) ['b'] need a value in values:\n    hint: add them to values"]


def test_effect_templates_see_verdict(tmp_path):
    assert effect_errors(tmp_path, ["set: {key: 'k', value: '{{ verdic }}'}", "set: {key: '{{ verdict }}', value: 1}"
                                    ]) == [
        "rules.yaml:7:32: unknown-name: unknown name 'verdic'\n    hint: did you mean 'verdict'?"]


# ---- params ------------------------------------------------------------------------------------------------------------

def test_param_overrides_are_checked(tmp_path):
    text = HEADER + "params:\n  limit: 3\n  name: x\nrules: []\n"
    assert errors_of(tmp_path, text, params={"limt": 4, "name": 5, "limit": 2.5}) == [
        "rules.yaml:4:3: bad-param: param 'name' must be str, like its default 'x', not int",
        "rules.yaml:4:3: unknown-param: pack 'demo' has no param 'limt'\n    hint: did you mean 'limit'?"]


# ---- all at once, sorted ------------------------------------------------------------------------------------------------

def test_all_errors_of_all_files_at_once_and_sorted(tmp_path):
    second = write(tmp_path / "b.yaml", HEADER.replace("demo", "other") + "rules:\n  - id: x\n    events: Stp\n")
    first = write(tmp_path / "a.yaml", HEADER + "rules:\n  - id: one\n    events: PreToolUse\n"
                                                "    when: toool\n    tools: '('\n  - id: two\n    events: Stop\n"
                                                "    decison: deny\n")
    compiled = compile_files([PackSource(str(second), "b.yaml", trusted=True),
                              PackSource(str(first), "a.yaml", trusted=True)])
    assert rendered(compiled) == [
        "a.yaml:6:11: unknown-name: unknown name 'toool'\n    hint: did you mean 'tool'?",
        "a.yaml:7:12: bad-regex: invalid regex '(': missing ), unterminated subpattern at position 0\n"
        "    hint: regexes use Python syntax (docs/rules.md#match)",
        "a.yaml:10:5: unknown-key: unknown key 'decison' in rules[1]\n    hint: did you mean 'decision'?",
        "b.yaml:5:13: bad-value: 'Stp' is not a valid value for rules[0].events\n    hint: did you mean 'Stop'?"]
    with pytest.raises(ValidationFailed) as raised:
        build_ruleset(compiled, Settings())
    error = raised.value
    assert [d.render() for d in error.diagnostics] == rendered(compiled)
    assert error.one_line() == ("a.yaml:6:11: unknown-name: unknown name 'toool' (and 3 more: run `policy validate`) "
                                "(did you mean 'tool'?)")
