"""Reads YAML files into plain data while keeping the line and column of every node.

YAML is normalised to JSON semantics on the way in (string keys only, timestamps stay strings), and the traps
that silently change meaning are reported: duplicate keys, and keys YAML 1.1 reads as booleans (`on`, `off`,
`yes`, `no`). Every later stage reports problems through `Document.location(path)`.
"""

from __future__ import annotations

import math

from policy.errors import Diagnostic, Location

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any

    import yaml

    Path = tuple[Any, ...]  # a path into a document: keys (str) and list indexes (int)
else:
    from policy.lean import dataclass, field

_BOOLEAN_WORDS = frozenset({"yes", "no", "on", "off", "true", "false"})


def render_path(path: Path) -> str:
    """`("rules", 2, "when")` → `rules[2].when`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed file: its data, where each value (and each mapping key) starts, and what was wrong with it."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    # values YAML 1.1 read as booleans from a word other than true/false (`reason: no`): path -> the word written
    bool_words: dict[Path, str] = field(default_factory=dict)

    def location(self, path: Path, *, key: bool = False) -> Location:
        """The location of the value at `path` (or of its key), or of the nearest enclosing node."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col, render_path(path))
            if table is self.keys:
                table = self.values
                continue
            probe = probe[:-1]
        line, col = self.values.get((), (1, 1))
        return Location(self.file, line, col, render_path(path))


def _loader_class() -> type:
    import yaml

    loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


MAX_NODES = 200_000  # far beyond any real file; stops alias bombs ("billion laughs") before they eat the memory
# Far beyond any real file (rule, test and config files nest a dozen levels at most), and well below every limit
# the libraries have: PyYAML's pure-Python composer recurses (~330 levels), libyaml stops at 1000 in recent
# releases and not at all in older ones. Our own limit makes the answer the same whichever of them parses.
MAX_DEPTH = 100


class _TooLarge(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.line, self.col = line, col


class _Builder:
    def __init__(self, file: str) -> None:
        import yaml

        self.yaml = yaml
        self.file = file
        self.values: dict[Path, tuple[int, int]] = {}
        self.keys: dict[Path, tuple[int, int]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.bool_words: dict[Path, str] = {}
        self.constructor = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()  # the collection nodes being built, to catch recursive aliases
        self.built = 0  # nodes built so far, counting every expansion of an alias

    def at(self, node: yaml.Node, path: Path) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1, render_path(path))

    def build(self, node: yaml.Node, path: Path) -> Any:
        yaml = self.yaml
        self.built += 1
        if self.built > MAX_NODES:
            raise _TooLarge
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if len(path) >= MAX_DEPTH:  # (aliases can nest a document deeper than its text)
                raise _TooDeep(*self.values[path])
            if id(node) in self.active:
                self.diagnostics.append(Diagnostic(
                    self.at(node, path), "yaml-recursive", "this alias refers to a node that contains it",
                    "write the value out instead of using a recursive alias"))
                return None
            self.active.add(id(node))
            try:
                return self.collection(node, path)
            finally:
                self.active.discard(id(node))
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # JSON has no dates: keep the text, as check-jsonschema does
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as error:
            problem = getattr(error, "problem", None) or str(error)
            self.diagnostics.append(Diagnostic(
                self.at(node, path), "yaml-value", f"cannot read the value: {problem}",
                "remove the !tag or write a plain string, number, true/false or null"))
            return None
        if isinstance(value, bool) and node.tag == "tag:yaml.org,2002:bool" \
                and node.value.lower() not in ("true", "false"):
            self.bool_words[path] = str(node.value)
        if isinstance(value, bytes) or (isinstance(value, float) and not math.isfinite(value)):
            self.diagnostics.append(Diagnostic(
                self.at(node, path), "yaml-value", f"{node.value!r} is not a JSON value (binary, .inf or .nan)",
                "write a plain string or a finite number"))
            return None
        return value

    def collection(self, node: yaml.Node, path: Path) -> Any:
        yaml = self.yaml
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.key(key_node, path)
                if key is None:
                    continue
                child = (*path, key)
                if key in result:
                    self.diagnostics.append(Diagnostic(
                        self.at(key_node, child), "duplicate-key",
                        f"key {key!r} appears twice in the same mapping; YAML would silently keep the last one",
                        "remove or rename one of them"))
                self.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, child)
            return result
        return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]

    def key(self, node: yaml.Node, path: Path) -> str | None:
        yaml = self.yaml
        if not isinstance(node, yaml.ScalarNode):
            self.diagnostics.append(Diagnostic(
                self.at(node, path), "bad-key", "mapping keys must be plain strings", "quote the key"))
            return None
        if node.tag == "tag:yaml.org,2002:str":
            return str(node.value)
        if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() in _BOOLEAN_WORDS:
            self.diagnostics.append(Diagnostic(
                self.at(node, (*path, node.value)), "yaml-bool-key",
                f"the key {node.value!r} is read by YAML 1.1 as the boolean {node.value.lower() in ('yes', 'on', 'true')}",
                f"quote it ('{node.value}') or use another word"))
            return None
        if node.tag == "tag:yaml.org,2002:merge":
            self.diagnostics.append(Diagnostic(
                self.at(node, path), "bad-key", "YAML merge keys (<<) are not supported", "write the keys out"))
            return None
        # numbers and other scalars as keys: JSON semantics make them strings
        return str(node.value)


def parse_yaml(text: str, file: str) -> Document:
    """Parse one YAML document. Syntax errors become diagnostics, never exceptions."""
    import yaml

    try:
        root = yaml.compose(text, Loader=_loader_class())
    except (yaml.YAMLError, RecursionError) as error:
        # Too deep for the parser (its own limit, or the stack) or not YAML: which one does not depend on the
        # wording of PyYAML's message, and the nesting is found where it passes our limit.
        deep = _deepest_point(text)
        if deep is not None:
            return _too_deep(file, *deep)
        if isinstance(error, yaml.MarkedYAMLError):
            mark = error.problem_mark or error.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = error.problem or str(error)
            if error.context:
                problem = f"{problem} ({error.context})"
            return Document(file, None, diagnostics=(Diagnostic(
                Location(file, line, col), "yaml-syntax", problem, "fix the YAML syntax at this position"),))
        if isinstance(error, yaml.YAMLError):
            return Document(file, None, diagnostics=(Diagnostic(
                Location(file, 1, 1), "yaml-syntax", str(error), "fix the YAML syntax"),))
        return _too_deep(file, 1, 1)
    if root is None or (root.tag == "tag:yaml.org,2002:null" and root.value == ""):  # nothing, or only `---`
        return Document(file, None, diagnostics=(Diagnostic(
            Location(file, 1, 1), "empty-file", "the file is empty", "see docs/rules.md for the format"),))
    builder = _Builder(file)
    try:
        data = builder.build(root, ())
    except _TooDeep as deep:
        return _too_deep(file, deep.line, deep.col)
    except _TooLarge:
        return Document(file, None, diagnostics=(Diagnostic(
            Location(file, 1, 1), "too-large", f"the document expands to more than {MAX_NODES:,} values",
            "aliases that repeat aliases multiply: write the values out"),))
    return Document(file, data, builder.values, builder.keys, tuple(builder.diagnostics), builder.bool_words)


def _deepest_point(text: str) -> tuple[int, int] | None:
    """Where the text opens its (MAX_DEPTH + 1)th nested collection, or None when it does not before the end or
    the first syntax error. The pure-Python parser's events nest without recursion and without a limit (libyaml
    scans a whole flow collection ahead, so it would stop at its own limit first); only failed files come here."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return (mark.line + 1, mark.column + 1) if mark else (1, 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def _too_deep(file: str, line: int, col: int) -> Document:
    return Document(file, None, diagnostics=(Diagnostic(
        Location(file, line, col), "too-deep", f"the document nests more than {MAX_DEPTH} levels deep",
        "flatten it: rule, test and config files need only a few levels"),))


def yaml_files(paths: list[str], suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[str]:
    """The files named, and the files ending in one of `suffixes` under the directories named: recursively, in a
    stable order, skipping hidden directories (.git, .venv, …) except .policy, where `policy init` puts rules."""
    import os

    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, directories, names in os.walk(path):
                directories[:] = sorted(d for d in directories if not d.startswith(".") or d == ".policy")
                files += [os.path.normpath(os.path.join(root, name)) for name in sorted(names)
                          if name.endswith(suffixes)]
        else:
            files.append(path)
    return files


def read_text(path: str) -> str:
    """A regular file's text as UTF-8 (at most lean.MAX_FILE_BYTES: a FIFO, a device or a huge file is refused
    before it can block or fill the memory); raises OSError or UnicodeDecodeError."""
    from policy.lean import read_regular_file

    return read_regular_file(path).decode("utf-8-sig")


def load_yaml(path: str, *, display: str | None = None) -> Document:
    """Read and parse `path`. Unreadable files become a diagnostic. `display` is the name used in messages."""
    name = display or path
    try:
        text = read_text(path)
    except FileNotFoundError:
        return Document(name, None, diagnostics=(Diagnostic(
            Location(name), "not-found", "no such file", "check the path"),))
    except (OSError, UnicodeDecodeError) as error:
        reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else (error.strerror or str(error))
        if isinstance(error, OSError) and not error.strerror:  # a refused path says what it is
            return Document(name, None, diagnostics=(Diagnostic(
                Location(name), "unreadable", f"cannot read the file: {error}",
                "rule and config files must be regular files (at most 4 MiB)"),))
        return Document(name, None, diagnostics=(Diagnostic(
            Location(name), "unreadable", f"cannot read the file: {reason}", "check the file and its permissions"),))
    return parse_yaml(text, name)
