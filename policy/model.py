"""The shapes that flow through policy (SPEC §1): a canonical event in, compiled rules, a decision out.

Everything here is a frozen record. Nothing here does I/O; the compiler builds these, the engine reads them.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from types import CodeType
    from typing import Any

    from policy.errors import Location
else:
    from policy.lean import dataclass, field

# Verdicts, strongest first. "No verdict" is None.
VERDICTS = ("deny", "defer", "ask", "allow")
VERDICT_RANK = {"deny": 4, "defer": 3, "ask": 2, "allow": 1}

# The canonical events, keyed by Claude Code's names (our first host, and the richest set). Rules may also name them
# in the neutral spelling (`before_tool`: policy.vocabulary.NEUTRAL_EVENTS); other hosts' adapters map onto them.
TOOL_EVENTS = frozenset({
    "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure",
})
EVENTS = (
    "SessionStart", "Setup", "InstructionsLoaded", "UserPromptSubmit", "UserPromptExpansion", "MessageDisplay",
    "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure", "PostToolBatch",
    "Notification", "SubagentStart", "SubagentStop", "TaskCreated", "TaskCompleted", "Stop", "StopFailure",
    "TeammateIdle", "ConfigChange", "CwdChanged", "DirectoryAdded", "FileChanged", "WorktreeCreate",
    "WorktreeRemove", "PreCompact", "PostCompact", "Elicitation", "ElicitationResult", "SessionEnd",
)
STOP_EVENTS = frozenset({"Stop", "SubagentStop"})


@dataclass(frozen=True, slots=True)
class Event:
    """One hook event in canonical form. `data` is the whole payload, with Claude Code's field names."""

    host: str
    name: str
    agent_session: str | None = None
    cwd: str | None = None
    tool: str | None = None
    tool_input: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    permission_mode: str | None = None
    stop_hook_active: bool = False
    transcript_path: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The tool under the host's own name (`tool` is its canonical name: policy.vocabulary); None when they agree.
    host_tool: str | None = None

    @property
    def agent_id(self) -> str | None:
        """The subagent the event comes from (None on the main agent): each one stops on its own."""
        value = self.data.get("agent_id")
        return value if isinstance(value, str) else None


# ---- compiled rule parts ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression. `names`: the scope names it uses; `facts`: the facts it reaches (`focus`, a pack's
    SQL fact); `reads`: the attribute chains it reads (`facts.focus.on_break`), shown by `--explain`."""

    source: str
    code: CodeType
    location: Location
    names: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    """`literal {{ expression }} literal`: literal strings and compiled expressions, in order."""

    source: str
    parts: tuple[str | Expr, ...]


@dataclass(frozen=True, slots=True)
class Selector:
    """A JMESPath selector. Plain paths (`a.b[0].c`) are kept as `keys` and walked without jmespath."""

    source: str
    keys: tuple[str | int, ...] | None = None
    tree: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """One `match:` entry: the selected value must match a regex (searched), a glob, or equal a value."""

    selector: Selector
    kind: str  # "regex" | "glob" | "equals"
    pattern: str | None
    value: Any
    location: Location


@dataclass(frozen=True, slots=True)
class Effect:
    """One `do:` entry: an effect kind (implemented in `module`), its arguments (templates inside), and an
    optional `if:` condition."""

    kind: str
    module: str
    args: Any
    location: Location
    condition: Expr | None = None
    # Whether the rule file and its params come from someone the user trusts: an untrusted one may only write
    # tables of its own and kv keys under its pack's name (effects.untrusted_refusal).
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    pack: str
    id: str
    location: Location
    events: tuple[str, ...]
    description: str = ""
    tools: str | None = None  # an anchored regex source
    match: tuple[Condition, ...] = ()
    when: Expr | None = None
    decision: str | None = None
    reason: Template | None = None
    context: Template | None = None
    message: Template | None = None
    delay: Expr | None = None
    effects: tuple[Effect, ...] = ()
    enabled: bool = True
    final: bool = False
    block_cap: int = 1
    block_time_cap: float | None = None  # seconds since the current run of Stop blocks began, past which it ends
    # The tool input fields to replace (None: remove the field), the tool output to replace (a mapping of fields,
    # or a Template for the whole output), and the reason to stop the agent outright: values hold Templates.
    update_input: dict[str, Any] | None = None
    update_output: Any = None
    stop: Template | None = None
    # The hosts the rule is for (`agents:`); empty: every host.
    agents: tuple[str, ...] = ()

    @property
    def keeps_working(self) -> bool:
        """Whether a match on Stop or SubagentStop keeps the agent working (a deny or a context, not a stop): what
        `block_cap` bounds."""
        return self.stop is None and (self.decision == "deny" or self.context is not None)

    def expressions(self) -> list[Expr]:
        """Every compiled expression of the rule: `when`, `delay`, the templates, and its effects' `if:` and
        arguments."""
        found: list[Expr] = [expr for expr in (self.when, self.delay) if expr is not None]

        def walk(value: Any) -> None:
            if isinstance(value, Template):
                found.extend(part for part in value.parts if not isinstance(part, str))
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)

        for template in (self.reason, self.context, self.message, self.stop, self.update_input, self.update_output):
            walk(template)
        for effect in self.effects:
            if effect.condition is not None:
                found.append(effect.condition)
            walk(effect.args)
        return found


@dataclass(frozen=True, slots=True)
class SqlFact:
    """A pack's named, read-only SQL fact. `returns` is "value", "row" or "rows". `refused`: why it is not run
    (an untrusted file's fact reading a built-in table): it then gives None, or no rows."""

    name: str
    sql: str
    returns: str
    binds: tuple[str, ...]
    location: Location
    refused: str = ""


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    revision: str
    source: str
    params: dict[str, Any]
    rules: tuple[Rule, ...]
    facts: tuple[SqlFact, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A fact source (SPEC §4): where a fact family's values come from, and how patiently."""

    name: str
    kind: str  # "command" | "http" | "file"
    feeds: str  # the fact family or kv prefix it refreshes
    options: dict[str, Any]
    ttl: float = 60.0
    timeout: float = 2.0
    breaker_failures: int = 3
    breaker_cooldown: float = 300.0  # the first time the breaker opens; doubled each time it opens again
    breaker_max_cooldown: float = 3600.0
    max_stale: float | None = None  # seconds past `ttl` a value stays after its last good fetch; None: forever


@dataclass(frozen=True, slots=True)
class Settings:
    """Engine-wide settings from the configuration files (SPEC §8), with their documented defaults."""

    fail: dict[str, str] = field(default_factory=dict)  # event name or "*" -> "open" | "closed"
    max_delay: float = 60.0
    defer_as: str = "ask"  # how PreToolUse renders `defer`: "ask" | "defer" | "deny"
    ask_in_bypass: str = "ask"  # how ask/defer render in bypassPermissions mode: "ask" (as the host) | "deny"
    log_retention_days: float = 30.0
    log_keep_payload: str = "redacted"  # "redacted" | "full" | "none" (policy.redact)
    db: str | None = None
    max_event_bytes: int = 8 * 1024 * 1024
    sources: tuple[SourceSpec, ...] = ()
    trusted_paths: tuple[str, ...] = ()
    # The kv namespaces an untrusted project's files may write (the user config's `project_kv`, less what a
    # user-level source feeds): never a prefix such a file picks itself (docs/security.md).
    project_kv: tuple[str, ...] = ("tasks",)
    # The hosts the user runs policy under (`agents:`; empty: every host policy knows): what `policy validate` checks
    # rules against, never what `policy eval` enforces.
    agents: tuple[str, ...] = ()
    # The team's shared board (`store:` in the user config; docs/team.md): the PostgreSQL DSN (None: claims and
    # agent sessions stay in the local store), the seconds any one use of it may take, and what a claim answers
    # when it does not answer in time ("ask" naming the outage, or "fail": the event's fail mode).
    shared_store: str | None = None
    shared_timeout: float = 2.0
    shared_on_outage: str = "ask"

    def fail_mode(self, event_name: str | None) -> str:
        if event_name in self.fail:
            return self.fail[event_name]
        if "*" in self.fail:
            return self.fail["*"]
        return "closed" if event_name in (None, "PreToolUse", "PermissionRequest", "UserPromptSubmit") else "open"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything `policy eval` needs, compiled: packs in order, settings, an index of rules by event."""

    packs: tuple[Pack, ...]
    settings: Settings
    digest: str
    by_event: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    uses_now: bool = False

    @staticmethod
    def index(packs: tuple[Pack, ...]) -> dict[str, tuple[Rule, ...]]:
        """The rules of every event, in pack order then file order (the `by_event` index)."""
        by_event: dict[str, list[Rule]] = {}
        for pack in packs:
            for rule in pack.rules:
                for event in rule.events:
                    by_event.setdefault(event, []).append(rule)
        return {event: tuple(rules) for event, rules in by_event.items()}

    def rules_for(self, event_name: str) -> tuple[Rule, ...]:
        return self.by_event.get(event_name, ())

    def pack(self, name: str) -> Pack:
        for pack in self.packs:
            if pack.name == name:
                return pack
        raise KeyError(name)

    @property
    def revisions(self) -> dict[str, str]:
        return {pack.name: pack.revision for pack in self.packs}


# ---- decisions -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that matched, with its rendered texts."""

    pack: str
    rule_id: str
    decision: str | None = None
    reason: str | None = None
    context: str | None = None
    message: str | None = None
    delay: float = 0.0
    update_input: dict[str, Any] | None = None
    update_output: Any = None
    stop: str | None = None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """Why one rule did or did not match: `outcome` is matched, event, agent, tools, match, when, disabled, final,
    capped or error; `detail` says which part decided, `values` the values it saw."""

    pack: str
    rule_id: str
    outcome: str
    detail: str = ""
    values: tuple[tuple[str, Any], ...] = ()  # what the deciding part read (functions and fact objects left out)
    location: str = ""  # file:line:col of the rule


@dataclass(frozen=True, slots=True)
class PlannedEffect:
    """An effect with its arguments rendered, ready to be applied (or shown, in a dry run)."""

    pack: str
    rule_id: str
    kind: str
    module: str
    args: dict[str, Any]
    location: Location
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    event_name: str
    verdict: str | None = None
    reason: str | None = None
    context: str | None = None
    message: str | None = None
    delay: float = 0.0
    hits: tuple[RuleHit, ...] = ()
    trace: tuple[RuleTrace, ...] = ()
    effects: tuple[PlannedEffect, ...] = ()
    # The whole tool input as rewritten by the matched rules (None: unchanged), kept only when the verdict lets the
    # call go ahead (allow, ask, or defer, which is a kind of ask) and nothing stops the agent; the tool output as
    # replaced (None: unchanged); why to stop the agent outright.
    updated_input: dict[str, Any] | None = None
    updated_output: Any = None
    stop: str | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(f"{hit.pack}/{hit.rule_id}" for hit in self.hits)

    @property
    def keeps_working(self) -> bool:
        """Whether the answer keeps a stopping agent working: a deny or a context on Stop or SubagentStop (both
        continue the turn), unless the agent is stopped outright. What the Stop loop guard counts."""
        return self.event_name in STOP_EVENTS and self.stop is None and (self.verdict == "deny" or bool(self.context))


@dataclass(frozen=True, slots=True)
class HookOutput:
    """What a hook process prints and how it exits, in the host's protocol."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
