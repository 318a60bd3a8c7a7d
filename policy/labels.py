"""Resource labels (`stack:billing`, `node:k8s-node1`): what a label looks like, and how a shell command line maps
to the labels of what it mutates, through a command map (the presence pack's `commands` param, docs/packs/presence.md).

A command line is split the way a shell would split it, without running anything: simple commands separated by
`&&`, `||`, `;`, `|`, `&` and newlines, quotes and escapes honoured, `cd`/`pushd` followed (scoped to `( )`),
comments and here-document bodies skipped, redirections kept apart from the words (with their targets resolved),
`bash -c '...'`, `$(...)`, backquotes and `<(...)`/`>(...)` read too. Linear in the line's length, and bounded
(MAX_COMMAND_CHARS, MAX_STEPS): a line past the bounds is refused, never read in part. Each simple command is then
normalised (leading `VAR=value` assignments, `sudo`/`env`/`time`/`nohup`/... wrappers and shell keywords dropped,
the program's directory dropped) and matched against the map. This module runs in `policy eval`, so it never
imports `re`: the splitter is hand-written and the map's regexes are precompiled by the compiler.
"""

from __future__ import annotations

import posixpath

from policy import lean
from policy.errors import did_you_mean

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from policy.lean import dataclass

LABEL_EXAMPLES = "e.g. stack:billing, service:api, node:k8s-node1, infra:dns"
MAX_LABEL_LENGTH = 200
_MAX_SHELL_DEPTH = 3

# ---- labels ------------------------------------------------------------------------------------------------------


def label_problem(label: object) -> str | None:
    """Why `label` is not a resource label (`<type>:<name>`, the type in lower case), or None when it is one."""
    if not isinstance(label, str) or not label.strip():
        return f"a label must be a non-empty string, not {label!r}"
    if len(label) > MAX_LABEL_LENGTH:
        return f"label {label[:40]!r}... is longer than {MAX_LABEL_LENGTH} characters"
    if "\n" in label or "\r" in label:
        return f"label {label!r} spans several lines"
    kind, colon, name = label.partition(":")
    if not colon or not name.strip() or not _is_type(kind):
        return f"label {label!r} is not <type>:<name>"
    return None


def _is_type(kind: str) -> bool:
    return bool(kind) and kind[0] in _LOWER and all(char in _TYPE_CHARS for char in kind)


_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_TYPE_CHARS = _LOWER | frozenset("0123456789-_")


# ---- splitting a command line ------------------------------------------------------------------------------------

_OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "\n", "(", ")")
_BLANK = " \t\r"
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac"})
# Wrappers that run the rest of the line as a command, and their options that take a separate value.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-U", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "--user", "--group"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "-S", "--unset", "--chdir"}),
    "nohup": frozenset(), "exec": frozenset({"-a"}), "command": frozenset(), "builtin": frozenset(),
    "nice": frozenset({"-n", "--adjustment"}), "ionice": frozenset({"-c", "-n", "-p"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}), "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "time": frozenset({"-f", "-o"}), "caffeinate": frozenset({"-t", "-w"}),
}
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})


# Bounds: a command line is read in time linear in its length, and a line past these bounds is refused (an error,
# and the rule's fail mode) rather than read in part: what is left unread could be the command that matters.
MAX_COMMAND_CHARS = 1 << 20
MAX_STEPS = 20_000  # reader steps (a quote, an operator, a word, a substitution...) over all levels
MAX_COMMANDS = 2_000
MAX_PATH = 4096  # a longer directory does not exist: `cd` into it fails, and the shell stays where it was
# Where each kind of text ends: the characters that may change the reader's state, by state.
_PLAIN_STOPS = " \t\r\\'\"$`#<>&\n;|()"
_DOUBLE_STOPS = '"\\$`'
_NESTED_STOPS = "\\'\"`()"


class CommandTooComplex(ValueError):
    """A command line beyond the reader's bounds."""


class _Stops:
    """The next position of any of a set of characters, in amortised linear time: each character's next
    occurrence is looked up with str.find (C speed) only once the reader has passed the last one found."""

    def __init__(self, text: str, chars: str) -> None:
        self.text = text
        self.next = {char: -2 for char in chars}

    def find(self, index: int) -> int:
        best = len(self.text)
        for char, position in self.next.items():
            if position < index and position != -1:
                position = self.text.find(char, index)
                self.next[char] = position
            if position != -1 and position < best:
                best = position
        return best


class _Budget:
    """The steps left for reading one command line, shared by every level of it (substitutions, `bash -c`)."""

    def __init__(self) -> None:
        self.left = MAX_STEPS

    def step(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise CommandTooComplex(f"the command line takes more than {MAX_STEPS:,} steps to read")


class _Text:
    """One command line being read, with its stop tables (shared by every scan of it) and the budget."""

    def __init__(self, text: str, budget: _Budget) -> None:
        self.text = text
        self.budget = budget
        self.plain = _Stops(text, _PLAIN_STOPS)
        self.double = _Stops(text, _DOUBLE_STOPS)
        self.nested = _Stops(text, _NESTED_STOPS)

    def closing(self, quote: str, index: int) -> int:
        """The index of the `quote` (`'` or a backquote) closing a string that starts before `index`, or the
        end of the text."""
        end = self.text.find(quote, index)
        return len(self.text) if end == -1 else end


def _skip_balanced(source: _Text, index: int) -> int:
    """The index after the `)` that balances the `(` just before `index` (quotes, `$(`, backquotes and nested
    parentheses respected). Iterative: nesting depth costs no stack."""
    text, size = source.text, len(source.text)
    stack = ["("]
    while index < size:
        source.budget.step()
        if stack[-1] == '"':
            index = source.double.find(index)
            if index >= size:
                break
            char = text[index]
            if char == "\\":
                index += 2
            elif char == '"':
                stack.pop()
                index += 1
            elif char == "`":
                index = source.closing("`", index + 1) + 1
            elif text.startswith("$(", index):
                stack.append("(")
                index += 2
            else:
                index += 1
            continue
        index = source.nested.find(index)
        if index >= size:
            break
        char = text[index]
        if char == "\\":
            index += 2
        elif char == "'":
            index = source.closing("'", index + 1) + 1
        elif char == '"':
            stack.append('"')
            index += 1
        elif char == "`":
            index = source.closing("`", index + 1) + 1
        elif char == "(":
            stack.append("(")
            index += 1
        else:  # ")"
            stack.pop()
            index += 1
            if not stack:
                return index
    return size


def _skip_double(source: _Text, index: int) -> tuple[int, str]:
    """Read a double-quoted string from `index` (after the quote): (index after the closing quote, its value)."""
    text, size = source.text, len(source.text)
    out: list[str] = []
    while index < size:
        source.budget.step()
        stop = source.double.find(index)
        if stop > index:
            out.append(text[index:stop])
            index = stop
        if index >= size:
            break
        char = text[index]
        if char == '"':
            return index + 1, "".join(out)
        if char == "\\":
            if index + 1 < size and text[index + 1] in '"\\$`\n':
                if text[index + 1] != "\n":
                    out.append(text[index + 1])
                index += 2
            else:
                out.append(char)
                index += 1
        elif text.startswith("$(", index):
            end = _skip_balanced(source, index + 2)
            out.append(text[index:end])
            index = end
        elif char == "`":
            end = source.closing("`", index + 1) + 1
            out.append(text[index:min(end, size)])
            index = end
        else:
            out.append(char)
            index += 1
    return size, "".join(out)


# Redirection operators that write to their target (`<` only reads; `<&`/`>&` with a number duplicate a descriptor).
_WRITING = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})


def _read_tokens(command: str, budget: _Budget) -> list[tuple[str, Any]]:
    """The command line as ("word", text), ("op", operator) and ("redirect", (operator, target)) tokens, the way
    a shell reads it (no expansion: `$VAR`, `$(...)` and globs stay as written). Comments and here-document
    bodies are dropped. Linear in the length; raises CommandTooComplex past the bounds."""
    if len(command) > MAX_COMMAND_CHARS:
        raise CommandTooComplex(f"the command line is longer than {MAX_COMMAND_CHARS:,} characters")
    source = _Text(command, budget)
    result: list[tuple[str, Any]] = []
    word: list[str] = []
    in_word = False
    heredocs: list[tuple[str, bool]] = []
    redirect: str | None = None  # the operator whose target the next word is
    index, size = 0, len(command)

    def finish() -> None:
        nonlocal in_word, redirect
        if in_word:
            text = "".join(word)
            if redirect is not None:
                if redirect.startswith("<<") and not redirect.startswith("<<<"):
                    heredocs.append((text, redirect.endswith("-")))
                else:
                    result.append(("redirect", (redirect, text)))
                redirect = None
            else:
                result.append(("word", text))
        word.clear()
        in_word = False

    while index < size:
        budget.step()
        stop = source.plain.find(index)
        if stop > index:  # a run of ordinary characters
            if stop >= size:
                word.append(command[index:])
                in_word = True
                break
            word.append(command[index:stop])
            in_word = True
            index = stop
        char = command[index]
        if char in _BLANK:
            finish()
            index += 1
        elif char == "\\":
            if index + 1 < size and command[index + 1] == "\n":
                index += 2
                continue
            if index + 1 < size:
                word.append(command[index + 1])
            in_word = True
            index += 2
        elif char == "'":
            end = source.closing("'", index + 1)
            word.append(command[index + 1:end])
            in_word = True
            index = end + 1
        elif char == '"':
            index, value = _skip_double(source, index + 1)
            word.append(value)
            in_word = True
        elif char == "$" and command.startswith("$(", index):
            end = _skip_balanced(source, index + 2)
            word.append(command[index:end])
            in_word = True
            index = end
        elif char == "$" and command.startswith("${", index):
            end = command.find("}", index)
            end = size if end == -1 else end + 1
            word.append(command[index:end])
            in_word = True
            index = end
        elif char == "$" and command.startswith("$'", index):
            end = index + 2
            while end < size and command[end] != "'":
                end += 2 if command[end] == "\\" else 1
            word.append(command[index + 2:end])
            in_word = True
            index = end + 1
        elif char == "`":
            end = source.closing("`", index + 1) + 1
            word.append(command[index:min(end, size)])
            in_word = True
            index = end
        elif char == "#" and not in_word:
            end = command.find("\n", index)
            index = size if end == -1 else end
        elif char in "<>" and command.startswith("(", index + 1):
            # Process substitution, `<(cmd)` or `>(cmd)`: a word whose command runs too (see _substitutions).
            end = _skip_balanced(source, index + 2)
            word.append(command[index:end])
            in_word = True
            index = end
        elif char in "<>" or (char == "&" and command.startswith("&>", index)):
            # A redirection: an fd number written just before it belongs to it; its target is the next word.
            if in_word and "".join(word).isdigit():
                word.clear()
                in_word = False
            finish()
            start = index
            while index < size and command[index] in "<>&|-":
                index += 1
            operator = command[start:index]
            if index < size and command[index].isdigit() and operator.endswith("&"):
                while index < size and command[index].isdigit():
                    index += 1
                continue  # `2>&1`: a descriptor, not a file
            if operator.endswith("&") and command.startswith("-", index):
                index += 1
                continue  # `>&-` closes a descriptor
            redirect = operator
        elif char == "\n":
            finish()
            result.append(("op", "\n"))
            index += 1
            if heredocs:
                index = _skip_heredocs(command, index, heredocs, budget)
                heredocs.clear()
        elif char in ";&|()":
            finish()
            operator = next(op for op in _OPERATORS if command.startswith(op, index))
            result.append(("op", operator))
            index += len(operator)
        else:  # `$` starting no expansion
            word.append(char)
            in_word = True
            index += 1
    finish()
    return result


def tokens(command: str) -> list[tuple[str, str]]:
    """The command line as ("word", text) and ("op", operator) tokens (redirections left out; `shell_commands`
    has them)."""
    return [token for token in _read_tokens(command, _Budget()) if token[0] != "redirect"]


def _skip_heredocs(command: str, index: int, heredocs: list[tuple[str, bool]], budget: _Budget) -> int:
    """Skip the bodies of the here-documents opened on the line that just ended: to the line that is their
    delimiter, found with str.find (a body of a million lines is not walked line by line)."""
    size = len(command)
    for delimiter, strip_tabs in heredocs:
        while index < size:
            budget.step()
            found = command.find(delimiter, index)
            if found == -1:
                return size
            newline = command.rfind("\n", index, found)
            before = command[index if newline == -1 else newline + 1:found]
            after = found + len(delimiter)
            line_end = command.find("\n", after)
            line_end = size if line_end == -1 else line_end
            if (before == "" or (strip_tabs and before.strip("\t") == "")) and line_end == after:
                index = min(size, line_end + 1)
                break
            index = line_end + 1 if line_end < size else size
    return index


def _is_assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return bool(equals) and name.isidentifier()


def _strip_wrappers(words: list[str]) -> list[str]:
    """Drop what runs the real command: keywords, `VAR=value` assignments, wrappers and their options."""
    index, size = 0, len(words)
    while index < size:
        word = words[index]
        if word in _KEYWORDS or _is_assignment(word):
            index += 1
            continue
        program = posixpath.basename(word)
        options = _WRAPPERS.get(program)
        if options is None:
            break
        index += 1
        while index < size and (words[index].startswith("-") or (program == "env" and _is_assignment(words[index]))):
            index += 2 if words[index] in options else 1
        if program == "timeout" and index < size:
            index += 1  # the duration
    rest = words[index:]
    if rest:
        rest[0] = posixpath.basename(rest[0]) or rest[0]
    return rest


def resolve_path(cwd: str, target: str) -> str:
    """`target` as the shell would find it from `cwd`: joined and normalised lexically (`..` and `.` resolved,
    links not followed); relative to nothing when `cwd` is unknown."""
    if not cwd and not target.startswith("/"):
        return posixpath.normpath(target) if target else ""
    return posixpath.normpath(posixpath.join(cwd, target))


def _change_dir(cwd: str, arguments: list[str]) -> str:
    targets = [argument for argument in arguments if not argument.startswith("-") or argument == "-"]
    if not targets:
        return "~"
    target = targets[0]
    if target == "-":
        return cwd
    if len(cwd) + len(target) >= MAX_PATH:
        return cwd  # the shell's cd fails (the name is too long) and it stays where it was
    return posixpath.normpath(posixpath.join(cwd, target)) if cwd or target.startswith("/") else target


def _shell_script(words: list[str]) -> str | None:
    """The script of `bash -c 'script'` (also `-lc`, `-ec`, ...), else None."""
    for position, word in enumerate(words[1:], start=1):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return words[position + 1] if position + 1 < len(words) else None
        if not word.startswith("-"):
            return None
    return None


def _substitutions(word: str, budget: _Budget) -> list[str]:
    """The scripts of the command and process substitutions (`$(...)`, backquotes, `<(...)`, `>(...)`) in a
    word. Linear: each opener's next position is looked up only once the scan has passed it."""
    scripts: list[str] = []
    source = _Text(word, budget)
    openers = _Stops(word, "$`<>")
    index, size = 0, len(word)
    while index < size:
        budget.step()
        start = openers.find(index)
        if start >= size:
            break
        if word[start] == "`":
            end = source.closing("`", start + 1)
            scripts.append(word[start + 1:end])
            index = end + 1
        elif word.startswith(("$(", "<(", ">("), start):
            end = _skip_balanced(source, start + 2)
            if not word.startswith("$((", start):  # $(( )) is arithmetic
                scripts.append(word[start + 2:end - 1] if word[end - 1:end] == ")" else word[start + 2:end])
            index = end
        else:
            index = start + 1
    return scripts


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """One simple command of a command line: its words (normalised), the directory it runs in, and its
    redirections as (operator, target, path): `path` is the target resolved against that directory."""

    words: tuple[str, ...]
    directory: str
    redirects: tuple[tuple[str, str, str], ...] = ()


def read_commands(command: str, cwd: str = "") -> list[ShellCommand]:
    """The simple commands of a command line, in the order a shell starts them (substitutions first), each with
    the directory it runs in and its redirections. Raises CommandTooComplex past the bounds."""
    result: list[ShellCommand] = []
    _read_line(command, cwd, 0, result, _Budget())  # (scripts inside: _MAX_SHELL_DEPTH levels, no deeper)
    return result


def _read_line(command: str, cwd: str, depth: int, result: list[ShellCommand], budget: _Budget) -> None:
    saved: list[str] = []
    words: list[str] = []
    redirects: list[tuple[str, str, str]] = []
    directory = cwd

    def flush() -> None:
        nonlocal directory
        if depth < _MAX_SHELL_DEPTH:
            for word in words:
                for inner in _substitutions(word, budget):
                    _read_line(inner, directory, depth + 1, result, budget)
            for _, target, _ in redirects:
                for inner in _substitutions(target, budget):
                    _read_line(inner, directory, depth + 1, result, budget)
        simple = _strip_wrappers(words)
        words.clear()
        found = tuple(redirects)
        redirects.clear()
        if len(result) > MAX_COMMANDS:
            raise CommandTooComplex(f"the command line has more than {MAX_COMMANDS:,} commands")
        if not simple:
            if found:
                result.append(ShellCommand((), directory, found))
            return
        if simple[0] in ("cd", "pushd"):
            directory = _change_dir(directory, simple[1:])
            return
        if simple[0] in _SHELLS and depth < _MAX_SHELL_DEPTH:
            script = _shell_script(simple)
            if script is not None:
                _read_line(script, directory, depth + 1, result, budget)
                if found:
                    result.append(ShellCommand((), directory, found))
                return
        result.append(ShellCommand(tuple(simple), directory, found))

    for kind, text in _read_tokens(command, budget):
        if kind == "word":
            words.append(text)
            continue
        if kind == "redirect":
            operator, target = text
            redirects.append((operator, target, resolve_path(directory, target)))
            continue
        flush()
        if text == "(":
            saved.append(directory)
        elif text == ")" and saved:
            directory = saved.pop()
    flush()


def simple_commands(command: str, cwd: str = "") -> list[tuple[tuple[str, ...], str]]:
    """The simple commands of a command line, normalised, each with the directory it runs in."""
    return [(found.words, found.directory) for found in read_commands(command, cwd) if found.words]


def shell_commands(command: Any, cwd: Any = None) -> list[dict[str, Any]]:
    """`shell_commands()` in expressions: each simple command as {command: [words], cwd, redirects: [{op,
    target, path}], writes: [paths]} (`writes`: the paths its output redirections write)."""
    if not command:
        return []
    return [{"command": list(found.words), "cwd": found.directory,
             "redirects": [{"op": op, "target": target, "path": path} for op, target, path in found.redirects],
             "writes": [path for op, _, path in found.redirects if op in _WRITING]}
            for found in _memoised(str(command), str(cwd or ""))]


_MEMO: dict[tuple[str, str], list[ShellCommand]] = {}


def _memoised(command: str, cwd: str) -> list[ShellCommand]:
    """`read_commands`, memoised for the few command lines one process sees: the hook evaluates an event twice
    when another process wrote meanwhile (policy.hook), and a server process sees many events."""
    key = (command, cwd)
    found = _MEMO.get(key)
    if found is None:
        found = read_commands(command, cwd)
        if len(_MEMO) >= 32:
            _MEMO.clear()
        _MEMO[key] = found
    return found


# ---- the command map ---------------------------------------------------------------------------------------------

def _entries(maps: tuple[Any, ...]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for number, mapping in enumerate(maps):
        if mapping is None:
            continue
        if not isinstance(mapping, (list, tuple)):
            raise ValueError(f"command map #{number + 1} must be a list of {{match, label}} entries")
        for entry in mapping:
            if not isinstance(entry, dict) or not isinstance(entry.get("match"), str) or "label" not in entry:
                raise ValueError(f"command map entry {entry!r} needs `match` (a regex) and `label`")
            entries.append(entry)
    return entries


def _templates(entry: dict[str, Any]) -> list[str]:
    label = entry["label"]
    return [label] if isinstance(label, str) else list(label)


def _placeholders(template: str) -> list[tuple[int, int, str]]:
    """(start, end, body) of each `{...}` in a label template. Raises ValueError on an unbalanced brace."""
    found: list[tuple[int, int, str]] = []
    index = 0
    while True:
        start = template.find("{", index)
        close = template.find("}", index)
        if start == -1:
            if close != -1:
                raise ValueError(f"unbalanced '}}' in label {template!r}")
            return found
        end = template.find("}", start)
        if end == -1 or (close != -1 and close < start):
            raise ValueError(f"unbalanced brace in label {template!r}")
        body = template[start + 1:end]
        if "{" in body:
            raise ValueError(f"nested '{{' in label {template!r}")
        found.append((start, end + 1, body))
        index = end + 1


def _split_placeholder(body: str) -> tuple[str, str, str | None]:
    """`name`, `name:dir` or `name=default` → (name, modifier, default)."""
    if "=" in body:
        name, _, default = body.partition("=")
        return name.strip(), "", default
    name, _, modifier = body.partition(":")
    return name.strip(), modifier.strip(), None


def _basename(path: str) -> str:
    name = posixpath.basename(path.rstrip("/"))
    return "" if name in (".", "..", "~") else name


def render_label(template: str, groups: dict[str, str | None], directory: str) -> str:
    """Fill a label template; "" when a placeholder has no value (the label is then left out)."""
    out: list[str] = []
    position = 0
    for start, end, body in _placeholders(template):
        out.append(template[position:start])
        name, modifier, default = _split_placeholder(body)
        value = groups.get(name)
        if name == "cwd" and name not in groups:
            value = _basename(directory)
        elif modifier == "dir":
            path = posixpath.normpath(posixpath.join(directory, value)) if value else directory
            value = _basename(path)
        if not value:
            if default is None:
                return ""
            value = default
        out.append(value)
        position = end
    out.append(template[position:])
    return "".join(out)


def command_labels(command: Any, cwd: Any, *maps: Any) -> list[str]:
    """The labels of what a command line mutates: for each simple command, the first entry of the maps (in order)
    whose `match` regex is found in it gives its labels. Labels with an empty placeholder are left out."""
    if not command:
        return []
    entries = _entries(maps)
    labels: list[str] = []
    for found in _memoised(str(command), str(cwd or "")):
        if not found.words:
            continue
        words, directory = found.words, found.directory
        text = " ".join(words)
        for entry in entries:
            found = lean.regex(entry["match"]).search(text)
            if found is None:
                continue
            groups = found.groupdict()
            for template in _templates(entry):
                label = render_label(template, groups, directory)
                if label and label not in labels:
                    labels.append(label)
            break
    return labels


_ENTRY_KEYS = frozenset({"match", "label", "description"})


def check_command_map(value: Any, name: str) -> tuple[list[str], list[str]]:
    """Compile-time check of a command map: (problems, the regexes to precompile). Imports `re`: not for eval."""
    import re

    if not isinstance(value, list):
        return [f"{name} must be a list of {{match, label}} entries, not {type(value).__name__}"], []
    problems: list[str] = []
    patterns: list[str] = []
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a mapping with `match` and `label`")
            continue
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown:
            problems.append(f"{where} has unknown key {unknown[0]!r} ("
                            + (did_you_mean(unknown[0], _ENTRY_KEYS) or "expected match, label, description") + ")")
        pattern, label = entry.get("match"), entry.get("label")
        if not isinstance(pattern, str) or not pattern:
            problems.append(f"{where} needs `match`, a regex")
            continue
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as error:
            problems.append(f"{where}: invalid regex {pattern!r}: {error}")
            continue
        patterns.append(pattern)
        if isinstance(label, str):
            templates = [label]
        elif isinstance(label, list) and all(isinstance(item, str) for item in label):
            templates = label
        else:
            problems.append(f"{where} needs `label`, a label template or a list of them")
            continue
        for template in templates:
            problem = _template_problem(template, groups)
            if problem:
                problems.append(f"{where}: {problem}")
    return problems, patterns


def _template_problem(template: str, groups: set[str]) -> str | None:
    try:
        placeholders = _placeholders(template)
    except ValueError as error:
        return str(error)
    for _, _, body in placeholders:
        name, modifier, _ = _split_placeholder(body)
        if modifier not in ("", "dir"):
            return f"unknown modifier {modifier!r} in label {template!r} (use {{{name}:dir}})"
        if name not in groups and name != "cwd":
            known = ", ".join(sorted(groups | {"cwd"}))
            return f"label {template!r} names {{{name}}}, which is not a named group of the regex (known: {known})"
    sample = render_label(template, {group: "x" for group in groups}, "/x")
    problem = label_problem(sample) if sample else None
    return f"label template {template!r} does not make a label: {problem} ({LABEL_EXAMPLES})" if problem else None
