"""Editing a JSON file in place: add and remove object members and array items as text, leaving every other byte
as it was (layout, key order, escapes, the final newline). `policy install` and `policy uninstall` edit agents'
settings files this way, so that uninstalling restores the file byte for byte and a second install is a no-op.

`parse` gives the span of every value; the edit functions return new text. Comments (`//` and `/* */`, which
Gemini CLI's settings.json allows) are read as whitespace and kept where they are. Removing what an insert added
deletes exactly the inserted bytes: an insert after the last element writes `,` + separator + element, and a
removal of an element that is not the first deletes from the end of the previous element to its own end.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from policy.lean import dataclass

_WHITESPACE = " \t\n\r"
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON value and where it is: text[start:end]. Objects have `members` (key, key start, value), arrays
    `items`."""

    kind: str  # "object" | "array" | "scalar"
    start: int
    end: int
    members: tuple[tuple[str, int, Node], ...] = ()
    items: tuple[Node, ...] = ()

    def member(self, key: str) -> tuple[int, Node] | None:
        """The index and value of `key` (the last one, as JSON parsers keep it), or None."""
        found = None
        for index, (name, _, value) in enumerate(self.members):
            if name == key:
                found = (index, value)
        return found


@dataclass(frozen=True, slots=True)
class Style:
    """How the file is laid out: the indent unit ('' for one-line JSON) and the newline."""

    indent: str = "  "
    newline: str = "\n"


def parse(text: str) -> Node:
    """The spans of a document that json.loads accepts once `strip_comments` has run (call that first: this parser
    does not validate). The spans hold for `text` itself: comments become whitespace of the same length."""
    clean = strip_comments(text)
    return _value(clean, _skip(clean, 0))[0]


def strip_comments(text: str) -> str:
    """`text` with every `//` and `/* */` comment outside strings replaced by spaces (newlines kept), so that
    json.loads reads it and every offset stays where it was."""
    if "/" not in text:
        return text
    out = list(text)
    index, in_string = 0, False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif text.startswith("//", index):
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
            out[index:end] = " " * (end - index)
            index = end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = len(text) if end < 0 else end + 2
            out[index:end] = [part if part in "\r\n" else " " for part in text[index:end]]
            index = end
            continue
        index += 1
    return "".join(out)


def value(text: str, node: Node) -> Any:
    """The JSON value at `node` (comments inside it ignored)."""
    return json.loads(strip_comments(text[node.start:node.end]))


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _value(text: str, index: int) -> tuple[Node, int]:
    char = text[index]
    if char == "{":
        start = index
        members = []
        index = _skip(text, index + 1)
        while text[index] != "}":
            key_start = index
            key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
            index = _skip(text, _skip(text, index) + 1)  # past the colon
            value, index = _value(text, index)
            members.append((key, key_start, value))
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
        return Node("object", start, index + 1, members=tuple(members)), index + 1
    if char == "[":
        start = index
        items = []
        index = _skip(text, index + 1)
        while text[index] != "]":
            item, index = _value(text, index)
            items.append(item)
            index = _skip(text, index)
            if text[index] == ",":
                index = _skip(text, index + 1)
        return Node("array", start, index + 1, items=tuple(items)), index + 1
    if char == '"':
        _, end = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
        return Node("scalar", index, end), end
    match = _SCALAR.match(text, index)
    if match is None:
        raise ValueError(f"unexpected {char!r} at offset {index}")
    return Node("scalar", index, match.end()), match.end()


def style_of(text: str) -> Style:
    """The indent unit of the first indented line (JSON.stringify(…, null, 2) gives two spaces), and the newline."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if "\n" not in text.strip():
        return Style("", newline) if text.strip() not in ("", "{}") else Style("  ", newline)
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return Style(line[:len(line) - len(stripped)], newline)
    return Style("  ", newline)


def _line_indent(text: str, index: int) -> str:
    start = text.rfind("\n", 0, index) + 1
    line = text[start:index]
    return line[:len(line) - len(line.lstrip(" \t"))]


def render(value: Any, style: Style, indent: str) -> str:
    """`value` as JSON in the file's style, its continuation lines indented by `indent`."""
    if not style.indent:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, indent=style.indent).replace("\n", style.newline + indent)


def _element_indent(text: str, container: Node, style: Style) -> str:
    """The indentation of the container's elements: as its first element's, else one unit deeper than its line."""
    first = container.members[0][1] if container.members else container.items[0].start if container.items else None
    if first is not None and "\n" in text[container.start:first]:
        return _line_indent(text, first)
    return _line_indent(text, container.start) + style.indent


def _insert(text: str, container: Node, element: str, style: Style) -> str:
    """Insert `element` (already rendered) as the last element of `container`."""
    elements = container.members or container.items
    indent = _element_indent(text, container, style)
    if elements:
        last_end = (container.members[-1][2].end if container.members else container.items[-1].end)
        separator = (style.newline + indent) if style.indent and "\n" in text[container.start:container.end] \
            else " "
        return text[:last_end] + "," + separator + element + text[last_end:]
    if not style.indent:
        return text[:container.start + 1] + element + text[container.end - 1:]
    closing = _line_indent(text, container.start)
    return (text[:container.start + 1] + style.newline + indent + element + style.newline + closing
            + text[container.end - 1:])


def add_member(text: str, obj: Node, key: str, value: Any, style: Style) -> str:
    indent = _element_indent(text, obj, style)
    element = json.dumps(key, ensure_ascii=False) + ": " + render(value, style, indent)
    return _insert(text, obj, element, style)


def append_item(text: str, array: Node, value: Any, style: Style) -> str:
    indent = _element_indent(text, array, style)
    return _insert(text, array, render(value, style, indent), style)


def _remove(text: str, container: Node, starts: list[int], ends: list[int], index: int) -> str:
    if index > 0:
        return text[:ends[index - 1]] + text[ends[index]:]
    if len(starts) > 1:
        return text[:starts[0]] + text[starts[1]:]
    return text[:container.start + 1] + text[container.end - 1:]


def remove_member(text: str, obj: Node, index: int) -> str:
    """Delete member `index` and the separator before it (or after it, for the first one)."""
    return _remove(text, obj, [start for _, start, _ in obj.members], [value.end for _, _, value in obj.members],
                   index)


def remove_item(text: str, array: Node, index: int) -> str:
    return _remove(text, array, [item.start for item in array.items], [item.end for item in array.items], index)
