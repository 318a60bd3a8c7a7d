"""Effects (SPEC §4): the writes rules ask for, applied after the final decision, all in one transaction.

An effect module in this package declares `KINDS` (each kind's argument schema, which the rule-file JSON Schema
and docs/effects.md are generated from), `ON_OUTAGE` for the kinds that write the board (what each does while a
team's shared store does not answer: docs/team.md#outages), an `apply_<kind>` per kind, and optionally a compile-time `check_<kind>`
(tables, columns, trust) and a `finish_<kind>`. Adding a module adds effects. The compiler records which module
implements each effect, so applying one imports only that module. `apply_effects` runs inside the caller's
transaction; if any effect fails, the caller rolls everything back. `finish_effects` runs after the commit, outside
the write lock, for work that must not hold it (the `run` effect's command): a `finish_<kind>` returns the
effect's final result, or None to keep the one `apply_<kind>` gave.
"""

from __future__ import annotations

from policy.errors import Diagnostic, EvaluationError, StoreError
from policy.lean import sqlite
from policy.store import translate_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
    from typing import Any

    from policy.boards import Board, BoardOutage
    from policy.errors import Location
    from policy.model import Event, PlannedEffect, Settings
    from policy.store import Store
else:
    from policy.lean import dataclass


@dataclass(frozen=True, slots=True)
class EffectContext:
    """What an effect may use: the store (inside the open transaction), the event, the time, the settings. On a
    shared board, `retried` says the effects are applied again after a claim was lost to another session (a lost
    claim is then a result, not a reason to evaluate again), and `outage` that the shared store did not answer
    (the board's effects then only say what they did not do)."""

    store: Store
    event: Event
    now: float
    settings: Settings
    retried: bool = False
    outage: BoardOutage | None = None

    def board(self) -> Board:
        from policy.boards import board_for

        board = board_for(self.store, self.settings)
        assert board is not None
        return board


def _module(name: str) -> Any:
    return __import__(name, fromlist=["KINDS"])


def effect_modules() -> dict[str, str]:
    """Every effect kind and the module implementing it (imports every effect module: not for the eval path)."""
    import pkgutil

    kinds: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        name = f"{__name__}.{info.name}"
        for kind in getattr(_module(name), "KINDS", {}):
            kinds[kind] = name
    return kinds


def effect_schemas() -> dict[str, dict[str, Any]]:
    """Every effect kind's argument schema (with its description)."""
    return {kind: _module(module).KINDS[kind] for kind, module in effect_modules().items()}


# ---- trust ---------------------------------------------------------------------------------------------------
# A rule file the user does not trust (an untrusted project's) may add rules, but its effects must not weaken the
# user's: it may write tables of its own and kv keys under a namespace the user config grants to projects
# (`project_kv`), never one the file picks (its pack's name could be any other pack's). Every other effect runs a
# command or writes facts other rules read (start a focus session, release a claim, record low usage, ...).

ROW_EFFECTS = ("record", "upsert", "delete")
UNTRUSTED_HINT = ("load the file from your user config or with --rules, or list its project under "
                  "`trusted_projects` in ~/.config/policy/config.yaml")


def untrusted_refusal(kind: str, args: Any, namespaces: tuple[str, ...], *, rendered: bool) -> str | None:
    """Why an effect of an untrusted rule file is refused (None: it is allowed). `namespaces`: the kv namespaces
    the user config grants to projects. Before `rendered` (compile time) a templated value cannot be judged yet;
    once rendered, everything is checked as written, whatever text the event put into it."""
    from policy.migrations import TABLE_DOCS

    if kind in ROW_EFFECTS:
        table = args.get("table") if isinstance(args, dict) else None
        return f"the built-in table {table!r} holds facts other rules read" if table in TABLE_DOCS else None
    if kind == "set":
        from policy.facts.kv import in_namespaces

        key = str(args.get("key", "")) if isinstance(args, dict) else ""
        if (not rendered and "{{" in key) or in_namespaces(key, namespaces):
            return None
        granted = ", ".join(namespaces) if namespaces else "none"
        return (f"the kv key {key!r} is not under a namespace the user config grants to projects "
                f"(project_kv: {granted})")
    if kind == "http":
        return "sending requests needs trust"
    return "running a command needs trust" if kind == "run" else f"`{kind}` writes facts other rules read"


def check_effect(kind: str, args: Any, location: Location, *, trusted: bool,
                 namespaces: tuple[str, ...] = ()) -> tuple[str | None, list[Diagnostic]]:
    """Compile-time checks of one effect (the schema has checked its shape already). Returns its module."""
    modules = effect_modules()
    if kind not in modules:
        from policy.schema import suggest

        return None, [Diagnostic(location, "unknown-effect", f"unknown effect {kind!r}", suggest(kind, set(modules)))]
    check: Callable[..., list[Diagnostic]] | None = getattr(_module(modules[kind]), f"check_{kind}", None)
    problems = [] if check is None else check(args, location)
    refused = None if trusted else untrusted_refusal(kind, args, namespaces, rendered=False)
    if refused is not None:
        problems.append(Diagnostic(location, "untrusted-effect", f"this rule file is not trusted, and {refused}: "
                                   f"this `{kind}` will be refused (recorded in the decision log, nothing is "
                                   "written or run)", UNTRUSTED_HINT, "warning"))
    return modules[kind], problems


def _refusal(effect: PlannedEffect, context: EffectContext) -> str | None:
    if effect.trusted:
        return None
    refused = untrusted_refusal(effect.kind, effect.args, context.settings.project_kv, rendered=True)
    return None if refused is None else f"refused: the rules or params of {effect.pack} are not trusted, and {refused}"


def apply_effects(effects: tuple[PlannedEffect, ...], context: EffectContext) -> list[dict[str, Any]]:
    """Apply planned effects in order; returns one result entry per effect (for the decision log)."""
    results = []
    for effect in effects:
        refused = _refusal(effect, context)
        if refused is not None:
            results.append({"rule": f"{effect.pack}/{effect.rule_id}", "effect": effect.kind, "result": refused})
            continue
        apply: Callable[[dict[str, Any], EffectContext, PlannedEffect], str] = getattr(
            _module(effect.module), f"apply_{effect.kind}")
        try:
            outcome = apply(effect.args, context, effect)
        except (EvaluationError, StoreError):  # the store says itself what went wrong (db-io, db-full, ...)
            raise
        except sqlite.Error as error:
            # A full disk, a lock held too long or a corrupt file is the store's problem, not the rule's.
            translated = translate_error(error, context.store.path)
            if translated.code != "db-error":
                raise translated from None
            raise EvaluationError(f"effect {effect.kind} of rule {effect.pack}/{effect.rule_id} failed: {error}",
                                  code="effect-failed", location=effect.location,
                                  hint="nothing was written; fix the rule or the data it writes") from None
        except OSError as error:  # the machine's problem (a full disk, a permission, a vanished directory)
            raise EvaluationError(f"effect {effect.kind} of rule {effect.pack}/{effect.rule_id} could not do its "
                                  f"I/O: {error}", code="effect-io", location=effect.location,
                                  hint="nothing was written; check the disk, the paths it uses and their "
                                       "permissions (the rule itself may be fine)") from None
        except Exception as error:
            raise EvaluationError(f"effect {effect.kind} of rule {effect.pack}/{effect.rule_id} failed: {error}",
                                  code="effect-failed", location=effect.location,
                                  hint="nothing was written; fix the rule or the data it writes") from None
        results.append({"rule": f"{effect.pack}/{effect.rule_id}", "effect": effect.kind, "result": outcome})
    return results


def describe(effect: PlannedEffect) -> str:
    """One line for dry runs: what the effect would write."""
    from policy.lean import json_dumps

    return f"{effect.pack}/{effect.rule_id}: {effect.kind} {json_dumps(effect.args, spaced=True)}"


def waits_for_answer(effects: tuple[PlannedEffect, ...]) -> bool:
    """Whether any of the effects has work to do once the answer is out (`after_<kind>`: the http effect)."""
    return any(hasattr(_module(effect.module), f"after_{effect.kind}") for effect in effects)


def after_answer_effects(effects: tuple[PlannedEffect, ...], results: list[dict[str, Any]], context: EffectContext,
                         deadline: float) -> bool:
    """Once the answer is written: run each applied effect's `after_<kind>` (given the seconds left before
    `deadline`, a time.perf_counter()), and put its result in `results`. Never raises. Returns whether any result
    changed."""
    import time

    return _later("after", effects, results, context, lambda: (deadline - time.perf_counter(),))


def finish_effects(effects: tuple[PlannedEffect, ...], results: list[dict[str, Any]], context: EffectContext) -> bool:
    """After the commit: run each applied effect's `finish_<kind>`, if it has one, and put its result in `results`
    (one entry per effect, as `apply_effects` returned them). Never raises: the decision stands whatever happens
    here. Returns whether any result changed."""
    return _later("finish", effects, results, context, tuple)


def _later(phase: str, effects: tuple[PlannedEffect, ...], results: list[dict[str, Any]], context: EffectContext,
           extra: Callable[[], tuple[Any, ...]]) -> bool:
    """The work of a phase after the eval transaction (`finish`, `after`) for each applied effect that has it."""
    changed = False
    for effect, entry in zip(effects, results):
        step: Callable[..., str | None] | None = getattr(_module(effect.module), f"{phase}_{effect.kind}", None)
        if step is None or _refusal(effect, context) is not None:
            continue
        try:
            outcome = step(effect.args, context, effect, *extra())
        except Exception as error:  # noqa: BLE001 - reported in the decision log, never a failed hook
            outcome = f"failed: {type(error).__name__}: {error}"
        if outcome is not None:
            entry["result"] = outcome
            changed = True
    return changed
