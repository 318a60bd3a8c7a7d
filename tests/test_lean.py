"""policy.lean: the stand-ins for dataclasses, json and re on the hook's hot path behave like the real modules."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from policy import lean

# ---- frozen records ----------------------------------------------------------------------------------------------


def _define(decorator, field_function):
    """The same record declared with either implementation."""

    @decorator(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0
        tags: list = field_function(default_factory=list)

    return Point


@pytest.fixture(params=["lean", "dataclasses"])
def impl(request):
    if request.param == "lean":
        return {"Point": _define(lean.dataclass, lean.field), "replace": lean.replace,
                "frozen_error": lean.FrozenInstanceError}
    return {"Point": _define(dataclasses.dataclass, dataclasses.field), "replace": dataclasses.replace,
            "frozen_error": dataclasses.FrozenInstanceError}


def test_init_positional_and_keyword(impl):
    Point = impl["Point"]
    assert (Point(1, 2).x, Point(1, 2).y) == (1, 2)
    assert (Point(x=1, y=2).x, Point(x=1, y=2).y) == (1, 2)
    assert (Point(1, y=5).x, Point(1, y=5).y) == (1, 5)


def test_defaults_and_fresh_default_factory(impl):
    Point = impl["Point"]
    first, second = Point(1), Point(2)
    assert first.y == 0
    assert first.tags == []
    assert first.tags is not second.tags


@pytest.mark.parametrize("args, kwargs", [
    ((), {}),                      # missing required argument
    ((1, 2, [], 4), {}),           # too many positional arguments
    ((1,), {"x": 1}),              # the same argument twice
    ((1,), {"z": 3}),              # an unknown keyword
])
def test_bad_arguments_raise_type_error(impl, args, kwargs):
    with pytest.raises(TypeError):
        impl["Point"](*args, **kwargs)


def test_equality_and_hash(impl):
    Point = impl["Point"]
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert Point(1, 2) != (1, 2, [])
    hashable = impl["Point"](1, 2, None)
    assert hash(hashable) == hash((1, 2, None))
    assert len({Point(1, 2, None), Point(1, 2, None), Point(3, 2, None)}) == 2


def test_hash_of_unhashable_field_raises(impl):
    with pytest.raises(TypeError):
        hash(impl["Point"](1, 2, []))


def test_equality_is_per_class(impl):
    Point = impl["Point"]
    Other = _define(lean.dataclass, lean.field) if impl["replace"] is lean.replace else \
        _define(dataclasses.dataclass, dataclasses.field)
    assert Point(1) != Other(1)


def test_repr(impl):
    assert repr(impl["Point"](1, 2, ["a"])) == "_define.<locals>.Point(x=1, y=2, tags=['a'])"


def test_assignment_and_deletion_raise_frozen_instance_error(impl):
    point = impl["Point"](1)
    with pytest.raises(impl["frozen_error"]):
        point.x = 5
    with pytest.raises(impl["frozen_error"]):
        del point.x
    assert point.x == 1
    assert issubclass(impl["frozen_error"], AttributeError)


def test_lean_records_refuse_new_attributes_too():
    # (dataclasses with slots=True raises a TypeError here on Python 3.11, so this is checked for lean only.)
    point = _define(lean.dataclass, lean.field)(1)
    with pytest.raises(lean.FrozenInstanceError):
        point.new = 5


def test_replace(impl):
    point = impl["Point"](1, 2, ["a"])
    changed = impl["replace"](point, y=7)
    assert (changed.x, changed.y, changed.tags) == (1, 7, ["a"])
    assert (point.x, point.y) == (1, 2)
    with pytest.raises(TypeError):
        impl["replace"](point, z=1)


def test_match_args(impl):
    assert impl["Point"].__match_args__ == ("x", "y", "tags")


@lean.dataclass(frozen=True, slots=True)
class LeanInner:
    name: str
    values: dict = lean.field(default_factory=dict)


@lean.dataclass(frozen=True, slots=True)
class LeanOuter:
    inner: LeanInner
    items: list = lean.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class RealInner:
    name: str
    values: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RealOuter:
    inner: RealInner
    items: list = dataclasses.field(default_factory=list)


def test_asdict_matches_dataclasses_for_nested_records():
    lean_value = LeanOuter(LeanInner("a", {"k": [1, 2]}), [LeanInner("b")])
    real_value = RealOuter(RealInner("a", {"k": [1, 2]}), [RealInner("b")])
    assert lean.asdict(lean_value) == dataclasses.asdict(real_value) == {
        "inner": {"name": "a", "values": {"k": [1, 2]}}, "items": [{"name": "b", "values": {}}]}


def test_asdict_turns_tuples_into_lists_and_accepts_real_dataclasses():
    # Documented difference: lean.asdict gives JSON-shaped data (dataclasses.asdict keeps tuples).
    assert lean.asdict(LeanOuter(LeanInner("a"), (LeanInner("b"), 1))) == {
        "inner": {"name": "a", "values": {}}, "items": [{"name": "b", "values": {}}, 1]}
    assert lean.asdict(RealOuter(RealInner("x"), [])) == {"inner": {"name": "x", "values": {}}, "items": []}


def test_fields_of():
    assert lean.fields_of(LeanOuter(LeanInner("a"))) == ("inner", "items")
    assert lean.fields_of(RealOuter(RealInner("a"))) == ("inner", "items")


def test_unfrozen_records_are_refused():
    with pytest.raises(TypeError):
        @lean.dataclass(frozen=False)
        class Loose:
            x: int


# ---- JSON ----------------------------------------------------------------------------------------------------------

JSON_CORPUS = [
    "{}", "[]", '""', "0", "-0", "1.5", "-2.5e-3", "1E400", "123456789012345678901234567890", "true", "false",
    "null", '"\\u00e9\\ud83d\\ude00"', '"caf\u00e9 \U0001f600"', '"tab\\tnew\\nline\\\\ \\"q\\" \\/"',
    '{"a": [1, 2, {"b": null}], "c": "d"}', '  \n\t {"k": 1} \r\n ', '{"dup": 1, "dup": 2}', "[[[[[]]]]]",
    '{"hook_event_name": "PreToolUse", "tool_input": {"command": "ls -la"}}',
]


@pytest.mark.parametrize("text", JSON_CORPUS)
def test_json_loads_matches_json(text):
    assert lean.json_loads(text) == json.loads(text)
    assert type(lean.json_loads(text)) is type(json.loads(text))


@pytest.mark.parametrize("path", sorted(__import__("conftest").EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_json_loads_matches_json_on_every_example_event(path):
    text = path.read_text(encoding="utf-8")
    assert lean.json_loads(text) == json.loads(text)


@pytest.mark.parametrize("text", [
    "NaN", "[NaN]", "Infinity", "-Infinity", '{"a": -Infinity}',  # not JSON, though json.loads takes them
    "", "   ", "\n",                                                 # empty input
    "{} {}", "[1] x", "1 2", '{"a": 1}}',                           # trailing data
    "{", "[1,]", "{'a': 1}", '{"a" 1}', "tru", '"unterminated',     # broken
    '"control \x01 char"', "\ufeff{}",                              # strictness like json.loads
])
def test_json_loads_rejects(text):
    with pytest.raises(ValueError):
        lean.json_loads(text)


@pytest.mark.parametrize("value", [
    {}, [], "", 0, -1, 1.5, 1e300, 10**30, True, False, None, "caf\u00e9 \U0001f600 \u2028",
    {"a": [1, 2, {"b": None}], "c": "d\n\"q\"\\"}, (1, 2), {1: "int key"}, [[["deep"]]], "\x00\x1f",
])
def test_json_dumps_matches_json(value):
    assert lean.json_dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert lean.json_dumps(value, spaced=True) == json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")], {"a": object()}, {(1, 2): 1},
                                   {1, 2}])
def test_json_dumps_rejects_what_json_rejects(value):
    with pytest.raises((ValueError, TypeError)):
        json.dumps(value, allow_nan=False)
    with pytest.raises((ValueError, TypeError)):
        lean.json_dumps(value)


# ---- regular expressions -------------------------------------------------------------------------------------------

REGEX_CORPUS = [
    (r"^terraform (apply|destroy)\b", 0), (r"rm\s+-rf?\s+(?P<target>\S+)", 0), (r"(?i)secret[_-]?key", 0),
    (r"^(?:(?:Bash)|(?:mcp__.*))$", 0), (r"\.env(\..*)?$", 0), (r"(?s:[^/]*\.py)\Z", 0), (r"caf\u00e9|\d{3,}", 0),
    (r"(a)(b)?(?P<c>c)", 0), (r"^$", 0), (r"\bpush\b.*--force", re.IGNORECASE), (r"^line$", re.MULTILINE),
    (r"(?x) a \s b # comment", 0), (r"[\u4e00-\u9fff]+", 0), (r"(?<=@)\w+", 0), (r"(\w+)\s\1", 0),
]
SUBJECTS = ["terraform apply -auto-approve", "terraform destroyer", "rm -rf build", "rm -r /", "SECRET-KEY=1",
            "Bash", "mcp__github__create_issue", "BashX", "/r/.env.local", "src/a.py", "src/b/a.py",
            "caf\u00e9 1234", "abc", "ab", "", "git PUSH origin --force", "x\nline\ny", "a b", "a  b",
            "\u4e2d\u6587", "me@example", "hello hello"]


@pytest.fixture
def fresh_regex_tables(monkeypatch):
    monkeypatch.setattr(lean, "_SPECS", {})
    monkeypatch.setattr(lean, "_COMPILED", {})


def _outcomes(pattern, subject):
    found = pattern.search(subject)
    matched = pattern.match(subject)
    return (found and (found.span(), found.groups(), found.groupdict()),
            matched and (matched.span(), matched.groups()), pattern.findall(subject),
            pattern.groups, dict(pattern.groupindex), pattern.flags)


@pytest.mark.parametrize("source, flags", REGEX_CORPUS)
def test_regex_from_spec_behaves_like_re_compile(fresh_regex_tables, monkeypatch, source, flags):
    spec = lean.regex_spec(source, flags)
    assert spec is not None
    lean.register_regex_specs({(source, flags): spec})
    with monkeypatch.context() as patched:  # the pattern must come from the spec, not from the fallback
        patched.setattr(re, "compile", lambda *args: pytest.fail("fell back to re.compile"))
        ours = lean.regex(source, flags)
    reference = re.compile(source, flags)
    for subject in SUBJECTS:
        assert _outcomes(ours, subject) == _outcomes(reference, subject), subject
    assert ours.pattern == source


def test_regex_spec_survives_marshal(fresh_regex_tables):
    import marshal

    spec = lean.regex_spec(r"(?P<word>\w+)-\d+")
    lean.register_regex_specs(marshal.loads(marshal.dumps({(r"(?P<word>\w+)-\d+", 0): spec})))
    assert lean.regex(r"(?P<word>\w+)-\d+").search("x abc-12").group("word") == "abc"


def test_regex_without_a_spec_falls_back_to_re(fresh_regex_tables):
    pattern = lean.regex(r"^a+b$")
    assert pattern.match("aaab") is not None
    assert pattern.match("ba") is None
    assert lean.regex(r"^a+b$") is pattern  # memoised


def test_regex_with_an_unusable_spec_falls_back_to_re(fresh_regex_tables):
    lean.register_regex_specs({("x+", 0): ("x+", 0, [], "not", "a", "spec")})
    assert lean.regex("x+").search("axxb").span() == (1, 3)


def test_regex_spec_raises_re_error_for_an_invalid_pattern():
    with pytest.raises(re.error):
        lean.regex_spec("(unclosed")


# ---- digests -------------------------------------------------------------------------------------------------------

def test_digest_counts_part_boundaries():
    assert lean.digest(b"ab", b"c") != lean.digest(b"a", b"bc")
    assert lean.digest(b"ab", b"c") == lean.digest(b"ab", b"c")
    assert len(lean.digest(b"")) == 32


def test_json_errors_without_the_json_module_imported():
    # The hook never imports `json`; _json then cannot raise its JSONDecodeError and returned NULL
    # (SystemError). lean must still raise a ValueError with json's message.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from policy.lean import json_loads\n"
        "assert 'json' not in sys.modules\n"
        "for text in ['{', '[1,', '{\"a\" 1}', 'x', '']:\n"
        "    try:\n"
        "        json_loads(text)\n"
        "    except ValueError as error:\n"
        "        print(type(error).__name__, error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "ValueError Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "ValueError Expecting value: line 1 column 4 (char 3)",
        "ValueError Expecting ':' delimiter: line 1 column 6 (char 5)",
        "ValueError Expecting value: line 1 column 1 (char 0)",
        "ValueError Expecting value: line 1 column 1 (char 0)",
    ]
