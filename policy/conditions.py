"""The condition language (SPEC §3) at run time: expressions, `{{ }}` templates, JMESPath selectors, and their
functions.

The language is simpleeval's (https://github.com/danthedeckie/simpleeval): the same node types, operators and
safety limits. policy.expressions checks it with simpleeval when rules are loaded and compiles it into Python code
objects in which every operation that could escape or explode goes through a guard of this module (`_attr`,
`_item`, `_pow`, `_mul`, `_add`, ...), the way Jinja2's sandbox compiles templates. The compiled code runs with no
builtins and sees only the scope names and the whitelisted functions below. Why not run simpleeval itself per
event: importing it costs about as much as a whole bare interpreter start (docs/performance.md), and a compiled
expression is ~10x faster to evaluate. tests/test_conditions.py checks our results against simpleeval.
"""

from __future__ import annotations

import posixpath

from policy import lean
from policy.errors import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from dataclasses import dataclass, field
    from typing import Any

    from policy.model import Expr, Selector, Template
else:
    from policy.lean import dataclass, field

# The limits are simpleeval's (tests/test_conditions.py keeps them equal).
MAX_STRING_LENGTH = 100_000
MAX_COMPREHENSION_LENGTH = 10_000
MAX_POWER = 4_000_000
MAX_INTEGER_BITS = 10_000  # ours, not simpleeval's: see _pow and _mul
MAX_ROUND_DIGITS = 400  # ours: round(1, -10**9) would compute 10**(10**9)
MAX_SHIFT = 10_000
MAX_SHIFT_BASE = 1.7976931348623157e308
MAX_EXPRESSION_LENGTH = 4_000

# The names an expression may use (SPEC §3). `verdict` and `decision` (the final decision across all packs: its
# verdict, the ids of the rules that carry it, every matched rule, the reason) exist only in `do:` templates and
# their `if:` conditions, which are rendered after the decision.
SCOPE_NAMES = ("event", "tool", "input", "prompt", "session", "facts", "params", "now")
EFFECT_SCOPE_NAMES = SCOPE_NAMES + ("verdict", "decision")
SCOPE_DOCS = {
    "event": "The whole event as the host sent it, with Claude Code's field names: `event.cwd`, "
             "`event.hook_event_name`, `event.permission_mode`.",
    "tool": "The tool's name on tool events (`Bash`, `Edit`, `mcp__github__create_issue`), else None.",
    "input": "The tool's input on tool events (`input.command`, `input.file_path`), else `{}`.",
    "prompt": "The user's prompt on UserPromptSubmit, else None.",
    "session": "The agent session's id (Claude Code's `session_id`).",
    "facts": "The facts: the built-in families (`facts.focus.on_break`, `facts.kv['hr.bpm']`) and the pack's own "
             "SQL facts (`facts.<name>`); see docs/facts.md.",
    "params": "The pack's params, with the configuration's overrides.",
    "now": "The time, as a timezone-aware datetime in local time (`now.hour`, `now.weekday()`).",
    "verdict": "Only in `do:` effects and their `if:`: the final verdict of the whole evaluation (`deny`, "
               "`defer`, `ask`, `allow`, or None).",
    "decision": "Only in `do:` effects and their `if:`: the final decision of the whole evaluation: "
                "`decision.verdict`, `decision.rules` (the ids of the rules that carry the verdict), "
                "`decision.matched` (every matched rule's id) and `decision.reason`.",
}


class ExpressionError(Exception):
    """An expression failed while it was evaluated; the engine adds the rule's location."""


# ----------------------------------------------------------------------------------------------------------------
# Views: objects that show a fixed set of attributes to expressions (fact families, `facts` itself).
# ----------------------------------------------------------------------------------------------------------------

class View:
    """Base of objects that expressions may read attributes of. `fields` maps what they may read to what it means
    (the docs are generated from it)."""

    fields: dict[str, str] | tuple[str, ...] = ()

    def expose(self, name: str) -> Any:
        """`view.name` in an expression."""
        if name not in self.fields:
            raise ExpressionError(f"{type(self).__name__.lower()} has no field {name!r}")
        return getattr(self, name)

    def item(self, key: Any) -> Any:
        """`view[key]` in an expression; the same as `view.key` unless a view says otherwise."""
        if not isinstance(key, str):
            raise ExpressionError(f"{type(self).__name__.lower()}[...] needs a string key")
        return self.expose(key)


# Methods of plain values that expressions may call: none of them mutates, and results are length-checked.
SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({
        "startswith", "endswith", "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
        "count", "find", "rfind", "replace", "removeprefix", "removesuffix", "isdigit", "isalpha", "isalnum",
        "isspace", "islower", "isupper", "partition", "rpartition", "join", "casefold", "title", "capitalize",
    }),
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
DATETIME_FIELDS = frozenset({
    "year", "month", "day", "hour", "minute", "second", "weekday", "isoweekday", "isoformat", "timestamp", "date",
})


def _bounded(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_STRING_LENGTH:
        raise ExpressionError(f"result too long ({len(value)} > {MAX_STRING_LENGTH})")
    return value


def _too_long(size: int) -> None:
    if size > MAX_STRING_LENGTH:
        raise ExpressionError(f"result too long ({size} > {MAX_STRING_LENGTH})")


def _method(bound: Callable[..., Any]) -> Callable[..., Any]:
    owner = getattr(bound, "__self__", None)
    name = getattr(bound, "__name__", "")

    def call(*args: Any, **kwargs: Any) -> Any:
        # `replace` and `join` can build strings far longer than their inputs: size them before building.
        if isinstance(owner, str) and name == "replace" and len(args) >= 2 and isinstance(args[0], str) \
                and isinstance(args[1], str):
            count = owner.count(args[0]) if args[0] else len(owner) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            _too_long(len(owner) + count * (len(args[1]) - len(args[0])))
        elif isinstance(owner, str) and name == "join" and args:
            items = list(args[0])
            _too_long(sum(len(item) for item in items if isinstance(item, str))
                      + len(owner) * max(0, len(items) - 1))
            args = (items, *args[1:])
        return _bounded(bound(*args, **kwargs))

    return call


def _attr(value: Any, name: str) -> Any:
    """`value.name`: mapping keys (missing → None), View fields, whitelisted methods; nothing else. A mapping's
    methods come first, as in simpleeval: an event whose tool_input has a key `get` must not turn
    `input.get('x')` into an error (the key is still `input['get']`)."""
    if isinstance(value, dict):
        if name in SAFE_METHODS[dict]:
            return _method(getattr(value, name))
        return value.get(name)
    if isinstance(value, View):
        return value.expose(name)
    if value is None:
        return None
    methods = SAFE_METHODS.get(type(value))
    if methods is not None and name in methods:
        return _method(getattr(value, name))
    if name in DATETIME_FIELDS and type(value).__name__ in ("datetime", "date"):
        return getattr(value, name)
    raise ExpressionError(f"{type(value).__name__} value has no attribute {name!r} available to expressions")


def _item(value: Any, key: Any) -> Any:
    """`value[key]`: mapping keys (missing → None), sequence indexes and slices, View fields."""
    if isinstance(value, dict):
        return value.get(key) if not isinstance(key, (list, dict)) else None
    if isinstance(value, View):
        return value.item(key)
    if isinstance(value, (list, tuple, str)):
        if isinstance(key, (int, slice)) and not isinstance(key, bool):
            try:
                return value[key]
            except IndexError:
                return None
        raise ExpressionError(f"{type(value).__name__} indexes must be integers or slices")
    if value is None:
        return None
    raise ExpressionError(f"{type(value).__name__} value cannot be indexed")


def _slice(lower: Any, upper: Any, step: Any) -> slice:
    return slice(lower, upper, step)


def _pow(base: Any, exponent: Any) -> Any:
    if abs(base) > MAX_POWER or abs(exponent) > MAX_POWER:
        raise ExpressionError(f"{base} ** {exponent} is too large")
    # simpleeval's bound still lets 4000000 ** 4000000 through, a number of 88 million bits that takes minutes:
    # integer results are kept under MAX_INTEGER_BITS (about 3,000 digits, more than any rule needs, and little
    # enough that 10,000 of them in a comprehension still take milliseconds).
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and \
            abs(base).bit_length() * exponent > MAX_INTEGER_BITS:
        raise ExpressionError(f"{base} ** {exponent} is too large")
    return base**exponent


def _mul(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and \
            left.bit_length() + right.bit_length() > MAX_INTEGER_BITS:
        raise ExpressionError("multiplication result would be too large")
    for sized, times in ((left, right), (right, left)):
        if hasattr(sized, "__len__") and isinstance(times, int) and times * len(sized) > MAX_STRING_LENGTH:
            raise ExpressionError("repetition result would be too long")
    return left * right


def _add(left: Any, right: Any) -> Any:
    if hasattr(left, "__len__") and hasattr(right, "__len__") and len(left) + len(right) > MAX_STRING_LENGTH:
        raise ExpressionError("concatenation result would be too long")
    return left + right


def _mod(left: Any, right: Any) -> Any:
    """`%`: for text, printf formatting, whose widths and precisions can ask for any length: size it first."""
    if isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        size = len(left)
        number = ""
        for char in left + " ":  # every digit run in the format is a width or precision, at most
            if char.isdigit():
                number += char
            elif number:
                size += int(number) if len(number) < 7 else MAX_STRING_LENGTH + 1
                number = ""
        for arg in args:
            if isinstance(arg, int) and not isinstance(arg, bool):
                size += min(abs(arg), MAX_STRING_LENGTH + 1) if "*" in left else 0
                size += len(str(arg)) if abs(arg) < 10**100 else MAX_STRING_LENGTH + 1
            else:
                size += len(_text(arg))
        if size > MAX_STRING_LENGTH:
            raise ExpressionError("formatting result would be too long")
    return left % right


def _lshift(left: Any, right: Any) -> Any:
    if abs(right) > MAX_SHIFT or abs(left) > MAX_SHIFT_BASE:
        raise ExpressionError(f"{left} << {right} is too large")
    return left << right


def _rshift(left: Any, right: Any) -> Any:
    if abs(right) > MAX_SHIFT or abs(left) > MAX_SHIFT_BASE:
        raise ExpressionError(f"{left} >> {right} is too large")
    return left >> right


def _iter(value: Any) -> Iterator[Any]:
    """Comprehension sources: at most MAX_COMPREHENSION_LENGTH items."""
    if value is None:
        return
    if isinstance(value, View):
        raise ExpressionError(f"cannot iterate over {type(value).__name__.lower()}")
    count = 0
    for item in value:
        count += 1
        if count > MAX_COMPREHENSION_LENGTH:
            raise ExpressionError(f"comprehension over more than {MAX_COMPREHENSION_LENGTH} items")
        yield item


GUARDS: dict[str, Any] = {
    "_attr": _attr, "_item": _item, "_slice": _slice, "_pow": _pow, "_mul": _mul, "_add": _add,
    "_lshift": _lshift, "_rshift": _rshift, "_iter": _iter, "_mod": _mod,
}


# ----------------------------------------------------------------------------------------------------------------
# JMESPath selectors: plain paths are walked here; anything richer is handed to jmespath, imported on first use.
# ----------------------------------------------------------------------------------------------------------------

_SELECTORS: dict[str, Selector] = {}


def register_selectors(selectors: Iterable[Selector]) -> None:
    for selector in selectors:
        _SELECTORS[selector.source] = selector


def _plain_keys(tree: dict[str, Any]) -> tuple[str | int, ...] | None:
    kind = tree.get("type")
    if kind == "field":
        return (tree["value"],)
    if kind == "subexpression":
        keys: tuple[str | int, ...] = ()
        for child in tree["children"]:
            part = _plain_keys(child)
            if part is None:
                return None
            keys += part
        return keys
    if kind == "index_expression":
        left, right = tree["children"]
        base = _plain_keys(left) if left.get("type") != "identity" else ()
        if base is None or right.get("type") != "index":
            return None
        return base + (right["value"],)
    return None


def compile_selector(source: str) -> Selector:
    """Compile a JMESPath expression; raises ValueError with jmespath's message when it is invalid."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from policy.model import Selector

    try:
        tree = jmespath.compile(source).parsed
    except JMESPathError as error:
        raise ValueError(str(error).splitlines()[0]) from None  # the next lines draw a caret under the text
    keys = _plain_keys(tree)
    return Selector(source, keys=keys) if keys is not None else Selector(source, tree=tree)


def select(selector: Selector, value: Any) -> Any:
    """The value `selector` picks out of `value` (None when any step is missing)."""
    if selector.keys is not None:
        for key in selector.keys:
            if isinstance(key, int):
                if not isinstance(value, list) or not -len(value) <= key < len(value):
                    return None
            elif not isinstance(value, dict):
                return None
            value = value[key] if isinstance(key, int) else value.get(key)
            if value is None:
                return None
        return value
    from jmespath import functions, visitor

    interpreter = visitor.TreeInterpreter(visitor.Options(custom_functions=functions.Functions()))
    return interpreter.visit(selector.tree, value)


# ----------------------------------------------------------------------------------------------------------------
# Globs: `*` and `?` stay inside one path segment, `**` crosses them; a pattern without `/` matches the basename.
# ----------------------------------------------------------------------------------------------------------------

_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def glob_to_regex(pattern: str) -> str:
    """Translate a glob into an anchored regex, without importing `re`."""
    out = []
    index, size = 0, len(pattern)
    while index < size:
        char = pattern[index]
        if char == "*":
            if pattern.startswith("**/", index):
                out.append("(?:.*/)?")
                index += 3
                continue
            if pattern.startswith("**", index):
                out.append(".*")
                index += 2
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            scan = index + 1
            if scan < size and pattern[scan] in "!^":
                scan += 1
            if scan < size and pattern[scan] == "]":
                scan += 1
            end = pattern.find("]", scan)
            if end == -1:
                out.append("\\[")
            else:
                body = pattern[index + 1:end]
                negate = body[:1] in ("!", "^")
                body = (body[1:] if negate else body).replace("\\", "\\\\")
                out.append("[" + ("^" if negate else "") + body + "]")
                index = end + 1
                continue
        else:
            out.append("\\" + char if char in _REGEX_SPECIAL else char)
        index += 1
    return "(?s:" + "".join(out) + ")\\Z"


def glob_matches(pattern: str, path: str) -> bool:
    target = path.replace("\\", "/")
    if "/" not in pattern:
        target = target.rsplit("/", 1)[-1]
    return lean.regex(glob_to_regex(pattern)).match(target) is not None


# ----------------------------------------------------------------------------------------------------------------
# Functions: the whitelist (SPEC §3). docs/expressions.md is generated from this table.
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Function:
    name: str
    call: Callable[..., Any]
    signature: str
    doc: str
    regex_args: tuple[int, ...] = ()  # arguments that are regexes: checked and precompiled when constant
    glob_args: tuple[int, ...] = ()
    selector_args: tuple[int, ...] = ()
    command_map_args: tuple[int, ...] = ()  # command maps (policy.labels): checked and precompiled when constant
    choice_args: dict[int, tuple[str, ...]] = field(default_factory=dict)  # arguments with a fixed set of values


def _text(value: Any) -> str:
    """`str(value)`, None as "", refusing structures whose text would be too long before building it."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        budget = MAX_STRING_LENGTH
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                budget -= len(item)
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, (list, tuple, set, frozenset)):
                budget -= len(item)
                pending.extend(item)
            elif isinstance(item, str):
                budget -= len(item)
            if budget < 0:
                raise ExpressionError(f"result too long (more than {MAX_STRING_LENGTH} items)")
    return str(value)


def _round(value: Any, digits: Any = None) -> Any:
    """`round()`, with the digits bounded: a huge negative count makes Python compute a power of ten that size."""
    if digits is None:
        return round(value)
    if isinstance(digits, int) and abs(digits) > MAX_ROUND_DIGITS:
        raise ExpressionError(f"round() takes at most {MAX_ROUND_DIGITS} digits either way, not {digits}")
    return round(value, digits)


def _int(value: Any, *base: Any) -> int:
    """`int()`: a float beyond the integer bound would be a number of that many bits."""
    result = int(value, *base)
    if result.bit_length() > MAX_INTEGER_BITS:
        raise ExpressionError("int() result would be too large")
    return result


def _sum(items: Any, start: Any = 0) -> Any:
    values = list(items)
    if not all(isinstance(value, (int, float)) for value in (*values, start)):
        raise ExpressionError("sum() adds numbers only")
    return sum(values, start)


def mmss(seconds: Any) -> str:
    total = max(0, int(seconds or 0))
    return f"{total // 60}:{total % 60:02d}"


def duration(seconds: Any) -> str:
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def matches(pattern: str, text: Any) -> bool:
    if text is None:
        return False
    return lean.regex(pattern).search(_text(text)) is not None


def glob(pattern: str, path: Any) -> bool:
    return path is not None and glob_matches(pattern, _text(path))


def jp(expression: str, value: Any) -> Any:
    selector = _SELECTORS.get(expression)
    if selector is None:
        selector = compile_selector(expression)
        _SELECTORS[expression] = selector
    return select(selector, value)


def basename(path: Any) -> str:
    return posixpath.basename(_text(path).replace("\\", "/"))


def dirname(path: Any) -> str:
    return posixpath.dirname(_text(path).replace("\\", "/"))


def normpath(path: Any, cwd: Any = None) -> str:
    """A path as the shell resolves it lexically: joined with `cwd` when relative, `.`, `..` and doubled `/`
    removed (symlinks are not followed: nothing is read from the disk)."""
    text = _text(path).replace("\\", "/")
    if cwd is not None and not text.startswith("/"):
        text = posixpath.join(_text(cwd).replace("\\", "/"), text)
    return posixpath.normpath(text) if text else ""


def shell_commands(command: Any, cwd: Any = None) -> list[dict[str, Any]]:
    from policy.labels import shell_commands as read

    return read(command, cwd)


def shell_writes(command: Any, cwd: Any = None) -> list[str]:
    from policy.labels import shell_commands as read

    return [path for found in read(command, cwd) for path in found["writes"]]


def command_labels(command: Any, cwd: Any, commands: Any, more: Any = None) -> list[str]:
    from policy.labels import command_labels as labels

    return labels(command, cwd, more, commands)


# `math` is imported where it is used: it is an extension module whose loading costs ~2% of a hook's time, and
# few rules call these functions.
def _safe_exp(value: float) -> float:
    import math

    if value > 700:
        raise ExpressionError(f"exp({value}) is too large")
    return math.exp(value)


def _log(value: float, base: float | None = None) -> float:
    import math

    return math.log(value) if base is None else math.log(value, base)


def _lower(value: Any) -> str:
    return _text(value).lower()


def _upper(value: Any) -> str:
    return _text(value).upper()


CURVES = ("log", "linear", "exp")


def curve(kind: str, excess: Any, threshold: Any, max_delay: Any, span: Any = 30.0) -> float:
    """The pacing delay in seconds for usage `excess` percentage points ahead of the expected pace.

    With x = (excess - threshold) / span: 0 while x <= 0; then max_delay * f(x) for x in (0, 1], and max_delay
    beyond, where f is `linear`: x; `log`: ln(1 + span*x) / ln(1 + span); `exp`: (e^(4x) - 1) / (e^4 - 1).
    None counts as 0 (as does NaN). A span of 0 or less jumps straight to max_delay above the threshold.
    Rounded to milliseconds. The names are checked first, so a misspelt curve fails even at or below threshold.
    """
    if kind not in CURVES:
        raise ExpressionError(f"unknown curve {kind!r} (expected log, linear or exp)")
    over = float(excess or 0) - float(threshold or 0)
    cap = float(max_delay or 0)
    width = 30.0 if span is None else float(span)
    if not over > 0 or not cap > 0:  # `not >` also catches NaN
        return 0.0
    if not width > 0 or over >= width:
        return round(cap, 3)
    import math

    if kind == "linear":
        fraction = over / width
    elif kind == "log":
        fraction = math.log1p(over) / math.log1p(width)
    else:
        fraction = math.expm1(4.0 * over / width) / math.expm1(4.0)
    return round(cap * fraction, 3)


def _function(name: str, call: Callable[..., Any], signature: str, doc: str, **kwargs: Any) -> Function:
    return Function(name, call, signature, doc, **kwargs)


FUNCTIONS: dict[str, Function] = {function.name: function for function in (
    _function("len", len, "len(x)", "The number of items in a list, mapping or string."),
    _function("any", any, "any(items)", "True if any item is true."),
    _function("all", all, "all(items)", "True if every item is true (also for no items)."),
    _function("min", min, "min(a, b, ...) / min(items)", "The smallest value."),
    _function("max", max, "max(a, b, ...) / max(items)", "The largest value."),
    _function("sum", _sum, "sum(items)", "The sum of numbers."),
    _function("sorted", sorted, "sorted(items)", "The items as a sorted list."),
    _function("abs", abs, "abs(x)", "The absolute value."),
    _function("round", _round, "round(x, digits=0)",
              f"x rounded to `digits` decimals (at most {MAX_ROUND_DIGITS} either way)."),
    _function("int", _int, "int(x)", "x as an integer."),
    _function("float", float, "float(x)", "x as a number."),
    _function("str", _text, "str(x)", "x as text (None gives an empty string)."),
    _function("lower", _lower, "lower(text)", "Text in lower case (None gives an empty string)."),
    _function("upper", _upper, "upper(text)", "Text in upper case (None gives an empty string)."),
    _function("matches", matches, "matches(regex, text)",
              "True if the regex is found anywhere in the text (like `match:`); False for None.", regex_args=(0,)),
    _function("glob", glob, "glob(pattern, path)",
              "True if the path matches the glob: `*` and `?` within one path segment, `**` across segments; "
              "a pattern without `/` is matched against the basename.", glob_args=(0,)),
    _function("jp", jp, "jp(jmespath, value)", "The value a JMESPath expression selects from `value`.",
              selector_args=(0,)),
    _function("mmss", mmss, "mmss(seconds)", "Seconds as minutes:seconds, e.g. `4:05` (never negative)."),
    _function("duration", duration, "duration(seconds)", "Seconds in words: `45s`, `4m 05s`, `1h 05m`."),
    _function("minutes", lambda n: float(n) * 60, "minutes(n)", "n minutes in seconds."),
    _function("hours", lambda n: float(n) * 3600, "hours(n)", "n hours in seconds."),
    _function("basename", basename, "basename(path)", "The last part of a path (`/` or `\\` separated)."),
    _function("dirname", dirname, "dirname(path)", "A path without its last part."),
    _function("normpath", normpath, "normpath(path, cwd=None)",
              "The path with `.`, `..` and doubled `/` resolved, joined with `cwd` first when it is relative "
              "(`normpath('a/../../b', '/home/me')` is `/home/b`); lexical: links are not followed. "
              "Compare it with `startswith` or `glob` to keep a rule's paths inside a directory."),
    _function("log", _log, "log(x, base=e)", "The logarithm of x."),
    _function("exp", _safe_exp, "exp(x)", "e to the power x (x at most 700)."),
    _function("command_labels", command_labels, "command_labels(command, cwd, commands, more=None)",
              "The resource labels (`stack:billing`, `service:api`, ...) of what a shell command line mutates, "
              "from command maps: lists of `{match: regex, label: template}` entries, `more`'s entries tried "
              "first. The line is split into simple commands (`&&`, `;`, `|`, newlines; `cd` and `-chdir=` "
              "followed); for each, the first entry whose regex is found gives its labels. Templates name the "
              "regex's named groups: `{name}`, `{name:dir}` (the basename of that directory, or of the "
              "working directory when the group is empty), `{name=default}`, and `{cwd}` (the working "
              "directory's basename). An empty list when no entry matches (read-only commands). "
              "docs/packs/presence.md has the details.", command_map_args=(2, 3)),
    _function("shell_commands", shell_commands, "shell_commands(command, cwd=None)",
              "The simple commands of a shell command line, read the way `command_labels` reads them (quotes, "
              "`cd`, wrappers, `bash -c`, `$(...)`, backquotes and process substitutions `<(...)` / `>(...)`): a "
              "list of `{command: [words], cwd, redirects: [{op, target, path}], writes: [paths]}`, where `path` "
              "is the target joined with the command's directory and normalised, and `writes` lists the paths "
              "its output redirections (`>`, `>>`, `&>`, `<>`) write. A command line past the reader's bounds (1 "
              "MiB, 20,000 steps) is an error, so the rule fails in its fail mode rather than read half of it."),
    _function("shell_writes", shell_writes, "shell_writes(command, cwd=None)",
              "Every path a shell command line's output redirections write, normalised against the directory "
              "each command runs in: `shell_writes('cd .claude && echo x > settings.json', '/p')` is "
              "`['/p/.claude/settings.json']`."),
    _function("curve", curve, "curve(kind, excess, threshold, max_delay, span=30)",
              "The pacing delay in seconds: 0 while `excess` is at or below `threshold`; above it, with "
              "x = (excess - threshold) / span, `max_delay` times f(x), where f is `linear`: x, `log`: "
              "ln(1 + span*x) / ln(1 + span) (rises fast, then flattens: the Pace Maker's curve), `exp`: "
              "(e^(4x) - 1) / (e^4 - 1) (starts gently, then steepens); `max_delay` from x = 1 on "
              "(excess = threshold + span). None counts as 0; a span of 0 jumps to `max_delay`; rounded to "
              "milliseconds. A constant curve name is checked when the rules are compiled. `policy curve` "
              "prints and plots it.", choice_args={0: CURVES}),
)}

# YAML and JSON spellings of the constants, for rule authors who write `== false`.
CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}

RUNTIME_GLOBALS: dict[str, Any] = {"__builtins__": {}, **GUARDS, **CONSTANTS,
                                   **{name: function.call for name, function in FUNCTIONS.items()}}


# ----------------------------------------------------------------------------------------------------------------
# Running compiled expressions and templates.
# ----------------------------------------------------------------------------------------------------------------

def make_scope(names: dict[str, Any]) -> dict[str, Any]:
    """The globals for evaluating expressions: scope names, functions and guards."""
    scope = dict(RUNTIME_GLOBALS)
    scope.update(names)
    return scope


def evaluate(expr: Expr, scope: dict[str, Any]) -> Any:
    try:
        return eval(expr.code, scope)  # noqa: S307 - compiled from a checked AST, guarded, no builtins
    except (ExpressionError, PolicyError):  # a fact that could not be read says so itself (e.g. fact-timeout)
        raise
    except Exception as error:  # TypeError, ZeroDivisionError, ... from the expression itself
        raise ExpressionError(f"{type(error).__name__}: {error}") from None


def render(template: Template, scope: dict[str, Any]) -> str:
    parts = []
    for part in template.parts:
        if isinstance(part, str):
            parts.append(part)
        else:
            value = evaluate(part, scope)
            parts.append(_text(value))
    return "".join(parts)
