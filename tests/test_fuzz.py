"""Property-based fuzzing (hypothesis) of what reads input: the adapter (hook payloads), the loader (rule and config
files), the condition language (expressions and templates) and the shell reader. Each property says what the code
may do with any input: give a result or its one documented error, never another exception.

The budget is fixed and the runs derandomised, so CI does the same work every time (about 10 s in all); set
POLICY_FUZZ_EXAMPLES to search longer locally."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, example, given, settings  # the `test` extra: pip install '.[test]'
from hypothesis import strategies as st

from policy.adapters import claude_code
from policy.conditions import ExpressionError, evaluate, make_scope, render
from policy.errors import InputError, Location
from policy.expressions import CompileEnv, FactCatalog, compile_expression, compile_template
from policy.labels import CommandTooComplex, read_commands
from policy.loader import parse_yaml

BUDGET = settings(max_examples=int(os.environ.get("POLICY_FUZZ_EXAMPLES", "150")), deadline=None,
                  derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HERE = Location("fuzz.yaml", 1, 1)
ENV = CompileEnv(FactCatalog({"kv": frozenset({"get", "age"})}), {"limit": 3, "pattern": "^rm "})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


# ---- the adapter -----------------------------------------------------------------------------------------------------

@BUDGET
@given(st.binary(max_size=300))
def test_any_bytes_are_an_event_or_one_input_error(raw):
    try:
        event = claude_code.parse(raw)
    except InputError as error:
        assert "\n" not in error.one_line()
    else:
        assert isinstance(event.name, str) and event.name


@BUDGET
@given(st.dictionaries(st.sampled_from(["hook_event_name", "session_id", "cwd", "tool_name", "tool_input", "prompt",
                                        "stop_hook_active", "permission_mode", "transcript_path", "x"]),
                       json_values, max_size=8),
       st.sampled_from(["PreToolUse", "Stop", "UserPromptSubmit", "PostToolUse", "Nope"]))
def test_any_json_object_is_an_event_or_one_input_error(fields, name):
    payload = {"hook_event_name": name, **{key: value for key, value in fields.items() if key != "hook_event_name"}}
    text = json.dumps(payload, ensure_ascii=True).replace('"x": "', '"x": "\\ud800')  # a lone surrogate escape too
    try:
        event = claude_code.parse(text.encode())
    except InputError:
        return
    assert event.name == name
    json.dumps(event.data, ensure_ascii=False).encode("utf-8")  # what is kept can always be written back


# ---- the loader ------------------------------------------------------------------------------------------------------

yaml_text = st.lists(st.sampled_from(list("ab:- \n\t[]{},&*!'\"#|>?%@`0123456789.\\") + [
    "on", "yes", "null", "<<", "\u00e9", "&a ", "*a", "!!python/object ", "? ", "version: 1\n"]), max_size=60).map("".join)


@BUDGET
@given(yaml_text)
def test_any_text_is_a_document_with_diagnostics_never_an_exception(text):
    document = parse_yaml(text, "fuzz.yaml")
    for diagnostic in document.diagnostics:
        assert diagnostic.location.file == "fuzz.yaml" and diagnostic.code
    json.dumps(document.data)  # JSON semantics: what the loader gives can be checked by JSON Schema


# ---- the condition language ------------------------------------------------------------------------------------------

atoms = st.sampled_from(["1", "0", "-3", "2.5", "'a'", "'rm -rf'", "None", "true", "input", "input.command",
                         "event.cwd", "params.limit", "facts.kv['hr.ok']", "tool", "[1, 2]", "{'a': 1}", "now.hour",
                         "input.get('x')", "len(input)", "10**9", "2 ** 40", "'x' * 5", "x", "__class__"])
operators = st.sampled_from([" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " << ", " and ", " or ", " == ",
                             " < ", " in ", " not in ", "[", "(", ")", ".", ", ", " if ", " else "])
functions = st.sampled_from(["round(", "int(", "str(", "len(", "matches('a+', ", "glob('*.py', ", "normpath(",
                             "shell_commands(", "min(", "sorted(", "[y for y in ", "upper(", "mmss("])
expressions = st.lists(st.one_of(atoms, operators, functions), min_size=1, max_size=12).map("".join)


def scope() -> dict:
    from policy.facts import StaticFacts

    facts = StaticFacts({"kv": {"get": lambda key, default=None: default, "age": lambda key: None}})
    return make_scope({"event": {"cwd": "/r", "hook_event_name": "PreToolUse"}, "tool": "Bash",
                       "input": {"command": "rm -rf build", "get": "not a method"}, "prompt": None, "session": "s",
                       "facts": facts.scope(None), "params": {"limit": 3, "pattern": "^rm "},
                       "now": __import__("datetime").datetime(2026, 12, 1, 10, 0)})


@BUDGET
@given(expressions)
@example(" * 1")  # compiled to a SyntaxError outside the checks once
def test_any_expression_compiles_or_is_refused_and_runs_or_raises_expression_error(source):
    expr, errors = compile_expression(source, HERE, ENV)
    if expr is None:
        assert errors and all(error.code for error in errors)
        return
    try:
        evaluate(expr, scope())
    except ExpressionError:
        pass


@BUDGET
@given(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(["{{", "}}", "{{ tool }}", "{{ 1 + }}", "{"])),
                max_size=6).map("".join))
def test_any_template_compiles_or_is_refused(source):
    template, errors = compile_template(source, HERE, ENV)
    if template is None:
        assert errors
        return
    try:
        assert isinstance(render(template, scope()), str)
    except ExpressionError:
        pass


# ---- the shell reader ------------------------------------------------------------------------------------------------

shell_text = st.lists(st.sampled_from(["cd ", "a", "b/..", " ", ";", "&&", "|", "(", ")", "$(", "`", "'", '"', "\\",
                                       "<(", ">(", ">", ">>", "2>&1", "<<EOF\n", "EOF", "\n", "#", "bash -c ", "${x}",
                                       "sudo ", "terraform apply", "$'\\n'"]), max_size=40).map("".join)


@BUDGET
@given(shell_text, st.sampled_from(["", "/r", "rel"]))
def test_any_command_line_is_read_or_refused(command, cwd):
    try:
        commands = read_commands(command, cwd)
    except CommandTooComplex:
        return
    for found in commands:
        assert all(isinstance(word, str) for word in found.words)
        assert all(path == "" or not path.endswith("/..") for _, _, path in found.redirects)
