"""Rule files → a compiled `RuleSet`, in named stages, reporting every static error at once (SPEC §2).

Stages, per file: read YAML (loader) → format version → JSON Schema (schema) → compile each part (regexes,
JMESPath, expressions, templates, effects, SQL facts) against what the pack may name. Then, across files: unique
pack names, and the index of rules by event. Everything `policy eval` could trip on is found here.
"""

from __future__ import annotations

from policy import conditions, expressions, lean
from policy.errors import Diagnostic, Location, ValidationFailed, did_you_mean
from policy.loader import Document, load_yaml, render_path
from policy.model import (STOP_EVENTS, TOOL_EVENTS, Condition, Effect, Pack, Rule, RuleSet, Settings,
                          SqlFact, Template)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any

    from policy.expressions import CompileEnv, FactCatalog
    from policy.model import Expr, Selector
else:
    from policy.lean import dataclass, field

FORMAT_VERSION = 1
SQL_BINDS = ("session_id", "now", "tool", "cwd", "event")


@dataclass(frozen=True, slots=True)
class PackSource:
    """A rule file to load, and how: its trust, param overrides from the config, and where it came from."""

    path: str
    display: str = ""
    trusted: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    # False when an untrusted project set the params of a trusted (shipped) pack: a param may become a command,
    # so the pack's `run` effects are refused; its other effects are its own, shipped logic.
    params_trusted: bool = True
    params_location: Location | None = None
    origin: str = "cli"  # "shipped" | "user" | "project" | "cli"
    kv_namespaces: tuple[str, ...] = ()  # for an untrusted file: the kv namespaces it may write (Settings.project_kv)

    @property
    def name(self) -> str:
        return self.display or self.path


@dataclass(frozen=True, slots=True)
class CompiledFiles:
    """The result of compiling rule files: packs (possibly partial on errors) and all diagnostics."""

    packs: tuple[Pack, ...]
    diagnostics: tuple[Diagnostic, ...]
    regexes: dict[tuple[str, int], Any] = field(default_factory=dict)
    selectors: dict[str, Selector] = field(default_factory=dict)
    sources: tuple[bytes, ...] = ()

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


def fact_catalog(pack_facts: frozenset[str] = frozenset()) -> FactCatalog:
    from policy.expressions import FactCatalog
    from policy.facts import family_fields, family_regex_args

    return FactCatalog(family_fields(), pack_facts, family_regex_args())


# ---- stage: format version -------------------------------------------------------------------------------------

def check_version(document: Document, kind: str = "rule file") -> list[Diagnostic]:
    data = document.data
    if not isinstance(data, dict):
        return [Diagnostic(document.location(()), "bad-type", f"a {kind} must be a mapping at the top level",
                           "start with `version: 1`")]
    if "version" not in data:
        return [Diagnostic(document.location(()), "missing-version", f"the {kind} has no `version:`",
                           f"add `version: {FORMAT_VERSION}` at the top")]
    version = data["version"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        return [Diagnostic(document.location(("version",)), "unknown-version",
                           f"unknown format version {version!r}; this policy reads version {FORMAT_VERSION}",
                           "upgrade policy, or write the file in version 1")]
    return []


# ---- stage: compile one pack ------------------------------------------------------------------------------------

class _PackCompiler:
    def __init__(self, document: Document, source: PackSource, params: dict[str, Any],
                 env: CompileEnv, skip: set[str]) -> None:
        self.document = document
        self.source = source
        self.params = params
        self.env = env
        self.effect_env = env.for_effects()
        self.skip = skip
        self.diagnostics: list[Diagnostic] = []

    def at(self, *path: Any, key: bool = False) -> Location:
        return self.document.location(path, key=key)

    def add(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    def expression(self, value: Any, path: tuple[Any, ...], env: CompileEnv | None = None) -> Expr | None:
        expr, errors = expressions.compile_expression(value, self.at(*path), env or self.env)
        self.add(errors)
        return expr

    def template(self, value: Any, path: tuple[Any, ...], env: CompileEnv | None = None) -> Template | None:
        if value is None:
            return None
        template, errors = expressions.compile_template(str(value), self.at(*path), env or self.env)
        self.add(errors)
        return template

    def regex(self, pattern: str, path: tuple[Any, ...]) -> bool:
        problem = expressions.add_regex(self.env, pattern)
        if problem:
            self.diagnostics.append(Diagnostic(self.at(*path), "bad-regex", problem,
                                               "regexes use Python syntax (docs/rules.md#match)"))
            return False
        return True

    def rule(self, index: int, data: dict[str, Any], pack_name: str) -> Rule | None:
        path = ("rules", index)
        rule_id = str(data.get("id", f"#{index}"))
        from policy.vocabulary import canonical_event, expand_tool_name

        events = data.get("events")
        # neutral names (before_tool) and Claude Code's (PreToolUse) name the same events; each is kept once
        events = tuple(dict.fromkeys(canonical_event(str(event)) for event in
                                     ((events,) if isinstance(events, str) else tuple(events or ()))))
        agents = data.get("agents")
        agents = (agents,) if isinstance(agents, str) else tuple(agents or ())
        location = self.at(*path)

        tools = data.get("tools")
        tools_regex = None
        if tools is not None:
            names = [expand_tool_name(str(name)) for name in ([tools] if isinstance(tools, str) else list(tools))]
            # Each name on its own first, so that an error names the regex the author wrote, not the wrapper.
            if all(self.regex(name, (*path, "tools") if isinstance(tools, str) else (*path, "tools", position))
                   for position, name in enumerate(names)):
                tools_regex = "^(?:" + "|".join(f"(?:{name})" for name in names) + ")$"
                if not self.regex(tools_regex, (*path, "tools")):
                    tools_regex = None
            if not any(event in TOOL_EVENTS for event in events):
                self.diagnostics.append(Diagnostic(
                    self.at(*path, "tools", key=True), "tools-without-tool-event",
                    f"rule {rule_id!r} filters on tools but none of its events is a tool event",
                    "tool events are " + ", ".join(sorted(TOOL_EVENTS))))

        conditions_: list[Condition] = []
        for key, spec in (data.get("match") or {}).items():
            key_path = (*path, "match", key)
            selector, problem = expressions.add_selector(self.env, key)
            if problem:
                self.diagnostics.append(Diagnostic(self.at(*key_path, key=True), "bad-jmespath", problem,
                                                   "match keys are JMESPath paths into the event, e.g. tool_input.command"))
                continue
            assert selector is not None
            kind, pattern, value = "regex", spec, None
            if isinstance(spec, dict):
                kind, value = next(iter(spec.items()))
                pattern = value if kind == "regex" else conditions.glob_to_regex(str(value)) if kind == "glob" else None
            if kind == "glob":
                problem = expressions.add_glob(self.env, str(value))
                if problem:
                    self.diagnostics.append(Diagnostic(self.at(*key_path, "glob"), "bad-glob", problem,
                                                       expressions.GLOB_HINT))
                    continue
            elif pattern is not None and not self.regex(str(pattern), key_path if kind == "regex" and not
                                                        isinstance(spec, dict) else (*key_path, "regex")):
                continue
            conditions_.append(Condition(selector, kind, str(pattern) if pattern is not None else None,
                                         value, self.at(*key_path)))

        when = None
        if "when" in data:
            when = self.expression(data["when"], (*path, "when"))

        delay = None
        if "delay" in data:
            delay = self.expression(str(data["delay"]), (*path, "delay"))

        effects = tuple(effect for position, item in enumerate(data.get("do") or ())
                        if (effect := self.effect(item, (*path, "do", position), pack_name)) is not None)

        decision = data.get("decision")
        keeps_working = data.get("stop") is None and (decision == "deny" or data.get("context") is not None)
        for cap in ("block_cap", "block_time_cap"):
            if data.get(cap) is not None and not (set(events) & STOP_EVENTS and keeps_working):
                self.diagnostics.append(Diagnostic(
                    self.at(*path, cap, key=True), "useless-block-cap",
                    f"{cap} only applies to Stop or SubagentStop rules that keep the agent working (a deny or a "
                    "context)", "remove it", "warning"))
        update_input = None
        if "update_input" in data:
            if decision not in ("allow", "ask"):
                self.diagnostics.append(Diagnostic(
                    self.at(*path, "update_input", key=True), "rewrite-needs-verdict",
                    f"rule {rule_id!r} rewrites the tool input but its decision is {decision or 'missing'}: a "
                    "rewrite only takes effect with a call that goes ahead",
                    "add `decision: allow` (run the rewritten call) or `decision: ask` (show it to the user first)"))
            update_input = self.effect_args(data["update_input"], (*path, "update_input"), self.env)
        update_output = data.get("update_output")
        if isinstance(update_output, str):  # the whole output, rendered as text
            update_output = self.template(update_output, (*path, "update_output"))
        elif update_output is not None:
            update_output = self.effect_args(update_output, (*path, "update_output"), self.env)

        return Rule(
            pack=pack_name, id=rule_id, location=location, events=events,
            description=str(data.get("description", "")).strip(), tools=tools_regex, match=tuple(conditions_),
            when=when, decision=decision,
            reason=self.template(data.get("reason"), (*path, "reason")),
            context=self.template(data.get("context"), (*path, "context")),
            message=self.template(data.get("message"), (*path, "message")),
            delay=delay, effects=effects, enabled=bool(data.get("enabled", True)),
            final=bool(data.get("final", False)), block_cap=self.block_cap(data.get("block_cap"), (*path, "block_cap")),
            block_time_cap=self.block_time_cap(data.get("block_time_cap"), (*path, "block_time_cap")),
            update_input=update_input, update_output=update_output,
            stop=self.template(data.get("stop"), (*path, "stop")), agents=agents,
        )

    def block_cap(self, value: Any, path: tuple[Any, ...]) -> int:
        """An integer, or an expression over params evaluated now (the cap is part of the compiled rule)."""
        def problem(result: Any) -> str | None:
            if isinstance(result, bool) or not isinstance(result, int) or result < 1:
                return f"block_cap must be a whole number of at least 1, not {result!r}"
            return None

        found = self.fixed_value(value, path, "block_cap", problem,
                                 "e.g. block_cap: 3, or block_cap: params.max_blocks")
        return 1 if found is None else int(found)

    def block_time_cap(self, value: Any, path: tuple[Any, ...]) -> float | None:
        """Seconds (a number, or an expression over params evaluated now); None: no time cap."""
        def problem(result: Any) -> str | None:
            if result is not None and (isinstance(result, bool) or not isinstance(result, (int, float))
                                       or result <= 0):
                return f"block_time_cap must be a number of seconds above 0 (or null), not {result!r}"
            return None

        found = self.fixed_value(value, path, "block_time_cap", problem,
                                 "e.g. block_time_cap: 1800, or block_time_cap: params.stop_block_minutes * 60")
        return None if found is None else float(found)

    def fixed_value(self, value: Any, path: tuple[Any, ...], name: str, problem_of: Any, hint: str) -> Any:
        """A rule field fixed when the rules are compiled: a literal, or an expression over params evaluated now.
        None when it is absent or wrong (then a `bad-block-cap` diagnostic says why)."""
        if value is None:
            return None
        if not isinstance(value, str):
            problem = problem_of(value)
            result = value
        else:
            expr = self.expression(value, path)
            if expr is None:
                return None
            problem = None
            result = None
            if set(expr.names) - {"params"}:
                problem = f"{name} can only use params: it is fixed when the rules are compiled"
            else:
                try:
                    result = conditions.evaluate(expr, conditions.make_scope({"params": self.params}))
                except conditions.ExpressionError as error:
                    problem = f"{name} `{expr.source}` failed: {error}"
                if problem is None:
                    problem = problem_of(result)
        if problem is None:
            return result
        self.diagnostics.append(Diagnostic(self.at(*path), "bad-block-cap", problem, hint))
        return None

    def effect(self, item: Any, path: tuple[Any, ...], pack_name: str) -> Effect | None:
        from policy.effects import UNTRUSTED_HINT, check_effect

        if isinstance(item, str):
            kind, args, condition_source = item, None, None
        else:
            condition_source = item.get("if")
            kind, args = next((key, value) for key, value in item.items() if key != "if")
        location = self.at(*path)
        module, problems = check_effect(kind, args, location, trusted=self.source.trusted,
                                        namespaces=self.source.kv_namespaces)
        trusted = self.source.trusted
        if kind == "run" and trusted and not self.source.params_trusted:
            trusted = False
            problems.append(Diagnostic(
                self.source.params_location or location, "untrusted-effect",
                f"an untrusted project sets the params of the {pack_name} pack, and a param may choose the command "
                f"of its `run` effect at {location}: it will be refused (recorded in the decision log, "
                "nothing runs)", UNTRUSTED_HINT, "warning"))
        self.add(problems)
        if module is None or any(problem.severity == "error" for problem in problems):
            return None
        condition = None
        if condition_source is not None:
            condition = self.expression(condition_source, (*path, "if"), self.effect_env)
        compiled_args = self.effect_args(args, (*path, kind), self.effect_env)
        return Effect(kind, module, compiled_args, location, condition, trusted)

    def effect_args(self, value: Any, path: tuple[Any, ...], env: CompileEnv) -> Any:
        """Strings inside effect arguments and rewrites are templates (effects have `verdict` in scope); literal
        strings stay strings, other values stay as written."""
        if isinstance(value, str):
            template = self.template(value, path, env)
            if template is not None and len(template.parts) == 1 and isinstance(template.parts[0], str):
                return template.parts[0]
            return template
        if isinstance(value, dict):
            return {key: self.effect_args(item, (*path, key), env) for key, item in value.items()}
        if isinstance(value, list):
            return tuple(self.effect_args(item, (*path, index), env) for index, item in enumerate(value))
        return value

    def sql_fact(self, name: str, spec: dict[str, Any]) -> SqlFact | None:
        from policy.store import check_query

        path = ("facts", name)
        sql = str(spec["sql"]).strip()
        returns = "value" if spec.get("value") else "row" if spec.get("one") else "rows"
        allowed = set(SQL_BINDS) | set(self.params)
        problem, binds = check_query(sql, allowed)
        if problem:
            self.diagnostics.append(Diagnostic(
                self.at(*path, "sql"), "bad-sql", f"fact {name!r}: {problem}",
                "facts are one read-only SELECT; bind :session_id, :now, :tool, :cwd or a param by name"))
            return None
        refused = ""
        if not self.source.trusted:
            from policy.effects import UNTRUSTED_HINT

            refused = check_query(sql, allowed, untrusted=True)[0] or ""
            if refused:
                self.diagnostics.append(Diagnostic(
                    self.at(*path, "sql"), "untrusted-fact", f"this rule file is not trusted, and {refused}: fact "
                    f"{name!r} will give {'no rows' if returns == 'rows' else 'None'} (they hold other projects' "
                    "facts, which its rules could hand to the agent)", UNTRUSTED_HINT, "warning"))
        return SqlFact(name, sql, returns, tuple(binds), self.at(*path), refused)


def _without_errors(rule: dict[str, Any], path: tuple[Any, ...], skip: set[str]) -> dict[str, Any] | None:
    """The rule without the parts that have schema errors (a `match` key or a `do` item, else a whole field), or
    None when it has none. Without `id` or `events` (or with them broken) it keeps no `tools`: that a rule with
    tools has no tool event is only worth saying about events that were read."""
    base = render_path(path)
    if not any(error == base or error.startswith((base + ".", base + "[")) for error in skip):
        return None

    def broken(*parts: Any) -> bool:
        prefix = render_path((*path, *parts))
        return any(error == prefix or error.startswith((prefix + ".", prefix + "[")) for error in skip)

    kept: dict[str, Any] = {}
    for key, value in rule.items():
        if key == "match" and isinstance(value, dict) and not render_path((*path, key)) in skip:
            value = {name: spec for name, spec in value.items() if not broken(key, name)}
        elif key == "do" and isinstance(value, list) and not render_path((*path, key)) in skip:
            value = [item for position, item in enumerate(value) if not broken(key, position)]
        elif broken(key):
            continue
        kept[key] = value
    if "events" not in kept:
        kept.pop("tools", None)
    return kept


def _merge_params(document: Document, source: PackSource) -> tuple[dict[str, Any], list[Diagnostic]]:
    defaults = dict(document.data.get("params") or {})
    diagnostics = []
    for key, value in source.params.items():
        where = source.params_location or document.location(("params",))
        if key not in defaults:
            diagnostics.append(Diagnostic(where, "unknown-param",
                                          f"pack {document.data.get('pack')!r} has no param {key!r}",
                                          did_you_mean(key, defaults) or "see the pack's params"))
            continue
        default = defaults[key]
        numeric = (int, float)
        same = (default is None or isinstance(value, type(default))
                or (isinstance(default, numeric) and isinstance(value, numeric)
                    and not isinstance(value, bool) and not isinstance(default, bool)))
        if not same:
            diagnostics.append(Diagnostic(where, "bad-param",
                                          f"param {key!r} must be {type(default).__name__}, like its default "
                                          f"{default!r}, not {type(value).__name__}", ""))
            continue
        defaults[key] = value
    return defaults, diagnostics


def compile_document(document: Document, source: PackSource, *, regexes: dict[tuple[str, int], Any] | None = None,
                     selectors: dict[str, Selector] | None = None) -> tuple[Pack | None, list[Diagnostic]]:
    """Compile one parsed rule file into a Pack. Returns (None, diagnostics) when it cannot be used at all."""
    from policy import schema
    from policy.expressions import CompileEnv

    diagnostics = list(document.diagnostics)
    if document.data is None and diagnostics:  # unreadable or empty; a plain `null` document is a bad-type below
        return None, diagnostics
    version_problems = check_version(document)
    if version_problems:
        return None, diagnostics + version_problems
    schema_problems = schema.check(document, "rules")
    diagnostics += schema_problems
    skip = schema.error_paths(schema_problems)
    data = document.data
    if not isinstance(data.get("pack"), str) or not isinstance(data.get("rules", []), list):
        return None, diagnostics
    pack_name = data["pack"]
    params, param_problems = _merge_params(document, source) if isinstance(data.get("params", {}), dict) else ({}, [])
    diagnostics += param_problems

    sql_facts_data = data.get("facts") if isinstance(data.get("facts"), dict) else {}
    catalog = fact_catalog(frozenset(sql_facts_data))
    clashes = set(sql_facts_data) & set(catalog.families)
    for name in sorted(clashes):
        diagnostics.append(Diagnostic(document.location(("facts", name), key=True), "fact-clash",
                                      f"the fact name {name!r} is a built-in fact family", "choose another name"))
    env = CompileEnv(catalog, params, regexes=regexes if regexes is not None else {},
                     selectors=selectors if selectors is not None else {})
    compiler = _PackCompiler(document, source, params, env, skip)

    sql_facts = []
    for name, spec in sql_facts_data.items():
        if render_path(("facts", name)) in skip or not isinstance(spec, dict):
            continue
        fact = compiler.sql_fact(name, spec)
        if fact is not None:
            sql_facts.append(fact)

    rules = []
    seen: dict[str, Location] = {}
    for index, rule_data in enumerate(data.get("rules") or ()):
        if not isinstance(rule_data, dict):
            continue
        rule_id = rule_data.get("id")
        if isinstance(rule_id, str):  # checked even for rules with schema errors: it is an error of its own
            if rule_id in seen:
                compiler.diagnostics.append(Diagnostic(
                    document.location(("rules", index, "id")), "duplicate-id",
                    f"rule id {rule_id!r} is used twice in pack {pack_name!r} (first at line {seen[rule_id].line})",
                    "give each rule its own id"))
                continue
            seen[rule_id] = document.location(("rules", index))
        broken = _without_errors(rule_data, ("rules", index), skip)
        if broken is not None:
            # A rule with schema errors is compiled without its broken parts, for what else is wrong with it
            # (`reason: no` must not hide a bad regex in `match`), and then left out.
            compiler.rule(index, broken, pack_name)
            continue
        rule = compiler.rule(index, rule_data, pack_name)
        if rule is not None:
            rules.append(rule)
    diagnostics += compiler.diagnostics
    pack = Pack(name=pack_name, revision=str(data.get("revision", "")), source=source.name, params=params,
                rules=tuple(rules), facts=tuple(sql_facts), description=str(data.get("description", "")).strip())
    return pack, diagnostics


def compile_files(sources: list[PackSource] | tuple[PackSource, ...]) -> CompiledFiles:
    """Compile rule files (the stages above, then the cross-file checks)."""
    regexes: dict[tuple[str, int], Any] = {}
    selectors: dict[str, Selector] = {}
    packs: list[Pack] = []
    diagnostics: list[Diagnostic] = []
    texts: list[bytes] = []
    first_seen: dict[str, str] = {}
    first_seen_trusted: dict[str, bool] = {}
    for source in sources:
        document = load_yaml(source.path, display=source.name)
        texts.append(source.path.encode() + b"\0" + lean.json_dumps(
            [document.data, source.trusted, source.params_trusted, source.params], spaced=False).encode())
        pack, problems = compile_document(document, source, regexes=regexes, selectors=selectors)
        diagnostics += problems
        if pack is None:
            continue
        if pack.name in first_seen:
            # An untrusted file that takes a loaded pack's name is left out, and the rest runs: were it an error,
            # a repository could switch every rule off (into the fail mode) by naming its pack `focus`.
            squatting = not source.trusted and first_seen_trusted[pack.name]
            diagnostics.append(Diagnostic(document.location(("pack",)), "duplicate-pack",
                                          f"pack {pack.name!r} is already loaded from {first_seen[pack.name]}"
                                          + (": this untrusted file is left out" if squatting else ""),
                                          "pack names must be unique among loaded files",
                                          "warning" if squatting else "error"))
            continue
        first_seen_trusted[pack.name] = source.trusted
        first_seen[pack.name] = source.name
        packs.append(pack)
    return CompiledFiles(tuple(packs), tuple(diagnostics), regexes, selectors, tuple(texts))


def build_ruleset(compiled: CompiledFiles, settings: Settings, *, settings_key: bytes = b"") -> RuleSet:
    """Index compiled packs by event. Raises ValidationFailed when there are errors."""
    if compiled.errors:
        raise ValidationFailed(compiled.errors)
    uses_now = any("now" in expr.names for pack in compiled.packs for rule in pack.rules
                   for expr in rule.expressions())
    digest = lean.digest(*compiled.sources, settings_key)
    lean.register_regex_specs(compiled.regexes)
    conditions.register_selectors(compiled.selectors.values())
    return RuleSet(packs=compiled.packs, settings=settings, digest=digest,
                   by_event=RuleSet.index(compiled.packs),
                   uses_now=uses_now)
