"""`facts.kv`: the generic key → JSON value table, for signals from outside (`policy fact set hr.bpm 128`)."""

from __future__ import annotations

from policy.facts import Family
from policy.lean import json_dumps, json_loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store


def in_namespaces(key: str, namespaces: tuple[str, ...] | list[str]) -> bool:
    """Whether `key` is one of `namespaces` or below one (`tasks`, `tasks.open`; not `tasks2`)."""
    return any(key == namespace or key.startswith(namespace + ".") for namespace in namespaces)


def owning_source(key: str, sources: Any) -> Any:
    """The configured source whose `kv:<prefix>` feed holds `key` (its values are the source's: only it writes
    them), or None."""
    for spec in sources:
        if spec.feeds.startswith("kv:") and in_namespaces(key, (spec.feeds[3:],)):
            return spec
    return None


def refuse_source_owned(key: str, sources: Any, writer: str) -> None:
    """Raise PolicyError (`source-owned-key`) when a source feeds `key`: a value written by anything else (the
    agent's own shell running `policy fact set hr.ok true`, a rule) would pass for the source's."""
    spec = owning_source(key, sources)
    if spec is None:
        return
    from policy.errors import PolicyError

    raise PolicyError(f"{key} is written only by the source {spec.name} (it feeds {spec.feeds}); {writer} may not "
                      "set it", code="source-owned-key",
                      hint=f"fix what the source reads, or run `policy usage refresh --source {spec.name}`; "
                           "docs/packs/activity.md#a-verified-signal")


def overlaps(prefix: str, namespace: str) -> bool:
    """Whether a source feeding `kv:<prefix>` could write keys of `namespace`, or the other way round."""
    return in_namespaces(prefix, (namespace,)) or in_namespaces(namespace, (prefix,))


class KvFacts(Family):
    """`facts.kv['hr.bpm']` (or `facts.kv.get('hr.bpm', default)`) is the value, None when missing or expired;
    `facts.kv.age('hr.bpm')` is the seconds since it was set (None when missing)."""

    name = "kv"
    fields = {
        "get": "`facts.kv.get(key, default=None)`: the value of `key`, or `default` when it is missing or expired "
               "(`facts.kv['hr.bpm']` is the same with no default).",
        "age": "`facts.kv.age(key)`: seconds since `key` was set, None when it is missing or expired.",
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._rows: dict[str, tuple[Any, float] | None] = {}

    def _row(self, key: str) -> tuple[Any, float] | None:
        if key not in self._rows:
            store = self.context.store
            row = None if store is None else store.execute(
                "SELECT value, updated_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (key, self.context.now)).fetchone()
            self._rows[key] = None if row is None else (json_loads(row[0]), row[1])
        return self._rows[key]

    def item(self, key: Any) -> Any:
        return self.get(str(key))

    def get(self, key: str, default: Any = None) -> Any:
        row = self._row(key)
        return default if row is None else row[0]

    def age(self, key: str) -> float | None:
        row = self._row(key)
        return None if row is None else max(0.0, self.context.now - row[1])


FAMILY = KvFacts


def set_value(store: Store, key: str, value: Any, *, now: float, ttl: float | None = None) -> None:
    """Set `key` to `value` (stored as JSON); with `ttl` seconds it expires."""
    expires = None if ttl is None else now + float(ttl)
    store.execute(
        "INSERT INTO kv(key, value, updated_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at",
        (key, json_dumps(value), now, expires))


def get_value(store: Store, key: str, *, now: float) -> tuple[bool, Any]:
    """(found, value) for `key`, ignoring expired values."""
    row = store.execute("SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                        (key, now)).fetchone()
    return (False, None) if row is None else (True, json_loads(row[0]))


def list_values(store: Store, *, now: float) -> list[dict[str, Any]]:
    return [{"key": key, "value": json_loads(value), "updated_at": updated, "expires_at": expires}
            for key, value, updated, expires in store.execute(
                "SELECT key, value, updated_at, expires_at FROM kv WHERE expires_at IS NULL OR expires_at > ? "
                "ORDER BY key", (now,))]


def delete_value(store: Store, key: str) -> bool:
    return bool(store.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount)
