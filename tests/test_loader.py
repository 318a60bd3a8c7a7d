"""policy.loader: YAML in, plain JSON-shaped data out, every value and key located, every trap reported."""

from __future__ import annotations

import os

import pytest
from conftest import IS_ROOT, write

from policy.errors import Location
from policy.loader import load_yaml, parse_yaml, render_path


def rendered(document):
    return [diagnostic.render() for diagnostic in document.diagnostics]


def test_values_and_keys_are_located():
    document = parse_yaml(
        "version: 1\n"
        "rules:\n"
        "  - id: one\n"
        "    match: {tool_input.command: '^ls'}\n"
        "    reason: |\n"
        "      two\n"
        "      lines\n", "r.yaml")
    assert document.data == {"version": 1, "rules": [
        {"id": "one", "match": {"tool_input.command": "^ls"}, "reason": "two\nlines\n"}]}
    assert document.values == {
        (): (1, 1), ("version",): (1, 10), ("rules",): (3, 3), ("rules", 0): (3, 5), ("rules", 0, "id"): (3, 9),
        ("rules", 0, "match"): (4, 12), ("rules", 0, "match", "tool_input.command"): (4, 33),
        ("rules", 0, "reason"): (5, 13)}
    assert document.keys == {
        ("version",): (1, 1), ("rules",): (2, 1), ("rules", 0, "id"): (3, 5), ("rules", 0, "match"): (4, 5),
        ("rules", 0, "match", "tool_input.command"): (4, 13), ("rules", 0, "reason"): (5, 5)}
    assert document.diagnostics == ()


def test_location_of_value_key_and_nearest_enclosing_node():
    document = parse_yaml("a:\n  b: [1, 2]\n", "f.yaml")
    assert document.location(("a", "b", 1)) == Location("f.yaml", 2, 10, "a.b[1]")
    assert document.location(("a", "b"), key=True) == Location("f.yaml", 2, 3, "a.b")
    # a list item has no key: the value's location is used
    assert document.location(("a", "b", 0), key=True) == Location("f.yaml", 2, 7, "a.b[0]")
    # a path that does not exist: the nearest enclosing node
    assert document.location(("a", "missing", "deeper")) == Location("f.yaml", 2, 3, "a.missing.deeper")
    assert document.location(()) == Location("f.yaml", 1, 1, "")


def test_render_path():
    assert render_path(("rules", 2, "when")) == "rules[2].when"
    assert render_path(()) == ""
    assert render_path((0, "a")) == "[0].a"


def test_duplicate_keys_are_reported_at_the_second_one():
    document = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "d.yaml")
    assert rendered(document) == [
        "d.yaml:4:3: duplicate-key: key 'c' appears twice in the same mapping; YAML would silently keep the last "
        "one\n    hint: remove or rename one of them",
        "d.yaml:5:1: duplicate-key: key 'a' appears twice in the same mapping; YAML would silently keep the last "
        "one\n    hint: remove or rename one of them",
    ]
    assert document.data == {"a": 3, "b": {"c": 2}}


@pytest.mark.parametrize("word, meaning", [("on", True), ("yes", True), ("off", False), ("no", False),
                                           ("On", True), ("NO", False), ("true", True), ("False", False)])
def test_boolean_words_as_keys_are_reported(word, meaning):
    document = parse_yaml(f"events: [Stop]\n{word}: PreToolUse\n", "b.yaml")
    assert rendered(document) == [
        f"b.yaml:2:1: yaml-bool-key: the key {word!r} is read by YAML 1.1 as the boolean {meaning}\n"
        f"    hint: quote it ('{word}') or use another word"]
    assert document.data == {"events": ["Stop"]}


def test_quoted_boolean_words_are_plain_keys():
    document = parse_yaml("'on': 1\n\"no\": 2\n", "q.yaml")
    assert document.data == {"on": 1, "no": 2}
    assert document.diagnostics == ()


def test_boolean_words_as_values_stay_booleans():
    assert parse_yaml("enabled: no\nfinal: on\n", "v.yaml").data == {"enabled": False, "final": True}


@pytest.mark.parametrize("text, expected", [
    ("a: [1,\n", "s.yaml:2:1: yaml-syntax: did not find expected node content (while parsing a flow node)"),
    ("a: b\n  c: d\n", "s.yaml:2:4: yaml-syntax: mapping values are not allowed in this context"),
    ("a: 'open\n", "s.yaml:2:1: yaml-syntax: found unexpected end of stream (while scanning a quoted scalar)"),
    ("a: *missing\n", "s.yaml:1:4: yaml-syntax: found undefined alias"),
    ("a: 1\n---\nb: 2\n", "s.yaml:2:1: yaml-syntax: but found another document (expected a single document in the "
                          "stream)"),
    ("a: b\n\tc: d\n", "s.yaml:2:1: yaml-syntax: found a tab character that violates indentation (while scanning "
                       "a plain scalar)"),
])
def test_syntax_errors_are_located(text, expected):
    document = parse_yaml(text, "s.yaml")
    assert rendered(document) == [expected + "\n    hint: fix the YAML syntax at this position"]
    assert document.data is None


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text):
    document = parse_yaml(text, "e.yaml")
    assert rendered(document) == ["e.yaml:1:1: empty-file: the file is empty\n    hint: see docs/rules.md for the format"]
    assert document.data is None


def test_missing_file(tmp_path):
    document = load_yaml(str(tmp_path / "nope.yaml"), display="nope.yaml")
    assert rendered(document) == ["nope.yaml: not-found: no such file\n    hint: check the path"]


def test_directory_is_unreadable(tmp_path):
    document = load_yaml(str(tmp_path), display="dir")
    assert rendered(document) == ["dir: unreadable: cannot read the file: Is a directory\n"
                                  "    hint: check the file and its permissions"]


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_unreadable(tmp_path):
    path = write(tmp_path / "secret.yaml", "a: 1\n")
    os.chmod(path, 0)
    document = load_yaml(str(path), display="secret.yaml")
    assert rendered(document) == ["secret.yaml: unreadable: cannot read the file: Permission denied\n"
                                  "    hint: check the file and its permissions"]


def test_non_utf8_file_is_unreadable(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: caf\u00e9\n".encode("latin-1"))
    assert rendered(load_yaml(str(path), display="latin1.yaml")) == [
        "latin1.yaml: unreadable: cannot read the file: not UTF-8 text\n    hint: check the file and its permissions"]


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: caf\xc3\xa9\n")
    document = load_yaml(str(path))
    assert document.data == {"a": "caf\u00e9"}
    assert document.file == str(path)


def test_timestamps_stay_strings():
    document = parse_yaml("day: 2026-11-20\nat: 2026-11-20T10:00:00+01:00\nspaced: 2026-11-20 10:00:00\n", "t.yaml")
    assert document.data == {"day": "2026-11-20", "at": "2026-11-20T10:00:00+01:00", "spaced": "2026-11-20 10:00:00"}
    assert document.diagnostics == ()


def test_non_string_keys_become_strings_and_null_is_kept():
    document = parse_yaml("1: one\n2.5: two\nnull: n\nk: null\n", "k.yaml")
    assert document.data == {"1": "one", "2.5": "two", "null": "n", "k": None}


def test_complex_keys_and_merge_keys_are_refused():
    document = parse_yaml("? [a, b]\n: 1\nbase: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n", "c.yaml")
    assert rendered(document) == [
        "c.yaml:1:3: bad-key: mapping keys must be plain strings\n    hint: quote the key",
        "c.yaml:5:3: bad-key: YAML merge keys (<<) are not supported\n    hint: write the keys out",
    ]
    assert document.data == {"base": {"x": 1}, "c": {"y": 2}}


def test_tags_on_collections_are_read_as_plain_data():
    # Only scalars are ever constructed; a tagged list or mapping is read as JSON data, never as an object.
    document = parse_yaml("a: !!python/object/apply:os.system [echo]\nb: !!set {x, y}\n", "t.yaml")
    assert document.data == {"a": ["echo"], "b": {"x": None, "y": None}}
    assert document.diagnostics == ()


def test_explicit_null_document_is_data_not_an_empty_file():
    document = parse_yaml("null\n", "n.yaml")
    assert document.data is None
    assert document.diagnostics == ()  # the compiler reports it: a rule file must be a mapping


def test_shared_aliases_are_expanded():
    assert parse_yaml("a: &v [1]\nb: *v\n", "a.yaml").data == {"a": [1], "b": [1]}


@pytest.mark.parametrize("text, expected", [
    ("a: &x [*x]\n", "r.yaml:1:4: yaml-recursive: this alias refers to a node that contains it\n"
                     "    hint: write the value out instead of using a recursive alias"),
    ("a: !!binary aGVsbG8=\n", "r.yaml:1:4: yaml-value: 'aGVsbG8=' is not a JSON value (binary, .inf or .nan)\n"
                               "    hint: write a plain string or a finite number"),
    ("a: .nan\n", "r.yaml:1:4: yaml-value: '.nan' is not a JSON value (binary, .inf or .nan)\n"
                  "    hint: write a plain string or a finite number"),
    ("a: -.inf\n", "r.yaml:1:4: yaml-value: '-.inf' is not a JSON value (binary, .inf or .nan)\n"
                   "    hint: write a plain string or a finite number"),
    ("a: !!int abc\n", "r.yaml:1:4: yaml-value: cannot read the value: invalid literal for int() with base 10: "
                       "'abc'\n    hint: remove the !tag or write a plain string, number, true/false or null"),
    ("a: !custom 1\n", "r.yaml:1:4: yaml-value: cannot read the value: could not determine a constructor for the "
                       "tag '!custom'\n    hint: remove the !tag or write a plain string, number, true/false or null"),
    ("a: !!python/object/apply:os.system echo\n",
     "r.yaml:1:4: yaml-value: cannot read the value: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'\n"
     "    hint: remove the !tag or write a plain string, number, true/false or null"),
])
def test_values_json_cannot_hold_are_reported_never_raised(text, expected):
    assert rendered(parse_yaml(text, "r.yaml")) == [expected]


# ---- nesting depth: one answer whichever parser reads the file -----------------------------------------------------

TOO_DEEP = "too-deep: the document nests more than 100 levels deep\n    hint: flatten it: rule, test and config " \
           "files need only a few levels"


def loaders():
    """The parsers PyYAML releases differ in: libyaml (CSafeLoader: a depth limit of its own in recent releases,
    none in older ones) and the pure-Python SafeLoader (which recurses until the stack runs out)."""
    import yaml

    found = [pytest.param(yaml.SafeLoader, id="python")]
    if hasattr(yaml, "CSafeLoader"):
        found.append(pytest.param(yaml.CSafeLoader, id="libyaml"))
    return found


@pytest.fixture(params=loaders())
def loader(request, monkeypatch):
    import policy.loader

    monkeypatch.setattr(policy.loader, "_loader_class", lambda: request.param)
    return request.param


@pytest.mark.parametrize("levels", [101, 200, 1001, 3000])
def test_flow_nesting_past_the_limit_is_too_deep_where_it_passes_it(loader, levels):
    text = "[" * levels + "]" * levels
    assert rendered(parse_yaml(text, "r.yaml")) == [f"r.yaml:1:101: {TOO_DEEP}"]


def test_block_nesting_past_the_limit_is_too_deep_where_it_passes_it(loader):
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(150)) + f"{'  ' * 150}leaf\n"
    # the 101st mapping is the value of k99, which starts on line 101 at its first key
    assert rendered(parse_yaml(text, "r.yaml")) == [f"r.yaml:101:201: {TOO_DEEP}"]


def test_a_syntax_error_after_deep_nesting_is_still_too_deep(loader):
    assert rendered(parse_yaml("[" * 150 + "]" * 149 + "}", "r.yaml")) == [f"r.yaml:1:101: {TOO_DEEP}"]


def test_a_syntax_error_in_shallow_nesting_stays_a_syntax_error(loader):
    [message] = rendered(parse_yaml("[" * 50 + "]" * 49 + "}", "r.yaml"))
    assert message.startswith("r.yaml:1:100: yaml-syntax: ")


def test_nesting_up_to_the_limit_is_read(loader):
    document = parse_yaml("[" * 100 + "1" + "]" * 100, "r.yaml")
    assert document.diagnostics == ()
    value = document.data
    for _ in range(99):
        value = value[0]
    assert value == [1]


def test_aliases_that_nest_past_the_limit_are_too_deep(loader):
    # b holds a 60-deep list around an alias of another: short text, 121 levels once expanded (the root mapping,
    # b's 60 lists, a's 60), so the 101st level is a's 40th list, on line 1
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 60 + "*a" + "]" * 60 + "\n"
    assert rendered(parse_yaml(text, "r.yaml")) == [f"r.yaml:1:46: {TOO_DEEP}"]
