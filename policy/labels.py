"""Resource labels (`stack:billing`, `node:k8s-node1`): what a label looks like, and how a shell command line maps
to the labels of what it mutates, through a command map (the presence pack's `commands` param, docs/packs/presence.md).

A command line is split the way a shell would split it, without running anything: simple commands separated by
`&&`, `||`, `;`, `|`, `&` and newlines, quotes and escapes honoured, `cd`/`pushd` followed (scoped to `( )`),
comments, redirections and here-documents skipped, `bash -c '...'` read recursively. Each simple command is then
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
    from typing import Any

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


def _skip_balanced(text: str, index: int, opening: str, closing: str) -> int:
    """The index after the `closing` that balances the `opening` just before `index` (quotes respected)."""
    depth, size = 1, len(text)
    while index < size:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "'":
            end = text.find("'", index + 1)
            index = size if end == -1 else end + 1
            continue
        if char == '"':
            index = _skip_double(text, index + 1)[0]
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return size


def _skip_double(text: str, index: int) -> tuple[int, str]:
    """Read a double-quoted string from `index` (after the quote): (index after the closing quote, its value)."""
    out: list[str] = []
    size = len(text)
    while index < size:
        char = text[index]
        if char == '"':
            return index + 1, "".join(out)
        if char == "\\" and index + 1 < size and text[index + 1] in '"\\$`\n':
            if text[index + 1] != "\n":
                out.append(text[index + 1])
            index += 2
            continue
        if char == "$" and text.startswith("$(", index):
            end = _skip_balanced(text, index + 2, "(", ")")
            out.append(text[index:end])
            index = end
            continue
        if char == "`":
            end = text.find("`", index + 1)
            end = size if end == -1 else end + 1
            out.append(text[index:end])
            index = end
            continue
        out.append(char)
        index += 1
    return size, "".join(out)


def tokens(command: str) -> list[tuple[str, str]]:
    """The command line as ("word", text) and ("op", operator) tokens, the way a shell reads it (no expansion:
    `$VAR`, `$(...)` and globs stay as written). Comments, redirections and here-document bodies are dropped."""
    result: list[tuple[str, str]] = []
    word: list[str] = []
    in_word = False
    heredocs: list[tuple[str, bool]] = []
    skip_next_word = False
    index, size = 0, len(command)

    def finish() -> None:
        nonlocal in_word, skip_next_word
        if in_word:
            if skip_next_word:
                skip_next_word = False
                if heredocs and heredocs[-1][0] == "\0":
                    strip_tabs = heredocs.pop()[1]
                    heredocs.append(("".join(word), strip_tabs))
            else:
                result.append(("word", "".join(word)))
        word.clear()
        in_word = False

    while index < size:
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
            end = command.find("'", index + 1)
            end = size if end == -1 else end
            word.append(command[index + 1:end])
            in_word = True
            index = end + 1
        elif char == '"':
            index, value = _skip_double(command, index + 1)
            word.append(value)
            in_word = True
        elif char == "$" and command.startswith("$(", index):
            end = _skip_balanced(command, index + 2, "(", ")")
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
            end = command.find("`", index + 1)
            end = size if end == -1 else end + 1
            word.append(command[index:end])
            in_word = True
            index = end
        elif char == "#" and not in_word:
            end = command.find("\n", index)
            index = size if end == -1 else end
        elif char in "<>" or (char == "&" and command.startswith(("&>",), index)):
            # A redirection: drop it, an fd number written just before it, and its target word.
            if in_word and "".join(word).isdigit():
                word.clear()
                in_word = False
            finish()
            start = index
            while index < size and command[index] in "<>&|-":
                index += 1
            operator = command[start:index]
            if operator.startswith("<<") and not operator.startswith("<<<"):
                heredocs.append(("\0", operator.endswith("-")))
            if index < size and command[index].isdigit() and operator.endswith("&"):
                while index < size and command[index].isdigit():
                    index += 1
                continue
            skip_next_word = True
        elif char == "\n":
            finish()
            result.append(("op", "\n"))
            index += 1
            if heredocs:
                index = _skip_heredocs(command, index, heredocs)
                heredocs.clear()
        elif char in ";&|()":
            finish()
            operator = next(op for op in _OPERATORS if command.startswith(op, index))
            result.append(("op", operator))
            index += len(operator)
        else:
            word.append(char)
            in_word = True
            index += 1
    finish()
    return result


def _skip_heredocs(command: str, index: int, heredocs: list[tuple[str, bool]]) -> int:
    """Skip the bodies of the here-documents opened on the line that just ended."""
    for delimiter, strip_tabs in heredocs:
        if delimiter == "\0":
            continue
        while index < len(command):
            end = command.find("\n", index)
            line = command[index:] if end == -1 else command[index:end]
            index = len(command) if end == -1 else end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
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


def _change_dir(cwd: str, arguments: list[str]) -> str:
    targets = [argument for argument in arguments if not argument.startswith("-") or argument == "-"]
    if not targets:
        return "~"
    target = targets[0]
    if target == "-":
        return cwd
    return posixpath.normpath(posixpath.join(cwd, target)) if cwd or target.startswith("/") else target


def _shell_script(words: list[str]) -> str | None:
    """The script of `bash -c 'script'` (also `-lc`, `-ec`, ...), else None."""
    for position, word in enumerate(words[1:], start=1):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return words[position + 1] if position + 1 < len(words) else None
        if not word.startswith("-"):
            return None
    return None


def _substitutions(word: str) -> list[str]:
    """The scripts of the command substitutions (`$(...)`, backquotes) in a word."""
    scripts: list[str] = []
    index = 0
    while True:
        start = min((found for found in (word.find("$(", index), word.find("`", index)) if found != -1), default=-1)
        if start == -1:
            return scripts
        if word[start] == "`":
            end = word.find("`", start + 1)
            end = len(word) if end == -1 else end
            scripts.append(word[start + 1:end])
            index = end + 1
        else:
            end = _skip_balanced(word, start + 2, "(", ")")
            if not word.startswith("$((", start):  # $(( )) is arithmetic
                scripts.append(word[start + 2:end - 1])
            index = end


def simple_commands(command: str, cwd: str = "", *, depth: int = 0) -> list[tuple[tuple[str, ...], str]]:
    """The simple commands of a command line, normalised, each with the directory it runs in."""
    result: list[tuple[tuple[str, ...], str]] = []
    saved: list[str] = []
    words: list[str] = []
    directory = cwd

    def flush() -> None:
        nonlocal directory
        if depth < _MAX_SHELL_DEPTH:
            for word in words:
                for inner in _substitutions(word):
                    result.extend(simple_commands(inner, directory, depth=depth + 1))
        simple = _strip_wrappers(words)
        words.clear()
        if not simple:
            return
        if simple[0] in ("cd", "pushd"):
            directory = _change_dir(directory, simple[1:])
            return
        if simple[0] in _SHELLS and depth < _MAX_SHELL_DEPTH:
            script = _shell_script(simple)
            if script is not None:
                result.extend(simple_commands(script, directory, depth=depth + 1))
                return
        result.append((tuple(simple), directory))

    for kind, text in tokens(command):
        if kind == "word":
            words.append(text)
            continue
        flush()
        if text == "(":
            saved.append(directory)
        elif text == ")" and saved:
            directory = saved.pop()
    flush()
    return result


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
    for words, directory in simple_commands(str(command), str(cwd or "")):
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
