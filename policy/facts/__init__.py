"""Facts (SPEC §4): what rules may ask about the world, read lazily from the fact store, once per evaluation.

A fact family (`facts.focus`, `facts.claims`, ...) is a `Family`: a View built from a `FactContext` on first use
and memoised for the rest of the evaluation. Family `x` is the class `FAMILY` of the module `policy.facts.x`,
imported only when a rule reaches it; adding a module adds a family. Families also own the writes of their tables
(the CLI verbs and the effects call the same functions). A pack's own SQL facts are run read-only on first use.
"""

from __future__ import annotations

from policy.conditions import ExpressionError, View

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Event, Pack, Settings, SqlFact
    from policy.store import Store
else:
    from policy.lean import dataclass


@dataclass(frozen=True, slots=True)
class FactContext:
    """What a family may read: the store (None when there is none, e.g. engine benchmarks), the event, the time
    (`now`, epoch seconds), the local UTC offset in seconds (None: the machine's local time), and the evaluation's
    deadline (time.perf_counter(); None: none), which SQL facts do not run past."""

    store: Store | None
    event: Event
    now: float
    settings: Settings
    utc_offset: int | None = None
    deadline: float | None = None

    def local_offset(self, at: float | None = None) -> int:
        from policy.times import local_offset

        return local_offset(self.now if at is None else at, self.utc_offset)

    def local_midnight(self) -> float:
        """The start of the local day that contains `now`."""
        from policy.times import local_midnight

        return local_midnight(self.now, self.utc_offset)


class Family(View):
    """Base of fact families. Subclasses set `name` and `fields` and read what they need in `__init__`. A family
    that reads the board (policy.boards: claims, agent sessions) declares in `on_outage` what it answers while a
    team's shared store does not answer (docs/team.md#outages; tests/test_shared_board.py checks every one does)."""

    name = ""
    on_outage: str | None = None

    def __init__(self, context: FactContext) -> None:
        self.context = context


def family_class(name: str) -> type[Family]:
    """The family `facts.<name>`; raises ExpressionError when there is none."""
    if not name.isidentifier() or name.startswith("_"):
        raise ExpressionError(f"unknown fact {name!r}")
    try:
        module = __import__(f"policy.facts.{name}", fromlist=["FAMILY"])
        return module.FAMILY  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        raise ExpressionError(f"unknown fact {name!r}") from None


def family_names() -> tuple[str, ...]:
    """Every fact family, found by module (for the compiler's checks and the docs; not on the eval path)."""
    import pkgutil

    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")))


def family_fields() -> dict[str, frozenset[str]]:
    """Every family and the fields rules may read."""
    return {name: frozenset(family_class(name).fields) for name in family_names()}


def family_regex_args() -> dict[tuple[str, str], tuple[int, ...]]:
    """(family, method) → the positions of its arguments that are regexes: they must be constant, and are
    precompiled with the rules (a family's `regex_args`)."""
    return {(name, method): positions for name in family_names()
            for method, positions in getattr(family_class(name), "regex_args", {}).items()}


class Facts:
    """The facts of one evaluation: families and SQL facts computed on first use, then memoised."""

    def __init__(self, context: FactContext) -> None:
        self.context = context
        self._families: dict[str, Family] = {}
        self._sql: dict[tuple[str, str], Any] = {}
        self._scopes: dict[str, FactsScope] = {}
        self._stop_run: tuple[int, float | None] | None = None
        self.sql_seconds = 0.0  # what this evaluation's SQL facts have run for, together

    def family(self, name: str) -> View:
        family = self._families.get(name)
        if family is None:
            family = family_class(name)(self.context)
            self._families[name] = family
        return family

    def sql(self, pack: Pack, fact: SqlFact) -> Any:
        """A SQL fact's value. Each runs for at most SQL_FACT_TIME_LIMIT, and all of one evaluation's together
        for at most SQL_EVALUATION_TIME_LIMIT: twenty half-second facts must not add up to ten seconds."""
        key = (pack.name, fact.name)
        if key not in self._sql:
            import time

            from policy.store import SQL_EVALUATION_TIME_LIMIT, SQL_FACT_TIME_LIMIT

            left = SQL_EVALUATION_TIME_LIMIT - self.sql_seconds
            if self.context.deadline is not None:
                left = min(left, self.context.deadline - time.perf_counter())
            if left <= 0:
                from policy.errors import StoreError

                raise StoreError(f"the SQL facts of one evaluation ran longer than {SQL_EVALUATION_TIME_LIMIT:g}s "
                                 "together and were stopped", code="fact-timeout",
                                 hint="facts run on every event: make the queries use an index and end")
            started = time.monotonic()
            try:
                self._sql[key] = run_sql_fact(self.context, pack, fact, time_limit=min(SQL_FACT_TIME_LIMIT, left))
            finally:
                self.sql_seconds += time.monotonic() - started
        return self._sql[key]

    def scope(self, pack: Pack) -> View:
        """The `facts` name for expressions in `pack`."""
        scope = self._scopes.get(pack.name)
        if scope is None:
            scope = FactsScope(self, pack)
            self._scopes[pack.name] = scope
        return scope

    def stop_blocks(self) -> int:
        """How many times in a row policy kept this agent working at its Stop (a deny or a context; SubagentStop:
        each subagent, by agent_id, on its own), in the current run of stops: since the last stop that was not
        already continuing (stop_hook_active false) or the last prompt. Answers that let the agent stop in
        between (another hook kept it going) do not end the run."""
        return self.stop_run()[0]

    def stop_run_age(self) -> float | None:
        """Seconds since the first stop of the current run that policy kept going (None: none was)."""
        first = self.stop_run()[1]
        return None if first is None else max(0.0, self.context.now - first)

    def stop_run(self) -> tuple[int, float | None]:
        """(stop_blocks, when the run's first kept-going stop was decided), read once per evaluation."""
        if self._stop_run is not None:
            return self._stop_run
        store = self.context.store
        event = self.context.event
        session = event.agent_session
        if store is None or session is None:
            self._stop_run = (0, None)
            return self._stop_run
        count = 0
        first: float | None = None
        for name, verdict, active, continued, at in store.execute(
                "SELECT event, verdict, stop_hook_active, continued, at FROM decisions WHERE agent_session = ? AND "
                "((event = ? AND agent_id IS ?) OR event = 'UserPromptSubmit') ORDER BY at DESC, id DESC LIMIT 64",
                (session, event.name, event.agent_id)):
            if name == "UserPromptSubmit":
                break
            if active is None:  # logged before the store kept stop_hook_active: count denies in a row
                if verdict != "deny":
                    break
                count += 1
                first = at
                continue
            if continued:
                count += 1
                first = at
            if not active:
                break
        self._stop_run = (count, first)
        return self._stop_run


def previous_stop_continued(store: Any, event: Event) -> bool:
    """Whether the agent's (or subagent's) last stop since the last prompt was kept working by policy: what
    `stop_hook_active` says on hosts that send it, for one that does not (Copilot CLI)."""
    if event.agent_session is None:
        return False
    for name, continued in store.execute(
            "SELECT event, continued FROM decisions WHERE agent_session = ? AND ((event = ? AND agent_id IS ?) OR "
            "event = 'UserPromptSubmit') ORDER BY at DESC, id DESC LIMIT 1",
            (event.agent_session, event.name, event.agent_id)):
        return name != "UserPromptSubmit" and bool(continued)
    return False


class FactsScope(View):
    """`facts` inside expressions: the built-in families plus the pack's own SQL facts."""

    def __init__(self, facts: Facts, pack: Pack) -> None:
        self.facts = facts
        self.pack = pack
        self.sql_facts = {fact.name: fact for fact in pack.facts}

    def expose(self, name: str) -> Any:
        fact = self.sql_facts.get(name)
        if fact is not None:
            return self.facts.sql(self.pack, fact)
        return self.facts.family(name)


def run_sql_fact(context: FactContext, pack: Pack, fact: SqlFact, *, time_limit: float | None = None) -> Any:
    store = context.store
    if store is None or fact.refused:
        return None if fact.returns != "rows" else []
    event = context.event
    values: dict[str, Any] = {"session_id": event.agent_session, "now": context.now, "tool": event.tool,
                              "cwd": event.cwd, "event": event.name}
    params: dict[str, Any] = {}
    for name in fact.binds:
        if name in values:
            params[name] = values[name]
        else:
            value = pack.params.get(name)
            if isinstance(value, (list, dict)):
                from policy.lean import json_dumps

                value = json_dumps(value)
            params[name] = value
    columns, rows = store.read_only(fact.sql, params) if time_limit is None else \
        store.read_only(fact.sql, params, time_limit=time_limit)
    if fact.returns == "value":
        return rows[0][0] if rows else None
    if fact.returns == "row":
        return dict(zip(columns, rows[0])) if rows else None
    return [dict(zip(columns, row)) for row in rows]


class StaticFacts:
    """Facts from plain mappings, for the engine benchmark and unit tests: `{"focus": {"active": True}}`."""

    def __init__(self, families: dict[str, dict[str, Any]] | None = None, stop_blocks: int = 0) -> None:
        self.families = {name: _StaticView(values) for name, values in (families or {}).items()}
        self._stop_blocks = stop_blocks

    def family(self, name: str) -> View:
        return self.families.get(name) or _StaticView({})

    def scope(self, pack: Pack) -> View:
        return _StaticScope(self)

    def stop_blocks(self) -> int:
        return self._stop_blocks

    def stop_run_age(self) -> float | None:
        return None


class _StaticView(View):
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.fields = tuple(values)

    def expose(self, name: str) -> Any:
        return self.values.get(name)


class _StaticScope(View):
    def __init__(self, facts: StaticFacts) -> None:
        self.facts = facts

    def expose(self, name: str) -> Any:
        return self.facts.family(name)
