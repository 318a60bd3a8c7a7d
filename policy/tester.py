"""`policy test` (SPEC §7): stateful scenario tests for rules, with a fake clock and rule coverage.

A test seeds facts (`given`), then runs ordered steps: an `event` with expectations, an `advance` of the clock,
or a `do` action, and checks facts at the end (`expect_facts`). The runner has no evaluator of its own: each event
goes through `hook.decide_event`, the same engine, facts, effects, decision log and adapter as `policy eval`,
against a fresh SQLite database per test. A `do` action applies an effect (docs/effects.md) exactly as a rule's
`do:` would. Work effects leave for after the commit is not done: a `run` effect is checked and logged as queued,
never executed, so testing a rule file runs none of its commands. Events may leave out what the host always sends;
DEFAULT_EVENT_FIELDS fills it in.
"""

from __future__ import annotations

import os
import time

from policy.errors import Diagnostic, Location, PolicyError, UsageError
from policy.model import STOP_EVENTS, TOOL_EVENTS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
    from typing import Any

    from policy.compiler import PackSource
    from policy.loader import Document
    from policy.model import RuleSet
    from policy.store import Store
else:
    from policy.lean import dataclass

DEFAULT_NOW = "2026-01-05T10:00:00+00:00"
DEFAULT_SESSION = "test-session"
DEFAULT_CWD = "/project"
# What Claude Code always sends, filled in when a test's event leaves it out (docs/testing.md).
PERMISSION_MODE_EVENTS = frozenset({
    "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit",
    "Stop", "SubagentStop", "PostToolBatch", "UserPromptExpansion",
})
TOOL_USE_ID_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionDenied"})
# Values filled into NOT NULL columns a `given` row leaves out ("now" is the test's clock; "session" its session).
GIVEN_DEFAULTS: dict[str, dict[str, Any]] = {
    "focus_sessions": {"type": "expected", "started_at": "now", "planned_minutes": 25, "break_minutes": 5,
                       "agent_used": 0},
    "breaks": {"started_at": "now", "reason": "manual"},
    "usage_samples": {"observed_at": "now", "window": "five_hour", "window_seconds": 18000, "source": "test"},
    "claims": {"agent_session": "session", "purpose": "", "claimed_at": "now"},
    "tool_attempts": {"at": "now", "verdict": "allowed"},
    "agent_sessions": {"agent_session": "session", "status": "active", "updated_at": "now"},
    "decisions": {"at": "now", "host": "claude-code", "event": "PreToolUse"},
    "kv": {"updated_at": "now"},
}
ACTION_ALIASES = {"fact_set": "set"}


def is_time_column(column: str) -> bool:
    return column.endswith("_at") or column in ("at", "until")


# ---- results -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Failure:
    """One unmet expectation: where (the step's location), what, and the expected and actual values."""

    location: Location
    step: str
    field: str
    message: str
    diff: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    file: str
    name: str
    location: Location
    status: str  # "passed" | "failed" | "error" | "skipped"
    failures: tuple[Failure, ...] = ()
    error: str = ""
    seconds: float = 0.0
    matched: frozenset[tuple[str, str]] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass(frozen=True, slots=True)
class PackCoverage:
    pack: str
    rules: tuple[str, ...]
    covered: tuple[str, ...]
    disabled: tuple[str, ...] = ()

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(rule for rule in self.rules if rule not in self.covered)

    @property
    def percent(self) -> float:
        return 100.0 if not self.rules else 100.0 * len(self.covered) / len(self.rules)


@dataclass(frozen=True, slots=True)
class Report:
    results: tuple[Result, ...]
    coverage: tuple[PackCoverage, ...] = ()
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def ok(self) -> bool:
        return not any(result.status in ("failed", "error") for result in self.results)

    @property
    def total_coverage(self) -> float:
        rules = sum(len(pack.rules) for pack in self.coverage)
        covered = sum(len(pack.covered) for pack in self.coverage)
        return 100.0 if not rules else 100.0 * covered / rules


# ---- loading test files ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TestFile:
    path: str
    document: Document
    sources: tuple[PackSource, ...]
    diagnostics: tuple[Diagnostic, ...] = ()


def find_test_files(paths: list[str]) -> list[str]:
    """The test files named, and the `*.test.yaml` files under the directories named."""
    from policy.loader import yaml_files

    return yaml_files(paths, (".test.yaml", ".test.yml"))


def _pack_path(name: str, directory: str) -> str:
    from policy.config import shipped_pack_path

    sibling = os.path.join(directory, f"{name}.yaml")
    return sibling if os.path.isfile(sibling) else shipped_pack_path(name)


def load_test_file(path: str) -> TestFile:
    """Parse and check a test file; `diagnostics` holds schema and reference errors."""
    from policy import schema
    from policy.compiler import PackSource, check_version
    from policy.config import display_path, expand_rule_paths
    from policy.loader import load_yaml

    document = load_yaml(path)
    diagnostics = list(document.diagnostics)
    if document.data is None:
        return TestFile(path, document, (), tuple(diagnostics))
    version = check_version(document, "test file")
    if version:
        return TestFile(path, document, (), tuple(diagnostics + version))
    diagnostics += schema.check(document, "tests")
    data = document.data
    directory = os.path.dirname(os.path.abspath(path))
    sources: list[PackSource] = []
    params = data.get("params") or {}
    if isinstance(data.get("pack"), str):
        pack_path = _pack_path(data["pack"], directory)
        sources.append(PackSource(pack_path, display=display_path(pack_path, os.getcwd()), trusted=True,
                                  params=dict(params) if isinstance(params, dict) else {},
                                  params_location=document.location(("params",))))
    elif isinstance(data.get("packs"), list):
        for name in data["packs"]:
            pack_path = _pack_path(str(name), directory)
            overrides = params.get(name, {}) if isinstance(params, dict) else {}
            sources.append(PackSource(pack_path, display=display_path(pack_path, os.getcwd()), trusted=True,
                                      params=dict(overrides) if isinstance(overrides, dict) else {},
                                      params_location=document.location(("params", name))))
    elif data.get("rules") is not None:
        items = [data["rules"]] if isinstance(data["rules"], str) else list(data["rules"])
        for item in items:
            for rule_path in expand_rule_paths(os.path.normpath(os.path.join(directory, str(item)))):
                sources.append(PackSource(rule_path, display=display_path(rule_path, os.getcwd()), trusted=True))
    for source in sources:
        if not os.path.isfile(source.path):
            where = document.location(("pack",) if "pack" in data else ("packs",) if "packs" in data else ("rules",))
            diagnostics.append(Diagnostic(where, "unknown-pack", f"no rule file {source.name}",
                                          "name a pack next to this file, a shipped pack, or a rules: path"))
    return TestFile(path, document, tuple(sources), tuple(diagnostics))


def _settings(data: dict[str, Any]) -> Any:
    from policy.model import Settings

    values = dict(data.get("settings") or {})
    fail = values.pop("fail", None)
    if fail is not None:
        values["fail"] = {"*": fail} if isinstance(fail, str) else dict(fail)
    if "max_delay" in values:
        values["max_delay"] = float(values["max_delay"])
    return Settings(**values)


def compile_for(test_file: TestFile, extra_params: dict[str, Any] | None = None) -> tuple[RuleSet | None,
                                                                                          list[Diagnostic]]:
    from policy.compiler import build_ruleset, compile_files
    from policy.errors import ValidationFailed
    from policy.lean import replace

    sources = list(test_file.sources)
    if extra_params:
        single = test_file.document.data.get("pack") is not None
        sources = [replace(source, params={**source.params, **(extra_params if single else
                                                               extra_params.get(_pack_name(source), {}))})
                   for source in sources]
    compiled = compile_files(sources)
    if compiled.errors:
        return None, list(compiled.diagnostics)
    try:
        return build_ruleset(compiled, _settings(test_file.document.data)), list(compiled.diagnostics)
    except ValidationFailed as failed:
        return None, list(failed.diagnostics)


def _pack_name(source: PackSource) -> str:
    return os.path.basename(source.path).rsplit(".", 1)[0]


def check_test_file(path: str) -> list[Diagnostic]:
    """`policy validate` for a test file: the schema, the packs it loads, and what its tests refer to."""
    test_file = load_test_file(path)
    diagnostics = list(test_file.diagnostics)
    if any(d.severity == "error" for d in diagnostics) or not isinstance(test_file.document.data, dict):
        return diagnostics
    ruleset, problems = compile_for(test_file)
    diagnostics += problems
    if ruleset is None:
        return diagnostics
    diagnostics += _check_references(test_file, ruleset)
    return diagnostics


def custom_tables(ruleset: RuleSet) -> set[str]:
    """Tables the packs' own `record`/`upsert`/`delete` effects write to."""
    return {effect.args["table"] for pack in ruleset.packs for rule in pack.rules for effect in rule.effects
            if effect.kind in ("record", "upsert", "delete") and isinstance(effect.args.get("table"), str)}


def _check_references(test_file: TestFile, ruleset: RuleSet) -> list[Diagnostic]:
    from policy.effects import effect_modules
    from policy.migrations import table_columns
    from policy.schema import suggest

    document = test_file.document
    rule_ids = {f"{pack.name}/{rule.id}" for pack in ruleset.packs for rule in pack.rules}
    bare = {rule.id for pack in ruleset.packs for rule in pack.rules}
    tables = set(table_columns()) | custom_tables(ruleset)
    problems: list[Diagnostic] = []

    def check_table(table: str, path: tuple[Any, ...]) -> None:
        if table not in tables:
            problems.append(Diagnostic(document.location(path), "unknown-table", f"no built-in table {table!r}",
                                       suggest(table, set(tables))))

    for index, test in enumerate(document.data.get("tests") or ()):
        for table in (test.get("given") or {}):
            check_table(table, ("tests", index, "given", table))
        for position, step in enumerate(test.get("steps") or ()):
            for rule in (step.get("expect") or {}).get("rules") or ():
                if rule not in rule_ids and rule not in bare:
                    problems.append(Diagnostic(
                        document.location(("tests", index, "steps", position, "expect", "rules")), "unknown-rule",
                        f"no rule {rule!r} in the packs under test", suggest(rule, bare | rule_ids)))
            action = step.get("do")
            if isinstance(action, dict) and action:
                kind = next(iter(action))
                if ACTION_ALIASES.get(kind, kind) not in effect_modules():
                    problems.append(Diagnostic(
                        document.location(("tests", index, "steps", position, "do", kind), key=True),
                        "unknown-action", f"unknown action {kind!r}",
                        suggest(kind, set(effect_modules()) | set(ACTION_ALIASES))))
        for position, check in enumerate(test.get("expect_facts") or ()):
            check_table(check.get("table", ""), ("tests", index, "expect_facts", position, "table"))
    return problems


# ---- running -----------------------------------------------------------------------------------------------------

class _Clock:
    def __init__(self, start: str) -> None:
        from policy.times import parse_iso

        self.now, offset = parse_iso(start)
        self.offset = offset


def _complete_event(event: dict[str, Any], session: str, counter: int,
                    transcript: Callable[[str], str] | None = None, cwd: str = DEFAULT_CWD) -> dict[str, Any]:
    """The payload of a test's event: the fields the host always sends filled in (`transcript`: the transcript
    file of a session; default /tmp/policy-test/<session>.jsonl). A neutral event name becomes the canonical one."""
    from policy.vocabulary import canonical_event

    name = canonical_event(str(event["hook_event_name"]))
    event = {**event, "hook_event_name": name}
    payload_session = str(event.get("session_id", session))
    full: dict[str, Any] = {"session_id": session, "cwd": cwd, "transcript_path": (
        transcript(payload_session) if transcript is not None else f"/tmp/policy-test/{payload_session}.jsonl")}
    if name in PERMISSION_MODE_EVENTS:
        full["permission_mode"] = "default"
    if name in TOOL_USE_ID_EVENTS:
        full["tool_use_id"] = f"toolu_test_{counter:04d}"
    if name in TOOL_EVENTS:
        full["tool_input"] = {}
    if name in STOP_EVENTS:
        full["stop_hook_active"] = False
    if name == "UserPromptSubmit":
        full["prompt"] = ""
    full.update(event)
    return full


def _db_value(table: str, column: str, value: Any, clock: _Clock, session: str, host: str = "claude-code") -> Any:
    from policy.lean import json_dumps
    from policy.times import parse_time

    if table == "kv" and column == "value":
        return json_dumps(value)
    if value == "now" and is_time_column(column):
        return clock.now
    if value == "session" and column == "agent_session":
        return session
    if value == "host" and column in ("agent", "host"):  # the host under test (policy test --agent)
        return host
    if is_time_column(column) and value is not None:
        return parse_time(value, now=clock.now, utc_offset=clock.offset, what=f"{table}.{column}")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json_dumps(value)
    return value


def _seed(store: Store, given: dict[str, Any], clock: _Clock, session: str, host: str = "claude-code") -> None:
    for table, rows in given.items():
        if table == "kv" and isinstance(rows, dict):
            rows = [{"key": key, "value": value} for key, value in rows.items()]
        for row in rows:
            values = dict(GIVEN_DEFAULTS.get(table, {}))
            values.update(row)
            if table == "claims":
                values.setdefault("heartbeat_at", values["claimed_at"])
                heartbeat = _db_value(table, "heartbeat_at", values["heartbeat_at"], clock, session, host)
                values.setdefault("expires_at", heartbeat + 900)
            converted = {column: _db_value(table, column, value, clock, session, host)
                         for column, value in values.items()}
            columns = ", ".join(f'"{column}"' for column in converted)
            marks = ", ".join("?" for _ in converted)
            store.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(converted.values()))


def _where(table: str, where: dict[str, Any], clock: _Clock, session: str,
           host: str = "claude-code") -> tuple[str, list[Any]]:
    from policy.store import where as sql_where

    terms = []
    for column, value in where.items():
        converted = _db_value(table, column, value, clock, session, host)
        terms.append((f'"{column}" IS NULL', True) if converted is None else (f'"{column}" = ?', converted))
    return sql_where(*terms)


def _text_check(expected: Any, actual: str | None) -> str | None:
    """None when `actual` meets `expected`, else a description of the mismatch."""
    if expected is None:
        return None if actual is None else f"expected none, got {actual!r}"
    if isinstance(expected, str):
        return None if actual == expected else f"expected {expected!r}, got {actual!r}"
    from policy.lean import regex

    text = actual or ""
    for kind, value in expected.items():
        if kind == "equals" and text != value:
            return f"expected {value!r}, got {actual!r}"
        if kind == "contains" and value not in text:
            return f"expected to contain {value!r}, got {actual!r}"
        if kind == "not_contains" and value in text:
            return f"expected not to contain {value!r}, got {actual!r}"
        if kind == "regex" and regex(value).search(text) is None:
            return f"expected to match /{value}/, got {actual!r}"
    return None


def _diff(expected: Any, actual: Any) -> str:
    import difflib

    from policy.lean import json_dumps

    def lines(value: Any) -> list[str]:
        if isinstance(value, str):
            return value.splitlines()
        import json

        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

    if isinstance(expected, dict) and not isinstance(actual, dict) and actual is not None:
        actual = json_dumps(actual)
    return "\n".join(difflib.unified_diff(lines(expected), lines(actual), "expected", "actual", lineterm=""))


class NotOnHost(Exception):
    """A scenario step the host under test cannot raise (an event or a tool it does not have): the scenario is
    skipped on that host."""


def pinned_hosts(test_file: TestFile, test: dict[str, Any]) -> tuple[str, ...]:
    """The hosts a scenario is pinned to (its `agents:`, else the file's); empty: every host."""
    agents = test.get("agents", test_file.document.data.get("agents"))
    return (agents,) if isinstance(agents, str) else tuple(agents or ())


class _TestRun:
    def __init__(self, test_file: TestFile, index: int, test: dict[str, Any], ruleset: RuleSet,
                 database: str, host: str = "claude-code") -> None:
        self.host = host
        pinned = pinned_hosts(test_file, test)
        # output and exit_code are one host's wire format: the first pinned host's (Claude Code's when none is),
        # and checked on that host only
        self.wire = host == (pinned[0] if pinned else "claude-code")
        self.test_file = test_file
        self.document = test_file.document
        self.index = index
        self.test = test
        self.ruleset = ruleset
        self.database = database
        data = self.document.data
        self.session = str(data.get("session", DEFAULT_SESSION))
        self.clock = _Clock(test.get("now") or data.get("now") or DEFAULT_NOW)
        self.failures: list[Failure] = []
        self.matched: set[tuple[str, str]] = set()
        self.cwd = DEFAULT_CWD

    def where(self, *path: Any) -> Location:
        return self.document.location(("tests", self.index, *path))

    def fail(self, path: tuple[Any, ...], step: str, field: str, message: str, diff: str = "") -> None:
        self.failures.append(Failure(self.where(*path), step, field, message, diff))

    def run(self) -> None:
        from policy.store import Store

        store = Store.open(self.database)
        try:
            if self.test.get("git"):
                self.cwd = self.checkout(self.test["git"])
            with store.transaction():
                _seed(store, self.test.get("given") or {}, self.clock, self.session, self.host)
            for position, step in enumerate(self.test["steps"]):
                label = step.get("name") or f"step {position + 1}"
                if "event" in step:
                    self.event_step(store, position, label, step)
                elif "advance" in step:
                    from policy.times import parse_duration

                    self.clock.now += parse_duration(step["advance"], what="advance")
                elif "transcript" in step:
                    self.transcript_step(step)
                else:
                    self.action_step(store, position, label, step)
            for position, check in enumerate(self.test.get("expect_facts") or ()):
                self.check_facts(store, ("expect_facts", position), "expect_facts", check)
        finally:
            store.close()

    def checkout(self, git: dict[str, Any]) -> str:
        """`git: {branch: NAME}` (or `{head: SHA}`): a directory next to the scenario's database that is a git
        checkout as far as `.git/HEAD` goes; the events' default cwd."""
        directory = f"{self.database}.checkout"
        os.makedirs(os.path.join(directory, ".git"), exist_ok=True)
        head = f"ref: refs/heads/{git['branch']}" if git.get("branch") else str(git.get("head", ""))
        with open(os.path.join(directory, ".git", "HEAD"), "w", encoding="utf-8") as handle:
            handle.write(head + "\n")
        return directory

    def transcript_path(self, session: str) -> str:
        """The transcript file of an agent session in this scenario (next to its database; events point there)."""
        safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in session)[:100]
        return f"{self.database}.transcript-{safe}.jsonl"

    def transcript_step(self, step: dict[str, Any]) -> None:
        """Append entries to the session's transcript as Claude Code writes them: one JSON object per line (a
        `timestamp` from the clock unless given); a string is written as it is (a cut or malformed line). Other
        hosts keep transcripts of their own formats, or none: a scenario with one is Claude Code's."""
        if self.host != "claude-code":
            raise NotOnHost(f"not on {self.host}: transcript steps are Claude Code's transcript format")
        from policy.lean import json_dumps
        from policy.times import format_iso

        lines = []
        for entry in step["transcript"]:
            if isinstance(entry, dict):
                stamp = str(format_iso(self.clock.now, utc_offset=0)).replace("+00:00", "Z")
                entry = {**entry, "timestamp": entry.get("timestamp", stamp)}
                lines.append(json_dumps(entry))
            else:
                lines.append(str(entry))
        with open(self.transcript_path(str(step.get("session", self.session))), "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def action_step(self, store: Store, position: int, label: str, step: dict[str, Any]) -> None:
        from policy.effects import EffectContext, apply_effects, effect_modules
        from policy.model import Event, PlannedEffect

        kind, args = next(iter(step["do"].items()))
        kind = ACTION_ALIASES.get(kind, kind)
        module = effect_modules()[kind]
        session = step.get("session", self.session)
        event = Event(host="claude-code", name="Action", agent_session=session, cwd=DEFAULT_CWD,
                      data={"session_id": session, "cwd": DEFAULT_CWD})
        effect = PlannedEffect("test", label, kind, module, dict(args or {}), self.where("steps", position),
                               trusted=True)
        try:
            with store.transaction():
                apply_effects((effect,), EffectContext(store, event, self.clock.now, self.ruleset.settings))
        except PolicyError as error:
            self.fail(("steps", position, "do"), label, "do", f"action {kind} failed: {error.message}")

    def event_step(self, store: Store, position: int, label: str, step: dict[str, Any]) -> None:
        from policy.adapters import get_adapter
        from policy.hook import Options, decide_event
        from policy.lean import json_dumps, json_loads

        payload = _complete_event(step["event"], self.session, position + 1, self.transcript_path, self.cwd)
        adapter = get_adapter(self.host)
        if self.host != "claude-code":  # the payload this host would send for the event, read back by its adapter
            try:
                payload = adapter.payload(payload)
            except ValueError as error:
                raise NotOnHost(f"not on {self.host}: {error} (step {position + 1})") from None
        raw = json_dumps(payload).encode()
        event = adapter.parse(raw)
        environ = {key: str(value) for key, value in (step.get("env") or {}).items()}
        outcome = decide_event(adapter, event, raw, self.ruleset, store, Options(explain=True, after_commit=False),
                               environ, now=self.clock.now, utc_offset=self.clock.offset)
        decision = outcome.decision
        if decision is not None:
            self.matched.update((hit.pack, hit.rule_id) for hit in decision.hits)
        expect = step.get("expect") or {}
        path = ("steps", position, "expect")
        if outcome.error is not None and not ({"output", "exit_code"} & set(expect)):
            self.fail(("steps", position, "event"), label, "error",
                      f"the evaluation failed: {outcome.error.code}: {outcome.error.message}")
            return
        if "verdict" in expect:
            actual = (decision.verdict if decision else None) or "none"
            if actual != expect["verdict"]:
                reason = f" (reason: {decision.reason!r})" if decision and decision.reason else ""
                self.fail((*path, "verdict"), label, "verdict",
                          f"expected {expect['verdict']}, got {actual}{reason}")
        for key in ("reason", "context", "message"):
            if key in expect:
                actual_text = getattr(decision, key) if decision else None
                problem = _text_check(expect[key], actual_text)
                if problem:
                    diff = _diff(expect[key], actual_text or "") if isinstance(expect[key], str) and "\n" in (
                        expect[key] + (actual_text or "")) else ""
                    self.fail((*path, key), label, key, problem, diff)
        if "rules" in expect:
            actual_rules = sorted(f"{hit.pack}/{hit.rule_id}" for hit in decision.hits) if decision else []
            expected_rules = sorted(self.full_rule_id(rule) for rule in expect["rules"])
            if expected_rules != actual_rules:
                self.fail((*path, "rules"), label, "rules", f"expected rules {expected_rules}, got {actual_rules}")
        if "delay" in expect:
            actual_delay = decision.delay if decision else 0.0
            wanted = expect["delay"]
            if isinstance(wanted, dict):
                low, high = wanted.get("min", float("-inf")), wanted.get("max", float("inf"))
                if not low <= actual_delay <= high:
                    self.fail((*path, "delay"), label, "delay",
                              f"expected a delay in [{wanted.get('min', '-')}, {wanted.get('max', '-')}], "
                              f"got {actual_delay:g}")
            elif abs(actual_delay - float(wanted)) > 0.001:
                self.fail((*path, "delay"), label, "delay", f"expected a delay of {wanted:g}, got {actual_delay:g}")
        if "output" in expect and self.wire:
            stdout = outcome.output.stdout.strip()
            actual_output = json_loads(stdout) if stdout else None
            if actual_output != expect["output"]:
                self.fail((*path, "output"), label, "output", "the host output differs",
                          _diff(expect["output"], actual_output))
        if "exit_code" in expect and self.wire and outcome.output.exit_code != expect["exit_code"]:
            self.fail((*path, "exit_code"), label, "exit_code",
                      f"expected exit code {expect['exit_code']}, got {outcome.output.exit_code}")
        if "effects" in expect:
            kinds = [effect.kind for effect in decision.effects] if decision else []
            if kinds != list(expect["effects"]):
                self.fail((*path, "effects"), label, "effects", f"expected effects {expect['effects']}, got {kinds}")
        for number, check in enumerate(expect.get("facts") or ()):
            self.check_facts(store, (*path, "facts", number), label, check)

    def full_rule_id(self, rule: str) -> str:
        if "/" in rule:
            return rule
        owners = [pack.name for pack in self.ruleset.packs if any(r.id == rule for r in pack.rules)]
        return f"{owners[0]}/{rule}" if len(owners) == 1 else rule

    def check_facts(self, store: Store, path: tuple[Any, ...], label: str, check: dict[str, Any]) -> None:
        table = check["table"]
        clause, values = _where(table, check.get("where") or {}, self.clock, self.session, self.host)
        exists = store.value("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        rows = store.rows(f'SELECT * FROM "{table}"{clause} ORDER BY rowid', values) if exists else []
        if "count" in check and len(rows) != check["count"]:
            self.fail(path, label, "facts", f"expected {check['count']} row(s) in {table}"
                      f"{' where ' + repr(check.get('where')) if check.get('where') else ''}, found {len(rows)}")
        if "rows" in check:
            expected_rows = [{column: _db_value(table, column, value, self.clock, self.session, self.host)
                              for column, value in row.items()} for row in check["rows"]]
            actual_rows = [{column: row.get(column) for column in expected.keys()}
                           for row, expected in zip(rows, expected_rows)]
            if len(rows) != len(expected_rows) or actual_rows != expected_rows:
                shown = [{column: row.get(column) for column in (expected_rows[0] if expected_rows else row)}
                         for row in rows]
                self.fail(path, label, "facts", f"the rows of {table} differ", _diff(expected_rows, shown))


class Workspace:
    """Where scenarios run: a temporary directory with a migrated template database that each scenario copies.
    One serves a whole run (`policy test`, or a pytest session through policy.pytest_plugin)."""

    def __init__(self) -> None:
        import tempfile

        from policy.store import Store

        self._directory = tempfile.TemporaryDirectory(prefix="policy-test-")
        self.directory = self._directory.name
        self.template = os.path.join(self.directory, "template.db")
        Store.open(self.template).close()
        self._runs = 0

    def database(self) -> str:
        """A fresh copy of the template for one scenario (the previous scenario's copy goes: a pytest session may
        run thousands)."""
        import shutil

        if self._runs:
            import glob

            previous = os.path.join(self.directory, f"test-{self._runs}.db")
            for leftover in (previous, previous + "-wal", previous + "-shm", *glob.glob(previous + ".transcript-*")):
                if os.path.exists(leftover):
                    os.remove(leftover)
            if os.path.isdir(previous + ".checkout"):
                shutil.rmtree(previous + ".checkout")
        self._runs += 1
        path = os.path.join(self.directory, f"test-{self._runs}.db")
        shutil.copyfile(self.template, path)
        return path

    def close(self) -> None:
        self._directory.cleanup()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(path: str) -> tuple[TestFile, RuleSet | None, Result | None]:
    """Load, check and compile one test file: (the file, its ruleset, None), or (the file, None, an error Result
    for the whole file) when it cannot run."""
    test_file = load_test_file(path)
    errors = [d for d in test_file.diagnostics if d.severity == "error"]
    ruleset = None
    if not errors:
        ruleset, problems = compile_for(test_file)
        errors = [d for d in problems if d.severity == "error"]
        if ruleset is not None:
            errors += _check_references(test_file, ruleset)
    if errors or ruleset is None:
        return test_file, None, Result(path, "(file)", errors[0].location if errors else Location(path), "error",
                                       error="\n".join(d.render() for d in errors))
    return test_file, ruleset, None


def scenarios(test_file: TestFile) -> list[tuple[int, str, Location]]:
    """(index, name, location) of every scenario in a loaded test file, in order."""
    return [(index, str(test["name"]), test_file.document.location(("tests", index)))
            for index, test in enumerate(test_file.document.data.get("tests") or ())]


def skip_reason(test_file: TestFile, index: int) -> str | None:
    """Why the scenario is skipped (`skip: true` gives ""), or None when it runs."""
    skip = test_file.document.data["tests"][index].get("skip")
    return None if not skip else skip if isinstance(skip, str) else ""


def run_tests(paths: list[str], *, keyword: str | None = None, host: str = "claude-code") -> Report:
    """Run every test in the test files under `paths` (a `-k` keyword selects by `file::name`, any case) on one
    host: its payloads, read by its adapter. Coverage counts the rules that can fire on that host."""
    from policy.vocabulary import rule_hosts

    started = time.perf_counter()
    results: list[Result] = []
    packs: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    covered: dict[str, set[str]] = {}
    with Workspace() as workspace:
        for path in find_test_files(paths):
            test_file, ruleset, error = prepare(path)
            if ruleset is None:
                assert error is not None
                results.append(error)
                continue
            for pack in ruleset.packs:
                enabled = tuple(rule.id for rule in pack.rules if rule.enabled and rule_hosts(rule, (host,)))
                disabled = tuple(rule.id for rule in pack.rules if not rule.enabled)
                packs[pack.name] = (enabled, disabled)
                covered.setdefault(pack.name, set())
            for index, name, _ in scenarios(test_file):
                if keyword and keyword.lower() not in f"{path}::{name}".lower():
                    continue
                result = run_scenario(test_file, index, ruleset, workspace, host)
                if result.status in ("passed", "failed"):
                    for pack_name, rule in result.matched:
                        covered.setdefault(pack_name, set()).add(rule)
                results.append(result)
    coverage = tuple(PackCoverage(name, enabled, tuple(rule for rule in enabled if rule in covered.get(name, ())),
                                  disabled) for name, (enabled, disabled) in sorted(packs.items()))
    return Report(tuple(results), coverage, time.perf_counter() - started)


def run_scenario(test_file: TestFile, index: int, ruleset: RuleSet, workspace: Workspace,
                 host: str = "claude-code") -> Result:
    """Run one scenario of a prepared test file against a fresh database, on one host: passed, failed, error or
    skipped (also when it is pinned to other hosts, or needs an event or tool the host does not have)."""
    started = time.perf_counter()
    test = test_file.document.data["tests"][index]
    location = test_file.document.location(("tests", index))
    name = str(test["name"])
    reason = skip_reason(test_file, index)
    if reason is not None:
        return Result(test_file.path, name, location, "skipped", error=reason)
    pinned = pinned_hosts(test_file, test)
    if pinned and host not in pinned:
        return Result(test_file.path, name, location, "skipped", error=f"not on {host}: for {', '.join(pinned)}")
    if test.get("params"):
        ruleset_for_test, problems = compile_for(test_file, test["params"])
        if ruleset_for_test is None:
            return Result(test_file.path, name, location, "error",
                          error="\n".join(d.render() for d in problems if d.severity == "error"))
        ruleset = ruleset_for_test
    run = _TestRun(test_file, index, test, ruleset, workspace.database(), host)
    try:
        run.run()
    except NotOnHost as skipped:
        return Result(test_file.path, name, location, "skipped", error=str(skipped),
                      seconds=time.perf_counter() - started)
    except PolicyError as error:
        return Result(test_file.path, name, location, "error", error=error.one_line(),
                      seconds=time.perf_counter() - started, matched=frozenset(run.matched))
    status = "failed" if run.failures else "passed"
    return Result(test_file.path, name, location, status, tuple(run.failures), seconds=time.perf_counter() - started,
                  matched=frozenset(run.matched))


def check_min_coverage(report: Report, minimum: float) -> str | None:
    """A message when any pack's rule coverage is below `minimum` percent."""
    low = [pack for pack in report.coverage if pack.percent + 1e-9 < minimum]
    if not low:
        return None
    return "rule coverage below {:g}%: ".format(minimum) + ", ".join(
        f"{pack.pack} {pack.percent:.0f}% (untested: {', '.join(pack.missing)})" for pack in low)


def usage_error(message: str) -> UsageError:
    return UsageError(message, hint="policy test [PATH]... [--agent NAME] [--coverage] [--min-coverage N] "
                                    "[--format text|json|junit] [-k PATTERN]")
