"""`policy eval`: the hook command. Event on stdin → decision in the host's protocol on stdout.

The flow of SPEC §1, end to end: read and parse the event (adapter) → load the compiled rules (cache) → open the
fact store → under the store's write lock: evaluate (engine), apply the effects, log the decision, commit →
render (adapter) → sleep the delay. Whatever fails, the host gets a protocol-correct answer in the configured fail
mode and one line on stderr; stdout never carries anything but the host's JSON.

This module is the `policy eval` fast path: it imports no CLI framework, YAML, JSON Schema or sqlite-utils
while the compiled cache is warm (tests/test_imports.py keeps it so).
"""

from __future__ import annotations

import os
import sys
import time

from policy.errors import InputError, PolicyError, UsageError
from policy.model import STOP_EVENTS, HookOutput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from dataclasses import dataclass
    from typing import Any, BinaryIO

    from policy.model import Decision, Event, RuleSet, Settings
    from policy.store import Store
else:
    from policy.lean import dataclass

# stdin is read up to this hard ceiling before the config is known; the configured `max_event_bytes` (default
# 8 MiB, at most this) is applied once it is.
MAX_EVENT_BYTES_CEILING = 64 * 1024 * 1024
USAGE = ("usage: policy eval [--agent claude-code] [--event NAME] [--config FILE] [--rules PATH]... [--db FILE] "
         "[--now ISO] [--dry-run] [--explain] [--format host|json] [--timeout SECONDS] < event.json")
# `policy eval --help` (read without the CLI framework, like the flags): every option, as `policy eval` reads it.
HELP = USAGE + """

Evaluate one hook event (the host's JSON on stdin) and answer in the host's protocol (stdout, exit code).
The hook command `policy install` writes. Docs: `policy docs protocol`, `policy docs testing`.

Options:
  --agent NAME       The host whose protocol stdin and stdout speak (default claude-code): {agents}.
  --event NAME       The host's name of the event, for hosts whose payloads do not name it (Copilot CLI).
  --config FILE      This config file instead of the project's (as $POLICY_CONFIG).
  --rules PATH       Only these rule files or directories, with their default params (repeatable).
  --db FILE          The fact store (default: config `db`, $POLICY_DB, or $XDG_STATE_HOME/policy/facts.db).
  --now ISO          Decide at this time, e.g. 2026-11-20T10:00:00+01:00 (its offset is the local zone).
  --dry-run          Apply no effect, write no log row, do not sleep; stderr says what would have happened.
  --explain          On stderr: the verdict and why, rule by rule (`policy explain` makes up a call).
  --format FORMAT    host (default: the host's protocol) or json (one report: verdict, rules, the host's
                     output, effects, trace).
  --timeout SECONDS  The host's hook timeout (default: what `policy install` writes); the answer comes before
                     it.
  -h, --help         Show this message and exit.

Exit codes and stdout are the host's protocol; when no decision can be made, the answer is the event's fail
mode (`policy docs protocol#when-no-decision-can-be-made`).
"""
# The deadline (docs/security.md#the-deadline). The host kills a hook at its timeout and then lets the tool call
# through, so the answer must be out before it. The timeout is `--timeout` when given, else the one `policy
# install` writes for the event (`required_timeout`, from the same rules); DEFAULT_HOOK_TIMEOUT bounds the wait
# until the rules are loaded (Claude Code's default was 60 s before 2.1.3, 600 s since). ANSWER_MARGIN is kept
# back for answering in the fail mode once the evaluation is given up; the evaluation itself gets the timeout less
# the largest delay (slept after the answer), and at least MIN_EVALUATION_SECONDS when the timeout allows it.
DEFAULT_HOOK_TIMEOUT = 60.0
ANSWER_MARGIN = 1.0
MIN_EVALUATION_SECONDS = 15.0
STARTUP_SECONDS = 5.0  # what a hook may need besides its delay, commands, sources and store: start-up, cold rules
FAILURE_LOG_WAIT = 0.2  # seconds a failed evaluation waits for the write lock to log itself


@dataclass(frozen=True, slots=True)
class Options:
    agent: str = "claude-code"
    # The host's name of the event, for a host whose payload does not name it (Copilot CLI's camelCase hooks).
    event: str | None = None
    config: str | None = None
    rules: tuple[str, ...] = ()
    db: str | None = None
    now: str | None = None
    dry_run: bool = False
    explain: bool = False
    format: str = "host"
    help: bool = False
    # Do the effects' work that runs after the commit (the `run` effect's commands). `policy test` turns it off:
    # scenarios check what would run, and testing a rule file never runs its commands.
    after_commit: bool = True
    # The host's timeout for this hook, in seconds (None: what `policy install` writes, `required_timeout`). It
    # travels with the request, so that whoever evaluates it (this process, or a resident server) applies the same
    # deadline.
    timeout: float | None = None


def required_timeout(ruleset: RuleSet, event: str) -> int:
    """The hook timeout for `event`, in whole seconds, as `policy install` writes it: the longest delay, what the
    event's `run` commands can take, the fact store's busy timeout, every fact source's timeout and start-up.
    Memoised per ruleset (a resident evaluator asks for it on every event)."""
    held = _TIMEOUTS.get(id(ruleset))
    if held is None or held[0] is not ruleset:
        if len(_TIMEOUTS) >= 64:
            _TIMEOUTS.clear()
        held = _TIMEOUTS[id(ruleset)] = (ruleset, {})
    if event not in held[1]:
        held[1][event] = _required_timeout(ruleset, event)
    return held[1][event]


# id(ruleset) -> (the ruleset, which keeps its id from being reused while it is here; event -> timeout)
_TIMEOUTS: dict[int, tuple[RuleSet, dict[str, int]]] = {}


def _required_timeout(ruleset: RuleSet, event: str) -> int:
    import math

    from policy.adapters.claude_settings import run_bounds
    from policy.store import BUSY_TIMEOUT_SECONDS

    settings = ruleset.settings
    margin = BUSY_TIMEOUT_SECONDS + sum(source.timeout for source in settings.sources) + STARTUP_SECONDS
    if settings.shared_store is not None:  # connecting (at least 2 s, libpq's minimum), then a read and a write
        margin += max(2.0, settings.shared_timeout) + 2 * settings.shared_timeout
    return math.ceil(settings.max_delay + run_bounds(ruleset.packs).get(event, 0.0) + margin)


def hook_timeout(options: Options, ruleset: RuleSet, event: str) -> float:
    """The host's timeout for this event's hook: `--timeout`, else what `policy install` writes."""
    return options.timeout if options.timeout is not None else float(required_timeout(ruleset, event))


def answer_deadline(timeout: float, started: float) -> float:
    """When (time.perf_counter(), like `started`) the answer must be written, at the latest."""
    return started + max(0.0, timeout - ANSWER_MARGIN)


def evaluation_deadline(timeout: float, started: float, max_delay: float) -> float:
    """When (time.perf_counter()) an evaluation is given up and answered in the fail mode: what the timeout leaves
    after the largest delay, at least MIN_EVALUATION_SECONDS, never after `answer_deadline`."""
    budget = timeout - ANSWER_MARGIN
    return started + max(0.0, min(budget, max(budget - max_delay, MIN_EVALUATION_SECONDS)))


def deadline_error(timeout: float) -> PolicyError:
    return PolicyError(f"the evaluation did not finish in time (the hook's timeout is {timeout:g}s)",
                       code="deadline", hint="a rule, fact or payload took too long: `policy eval --explain` on "
                                             "the payload shows which rules ran; see docs/security.md#the-deadline")


def parse_options(argv: list[str], *, strict: bool = True) -> Options:
    """`policy eval`'s flags, parsed without argparse (it costs more than the rest of a warm run). With
    `strict=False`, what can be read of flags that have an error (to answer that error in the event's fail mode)."""
    try:
        return _parse_options(argv, strict)
    except UsageError:
        if strict:
            raise
        return Options()


def _parse_options(argv: list[str], strict: bool) -> Options:
    values: dict[str, Any] = {"rules": []}
    flags = {"--dry-run": "dry_run", "--explain": "explain", "-h": "help", "--help": "help"}
    options = {"--agent": "agent", "--event": "event", "--config": "config", "--rules": "rules", "--db": "db", "--now": "now",
               "--format": "format", "--timeout": "timeout"}
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, has_value, inline = arg.partition("=")
        if arg in flags:
            values[flags[arg]] = True
        elif name in options:
            if has_value:
                value = inline
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            elif strict:
                raise UsageError(f"{name} needs a value", hint=USAGE)
            else:
                break
            if options[name] == "rules":
                values["rules"].append(value)
            else:
                values[options[name]] = value
        elif strict:
            raise UsageError(f"unknown argument {arg!r}", hint=USAGE)
        index += 1
    values["rules"] = tuple(values["rules"])
    if "timeout" in values:
        try:
            values["timeout"] = float(values["timeout"])
        except ValueError:
            values["timeout"] = -1.0
        if not 0 < values["timeout"] < float("inf"):
            if strict:
                raise UsageError("--timeout must be a number of seconds above 0", hint=USAGE)
            del values["timeout"]
    if values.get("format", "host") not in ("host", "json"):
        if strict:
            raise UsageError(f"--format must be host or json, not {values['format']!r}", hint=USAGE)
        del values["format"]
    return Options(**values)


def pack_switched_off(name: str, environ: Mapping[str, str]) -> bool:
    """Whether pack `name`'s kill switch is on: `POLICY_<PACK>=off` (e.g. POLICY_PACING=off)."""
    value = environ.get("POLICY_" + name.upper().replace("-", "_"), "")
    return value.lower() in ("off", "0", "false", "no", "disabled")


def disabled_packs(ruleset: RuleSet, environ: Mapping[str, str]) -> frozenset[str]:
    """Packs switched off by their own kill switch."""
    return frozenset(pack.name for pack in ruleset.packs if pack_switched_off(pack.name, environ))


def read_event(stdin: BinaryIO, limit: int) -> tuple[bytes, InputError | None]:
    """stdin, up to `limit` bytes, and the error when there is more (the bytes read then start the payload)."""
    raw = stdin.read(limit + 1)
    if len(raw) > limit:
        return raw, InputError(f"the hook payload is larger than {limit} bytes",
                               hint="raise max_event_bytes in the config if such payloads are expected")
    return raw, None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one evaluation produced, for the JSON report (`--format json`) and the tests."""

    output: HookOutput
    decision: Decision | None = None
    event: Event | None = None
    effects: tuple[dict[str, Any], ...] = ()
    error: PolicyError | None = None
    disabled: bool = False


def log_decision(store: Store, event: Event, decision: Decision | None, ruleset: RuleSet | None, *, now: float,
                 started: float, effects: list[dict[str, Any]] | None = None, error: str | None = None,
                 raw: bytes | None = None) -> int:
    """Write the decision log row (inside the caller's transaction), and prune old rows now and then. Returns the
    row's id."""
    from policy.lean import json_dumps

    settings = ruleset.settings if ruleset is not None else None
    payload, payload_form = None, None
    if raw is not None and settings is not None and settings.log_keep_payload != "none":
        from policy.redact import kept_payload

        payload, payload_form = kept_payload(raw, settings.log_keep_payload)
    cursor = store.execute(
        "INSERT INTO decisions(at, host, event, agent_session, tool, verdict, rule_ids, reason, delay, packs, "
        "ruleset, latency_ms, effects, payload, error, agent_id, stop_hook_active, continued, payload_form) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now, event.host, event.name, event.agent_session, event.tool,
         decision.verdict if decision is not None else None,
         json_dumps(list(decision.rule_ids)) if decision is not None else "[]",
         decision.reason if decision is not None else None,
         decision.delay if decision is not None else 0.0,
         json_dumps(ruleset.revisions) if ruleset is not None else "{}",
         ruleset.digest if ruleset is not None else None,
         round((time.perf_counter() - started) * 1000, 3),
         json_dumps(effects) if effects else None, payload, error, event.agent_id, int(event.stop_hook_active),
         int(decision is not None and decision.keeps_working), payload_form))
    retention = settings.log_retention_days if settings is not None else 30.0
    if retention > 0 and cursor.lastrowid % 512 == 0:
        store.execute("DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE at < ? ORDER BY at "
                      "LIMIT 10000)", (now - retention * 86400,))
    return int(cursor.lastrowid)


def evaluate_event(raw: bytes, options: Options, environ: Mapping[str, str], *, now: float,
                   utc_offset: int | None, cwd: str, started: float | None = None, close_store: bool = True,
                   store_opener: Callable[[str], Store] | None = None,
                   on_ready: Callable[[Event, RuleSet, str], None] | None = None,
                   rules_loader: Callable[..., RuleSet] | None = None, keep_store: bool = False) -> Outcome:
    """Everything `policy eval` does except reading stdin, printing and sleeping.

    `close_store=False` is for a process that ends right after: closing the last connection to the store makes
    SQLite checkpoint the WAL into the database file (~3 ms, most of a warm run); the store is left instead
    (`Store.leave`), which checkpoints only once the WAL has grown past a bound. `on_ready(event, ruleset,
    db_path)` is called once the event is read and the rules are loaded, before anything slow: the watcher of
    `main` learns from it how to fail if the evaluation runs out of time. A resident evaluator (policy.server)
    passes `rules_loader` (its `RulesetMemo.load`), a `store_opener` returning the store it holds, and
    `keep_store=True` (the store stays open for the next event)."""
    from policy.adapters import get_adapter
    from policy.config import Request

    started = time.perf_counter() if started is None else started
    try:
        adapter = get_adapter(options.agent)
    except KeyError:
        from policy.adapters import ADAPTERS

        error = UsageError(f"unknown agent {options.agent!r}", hint="known: " + ", ".join(sorted(ADAPTERS)))
        return argument_failure(error, raw, options, environ, cwd=cwd)
    request = Request(config=options.config, rules=options.rules, db=options.db, cwd=cwd, environ=dict(environ))
    disabled = environ.get("POLICY_DISABLE") == "1"
    try:
        event = adapter.parse(raw, options.event)
    except InputError as error:
        if disabled:  # the kill switch holds whatever arrives
            return Outcome(HookOutput(), disabled=True)
        settings = _failure_settings(request, environ)
        return Outcome(adapter.render_failure(error, error.event_name, settings.fail_mode(error.event_name)),
                       error=error)
    except Exception as error:  # a bug in reading the payload: the fail mode of an event that could not be read
        if disabled:
            return Outcome(HookOutput(), disabled=True)
        failure = _internal(error, environ)
        return Outcome(adapter.render_failure(failure, None, _failure_settings(request, environ).fail_mode(None)),
                       error=failure)
    if disabled:
        if not options.dry_run:
            _log_disabled(event, request, options, environ, now=now, started=started)
        return Outcome(HookOutput(), event=event, disabled=True)

    ruleset: RuleSet | None = None
    store: Store | None = None
    try:
        from policy.cache import load_ruleset
        from policy.store import Store, default_path

        ruleset = (rules_loader or load_ruleset)(request, use_cache=environ.get("POLICY_NO_CACHE") != "1")
        db_path = options.db or ruleset.settings.db or default_path(environ)
        if on_ready is not None:
            on_ready(event, ruleset, db_path)
        store = (store_opener or Store.open)(db_path)
        return decide_event(adapter, event, raw, ruleset, store, options, environ, now=now, utc_offset=utc_offset,
                            started=started)
    except PolicyError as error:
        fallback = getattr(error, "fallback", None)
        if fallback is not None and store is None and fallback.settings.fail_mode(event.name) == "open":
            # An untrusted project's file does not load, and this event fails open: rather than switch every
            # rule off, the others run (a repository cannot turn the user's deny into an allow by breaking).
            return _decide_without_broken(adapter, event, raw, fallback, error, options, environ, now=now,
                                          utc_offset=utc_offset, started=started, close_store=close_store,
                                          store_opener=store_opener, keep_store=keep_store)
        return _failure(adapter, event, ruleset, store, error, options, request, now=now, started=started)
    except Exception as error:  # a bug: never a traceback on stdout, always a decision in the fail mode
        return _failure(adapter, event, ruleset, store, _internal(error, environ), options, request, now=now,
                        started=started)
    finally:
        if store is not None and not keep_store:
            store.close() if close_store else store.leave()


def _decide_without_broken(adapter: Any, event: Event, raw: bytes, ruleset: RuleSet, error: PolicyError,
                           options: Options, environ: Mapping[str, str], *, now: float, utc_offset: int | None,
                           started: float, close_store: bool, store_opener: Callable[[str], Store] | None,
                           keep_store: bool = False) -> Outcome:
    from policy.lean import replace
    from policy.store import Store, default_path

    store: Store | None = None
    try:
        store = (store_opener or Store.open)(options.db or ruleset.settings.db or default_path(environ))
        outcome = decide_event(adapter, event, raw, ruleset, store, options, environ, now=now,
                               utc_offset=utc_offset, started=started)
    except PolicyError as failure:
        return _failure(adapter, event, ruleset, store, failure, options, None, now=now, started=started)
    finally:
        if store is not None and not keep_store:
            store.close() if close_store else store.leave()
    if not outcome.output.stdout and not outcome.output.exit_code and outcome.error is None:
        # Nothing else to say: say that the project's rules are not enforced, as the open fail mode does.
        return replace(outcome, output=adapter.render_failure(error, event.name, "open"), error=error)
    note = f"policy: {error.one_line()} - the untrusted project's broken files are left out\n"
    return replace(outcome, output=replace(outcome.output, stderr=outcome.output.stderr + note))


def argument_failure(error: PolicyError, raw: bytes, options: Options, environ: Mapping[str, str], *,
                     cwd: str) -> Outcome:
    """The answer to an error in the hook's own arguments (a flag, --now, --agent, stdin past the ceiling): the
    event's fail mode, rendered for that event, as for any other failure. The event is parsed where it can be, or
    its name read from the payload's first bytes (the default host's adapter when --agent names none)."""
    from policy.adapters import ADAPTERS, DEFAULT, get_adapter
    from policy.config import Request

    if environ.get("POLICY_DISABLE") == "1":  # the kill switch holds whatever arrives
        return Outcome(HookOutput(), error=error, disabled=True)
    known = options.agent in ADAPTERS
    adapter = get_adapter(options.agent if known else DEFAULT)
    event: Event | None = None
    try:
        event = adapter.parse(raw, options.event if known else None)
        event_name: str | None = event.name
    except InputError as parse_error:
        event_name = parse_error.event_name or adapter.event_name_hint(raw)
    request = Request(config=options.config, rules=options.rules, db=options.db, cwd=cwd, environ=dict(environ))
    mode = _failure_settings(request, environ).fail_mode(event_name)
    return Outcome(adapter.render_failure(error, event_name, mode), event=event, error=error)


def decide_event(adapter: Any, event: Event, raw: bytes, ruleset: RuleSet, store: Store, options: Options,
                 environ: Mapping[str, str], *, now: float, utc_offset: int | None,
                 started: float | None = None) -> Outcome:
    """Decide on a parsed event with loaded rules and an open store: the part of `policy eval` that `policy test`
    runs for every scenario step."""
    started = time.perf_counter() if started is None else started
    try:
        if len(raw) > ruleset.settings.max_event_bytes:
            raise InputError(f"the hook payload is larger than {ruleset.settings.max_event_bytes} bytes",
                             hint="raise max_event_bytes in the config if such payloads are expected")
        return _decide(adapter, event, ruleset, store, options, environ, now=now, utc_offset=utc_offset,
                       started=started, raw=raw)
    except PolicyError as error:
        return _failure(adapter, event, ruleset, store, error, options, None, now=now, started=started)
    except Exception as error:  # a bug: never a traceback on stdout, always a decision in the fail mode
        return _failure(adapter, event, ruleset, store, _internal(error, environ), options, None, now=now,
                        started=started)


def _internal(error: Exception, environ: Mapping[str, str]) -> PolicyError:
    crash = _record_crash(environ)
    return PolicyError(f"internal error: {type(error).__name__}: {error}", code="internal-error",
                       hint=f"traceback in {crash}" if crash else "please report it")


def _decide(adapter: Any, event: Event, ruleset: RuleSet, store: Store, options: Options,
            environ: Mapping[str, str], *, now: float, utc_offset: int | None, started: float,
            raw: bytes) -> Outcome:
    """Evaluate, then apply the effects and log the decision under the write lock.

    No slow work holds the lock: the rules are evaluated first, in a read transaction (concurrent hooks keep
    writing meanwhile); then the write lock is taken, and if no other process committed anything since that
    read (SQLite's `data_version`), the decision stands as it is; otherwise it is evaluated again on the fresh
    facts, under the lock, so a claim is still decided and written atomically. The second evaluation is cheap:
    what is slow and pure (reading shell command lines) is memoised by the first."""
    from policy.boards import BoardOutage, ClaimContended
    from policy.effects import EffectContext, apply_effects, finish_effects
    from policy.engine import evaluate
    from policy.facts import FactContext, Facts
    from policy.lean import replace

    if event.name in STOP_EVENTS and not getattr(adapter, "SENDS_STOP_HOOK_ACTIVE", True):
        from policy.facts import previous_stop_continued
        from policy.lean import replace

        # a host that does not say whether this stop follows one policy kept working: the decision log does
        event = replace(event, stop_hook_active=previous_stop_continued(store, event))
    settings = ruleset.settings
    deadline = evaluation_deadline(hook_timeout(options, ruleset, event.name), started, settings.max_delay)
    context_facts = FactContext(store, event, now, settings, utc_offset, deadline)
    off = disabled_packs(ruleset, environ)
    if settings.sources:
        from policy.sources import refresh_for

        refresh_for(ruleset, event, store, now=now, disabled=off)
    if options.dry_run:
        decision = evaluate(ruleset, event, Facts(context_facts), now, utc_offset=utc_offset,
                            explain=options.explain, disabled_packs=off)
        return Outcome(adapter.render(decision, event, settings), decision, event)
    context = EffectContext(store, event, now, settings)
    version = store.begin_read()
    try:
        decision = evaluate(ruleset, event, Facts(context_facts), now, utc_offset=utc_offset,
                            explain=options.explain, disabled_packs=off)
    finally:
        store.rollback()
    store.begin(timeout=deadline - time.perf_counter())
    try:
        if store.data_version() != version:
            decision = evaluate(ruleset, event, Facts(context_facts), now, utc_offset=utc_offset,
                                explain=options.explain, disabled_packs=off)
        try:
            results = apply_effects(decision.effects, context)
        except ClaimContended:
            # Another session took a label on the shared board since it was read: evaluate again on the fresh
            # board (the presence rules then see the holder), as a changed local store is evaluated again above.
            store.rollback()
            store.begin(timeout=deadline - time.perf_counter())
            decision = evaluate(ruleset, event, Facts(context_facts), now, utc_offset=utc_offset,
                                explain=options.explain, disabled_packs=off)
            context = replace(context, retried=True)
            decision, results = _apply_on_board(decision, context, store, deadline)
        except BoardOutage as outage:
            store.rollback()
            store.begin(timeout=deadline - time.perf_counter())
            decision, results = _outage_answer(decision, outage, replace(context, outage=outage))
        row_id = log_decision(store, event, decision, ruleset, now=now, started=started, effects=results, raw=raw)
        _stop_if_orphaned()
        store.commit()
    except BaseException:
        store.rollback()
        raise
    # Work that must not hold the write lock (the `run` effect's commands), then its results into the log row;
    # work that must not hold the answer (the `http` effect's requests) is queued for `after_answer`.
    if options.after_commit and decision.effects and not _orphaned():
        if finish_effects(decision.effects, results, context):
            _update_logged_effects(store, row_id, results)
        from policy.effects import waits_for_answer

        if waits_for_answer(decision.effects):
            _AFTER_ANSWER.append((decision.effects, results, context, row_id, deadline))
    return Outcome(adapter.render(decision, event, settings), decision, event, tuple(results))


# Effects whose work waits until the answer is out (the `http` effect's requests): queued once their decision is
# committed, done by whoever wrote the answer (the hook process, its watched evaluator, the resident server).
_AFTER_ANSWER: list[tuple[Any, list[dict[str, Any]], Any, int, float]] = []


def after_answer() -> None:
    """Once the answer is written: the queued effects' work, each bounded by its evaluation's deadline (past it
    the evaluator is ended anyway: docs/security.md#the-deadline), and their results into the decision log."""
    while _AFTER_ANSWER:
        effects, results, context, row_id, deadline = _AFTER_ANSWER.pop(0)
        from policy.effects import after_answer_effects

        if not after_answer_effects(effects, results, context, deadline):
            continue
        from policy.store import Store

        try:  # a store of its own: the evaluation's may be closed or left by now
            with Store.open(context.store.path) as store:
                _update_logged_effects(store, row_id, results)
        except PolicyError as error:
            sys.stderr.write(f"policy: could not log the effects' results: {error.one_line()}\n")


def _apply_on_board(decision: Decision, context: Any, store: Store, deadline: float) -> tuple[Decision, list[Any]]:
    """Apply the effects of a decision evaluated again after a lost claim (`context.retried`: a claim lost again is
    recorded, not retried); a shared store that stops answering meanwhile is answered as an outage."""
    from policy.boards import BoardOutage
    from policy.effects import apply_effects
    from policy.lean import replace

    try:
        return decision, apply_effects(decision.effects, context)
    except BoardOutage as outage:
        store.rollback()
        store.begin(timeout=deadline - time.perf_counter())
        return _outage_answer(decision, outage, replace(context, outage=outage))


# Where an outage of the shared store turns a claim's decision into `ask`: the events whose answer lets a tool run.
OUTAGE_ASK_EVENTS = frozenset({"PreToolUse", "PermissionRequest"})


def _outage_answer(decision: Decision, outage: PolicyError, context: Any) -> tuple[Decision, list[Any]]:
    """The decision when the shared store did not answer while a claim was being taken (docs/team.md#outages):
    with `on_outage: fail`, the event's fail mode (the error goes on); else, on an event whose answer lets a tool
    run, at least `ask`, the reason naming the outage (a deny or defer stays as it is: nothing becomes weaker).
    The effects are applied again with the outage known: the board's say what they did not write, the others
    (local facts) are written as usual."""
    from policy.effects import apply_effects
    from policy.lean import replace
    from policy.model import VERDICT_RANK

    if context.settings.shared_on_outage == "fail":
        raise outage
    if decision.event_name in OUTAGE_ASK_EVENTS and \
            VERDICT_RANK.get(decision.verdict or "", 0) < VERDICT_RANK["ask"]:
        why = (f"policy could not claim what this changes: {outage.message}. Other machines' claims cannot be "
               "seen or taken until it answers again; go ahead only if you know nobody else is working on it.")
        decision = replace(decision, verdict="ask", reason=why if not decision.reason else f"{decision.reason}\n{why}")
    return decision, apply_effects(decision.effects, context)


def _update_logged_effects(store: Store, row_id: int, results: list[dict[str, Any]]) -> None:
    from policy.lean import json_dumps

    try:
        with store.transaction():
            store.execute("UPDATE decisions SET effects = ? WHERE id = ?", (json_dumps(results), row_id))
    except PolicyError as error:  # the decision stands; only its log entry keeps the queued results
        sys.stderr.write(f"policy: could not log the effects' results: {error.one_line()}\n")


def _log_disabled(event: Event, request: Any, options: Options, environ: Mapping[str, str], *, now: float,
                  started: float) -> None:
    """Say in the decision log that POLICY_DISABLE=1 let this event through. Best effort: the kill switch must
    work when the rules do not compile or the store cannot be opened, which is when it is needed most."""
    from policy.store import Store, default_path

    ruleset: RuleSet | None = None
    try:
        from policy.cache import load_ruleset

        ruleset = load_ruleset(request, use_cache=environ.get("POLICY_NO_CACHE") != "1")
    except Exception:
        pass
    try:
        settings_db = ruleset.settings.db if ruleset is not None else None
        store = Store.open(options.db or settings_db or default_path(environ))
    except Exception:
        return
    try:
        with store.transaction():
            log_decision(store, event, None, ruleset, now=now, started=started,
                         error="POLICY_DISABLE=1: no rules evaluated")
    except Exception:
        pass
    finally:
        store.close()


def _failure_settings(request: Any, environ: Mapping[str, str]) -> Settings:
    """The settings whose fail mode applies when no ruleset could be used: the configuration's, if it can be
    read even though the rules (or the event) cannot; the defaults otherwise."""
    from policy.model import Settings

    try:
        from policy.cache import load_ruleset

        return load_ruleset(request, use_cache=environ.get("POLICY_NO_CACHE") != "1").settings
    except Exception:
        pass
    try:
        from policy.layering import resolve

        return resolve(request).settings
    except Exception:
        return Settings()


def _failure(adapter: Any, event: Event, ruleset: RuleSet | None, store: Store | None, error: PolicyError,
             options: Options, request: Any, *, now: float, started: float) -> Outcome:
    # Rules that cannot be loaded still fail the way the config says, when the config itself could be read.
    if ruleset is not None:
        settings = ruleset.settings
    elif getattr(error, "settings", None) is not None:
        settings = error.settings  # type: ignore[attr-defined]
    else:
        from policy.model import Settings

        settings = _failure_settings(request, request.environ) if request is not None else Settings()
    # The failed attempt is logged too, best effort, waiting a moment at most for the write lock: a store that
    # stayed locked for the whole busy timeout is not waited for twice.
    if store is not None and not options.dry_run and error.code not in ("db-locked", "killed"):
        _log_failure(store, event, ruleset, error, now=now, started=started)
    return Outcome(adapter.render_failure(error, event.name, settings.fail_mode(event.name)), event=event,
                   error=error)


def _log_failure(store: Store, event: Event, ruleset: RuleSet | None, error: PolicyError, *, now: float,
                 started: float) -> None:
    """Log a failed evaluation, best effort, waiting FAILURE_LOG_WAIT at most for the write lock."""
    try:
        with store.transaction(timeout=FAILURE_LOG_WAIT):
            log_decision(store, event, None, ruleset, now=now, started=started,
                         error=f"{error.code}: {error.message}")
    except Exception:
        pass


def _record_crash(environ: Mapping[str, str]) -> str | None:
    import traceback

    from policy.store import state_dir

    path = os.path.join(state_dir(environ), "crash.log")
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n{traceback.format_exc()}\n")
    except OSError:
        return None
    return path


def main(argv: list[str] | None = None, *, exiting: bool = False, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None, stderr: BinaryIO | None = None, environ: Mapping[str, str] | None = None,
         clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
         started: float | None = None) -> int:
    """Run `policy eval` and return the exit code (`exiting`: the process ends right after; see evaluate_event)."""
    started = time.perf_counter() if started is None else started
    argv = sys.argv[2:] if argv is None else argv
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    stderr = stderr or sys.stderr.buffer
    environ = os.environ if environ is None else environ
    options, problem, now, offset = read_arguments(argv, clock())
    if options.help and problem is None:
        from policy.adapters import ADAPTERS

        stdout.write(HELP.replace("{agents}", ", ".join(ADAPTERS)).encode())
        return 0
    if problem is not None and stdin.isatty():  # a person at a terminal, not a hook: no event is coming
        stderr.write(f"policy: {problem.one_line()}\n".encode())
        return 2
    raw, too_large = read_event(stdin, MAX_EVENT_BYTES_CEILING)
    out, err, code, delay, timeout = answer_event(
        raw, options, problem or too_large, environ, now=now, utc_offset=offset, started=started, cwd=os.getcwd(),
        watched=exiting and hasattr(os, "fork") and environ.get("POLICY_NO_WATCHDOG") != "1", exiting=exiting)
    stdout.write(out)
    stderr.write(err)
    stdout.flush()
    stderr.flush()
    answered = time.perf_counter()
    after_answer()  # (without the watchdog; a watched evaluator does it itself, after handing the answer over)
    delay -= time.perf_counter() - answered
    if delay > 0:  # slept after the answer, and never past the host's timeout
        sleep(min(delay, max(0.0, answer_deadline(timeout, started) - time.perf_counter())))
    return code


def read_arguments(argv: list[str], now: float) -> tuple[Options, PolicyError | None, float, int | None]:
    """`policy eval`'s flags: (options, the error in them or None, now, the UTC offset --now gives or None)."""
    offset = None
    try:
        options = parse_options(argv)
        if options.now and not options.help:
            from policy.times import parse_iso

            now, offset = parse_iso(options.now, what="--now")
    except PolicyError as error:
        return parse_options(argv, strict=False), error, now, offset
    return options, None, now, offset


def answer_event(raw: bytes, options: Options, problem: PolicyError | None, environ: Mapping[str, str], *,
                 now: float, utc_offset: int | None, started: float, cwd: str, watched: bool = False,
                 exiting: bool = False, **evaluation: Any) -> tuple[bytes, bytes, int, float, float]:
    """What `policy eval` answers to the event `raw`: (stdout, stderr, exit code, the delay to sleep after the
    answer, the hook's timeout that bounds that sleep). One function for the hook process (`watched`: in a forked
    child, see the watchdog below) and the resident evaluator (policy.server, which passes `evaluation`: its
    rules loader, held store and `on_ready`), so that both answer byte for byte alike."""
    timeout = options.timeout if options.timeout is not None else DEFAULT_HOOK_TIMEOUT
    if problem is not None:
        return (*_rendered(argument_failure(problem, raw, options, environ, cwd=cwd), options), timeout)
    if watched:
        return _watched(raw, options, environ, now=now, utc_offset=utc_offset, started=started)
    learned: list[float] = []
    notify = evaluation.pop("on_ready", None)

    def ready(event: Event, ruleset: RuleSet, db_path: str) -> None:
        learned.append(hook_timeout(options, ruleset, event.name))
        if notify is not None:
            notify(event, ruleset, db_path)

    outcome = evaluate_event(raw, options, environ, now=now, utc_offset=utc_offset, cwd=cwd, started=started,
                             close_store=not exiting, on_ready=ready, **evaluation)
    return (*_rendered(outcome, options), learned[0] if learned else timeout)


def _rendered(outcome: Outcome, options: Options) -> tuple[bytes, bytes, int, float]:
    """What `policy eval` writes for an outcome: (stdout, stderr, exit code, the delay to sleep after)."""
    # (text from rule files can hold lone surrogates too, e.g. a YAML "\\ud800" escape: "?" rather than no answer)
    out = err = b""
    if options.format == "json":
        from policy.lean import json_dumps

        from policy.report import eval_json

        out = (json_dumps(eval_json(outcome, dry_run=options.dry_run, explain=options.explain),
                          spaced=True) + "\n").encode(errors="replace")
    elif outcome.output.stdout:
        out = outcome.output.stdout.encode(errors="replace")
    if outcome.output.stderr:
        err = outcome.output.stderr.encode(errors="replace")
    if options.explain and options.format != "json":
        from policy.report import explain_text

        err += explain_text(outcome.decision).encode(errors="replace")
    if options.dry_run and outcome.decision is not None and options.format != "json":
        from policy.report import dry_run_text

        err += dry_run_text(outcome.decision).encode(errors="replace")
    final = outcome.decision
    delay = final.delay if final is not None and not options.dry_run and outcome.output.exit_code == 0 else 0.0
    return out, err, outcome.output.exit_code if options.format != "json" else 0, delay


# ---- the watchdog ------------------------------------------------------------------------------------------------
# A thread cannot interrupt one long C call that holds the GIL (a big-integer operation, a regex backtracking,
# one SQLite function call), so the evaluation runs in a forked child and this process, which holds nothing,
# waits for its answer until the deadline. The child first says how to fail (the event, its fail mode, the
# evaluation's deadline, from the loaded settings), then sends the answer; past the deadline, or if the child
# dies, it is killed and the answer is the fail mode. docs/security.md#the-deadline has the design.

def _watched(raw: bytes, options: Options, environ: Mapping[str, str], *, now: float, utc_offset: int | None,
             started: float) -> tuple[bytes, bytes, int, float, float]:
    """(stdout, stderr, exit code, delay, the hook's timeout) of an evaluation in a watched child."""
    import marshal

    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the evaluator
        global _WATCHER
        _WATCHER = os.getppid()
        os.close(reader)
        # The answer goes through the watcher, and the host waits for the end of our stdout: the child lets go of
        # stdout, so that the watcher can exit as soon as it has answered, not after the child. (It keeps stderr,
        # for what it reports besides the answer; it exits right after sending the answer.)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
        try:
            def ready(event: Event, ruleset: RuleSet, db_path: str) -> None:
                timeout = hook_timeout(options, ruleset, event.name)
                deadline = evaluation_deadline(timeout, started, ruleset.settings.max_delay)
                # Should the watcher itself be killed (by the host), nothing would stop a child stuck in one C
                # call: the kernel does, half a second past the deadline (SIGALRM's default action ends it).
                import _signal

                _signal.setitimer(_signal.ITIMER_REAL, max(0.0, deadline - time.perf_counter()) + 0.5)
                _send(writer, ("ready", event.name, ruleset.settings.fail_mode(event.name), deadline, db_path,
                               event.agent_session, event.tool, timeout))

            outcome = evaluate_event(raw, options, environ, now=now, utc_offset=utc_offset, cwd=os.getcwd(),
                                     started=started, close_store=False, on_ready=ready)
            _send(writer, ("answer", *_rendered(outcome, options)))
            if _AFTER_ANSWER:  # the watcher writes the answer and ends; the host must not wait for this process
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
                after_answer()
        except BaseException as error:  # noqa: BLE001 - the watcher answers in the fail mode
            try:
                _record_crash(environ)
                _send(writer, ("crash", f"{type(error).__name__}: {error}"))
            except BaseException:
                pass
        finally:
            os._exit(0)
    os.close(writer)
    ready_message: tuple[Any, ...] | None = None
    timeout = options.timeout if options.timeout is not None else DEFAULT_HOOK_TIMEOUT
    deadline = answer_deadline(timeout, started)
    buffer = b""
    message: tuple[Any, ...] | None = None
    try:
        import select

        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([reader], [], [], left)[0]:
                break
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:4], "little"):
                size = int.from_bytes(buffer[:4], "little")
                message = marshal.loads(buffer[4:4 + size])
                buffer = buffer[4 + size:]
                if message[0] == "ready":
                    ready_message = message
                    timeout = message[7]
                    deadline = message[3]
            if message is not None and message[0] in ("answer", "crash"):
                break
    finally:
        os.close(reader)
    if message is not None and message[0] == "answer":
        return message[1], message[2], message[3], message[4], timeout  # (it exits by itself, unwaited for)
    import signal

    try:
        os.kill(child, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(child, 0)
    if message is not None and message[0] == "crash":
        error = PolicyError(f"internal error: {message[1]}", code="internal-error", hint="please report it")
    elif ready_message is None and time.perf_counter() < deadline:
        error = PolicyError("the evaluation ended without an answer", code="internal-error",
                            hint="please report it")
    else:
        error = deadline_error(timeout)
    return (*_watchdog_failure(error, ready_message, options, now=now, started=started), timeout)


_WATCHER: int | None = None  # in a watched evaluator: the watcher's pid
# In a resident evaluator (policy.server): whether the client that sent the event is gone.
_CLIENT_GONE: Callable[[], bool] | None = None


def watch_client(gone: Callable[[], bool] | None) -> None:
    """Let `gone()` say, for the event being decided, that whoever waits for its answer has gone away (a
    resident evaluator's client, killed by the host): then, as for a hook process whose watcher was killed,
    nothing is committed or run."""
    global _CLIENT_GONE
    _CLIENT_GONE = gone


def _orphaned() -> bool:
    """Whether this is a watched evaluator whose watcher is gone (or a resident evaluator whose client is): the
    host killed the hook (at its timeout, say) and decided without it, so nothing more may be written or run."""
    if _CLIENT_GONE is not None and _CLIENT_GONE():
        return True
    return _WATCHER is not None and os.getppid() != _WATCHER


def _stop_if_orphaned() -> None:
    if _orphaned():
        raise PolicyError("the hook process was killed", code="killed", hint="nothing was written")


def _send(descriptor: int, message: tuple[Any, ...]) -> None:
    import marshal

    data = marshal.dumps(message)
    data = len(data).to_bytes(4, "little") + data
    while data:
        data = data[os.write(descriptor, data):]


def _watchdog_failure(error: PolicyError, ready: tuple[Any, ...] | None, options: Options, *, now: float,
                      started: float) -> tuple[bytes, bytes, int, float]:
    """The fail-mode answer when the evaluator gave none: the event's fail mode if the child got as far as
    saying it, else closed (as for a payload that cannot be read). The attempt is logged, best effort."""
    from policy.adapters import get_adapter

    event_name, mode = (ready[1], ready[2]) if ready is not None else (None, "closed")
    output = get_adapter(options.agent).render_failure(error, event_name, mode)
    if ready is not None and not options.dry_run:
        _log_watchdog_failure(error, ready, options, now=now, started=started)
    return output.stdout.encode(errors="replace"), output.stderr.encode(errors="replace"), output.exit_code, 0.0


def _log_watchdog_failure(error: PolicyError, ready: tuple[Any, ...], options: Options, *, now: float,
                          started: float) -> None:
    from policy.model import Event

    try:
        from policy.store import Store

        store = Store.open(ready[4], migrate=False)
    except Exception:
        return
    try:
        event = Event(host=options.agent, name=ready[1], agent_session=ready[5], tool=ready[6])
        _log_failure(store, event, None, error, now=now, started=started)
    finally:
        store.leave()


def run(argv: list[str], *, stdin: BinaryIO | None = None, started: float | None = None,
        after: Callable[[], None] | None = None) -> None:
    """The hook process: run `main`, then exit without interpreter teardown.

    Tearing down ~100 loaded modules and their objects costs a third of a warm hook's time; by the time `main`
    returns the store is closed and nothing else is buffered, so the streams are flushed and the process ends.
    The hook client (policy/client.py) passes the event it has read already (`stdin`), when it started, and what
    to do once the answer is out (`after`: start a server for the next event).
    """
    try:
        code = main(argv, exiting=True, stdin=stdin, started=started)
    except BaseException as error:  # main handles everything it can; this is the last line of defence
        try:
            sys.stderr.write(f"policy: internal error: {type(error).__name__}: {error}\n")
        finally:
            code = 2
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        if after is not None:
            after()
    except BaseException:
        pass
    finally:
        os._exit(code)
