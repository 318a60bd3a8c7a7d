"""Inputs that would stall or exhaust the hook: a runaway SQL fact, a pattern an event supplies, a power that
takes minutes, an alias bomb; and Stop/SubagentStop block caps counted apart."""

from __future__ import annotations

import json
import time

import pytest
from conftest import event_payload, write

from policy.compiler import PackSource, build_ruleset, compile_files
from policy.conditions import ExpressionError, evaluate, make_scope
from policy.errors import Location, StoreError
from policy.expressions import CompileEnv, FactCatalog, compile_expression
from policy.loader import MAX_NODES, parse_yaml
from policy.model import Settings
from policy.store import Store

HERE = Location("t.yaml", 1, 1)
ENV = CompileEnv(FactCatalog({}), {"pattern": "^rm "})


def test_a_runaway_sql_fact_is_stopped_in_time(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        started = time.monotonic()
        with pytest.raises(StoreError) as raised:
            store.read_only("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                            "SELECT count(*) FROM n", {}, time_limit=0.2)
        assert time.monotonic() - started >= 0.2
        assert (raised.value.code, raised.value.message) == (
            "fact-timeout", "a SQL fact ran longer than 0.2s and was stopped")
        assert store.value("SELECT count(*) FROM decisions") == 0  # the connection is usable afterwards


def test_a_runaway_sql_fact_fails_the_hook_closed(env):
    write(env.root / "rules.yaml", """
        version: 1
        pack: loop
        facts:
          forever: {sql: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
                    value: true}
        rules:
          - {id: a, events: PreToolUse, when: "facts.forever > 0", decision: deny}
        """)
    result = env.eval("--rules", "rules.yaml", stdin=json.dumps(event_payload("PreToolUse-Edit")).encode())
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == ("policy: fact-timeout: a SQL fact ran longer than 0.5s and was stopped "
                                      "(facts run on every event: make the query use an index and end)\n")


@pytest.mark.parametrize("source, what", [
    ("matches(input.pattern, input.command)", "regex of matches()"),
    ("glob(input.pattern, input.file_path)", "glob of glob()"),
    ("command_labels(input.command, event.cwd, input.map)", "command map of command_labels()"),
    ("jp(input.command, event)", "JMESPath of jp()"),
])
def test_patterns_must_not_come_from_the_event(source, what):
    expr, errors = compile_expression(source, HERE, ENV)
    assert expr is None
    assert [error.render() for error in errors] == [
        f"t.yaml:1:1: not-constant: the {what} must be a literal or a param\n"
        "    hint: constant patterns are checked when the rules load; a pattern taken from the event could be made "
        "to run for minutes"]


def test_patterns_from_params_and_literals_are_fine():
    for source in ("matches(params.pattern, input.command)", "matches('^git push', input.command)",
                   "jp('tool_input.command', event)"):
        expr, errors = compile_expression(source, HERE, ENV)
        assert errors == [] and expr is not None


def test_huge_integer_powers_are_refused_fast():
    expr, _ = compile_expression("4000000 ** 4000000", HERE, ENV)
    started = time.monotonic()
    with pytest.raises(ExpressionError) as raised:
        evaluate(expr, make_scope({}))
    assert str(raised.value) == "4000000 ** 4000000 is too large"
    assert time.monotonic() - started < 5
    small, _ = compile_expression("2 ** 64", HERE, ENV)
    assert evaluate(small, make_scope({})) == 2**64


def test_an_alias_bomb_is_refused():
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index, name in enumerate("bcdefgh"):
        previous = "abcdefgh"[index]
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    document = parse_yaml("\n".join(levels) + "\n", "bomb.yaml")
    assert document.data is None
    assert [d.render() for d in document.diagnostics] == [
        f"bomb.yaml:1:1: too-large: the document expands to more than {MAX_NODES:,} values\n"
        "    hint: aliases that repeat aliases multiply: write the values out"]


def test_stop_and_subagentstop_blocks_are_counted_apart(env):
    write(env.root / "rules.yaml", """
        version: 1
        pack: gate
        rules:
          - {id: stop, events: [Stop, SubagentStop], decision: deny, reason: keep going, block_cap: 2}
        """)
    stop = dict(event_payload("Stop-active"))
    subagent = dict(event_payload("SubagentStop"), stop_hook_active=True)

    def run(payload: dict) -> str:
        result = env.eval("--rules", "rules.yaml", stdin=json.dumps(payload).encode())
        return json.loads(result.stdout).get("decision") if result.stdout else "none"

    # two blocks of the subagent do not use up the main agent's cap, and the other way round
    assert [run(subagent), run(subagent), run(subagent)] == ["block", "block", "none"]
    assert [run(stop), run(stop), run(stop)] == ["block", "block", "none"]


def test_the_shipped_packs_use_no_event_supplied_patterns():
    from conftest import ROOT

    paths = sorted((ROOT / "rules").glob("*.yaml"))
    compiled = compile_files([PackSource(str(path), trusted=True) for path in paths
                              if not path.name.endswith(".test.yaml")])
    assert compiled.errors == ()
    build_ruleset(compiled, Settings())
