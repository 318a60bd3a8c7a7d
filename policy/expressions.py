"""Compiling the condition language (SPEC §3): expressions and `{{ }}` templates are parsed with simpleeval,
checked against the language (simpleeval's node and operator tables, minus assignment and f-strings) and against
what a pack may name (scope names, functions, facts, params), then rewritten so that every risky operation goes
through a guard of policy.conditions, and compiled to code objects. Constant regex, glob, JMESPath and command-map
arguments are checked and precompiled here too. Cold path: `policy validate`, or `policy eval` with a cold cache.
"""

from __future__ import annotations

from policy import lean
from policy.conditions import (CONSTANTS, EFFECT_SCOPE_NAMES, FUNCTIONS, MAX_EXPRESSION_LENGTH, MAX_STRING_LENGTH,
                               SCOPE_NAMES, compile_selector, glob_to_regex)
from policy.errors import Diagnostic, Location, did_you_mean

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from dataclasses import dataclass, field
    from typing import Any

    from policy.model import Expr, Selector, Template
else:
    from policy.lean import dataclass, field



@dataclass(frozen=True, slots=True)
class FactCatalog:
    """What `facts.` offers to one pack: built-in families with their fields, and the pack's SQL facts."""

    families: dict[str, frozenset[str]]
    pack_facts: frozenset[str] = frozenset()
    regex_args: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)  # facts.<family>.<method>(...)


@dataclass(frozen=True, slots=True)
class CompileEnv:
    """Everything the compiler checks names against, and the tables it fills with precompiled patterns."""

    catalog: FactCatalog
    params: dict[str, Any]
    scope_names: tuple[str, ...] = SCOPE_NAMES
    regexes: dict[tuple[str, int], Any] = field(default_factory=dict)
    selectors: dict[str, Selector] = field(default_factory=dict)
    checked: dict[str, list[str]] = field(default_factory=dict)  # constant arguments checked, and their problems

    def for_effects(self) -> CompileEnv:
        return CompileEnv(self.catalog, self.params, EFFECT_SCOPE_NAMES, self.regexes, self.selectors, self.checked)


_NOT_CONSTANT = object()
GLOB_HINT = "globs use * and ? (within a path segment), ** (across segments) and [...] (a set of characters)"


def add_regex(env: CompileEnv, pattern: str, flags: int = 0) -> str | None:
    """Check a regex and record its precompiled form; returns an error message or None."""
    import re

    try:
        spec = lean.regex_spec(pattern, flags)
    except re.error as error:
        return f"invalid regex {pattern!r}: {error}"
    problem = backtracking_problem(pattern, flags)
    if problem:
        return f"the regex {pattern!r} {problem}"
    if spec is not None:
        env.regexes[(pattern, flags)] = spec
    return None


def backtracking_problem(pattern: str, flags: int = 0) -> str | None:
    """Why `pattern` can backtrack exponentially on text an agent writes, or None: a repeated group that matches
    the same text in more than one way, as `(a|a)*`, `(a|aa)+` or `(a+)+` (the classic shapes; the hook's
    deadline stops what this does not catch). Such a rule would make every matching tool call wait for the
    deadline and then get the fail mode."""
    try:
        from re import _constants as sre, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
    except Exception:  # another Python's internals: the deadline still holds
        return None
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT)

    def first(items: Any) -> tuple[set[int] | None, bool]:
        """The characters a match of `items` can start with (None: any, or unknown), and whether it can be
        empty."""
        chars: set[int] = set()
        for op, av in items:
            if op == sre.LITERAL:
                return chars | {av}, False
            if op == sre.IN and all(kind == sre.LITERAL for kind, _ in av):
                return chars | {value for _, value in av}, False
            if op == sre.AT:
                continue
            if op == sre.SUBPATTERN:
                inner, empty = first(av[3])
            elif op == sre.BRANCH:
                inner, empty = set(), False
                for alternative in av[1]:
                    found, can_be_empty = first(alternative)
                    inner = None if inner is None or found is None else inner | found
                    empty = empty or can_be_empty
            elif op in repeats:
                inner, empty = first(av[2])
                empty = empty or av[0] == 0
            else:
                return None, False
            if inner is None:
                return None, False
            chars |= inner
            if not empty:
                return chars, False
        return chars, True

    def ambiguous(body: Any, start: set[int] | None) -> bool:
        """Whether one iteration of a repeated `body` can match the same text in two ways."""
        items = list(body)
        while len(items) == 1 and items[0][0] == sre.SUBPATTERN:
            items = list(items[0][1][3])
        if len(items) == 1 and items[0][0] in repeats and items[0][1][1] > 1:
            return True  # (a+)+, (a*)*
        for op, av in items:
            if op == sre.SUBPATTERN and ambiguous(av[3], start):
                return True
            if op != sre.BRANCH:
                continue
            seen: set[int] = set()
            for alternative in av[1]:
                found, empty = first(alternative)
                if empty:  # an alternative that can end the iteration here: the next one starts as `body`
                    found = start if found is None or start is None else found | start
                if found is None:
                    continue
                if seen & found:
                    return True
                seen |= found
        return False

    def walk(items: Any) -> bool:
        for op, av in items:
            if op in repeats:
                if av[1] > 1 and ambiguous(av[2], first(av[2])[0]):
                    return True
                if walk(av[2]):
                    return True
            elif op == sre.SUBPATTERN:
                if walk(av[3]):
                    return True
            elif op == sre.BRANCH:
                if any(walk(alternative) for alternative in av[1]):
                    return True
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                if walk(av[1]):
                    return True
        return False

    if walk(parsed):
        return ("can backtrack exponentially: a repeated group can match the same text in more than one way "
                "(as in (a|a)* or (a+)+); rewrite it so that each character has one way to match, or make the "
                "repeat possessive (*+, ++)")
    return None


def add_command_map(env: CompileEnv, value: Any, name: str) -> list[str]:
    """Check a constant command map and precompile its regexes; returns its problems, reported once per map (a
    pack uses the same map in several expressions)."""
    key = f"{name}={value!r}"
    if key in env.checked:
        return []
    from policy.labels import check_command_map

    problems, patterns = check_command_map(value, name)
    for pattern in patterns:
        problem = add_regex(env, pattern)
        if problem:
            problems.append(f"{name}: {problem}")
    env.checked[key] = problems
    return problems


def add_glob(env: CompileEnv, pattern: str) -> str | None:
    """Check a glob (as its regex) and record its precompiled form; returns an error message or None."""
    import re

    regex = glob_to_regex(pattern)
    try:
        spec = lean.regex_spec(regex)
    except re.error as error:
        return f"invalid glob {pattern!r}: {error.msg}"
    if spec is not None:
        env.regexes[(regex, 0)] = spec
    return None


def add_selector(env: CompileEnv, source: str) -> tuple[Selector | None, str | None]:
    try:
        selector = compile_selector(source)
    except ValueError as error:
        return None, f"invalid JMESPath {source!r}: {error}"
    env.selectors[source] = selector
    return selector, None


class _Checker:
    """Walks a parsed expression: checks it against the language, collects what it reads, rewrites it."""

    def __init__(self, source: str, location: Location, env: CompileEnv) -> None:
        import ast

        from simpleeval import DEFAULT_OPERATORS, DISALLOW_METHODS, DISALLOW_PREFIXES, EvalWithCompoundTypes

        self.ast = ast
        self.source = source
        self.location = location
        self.env = env
        self.errors: list[Diagnostic] = []
        self.names: set[str] = set()
        self.facts: set[str] = set()
        self.reads: list[str] = []
        self.locals: list[set[str]] = []
        self.comprehension_depth = 0
        # The language: simpleeval's node and operator tables, minus what policy leaves out (assignment,
        # f-strings; see docs/expressions.md).
        evaluator = EvalWithCompoundTypes()
        excluded = {ast.Assign, ast.AugAssign, ast.Import, ast.JoinedStr, ast.FormattedValue}
        self.allowed_nodes = {node for node in evaluator.nodes if node not in excluded}
        self.allowed_nodes |= {ast.comprehension, ast.Load, ast.Store, ast.Starred}
        self.allowed_operators = set(DEFAULT_OPERATORS) | {ast.And, ast.Or}
        self.disallowed_prefixes = tuple(DISALLOW_PREFIXES)
        self.disallowed_methods = frozenset(DISALLOW_METHODS)

    def error(self, code: str, message: str, hint: str = "") -> None:
        diagnostic = Diagnostic(self.location, code, message, hint)
        if diagnostic not in self.errors:  # e.g. a bad name bound and used in one comprehension
            self.errors.append(diagnostic)

    # -- reading chains like facts.focus.on_break ------------------------------------------------------------
    def chain(self, node: ast.AST) -> list[str] | None:
        ast = self.ast
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        return None

    def check_chain(self, parts: list[str]) -> None:
        root = parts[0]
        if root == "facts":
            catalog = self.env.catalog
            if len(parts) == 1:
                return
            name = parts[1]
            if name in catalog.families:
                self.facts.add(name)
                if len(parts) > 2 and parts[2] not in catalog.families[name]:
                    self.error("unknown-fact", f"facts.{name} has no field {parts[2]!r}",
                               did_you_mean(parts[2], catalog.families[name])
                               or f"facts.{name} has: " + ", ".join(sorted(catalog.families[name])))
            elif name in catalog.pack_facts:
                self.facts.add(name)
            else:
                known = set(catalog.families) | set(catalog.pack_facts)
                self.error("unknown-fact", f"unknown fact {'facts.' + name!r}",
                           did_you_mean(name, known) or "facts are: " + ", ".join(sorted(known)))
        elif root == "params" and len(parts) > 1 and parts[1] not in self.env.params:
            self.error("unknown-param", f"the pack has no param {parts[1]!r}",
                       (did_you_mean(parts[1], set(self.env.params)) or "params are: " + ", ".join(sorted(self.env.params)))
                       if self.env.params else "declare it under `params:`")

    # -- constants, for checking regex/glob/jmespath arguments at compile time --------------------------------
    def constant(self, node: ast.AST) -> Any:
        ast = self.ast
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Set)):  # a literal display of literals
            try:
                return ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return _NOT_CONSTANT
        parts = self.chain(node)
        if parts and parts[0] == "params" and len(parts) >= 2:
            value: Any = self.env.params
            for part in parts[1:]:
                if not isinstance(value, dict) or part not in value:
                    return _NOT_CONSTANT
                value = value[part]
            return value
        return _NOT_CONSTANT

    def check_family_regexes(self, node: ast.Call) -> None:
        """`facts.transcript.ran(REGEX)`: a family method's regex arguments are constant, checked and precompiled,
        as a function's are."""
        parts = self.chain(node.func)
        if not parts or len(parts) != 3 or parts[0] != "facts":
            return
        method = f"facts.{parts[1]}.{parts[2]}()"
        for index in self.env.catalog.regex_args.get((parts[1], parts[2]), ()):
            if index >= len(node.args):
                continue
            value = self.constant(node.args[index])
            if value is _NOT_CONSTANT:
                self.error("not-constant", f"the regex of {method} must be a literal or a param",
                           "constant patterns are checked when the rules load; a pattern taken from the event "
                           "could be made to run for minutes")
            elif isinstance(value, str):
                problem = add_regex(self.env, value)
                if problem:
                    self.error("bad-regex", problem, "regexes use Python syntax (docs/rules.md#match)")

    def check_call(self, node: ast.Call) -> None:
        ast = self.ast
        if isinstance(node.func, ast.Name):
            function = FUNCTIONS.get(node.func.id)
            if function is None:
                if node.func.id.startswith(self.disallowed_prefixes):
                    self.error("not-allowed", f"names starting with {node.func.id[0]!r} are not allowed")
                elif node.func.id in self.env.scope_names or self._is_local(node.func.id):
                    self.error("not-callable", f"{node.func.id!r} is not a function")
                else:
                    self.error("unknown-function", f"unknown function {node.func.id!r}",
                               did_you_mean(node.func.id, set(FUNCTIONS))
                               or "the functions are listed in docs/expressions.md")
                return
            for index, arg in enumerate(node.args):
                value = self.constant(arg)
                if value is _NOT_CONSTANT:
                    if index in function.regex_args or index in function.glob_args or index in \
                            function.command_map_args or index in function.selector_args:
                        # A pattern the event could supply is a pattern an agent could write to stall the hook
                        # (catastrophic backtracking, a costly query) until its timeout lets the tool through.
                        what = "command map" if index in function.command_map_args else \
                            "regex" if index in function.regex_args else \
                            "glob" if index in function.glob_args else "JMESPath"
                        self.error("not-constant", f"the {what} of {function.name}() must be a literal or a param",
                                   "constant patterns are checked when the rules load; a pattern taken from the "
                                   "event could be made to run for minutes")
                    continue
                if index in function.command_map_args:
                    if value is not None:
                        name = ".".join(self.chain(arg) or ()) or f"argument {index + 1} of {function.name}()"
                        for issue in add_command_map(self.env, value, name):
                            self.error("bad-command-map", issue,
                                       "see docs/packs/presence.md#the-command-map for the entries' shape")
                    continue
                if not isinstance(value, str):
                    continue
                problem = None
                if index in function.choice_args and value not in function.choice_args[index]:
                    self.error("bad-value", f"{node.func.id}() does not know {value!r}",
                               did_you_mean(value, set(function.choice_args[index])) or
                               "expected one of: " + ", ".join(function.choice_args[index]))
                    continue
                if index in function.regex_args:
                    problem = add_regex(self.env, value)
                elif index in function.glob_args:
                    problem = add_glob(self.env, value)
                elif index in function.selector_args:
                    _, problem = add_selector(self.env, value)
                if problem:
                    if index in function.regex_args:
                        self.error("bad-regex", problem, "regexes use Python syntax (docs/rules.md#match)")
                    elif index in function.glob_args:
                        self.error("bad-glob", problem, GLOB_HINT)
                    else:
                        self.error("bad-jmespath", problem, "see https://jmespath.org for the syntax")
        elif isinstance(node.func, ast.Attribute):
            self.check_family_regexes(node)
        elif type(node.func) in self.allowed_nodes:
            # (a disallowed callee, such as a lambda, is reported when it is visited)
            self.error("not-allowed", "only named functions and methods can be called")

    def _is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.locals)

    # -- the walk ---------------------------------------------------------------------------------------------
    def visit(self, node: ast.AST) -> None:
        ast = self.ast
        kind = type(node)
        if kind not in self.allowed_nodes and not isinstance(node, (ast.operator, ast.unaryop, ast.cmpop,
                                                                      ast.boolop, ast.expr_context)):
            name = {"Lambda": "lambda", "NamedExpr": ":=", "JoinedStr": "an f-string",
                    "SetComp": "a set comprehension", "Await": "await", "Yield": "yield"}.get(kind.__name__,
                                                                                             kind.__name__)
            self.error("not-allowed", f"{name} is not allowed in expressions",
                       "use `{{ }}` templates for text" if kind is ast.JoinedStr else
                       "see docs/expressions.md for the language")
            return
        if isinstance(node, (ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
            if kind not in self.allowed_operators:
                self.error("not-allowed", f"the operator {kind.__name__} is not allowed")
            return
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, bytes)) and len(node.value) > MAX_STRING_LENGTH:
                self.error("too-long", "string literal too long")
            if isinstance(node.value, bytes):
                self.error("not-allowed", "bytes literals are not allowed")
            return
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith(self.disallowed_prefixes):
                self.error("not-allowed", f"names starting with {name[0]!r} are not allowed")
            elif self._is_local(name):
                pass
            elif name in self.env.scope_names:
                self.names.add(name)
            elif name in FUNCTIONS:
                pass
            elif name in ("True", "False", "None") or name in CONSTANTS:
                pass
            else:
                if name in ("verdict", "decision"):
                    hint = f"`{name}` exists only in `do:` effects and their `if:`"
                elif name == "break":
                    hint = "`break` is a Python keyword: use facts.focus.on_break"
                else:
                    hint = did_you_mean(name, set(self.env.scope_names) | set(FUNCTIONS)) or (
                        "names in scope: " + ", ".join(self.env.scope_names))
                self.error("unknown-name", f"unknown name {name!r}", hint)
            return
        if isinstance(node, ast.Attribute):
            if node.attr.startswith(self.disallowed_prefixes) or node.attr in self.disallowed_methods:
                self.error("not-allowed", f"the attribute {node.attr!r} is not allowed")
                return
            parts = self.chain(node)
            if parts is not None and not self._is_local(parts[0]) and parts[0] in self.env.scope_names:
                # The whole chain (facts.focus.on_break) is checked here; visiting its inner chains
                # (facts.focus) again would report the same unknown fact twice.
                self.check_chain(parts)
                self.reads.append(".".join(parts))
                inner = node.value
                while isinstance(inner, ast.Attribute):
                    if inner.attr.startswith(self.disallowed_prefixes) or inner.attr in self.disallowed_methods:
                        self.error("not-allowed", f"the attribute {inner.attr!r} is not allowed")
                        return
                    inner = inner.value
                self.visit(inner)
                return
        if isinstance(node, ast.Call):
            self.check_call(node)
            if isinstance(node.func, ast.Name):  # check_call has judged the name; visit only the arguments
                for child in (*node.args, *node.keywords):
                    self.visit(child)
                return
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.DictComp)):
            if self.comprehension_depth:
                self.error("not-allowed", "comprehensions cannot be nested")
                return
            if len(node.generators) != 1:
                self.error("not-allowed", "a comprehension may have only one `for`")
                return
            generator = node.generators[0]
            if generator.is_async:
                self.error("not-allowed", "async comprehensions are not allowed")
            self.visit(generator.iter)
            bound: set[str] = set()
            for target in ast.walk(generator.target):
                if isinstance(target, ast.Name):
                    if target.id.startswith(self.disallowed_prefixes):
                        self.error("not-allowed", f"names starting with {target.id[0]!r} are not allowed")
                    bound.add(target.id)
                elif not isinstance(target, (ast.Tuple, ast.List, ast.Store)):
                    self.error("not-allowed", "comprehension targets must be names")
            self.locals.append(bound)
            self.comprehension_depth += 1
            for condition in generator.ifs:
                self.visit(condition)
            if isinstance(node, ast.DictComp):
                self.visit(node.key)
                self.visit(node.value)
            else:
                self.visit(node.elt)
            self.comprehension_depth -= 1
            self.locals.pop()
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child)


def _rewrite(tree: ast.Expression) -> ast.Expression:
    """Route attribute access, indexing, and size-sensitive operators through the runtime guards."""
    import ast

    def call(name: str, *args: ast.expr) -> ast.Call:
        return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])

    binop_guards = {ast.Pow: "_pow", ast.Mult: "_mul", ast.Add: "_add", ast.LShift: "_lshift",
                    ast.RShift: "_rshift", ast.Mod: "_mod"}

    class Rewriter(ast.NodeTransformer):
        def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
            return ast.copy_location(call("_attr", self.visit(node.value), ast.Constant(node.attr)), node)

        def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
            key = node.slice
            if isinstance(key, ast.Slice):
                none = ast.Constant(None)
                key = call("_slice", *(self.visit(part) if part is not None else none
                                       for part in (key.lower, key.upper, key.step)))
            else:
                key = self.visit(key)
            return ast.copy_location(call("_item", self.visit(node.value), key), node)

        def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
            guard = binop_guards.get(type(node.op))
            if guard is None:
                return self.generic_visit(node)
            return ast.copy_location(call(guard, self.visit(node.left), self.visit(node.right)), node)

        def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
            # simpleeval evaluates a generator expression to a list; so do we (and no generator object,
            # with its frame, ever reaches an expression).
            self.generic_visit(node)
            return ast.copy_location(ast.ListComp(elt=node.elt, generators=node.generators), node)

        def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
            node.iter = call("_iter", self.visit(node.iter))
            node.ifs = [self.visit(condition) for condition in node.ifs]
            return node

    rewritten: ast.Expression = ast.fix_missing_locations(Rewriter().visit(tree))
    return rewritten


def compile_expression(source: str | bool, location: Location, env: CompileEnv,
                       ) -> tuple[Expr | None, list[Diagnostic]]:
    """Parse, check and compile one expression. Returns the Expr (None on error) and the diagnostics."""
    import ast
    import warnings

    from simpleeval import SimpleEval

    from policy.model import Expr

    text = ("True" if source else "False") if isinstance(source, bool) else str(source)
    if len(text) > MAX_EXPRESSION_LENGTH:
        return None, [Diagnostic(location, "too-long", f"expression longer than {MAX_EXPRESSION_LENGTH} characters")]
    if not text.strip():
        return None, [Diagnostic(location, "bad-expression", "empty expression", "write a condition, e.g. `true`")]
    from simpleeval import MultipleExpressions

    try:
        with warnings.catch_warnings():
            # A regex in a string literal ('\s+') is an "invalid escape sequence" to Python, which keeps the
            # backslash: so do we. Only simpleeval's "more than one expression" is an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", MultipleExpressions)
            statement = SimpleEval.parse(" ".join(text.splitlines()))
    except SyntaxError as error:
        return None, [Diagnostic(location, "bad-expression", f"invalid expression {text!r}: {error.msg}",
                                 "expressions use Python syntax: and/or/not, ==, in, f(x)")]
    except MultipleExpressions:
        return None, [Diagnostic(location, "bad-expression", f"{text!r} holds more than one expression",
                                 "combine conditions with `and` / `or`")]
    except Exception as error:  # simpleeval's InvalidExpression for an empty string
        return None, [Diagnostic(location, "bad-expression", str(error))]
    if not isinstance(statement, ast.Expr):
        return None, [Diagnostic(location, "not-allowed",
                                 f"{text!r} is a statement, not an expression", "assignments are not allowed")]
    checker = _Checker(text, location, env)
    checker.visit(statement.value)
    if checker.errors:
        return None, checker.errors
    tree = _rewrite(ast.Expression(body=statement.value))
    try:
        code = compile(tree, f"<{location}>", "eval")
    except SyntaxError as error:  # e.g. a starred value where none can be, ` * 1` (found by tests/test_fuzz.py)
        return None, [Diagnostic(location, "bad-expression", f"invalid expression {text!r}: {error.msg}",
                                 "expressions use Python syntax: and/or/not, ==, in, f(x)")]
    return Expr(text, code, location, tuple(sorted(checker.names)), tuple(sorted(checker.facts)),
                tuple(dict.fromkeys(checker.reads))), []


def compile_template(source: str, location: Location, env: CompileEnv,
                     ) -> tuple[Template | None, list[Diagnostic]]:
    """Compile `literal {{ expression }} literal`."""
    from policy.model import Template

    parts: list[str | Expr] = []
    diagnostics: list[Diagnostic] = []
    text = str(source)
    position = 0
    while True:
        start = text.find("{{", position)
        if start == -1:
            if position < len(text):
                parts.append(text[position:])
            break
        end = text.find("}}", start + 2)
        if end == -1:
            diagnostics.append(Diagnostic(location, "bad-template", f"unclosed '{{{{' in {text!r}",
                                          "close it with '}}'"))
            break
        if start > position:
            parts.append(text[position:start])
        expr, errors = compile_expression(text[start + 2:end].strip(), location, env)
        diagnostics.extend(errors)
        if expr is not None:
            parts.append(expr)
        position = end + 2
    if diagnostics:
        return None, diagnostics
    return Template(text, tuple(parts)), []
