"""Fact sources (SPEC §4): facts refreshed from outside, by running a command, GETting a URL or reading a file.

One module per kind (`command`, `http`, `file`), each with `fetch(spec, job) -> bytes`. What they share lives here:
a TTL cache in the `source_cache` table, a circuit breaker, a timeout, the fallback to the last known value
(marked stale), the formats (JSON, YAML, Markdown checklist, Claude usage), and feeding the value into the facts
(`usage` samples, or `kv` keys).

A refresh: (1) read the cache rows, no lock; (2) pick the sources that are due: older than their ttl (a file:
changed on disk), breaker closed; (3) claim them in a short write transaction (`attempted_at`), so that when many
hooks fire at once only one of them fetches, and each source is tried at most once per timeout; (4) fetch them
all at once in threads and wait at most each one's timeout: the write lock is never held while fetching;
(5) record the outcomes and feed the facts in one short write transaction. A source failing `breaker_failures`
times in a row opens its breaker: no attempts, the last value stays, stale. It stays open `breaker_cooldown`
seconds, doubled each time it opens again (up to `breaker_max_cooldown`), with jitter, and at least as long as an
HTTP 429/503's `Retry-After` says. With `max_stale`, the last value is gone `ttl + max_stale` after it was fetched.
Nothing here is imported unless a configured source is reachable from the event's rules; the kind modules and
their imports (urllib, subprocess, threading, yaml) load only when a source is actually fetched.
"""

from __future__ import annotations

import time

from policy.errors import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Event, Rule, RuleSet, SourceSpec
    from policy.store import Store
else:
    from policy.lean import dataclass

KINDS = ("command", "http", "file")
MAX_BYTES = 1 << 20  # the largest value a source may return
MAX_CHECKLIST_ITEMS = 50
MAX_ITEM_CHARS = 200
# Each hook reads the clock once, when it starts, so a slower process may see another's fresh fetch or claim
# a little in its future. Only a time further ahead than this means the clock moved back (or a `--now` run).
CLOCK_SLACK = 300.0
MAX_RETRY_AFTER = 86400.0  # a server's Retry-After is honoured up to a day (a longer one is a server's mistake)


class SourceError(Exception):
    """A source could not give a value; the message says why, in one line, without secrets. `retry_after`: the
    seconds the server asked us to wait (HTTP 429/503 `Retry-After`), if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def backoff(spec: SourceSpec, failures: int, *, draw: Callable[[], float] | None = None) -> float | None:
    """Seconds the breaker stays open after `failures` failures in a row (None: it does not open yet):
    `breaker_cooldown` doubled for each failure past `breaker_failures`, at most `breaker_max_cooldown`, then a
    random share of it between half and all (jitter, so that many machines that failed at once do not retry at
    once). `draw` gives a number in [0, 1) (random.random when None)."""
    if failures < spec.breaker_failures:
        return None
    longest = min(spec.breaker_max_cooldown, spec.breaker_cooldown * 2.0 ** min(failures - spec.breaker_failures, 40))
    if draw is None:
        import random

        draw = random.random
    return longest * (0.5 + draw() / 2)


def value_ttl(spec: SourceSpec) -> float | None:
    """How long a fed value lives after a good fetch: `ttl + max_stale` (a file's: `max_stale` after it was read,
    since it is read again only when it changes); None without `max_stale`."""
    if spec.max_stale is None:
        return None
    return spec.max_stale + (0.0 if spec.kind == "file" else spec.ttl)


@dataclass(frozen=True, slots=True)
class SourceState:
    """A `source_cache` row."""

    source: str
    value: str | None = None  # the last good value, as JSON
    fetched_at: float | None = None
    failures: int = 0
    last_error: str | None = None
    open_until: float | None = None
    attempted_at: float | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a refresh did with one source. `status`: fresh (cached value still good), ok (fetched), failed,
    open (breaker open: not tried), busy (another process is fetching it right now)."""

    source: str
    status: str
    detail: str = ""
    failures: int = 0
    open_until: float | None = None
    seconds: float = 0.0


# ---- which sources an event needs -----------------------------------------------------------------------------

def fed_family(feeds: str) -> str:
    """The fact family a source's values land in: `usage`, or `kv` for `kv:<prefix>`."""
    return "kv" if feeds.startswith("kv:") else feeds


def rule_facts(rule: Rule) -> set[str]:
    """The facts (`usage`, `kv`, a pack's SQL fact, ...) any expression of `rule` reaches."""
    return {fact for expr in rule.expressions() for fact in expr.facts}


def needed_sources(ruleset: RuleSet, event_name: str, disabled: frozenset[str] = frozenset()) -> tuple[SourceSpec, ...]:
    """The configured sources whose facts a rule for this event can reach (rules of disabled packs don't count)."""
    sources = ruleset.settings.sources
    if not sources:
        return ()
    reached: set[str] = set()
    for rule in ruleset.rules_for(event_name):
        if rule.enabled and rule.pack not in disabled:
            reached |= rule_facts(rule)
    return tuple(spec for spec in sources if fed_family(spec.feeds) in reached)


def refresh_for(ruleset: RuleSet, event: Event, store: Store, *, now: float,
                disabled: frozenset[str] = frozenset()) -> list[Outcome]:
    """Before an evaluation (outside its transaction): refresh the sources this event's rules can reach.

    A source's failure is recorded on the source (and its facts marked stale), never raised; a fact store that
    cannot be written only means the cached values are used as they are.
    """
    specs = needed_sources(ruleset, event.name, disabled)
    if not specs:
        return []
    try:
        return refresh(store, specs, now=now)
    except PolicyError:
        return []


# ---- the cache and the breaker -------------------------------------------------------------------------------

def load_states(store: Store, names: list[str]) -> dict[str, SourceState]:
    if not names:
        return {}
    marks = ", ".join("?" for _ in names)
    return {row[0]: SourceState(*row) for row in store.execute(
        "SELECT source, value, fetched_at, failures, last_error, open_until, attempted_at, etag FROM source_cache "
        f"WHERE source IN ({marks})", names)}


def _signature(spec: SourceSpec) -> str | None:
    if spec.kind != "file":
        return None
    from policy.sources.file import signature

    return signature(spec)


def _skip(spec: SourceSpec, state: SourceState | None, now: float, signature: str | None) -> Outcome | None:
    """Why `spec` need not (or must not) be fetched now, or None when it is due."""
    if state is None:
        return None
    if spec.kind == "file":
        # The same bytes give the same value (or the same error): a file is read again only when it changes.
        return Outcome(spec.name, "fresh", failures=state.failures) if state.etag == signature else None
    if state.open_until is not None and now < state.open_until:
        return Outcome(spec.name, "open", state.last_error or "", state.failures, state.open_until)
    if state.fetched_at is not None and state.failures == 0 and -CLOCK_SLACK <= now - state.fetched_at < spec.ttl:
        return Outcome(spec.name, "fresh")
    return None


def _claim(store: Store, specs: list[SourceSpec], now: float, force: bool) -> list[SourceSpec]:
    """Take the due sources for this process: those nobody started fetching within their timeout."""
    claimed = []
    with store.transaction():
        for spec in specs:
            store.execute("INSERT INTO source_cache(source, failures) VALUES (?, 0) ON CONFLICT(source) DO NOTHING",
                          (spec.name,))
            if spec.kind == "file" or force:
                store.execute("UPDATE source_cache SET attempted_at = ? WHERE source = ?", (now, spec.name))
                claimed.append(spec)
                continue
            # Taken unless another process started an attempt within the timeout that has not ended in a good
            # value yet (a fetch that succeeded ends its attempt: a ttl of 0 fetches on every hook).
            cursor = store.execute(
                "UPDATE source_cache SET attempted_at = ? WHERE source = ? AND (attempted_at IS NULL OR "
                "attempted_at <= ? OR attempted_at > ? OR attempted_at <= fetched_at)",
                (now, spec.name, now - spec.timeout, now + CLOCK_SLACK))
            if cursor.rowcount:
                claimed.append(spec)
    return claimed


def refresh(store: Store, specs: tuple[SourceSpec, ...] | list[SourceSpec], *, now: float,
            force: bool = False) -> list[Outcome]:
    """Refresh the sources that are due (with `force`: all of them, breaker or not). One Outcome per source."""
    states = load_states(store, [spec.name for spec in specs])
    outcomes: dict[str, Outcome] = {}
    due: list[SourceSpec] = []
    signatures: dict[str, str | None] = {}
    for spec in specs:
        signatures[spec.name] = _signature(spec)
        skipped = None if force else _skip(spec, states.get(spec.name), now, signatures[spec.name])
        if skipped is not None:
            outcomes[spec.name] = skipped
        else:
            due.append(spec)
    if due:
        claimed = _claim(store, due, now, force)
        for spec in due:
            if spec not in claimed:
                outcomes[spec.name] = Outcome(spec.name, "busy", "another process is fetching it")
        if claimed:
            results = fetch_all(claimed)
            with store.transaction():
                for spec in claimed:
                    outcomes[spec.name] = _record(store, spec, results[spec.name], now, signatures[spec.name])
    return [outcomes[spec.name] for spec in specs]


def _record(store: Store, spec: SourceSpec, result: Job, now: float, signature: str | None) -> Outcome:
    from policy.lean import json_dumps

    if result.error is None:
        store.execute("UPDATE source_cache SET value = ?, fetched_at = ?, failures = 0, last_error = NULL, "
                      "open_until = NULL, etag = ? WHERE source = ?",
                      (json_dumps(result.value), now, signature, spec.name))
        feed(store, spec, result.value, now=now)
        return Outcome(spec.name, "ok", describe_value(spec, result.value), seconds=result.seconds)
    failures = int(store.execute("SELECT failures FROM source_cache WHERE source = ?", (spec.name,)).fetchone()[0]) + 1
    open_until = None
    if spec.kind != "file":  # a file is retried only when it changes, so it needs no breaker
        wait = backoff(spec, failures)
        if result.retry_after is not None:
            wait = max(wait or 0.0, min(MAX_RETRY_AFTER, result.retry_after))
        open_until = None if wait is None else now + wait
    store.execute("UPDATE source_cache SET failures = ?, last_error = ?, open_until = ?, etag = ? WHERE source = ?",
                  (failures, result.error, open_until, signature, spec.name))
    mark_stale(store, spec, now=now)
    return Outcome(spec.name, "failed", result.error, failures, open_until, result.seconds)


# ---- fetching -------------------------------------------------------------------------------------------------

class Job:
    """One fetch, run in a thread: its deadline, what to do if it is abandoned, and its result."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.started = time.monotonic()
        self.deadline = self.started + spec.timeout
        self.value: Any = None
        self.error: str | None = "did not finish"
        self.retry_after: float | None = None
        self.seconds = 0.0
        self._on_cancel: list[Callable[[], None]] = []

    def remaining(self) -> float:
        """Seconds left before the deadline (never quite 0, so that a timeout argument stays valid)."""
        return max(0.01, self.deadline - time.monotonic())

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run `callback` if the fetch is abandoned at its deadline (e.g. kill the command)."""
        self._on_cancel.append(callback)

    def cancel(self) -> None:
        for callback in self._on_cancel:
            try:
                callback()
            except Exception:  # cleaning up after a timeout must not fail the refresh
                pass

    def run(self) -> None:
        try:
            module = __import__(f"policy.sources.{self.spec.kind}", fromlist=["fetch"])
            raw = module.fetch(self.spec, self)
            self.value = decode(self.spec, raw)
            self.error = None
        except SourceError as error:
            self.error = str(error)
            self.retry_after = error.retry_after
        except Exception as error:  # a fetch must end in a recorded failure, whatever went wrong
            self.error = f"{type(error).__name__}: {error}"
        self.seconds = time.monotonic() - self.started


def fetch_all(specs: list[SourceSpec]) -> dict[str, Job]:
    """Fetch every source at once; wait for each at most until its deadline (abandoned fetches are cancelled)."""
    import threading

    jobs = [Job(spec) for spec in specs]
    threads = [threading.Thread(target=job.run, name=f"policy-source-{job.spec.name}", daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    results: dict[str, Job] = {}
    for job, thread in zip(jobs, threads):
        thread.join(max(0.0, job.deadline - time.monotonic()))
        if thread.is_alive():
            job.cancel()
            # A new record: the abandoned thread may still write to `job` while the outcome is recorded.
            abandoned = Job(job.spec)
            abandoned.error = f"timed out after {job.spec.timeout:g}s"
            abandoned.seconds = time.monotonic() - job.started
            results[job.spec.name] = abandoned
        else:
            results[job.spec.name] = job
    return results


# ---- formats --------------------------------------------------------------------------------------------------

def source_format(spec: SourceSpec) -> str:
    """The configured format, else: a file's by its extension (.md → checklist, .yaml → yaml), else json."""
    return format_for(spec.kind, spec.options)


def format_for(kind: str | None, options: dict[str, Any]) -> str:
    """`source_format` of a source's configuration (kind and options as written in the config file)."""
    configured = options.get("format")
    if configured:
        return str(configured)
    if kind == "file":
        path = str(options.get("path", "")).lower()
        if path.endswith((".md", ".markdown", ".txt")):
            return "checklist"
        if path.endswith((".yaml", ".yml")):
            return "yaml"
    return "json"


def decode(spec: SourceSpec, raw: bytes | None) -> Any:
    """The value of a fetched document, checked against what the source feeds. Raises SourceError."""
    kind = source_format(spec)
    if raw is None:  # a file that does not exist: an empty checklist, or an error for data files
        if kind == "checklist":
            return {**parse_checklist("", exists=False), "path": str(spec.options.get("path"))}
        raise SourceError(f"{spec.options.get('path')} does not exist")
    if len(raw) > MAX_BYTES:
        raise SourceError(f"the value is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError("the value is not UTF-8 text") from None
    if kind == "checklist":
        value: Any = parse_checklist(text)
        if spec.kind == "file":
            value["path"] = str(spec.options["path"])
    elif kind == "yaml":
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SourceError(f"malformed YAML: {str(error).splitlines()[0]}") from None
    else:
        from policy.lean import json_loads

        try:
            value = json_loads(text)
        except ValueError as error:
            raise SourceError(f"malformed JSON: {error}") from None
    if kind == "claude-usage" or spec.feeds == "usage":
        from policy.facts.usage import parse_usage_response

        try:
            parse_usage_response(value)
        except ValueError as error:
            raise SourceError(f"unexpected usage response: {error}") from None
    return value


def parse_checklist(text: str, *, exists: bool = True) -> dict[str, Any]:
    """A Markdown checklist: `- [ ] open` and `- [x] done` items (also `*`, `+`, `1.`), outside code fences.

    Returns {open, done, total, open_items (the first 50, each at most 200 characters), exists}.
    """
    open_items: list[str] = []
    done = 0
    fence = ""
    for line in text.splitlines():
        body = line.strip()
        if body.startswith(("```", "~~~")):
            fence = "" if fence and body.startswith(fence) else (fence or body[:3])
            continue
        if fence:
            continue
        if body[:2] in ("- ", "* ", "+ "):
            body = body[2:].lstrip()
        else:
            digits = len(body) - len(body.lstrip("0123456789"))
            if not digits or body[digits:digits + 2] not in (". ", ") "):
                continue
            body = body[digits + 2:].lstrip()
        if len(body) < 3 or body[0] != "[" or body[2] != "]" or body[3:4] not in ("", " ", "\t"):
            continue
        if body[1] == " ":
            item = body[3:].strip()
            open_items.append(item if len(item) <= MAX_ITEM_CHARS else item[:MAX_ITEM_CHARS - 1] + "…")
        elif body[1] in "xX":
            done += 1
    return {"open": len(open_items), "done": done, "total": len(open_items) + done,
            "open_items": open_items[:MAX_CHECKLIST_ITEMS], "exists": exists}


def describe_value(spec: SourceSpec, value: Any) -> str:
    """A short summary of a fetched value, for `policy usage refresh`."""
    if spec.feeds == "usage":
        from policy.facts.usage import parse_usage_response

        return ", ".join(f"{window} {utilization:g}%" for window, utilization, _ in parse_usage_response(value))
    if source_format(spec) == "checklist" and isinstance(value, dict):
        return f"{value['open']} open, {value['done']} done" + ("" if value["exists"] else " (no such file)")
    if isinstance(value, dict):
        return f"{len(value)} key{'s' * (len(value) != 1)}"
    return type(value).__name__


# ---- feeding the facts ----------------------------------------------------------------------------------------

def feed(store: Store, spec: SourceSpec, value: Any, *, now: float) -> None:
    """Write a fetched value where rules read it (inside the caller's transaction).

    `usage`: a sample per window of the Claude usage shape. `kv:<prefix>`: each key of a mapping as
    `<prefix>.<key>` (keys under the prefix that are gone are deleted), anything else as `<prefix>`; and
    `<prefix>.stale` = false. With `max_stale`, the kv keys expire (`value_ttl`).
    """
    if spec.feeds == "usage":
        from policy.facts.usage import parse_usage_response, record_sample

        for window, utilization, resets_at in parse_usage_response(value):
            record_sample(store, utilization=utilization, resets_at=resets_at, window=window, now=now,
                          source=spec.name)
        return
    from policy.facts.kv import delete_value, set_value

    prefix = spec.feeds[3:]
    items = {f"{prefix}.{key}": item for key, item in value.items()} if isinstance(value, dict) else {prefix: value}
    items[f"{prefix}.stale"] = False
    for (key,) in store.execute("SELECT key FROM kv WHERE key > ? AND key < ?", (prefix + ".", prefix + "/")).fetchall():
        if key not in items:
            delete_value(store, key)
    lifetime = value_ttl(spec)
    for key, item in items.items():
        set_value(store, key, item, now=now, ttl=lifetime)


def mark_stale(store: Store, spec: SourceSpec, *, now: float) -> None:
    """After a failure, the last known value stays; say it is stale (`usage`: through the cache row's failures)."""
    if spec.feeds.startswith("kv:"):
        from policy.facts.kv import set_value

        set_value(store, f"{spec.feeds[3:]}.stale", True, now=now)
