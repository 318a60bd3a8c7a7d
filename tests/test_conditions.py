"""policy.conditions and policy.expressions: the expression language. simpleeval's language, compiled to guarded
code: the sandbox holds, every function gives its documented result, and plain-data results equal simpleeval's
own."""

from __future__ import annotations

import datetime
import math

import pytest
import simpleeval

from policy import conditions
from policy.conditions import FUNCTIONS, ExpressionError, evaluate, make_scope, render
from policy.expressions import CompileEnv, FactCatalog, compile_expression, compile_template
from policy.errors import Location

HERE = Location("t.yaml", 1, 1)
ENV = CompileEnv(FactCatalog({"kv": frozenset({"get", "age"})}), {"limit": 3, "pattern": "^rm "})

DATA = {
    "event": {"hook_event_name": "PreToolUse", "cwd": "/home/dev/shop", "tool_input": {"command": "ls -la"},
              "list": [3, 1, 2], "nested": {"a": {"b": [10, 20]}}, "empty": [], "none": None,
              "counts": {"items": 2}},
    "tool": "Bash",
    "input": {"command": "terraform apply -auto-approve", "file_path": "/home/dev/shop/src/cart.py",
              "n": 7, "ratio": 0.25, "flags": ["-a", "-l"], "big": "a" * 100_000, "many": list(range(10_001))},
    "prompt": "refactor the cart totals",
    "session": "s1",
    "params": {"limit": 3, "pattern": "^rm "},
}


def scope(**extra):
    return make_scope({"facts": None, "now": None, **DATA, **extra})


def compiled(source, env=ENV):
    expr, errors = compile_expression(source, HERE, env)
    assert errors == [], [error.render() for error in errors]
    return expr


def run(source, **extra):
    return evaluate(compiled(source), scope(**extra))


def refused(source, **extra):
    with pytest.raises(ExpressionError) as raised:
        run(source, **extra)
    return str(raised.value)


def compile_errors(source):
    _, errors = compile_expression(source, HERE, ENV)
    return [error.render() for error in errors]


# ---- limits ---------------------------------------------------------------------------------------------------------

def test_limits_equal_simpleevals():
    ours = {name: value for name, value in vars(conditions).items() if name.startswith("MAX_")}
    theirs = {name: value for name, value in vars(simpleeval).items() if name.startswith("MAX_")}
    # ours only: a bound on the source text, and on integer powers (simpleeval's lets 4000000 ** 4000000 through)
    assert set(ours) - set(theirs) == {"MAX_EXPRESSION_LENGTH", "MAX_INTEGER_BITS",
                                        "MAX_ROUND_DIGITS"}
    assert {name: ours[name] for name in theirs} == theirs


# ---- the sandbox ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "''.__class__", "input.__class__", "().__class__.__mro__", "event.__dict__", "tool.__len__()",
    "input.get.__self__", "[].__class__.__base__.__subclasses__()", "len.__globals__", "now.__reduce__",
    "input.func_globals", "tool.format(1)", "tool.format_map({})", "input.mro", "x.gi_frame", "x.tb_frame",
    "__builtins__", "_attr(input, 'x')", "__import__('os')",
])
def test_dunder_and_escape_attributes_are_refused_at_compile_time(source):
    errors = compile_errors(source)
    assert errors and all(": not-allowed: " in error or ": unknown-name: " in error for error in errors), errors


@pytest.mark.parametrize("source, message", [
    ("[].pop", "list value has no attribute 'pop' available to expressions"),
    ("input.flags.append", "list value has no attribute 'append' available to expressions"),
    ("input.n.bit_length()", "int value has no attribute 'bit_length' available to expressions"),
    ("tool.encode", "str value has no attribute 'encode' available to expressions"),
    ("tool.center(10)", "str value has no attribute 'center' available to expressions"),
    ("input.get('command').zfill(9)", "str value has no attribute 'zfill' available to expressions"),
    ("input.keys().mapping", "dict_keys value has no attribute 'mapping' available to expressions"),
    ("len.name", "builtin_function_or_method value has no attribute 'name' available to expressions"),
    ("tool.upper.name", "function value has no attribute 'name' available to expressions"),
    ("input.flags['x']", "list indexes must be integers or slices"),
    ("input.n[0]", "int value cannot be indexed"),
])
def test_attributes_outside_the_whitelist_are_refused_at_run_time(source, message):
    assert refused(source) == message


def test_mapping_attributes_read_keys_and_missing_ones_are_none():
    assert run("input.command") == "terraform apply -auto-approve"
    assert run("input.missing.deeper") is None
    assert run("event.nested.a.b[1]") == 20
    assert run("event['nested']['a']['b'][5]") is None
    assert run("input.get('command', 'x')") == "terraform apply -auto-approve"
    assert run("sorted(event.tool_input.keys())") == ["command"]


def test_views_expose_only_their_fields():
    class Focus(conditions.View):
        fields = ("active",)
        active = True
        secret = "no"

    assert run("facts.kv", facts=type("F", (conditions.View,), {"fields": ("kv",), "kv": 1})()) == 1
    assert evaluate(compiled("input.active", CompileEnv(ENV.catalog, {})), scope(input=Focus())) is True
    assert refused("input.secret", input=Focus()) == "focus has no field 'secret'"
    assert refused("input['secret']", input=Focus()) == "focus has no field 'secret'"
    assert refused("input[1]", input=Focus()) == "focus[...] needs a string key"
    assert refused("[x for x in input]", input=Focus()) == "cannot iterate over focus"


def test_no_builtins_are_reachable():
    expr = compiled("tool")
    assert expr.code.co_names == ("tool",)
    assert scope()["__builtins__"] == {}


def test_power_is_bounded():
    assert run("2 ** 10") == 1024
    assert refused("2 ** 4000001") == "2 ** 4000001 is too large"
    assert refused("4000001 ** 2") == "4000001 ** 2 is too large"


def test_shifts_are_bounded():
    assert run("1 << 3") == 8
    assert refused("1 << 10001") == "1 << 10001 is too large"
    assert refused("1 >> 10001") == "1 >> 10001 is too large"


def test_string_repetition_and_concatenation_are_bounded():
    assert run("len('ab' * 50000)") == 100_000
    assert refused("'ab' * 50001") == "repetition result would be too long"
    assert refused("50001 * 'ab'") == "repetition result would be too long"
    assert refused("[0] * 100001") == "repetition result would be too long"
    assert run("len(input.big[:99999] + 'x')") == 100_000
    assert refused("input.big + 'x'") == "concatenation result would be too long"


def test_comprehensions_are_bounded():
    assert run("len([x for x in input.many[:10000]])") == 10_000
    assert refused("[x for x in input.many]") == "comprehension over more than 10000 items"
    assert refused("{x: 1 for x in input.many}") == "comprehension over more than 10000 items"
    assert refused("any(x < 0 for x in input.many)") == "comprehension over more than 10000 items"


def test_string_methods_cannot_build_long_strings():
    assert run("input.command.replace('a', 'A')") == "terrAform Apply -Auto-Approve"
    assert refused("input.big.replace('a', 'aa')") == "result too long (200000 > 100000)"
    # refused before the 10 GB string is built
    assert refused("input.big.replace('a', input.big)") == "result too long (10000000000 > 100000)"
    assert run("'-'.join(input.flags)") == "-a--l"
    assert refused("''.join([input.big for x in input.flags])") == "result too long (200000 > 100000)"
    assert len(run("','.join([str(n) for n in input.many[:9999]])")) == 48_884


def test_printf_formatting_cannot_build_long_strings():
    assert run("'%s-%03d' % (tool, 7)") == "Bash-007"
    assert run("input.n % 4") == 3
    assert refused("'%0200000d' % 1") == "formatting result would be too long"
    assert refused("'%*d' % (200000, 1)") == "formatting result would be too long"
    assert refused("'%.200000f' % 1.0") == "formatting result would be too long"
    assert refused("'%s%s' % (input.big, input.big)") == "formatting result would be too long"


def test_text_of_a_huge_structure_is_refused_before_it_is_built():
    assert run("str([1, 'a', None])") == "[1, 'a', None]"
    assert refused("str([[1] * 100000] * 100000)") == "result too long (more than 100000 items)"
    expr = compile_template("{{ [[1] * 100000] * 100000 }}", HERE, ENV)[0]
    with pytest.raises(ExpressionError) as raised:
        render(expr, scope())
    assert str(raised.value) == "result too long (more than 100000 items)"


def test_sum_is_for_numbers():
    assert run("sum(event.list)") == 6
    assert run("sum([0.5, 0.25])") == 0.75
    assert refused("sum([[1] * 100000] * 100000, [])") == "sum() adds numbers only"
    assert run("sum(input.many)") == 50_005_000
    assert refused("sum(['a', 'b'])") == "sum() adds numbers only"


def test_generator_expressions_give_lists_as_in_simpleeval():
    assert run("(x * 2 for x in event.list)") == [6, 2, 4]
    assert run("len(x for x in event.list)") == 3
    assert run("any(x > 2 for x in event.list)") is True


def test_expressions_that_raise_give_an_expression_error():
    assert refused("1 / 0") == "ZeroDivisionError: division by zero"
    assert refused("tool + 1") == 'TypeError: can only concatenate str (not "int") to str'
    assert refused("min(event.empty)") == "ValueError: min() arg is an empty sequence"
    assert refused("exp(701)") == "exp(701) is too large"


# ---- what the compiler records -----------------------------------------------------------------------------------------

def test_names_facts_and_reads():
    expr = compiled("facts.kv.get('x') and params.limit > len(input.flags) and tool == 'Bash' and "
                    "[f for f in input.flags if f != tool]")
    assert expr.names == ("facts", "input", "params", "tool")
    assert expr.facts == ("kv",)
    assert expr.reads == ("facts.kv.get", "params.limit", "input.flags")
    assert expr.source.startswith("facts.kv.get")


def test_multiline_and_boolean_sources():
    assert evaluate(compiled("tool == 'Bash'\nand input.n > 1"), scope()) is True
    assert compiled(True).source == "True"
    assert evaluate(compiled(False), scope()) is False


def test_comprehension_variables_are_local():
    assert run("[tool for tool in event.list]") == [3, 1, 2]
    assert run("{k: v for k, v in event.nested.items()}") == {"a": {"b": [10, 20]}}
    assert run("[a + b for a, b in [(1, 2), (3, 4)]]") == [3, 7]


# ---- templates ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("plain text", "plain text"),
    ("{{ 1 + 1 }}", "2"),
    ("a {{ tool }} b {{ input.n * 2 }}c", "a Bash b 14c"),
    ("{{ input.missing }}|{{ None }}|{{ '' }}", "||"),
    ("{{tool}}{{tool}}", "BashBash"),
    ("}} and { are text", "}} and { are text"),
    ("{{ mmss(input.n * 60 + 5) }} left", "7:05 left"),
    ("{{ [1, 2] }} {{ {'a': 1} }}", "[1, 2] {'a': 1}"),
])
def test_templates(source, expected):
    template, errors = compile_template(source, HERE, ENV)
    assert errors == []
    assert render(template, scope()) == expected


def test_template_parts():
    template, _ = compile_template("a {{ tool }} b", HERE, ENV)
    assert [part if isinstance(part, str) else part.source for part in template.parts] == ["a ", "tool", " b"]
    assert {name for part in template.parts if not isinstance(part, str) for name in part.names} == {"tool"}


@pytest.mark.parametrize("source, expected", [
    ("a {{ tool", ["t.yaml:1:1: bad-template: unclosed '{{' in 'a {{ tool'\n    hint: close it with '}}'"]),
    ("{{ }}", ["t.yaml:1:1: bad-expression: empty expression\n    hint: write a condition, e.g. `true`"]),
    ("{{ toool }} {{ x.__class__ }}", ["t.yaml:1:1: unknown-name: unknown name 'toool'\n    hint: did you mean 'tool'?",
                                        "t.yaml:1:1: not-allowed: the attribute '__class__' is not allowed"]),
])
def test_template_errors(source, expected):
    template, errors = compile_template(source, HERE, ENV)
    assert template is None
    assert [error.render() for error in errors] == expected


# ---- every function ---------------------------------------------------------------------------------------------------------

FUNCTION_CASES = {
    "len": [("len(input.flags)", 2), ("len(tool)", 4), ("len(event.nested)", 1)],
    "any": [("any([0, None, 1])", True), ("any([])", False)],
    "all": [("all([1, 'x'])", True), ("all([1, 0])", False), ("all([])", True)],
    "min": [("min(3, 1, 2)", 1), ("min(event.list)", 1)],
    "max": [("max(3, 1, 2)", 3), ("max(['a', 'b'])", "b"), ("max(event.list, default=0)", 3)],
    "sum": [("sum([1, 2, 3])", 6), ("sum([])", 0)],
    "sorted": [("sorted(event.list)", [1, 2, 3]), ("sorted(event.list, reverse=True)", [3, 2, 1])],
    "abs": [("abs(-2.5)", 2.5)],
    "round": [("round(2.567, 2)", 2.57), ("round(2.5)", 2), ("round(3.5)", 4), ("round(1234, -2)", 1200),
              ("round(1, 400)", 1)],
    "int": [("int('12')", 12), ("int(2.9)", 2)],
    "float": [("float('1.5')", 1.5)],
    "str": [("str(12)", "12"), ("str(None)", ""), ("str(True)", "True")],
    "lower": [("lower('AbC')", "abc"), ("lower(None)", "")],
    "upper": [("upper('AbC')", "ABC"), ("upper(None)", "")],
    "matches": [("matches('^terraform (apply|destroy)', input.command)", True), ("matches('apply', input.command)", True),
                ("matches('^apply', input.command)", False), ("matches('x', None)", False), ("matches('^7$', input.n)", True),
                ("matches(params.pattern, 'rm -rf /')", True)],
    "glob": [("glob('*.py', input.file_path)", True), ("glob('*.js', input.file_path)", False),
             ("glob('src/*.py', 'src/a.py')", True), ("glob('src/*.py', 'src/b/a.py')", False),
             ("glob('src/**/*.py', 'src/a.py')", True), ("glob('src/**/*.py', 'src/b/c/a.py')", True),
             ("glob('src/*.py', input.file_path)", False), ("glob('**/src/*.py', input.file_path)", True),
             ("glob('?.py', 'a.py')", True), ("glob('??.py', 'a.py')", False), ("glob('[ab].py', 'b.py')", True),
             ("glob('[!ab].py', 'a.py')", False), ("glob('[!ab].py', 'c.py')", True),
             ("glob('src/*.py', 'src\\\\a.py')", True), ("glob('*.py', None)", False), ("glob('a[b', 'a[b')", True),
             ("glob('.env*', '/r/.env.local')", True), ("glob('**', '/any/thing')", True)],
    "jp": [("jp('nested.a.b[0]', event)", 10), ("jp('nested.a.b[-1]', event)", 20), ("jp('missing.x', event)", None),
           ("jp('length(list)', event)", 3), ("jp('list[?@ > `1`]', event)", [3, 2]),
           ("jp('tool_input.command', event)", "ls -la")],
    "mmss": [("mmss(245)", "4:05"), ("mmss(59.9)", "0:59"), ("mmss(3600)", "60:00"), ("mmss(-5)", "0:00"),
             ("mmss(None)", "0:00")],
    "duration": [("duration(45)", "45s"), ("duration(245)", "4m 05s"), ("duration(3900)", "1h 05m"),
                 ("duration(86400)", "24h 00m"), ("duration(0)", "0s"), ("duration(-3)", "0s"), ("duration(None)", "0s")],
    "minutes": [("minutes(2)", 120.0), ("minutes('1.5')", 90.0)],
    "hours": [("hours(1.5)", 5400.0)],
    "basename": [("basename(input.file_path)", "cart.py"), ("basename('C:\\\\x\\\\y.txt')", "y.txt"),
                 ("basename(None)", ""), ("basename('/a/')", "")],
    "dirname": [("dirname(input.file_path)", "/home/dev/shop/src"), ("dirname('b.py')", ""),
                ("dirname('C:\\\\x\\\\y.txt')", "C:/x")],
    "normpath": [("normpath('work/../../*', '/home/dev/shop')", "/home/dev/*"),
                 ("normpath('/a//b/./c/..')", "/a/b"), ("normpath('b.py', '/r/')", "/r/b.py"),
                 ("normpath('../x')", "../x"), ("normpath('C:\\\\x\\\\..\\\\y')", "C:/y"),
                 ("normpath(None)", ""), ("normpath(input.file_path, '/elsewhere')", "/home/dev/shop/src/cart.py")],
    "log": [("log(1)", 0.0), ("log(8, 2)", 3.0)],
    "exp": [("exp(0)", 1.0), ("exp(1)", math.e)],
    "curve": [("curve('linear', 20, 10, 60)", 20.0), ("curve('linear', 25, 10, 60, 30)", 30.0),
              ("curve('log', 20, 10, 60, 30)", round(60 * math.log1p(10) / math.log1p(30), 3)),
              ("curve('exp', 20, 10, 60, 30)", round(60 * math.expm1(4 * 10 / 30) / math.expm1(4), 3)),
              ("curve('log', 100, 10, 60, 30)", 60.0), ("curve('log', 10, 10, 60)", 0.0),
              ("curve('log', 5, 10, 60)", 0.0), ("curve('linear', 20, 10, 0)", 0.0),
              ("curve('linear', 20, 10, 60, 0)", 60.0), ("curve('log', None, None, 60)", 0.0)],
    "shell_commands": [
        ("shell_commands('cd a && echo x > ../b.txt 2>&1 | tee >(cat) <in', '/r')",
         [{"command": ["echo", "x"], "cwd": "/r/a", "writes": ["/r/b.txt"],
           "redirects": [{"op": ">", "target": "../b.txt", "path": "/r/b.txt"}]},
          {"command": ["cat"], "cwd": "/r/a", "writes": [], "redirects": []},
          {"command": ["tee", ">(cat)"], "cwd": "/r/a", "writes": [],
           "redirects": [{"op": "<", "target": "in", "path": "/r/a/in"}]}]),
        ("shell_commands(None)", [])],
    "shell_writes": [("shell_writes('cd .claude && echo x > settings.json; cat a >> /tmp/l', '/p')",
                      ["/p/.claude/settings.json", "/tmp/l"]),
                     ("shell_writes('diff <(terraform apply) x')", [])],
    "command_labels": [
        ("command_labels('cd infra/billing && terraform apply', '/srv', "
         "[{'match': '^terraform\\s+(apply|destroy)', 'label': 'stack:{cwd}'}])", ["stack:billing"]),
        ("command_labels('systemctl restart nginx; ls', '/srv', "
         "[{'match': '^systemctl\\s+restart\\s+(?P<unit>\\S+)', 'label': 'service:{unit}'}])", ["service:nginx"]),
        ("command_labels(input.command, event.cwd, [{'match': '^ls', 'label': 'host:x'}])", [])],
}


def test_every_function_has_cases():
    assert set(FUNCTION_CASES) == set(FUNCTIONS)


@pytest.mark.parametrize("source, expected", [case for cases in FUNCTION_CASES.values() for case in cases])
def test_function_results(source, expected):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_curve_with_an_unknown_kind():
    # a constant name is checked when the rules are loaded; one computed at run time fails there
    _, errors = compile_expression("curve('cubic', 20, 10, 60)", HERE, ENV)
    assert [error.render() for error in errors] == [
        "t.yaml:1:1: bad-value: curve() does not know 'cubic'\n    hint: expected one of: log, linear, exp"]
    assert refused("curve(tool, 20, 10, 60)") == "unknown curve 'Bash' (expected log, linear or exp)"


def test_curve_rises_monotonically_to_its_cap():
    for kind in ("log", "linear", "exp"):
        values = [conditions.curve(kind, excess, 10, 60, 30) for excess in range(0, 50)]
        assert values == sorted(values)
        assert values[10] == 0.0 and values[40] == 60.0 and values[-1] == 60.0


def test_function_docs_are_complete():
    # docs/expressions.md is generated from this table: every function documents a signature and a sentence.
    for function in FUNCTIONS.values():
        assert function.signature.startswith(function.name + "(")
        assert function.doc.endswith(".") and len(function.doc) > 10
    assert (FUNCTIONS["len"].signature, FUNCTIONS["len"].doc) == (
        "len(x)", "The number of items in a list, mapping or string.")


def test_datetime_fields():
    now = datetime.datetime(2026, 11, 20, 10, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert run("(now.year, now.month, now.day, now.hour, now.minute, now.weekday())", now=now) == (2026, 11, 20, 10, 30, 4)
    assert run("now.date().isoformat()", now=now) == "2026-11-20"
    assert run("now.isoformat()", now=now) == "2026-11-20T10:30:00+01:00"
    assert refused("now.replace", now=now) == "datetime value has no attribute 'replace' available to expressions"


# ---- differential: our compiled code against simpleeval itself -------------------------------------------------------------

DIFFERENTIAL = [
    "1 + 2 * 3 - 4 / 2", "7 // 2", "7 % 3", "2 ** 10", "-3 ** 2", "(1, 2) < (1, 3)", "1 < 2 < 3", "1 < 3 < 2",
    "not True", "True and 0", "0 or 'x'", "None or []", "1 if tool else 2", "5 & 3", "5 | 3", "5 ^ 3", "~5",
    "tool == 'Bash'", "tool != 'Bash'", "'Bash' in tool", "'x' not in tool", "tool is None", "tool is not None",
    "input.command", "input['command']", "event.tool_input.command", "event['nested']['a']['b'][1]",
    "event.counts['items']", "len(event.counts.items())",
    "input.flags[0]", "input.flags[-1]", "input.flags[::-1]", "input.command[0:9]", "input.command[-7:]",
    "[1, 2, *input.flags]", "(1,)", "{'a': 1, **event.nested}", "{1, 2, 2}", "[x * 2 for x in event.list]",
    "[x for x in event.list if x > 1]", "{x: x * x for x in event.list}", "[a for a, b in [(1, 2), (3, 4)]]",
    "len(input.flags)", "max(event.list)", "min(3, 1)", "sorted(event.list)", "abs(-2)", "round(2.567, 1)",
    "int('42') + 1", "float('1.5')", "str(12)", "lower('AbC')", "upper(tool)",
    "matches('^terraform', input.command)", "glob('*.py', input.file_path)", "basename(input.file_path)",
    "mmss(125)", "duration(3725)", "minutes(3)", "hours(2)", "log(100, 10)", "exp(2)", "jp('nested.a.b', event)",
    "curve('log', 25, 10, 60)", "input.command.startswith('terraform')", "input.command.split(' ')",
    "input.command.upper().lower()", "'-'.join(input.flags)", "input.command.replace('apply', 'plan')",
    "input.command.count('a')", "input.command.find('apply')", "prompt.title()", "'  x '.strip()",
    "input.get('command')", "sorted(event.nested.keys())", "event.list.index(2)", "event.list.count(1)",
    "'%s:%d' % (tool, 3)", "'ab' * 3", "[0] * 3", "input.n > params.limit", "params.pattern",
    "any(x > 2 for x in event.list)", "all([x > 0 for x in event.list])", "len(x for x in event.list)",
    "(x for x in event.list)", "sum([1, 2.5])", "1 << 4", "256 >> 2", "session + '-' + tool",
    "True + True", "[] == []", "event.none is None", "not event.empty", "{'a': 1}['a']",
]


def _simpleeval(source):
    evaluator = simpleeval.EvalWithCompoundTypes(
        names=dict(DATA), functions={name: function.call for name, function in FUNCTIONS.items()})
    return evaluator.eval(source)


@pytest.mark.parametrize("source", DIFFERENTIAL)
def test_results_equal_simpleevals(source):
    expected = _simpleeval(source)
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


def test_a_key_named_like_a_mapping_method_cannot_break_the_method():
    """The event is the agent's: a `get` key in tool_input must not turn `input.get(...)` into an error (which
    would answer in the fail mode), so a mapping's methods come before its keys, as in simpleeval."""
    crafted = {"get": "x", "keys": 1, "command": "ls"}
    assert run("input.get('command')", input=crafted) == "ls"
    assert run("input['get'] + input.get('get')", input=crafted) == "xx"


@pytest.mark.parametrize("source, ours, theirs", [
    # Deliberate differences: a missing key or index is None (events omit optional fields).
    ("input.missing", None, simpleeval.AttributeDoesNotExist),
    ("input['missing']", None, KeyError),
    ("event.list[10]", None, IndexError),
])
def test_deliberate_differences_from_simpleeval(source, ours, theirs):
    assert run(source) == ours
    if isinstance(theirs, type) and issubclass(theirs, Exception):
        with pytest.raises(theirs):
            _simpleeval(source)
    else:
        assert theirs(_simpleeval(source))
