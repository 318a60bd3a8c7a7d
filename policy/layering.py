"""Configuration (SPEC §8), part two: reading the config files that apply and layering them into the packs to
load and the engine's settings.

The user config comes first, then the project config (or --config). The project adds packs and tightens
settings; it cannot weaken the user level (what counts is in `_Layers.project_setting` and docs/config.md#trust-what-a-project-config-cannot-weaken)
unless the user lists the project under `trusted_projects`. Nothing is required; with no config the defaults in
docs/config.md apply. Only reached when the compiled cache is cold (and by `policy validate`, `doctor`, `install`).
"""

from __future__ import annotations

import os

from policy.config import (PROJECT_CONFIG_NAMES, SHIPPED_PACKS, ConfigRef, Request,
                           config_path_value, discover, display_path, expand_home, expand_rule_paths, is_trusted,
                           project_dir_of, shipped_pack_path, user_config_path)
from policy.errors import Diagnostic
from policy.lean import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.compiler import PackSource
    from policy.loader import Document
    from policy.model import Settings
else:
    from policy.lean import dataclass

# Settings read from config files, besides `packs`, `rules` and `trusted_projects`.
SETTING_KEYS = ("db", "fail", "max_delay", "defer_as", "ask_in_bypass", "log", "max_event_bytes", "sources",
                "agents", "store")
# How strict each value of an enumerated setting is: an untrusted project may only move up.
_STRICTNESS = {"defer_as": ("defer", "ask", "deny"), "ask_in_bypass": ("ask", "deny")}
# Limits an untrusted project may only raise, and why lowering them would weaken the user level.
_RAISE_ONLY = {"max_delay": ("s", "it caps the user-level delays"),
               "max_event_bytes": (" bytes", "a larger event would get the fail mode instead of the user-level rules")}


@dataclass(frozen=True, slots=True)
class Resolved:
    sources: tuple[PackSource, ...]
    settings: Settings
    diagnostics: tuple[Diagnostic, ...] = ()
    documents: tuple[Document, ...] = ()



def load_config(ref: ConfigRef) -> tuple[Document, list[Diagnostic]]:
    """Read and schema-check one config file. An empty file is a valid config that sets nothing, and `version`
    may be left out (it defaults to 1)."""
    from policy import schema
    from policy.compiler import check_version
    from policy.loader import load_yaml

    document = load_yaml(ref.path)
    problems = [problem for problem in document.diagnostics if problem.code != "empty-file"]
    if document.data is None:
        return document, problems
    if not isinstance(document.data, dict) or "version" in document.data:
        version = check_version(document, "config file")
        if version:
            return document, problems + version
    return document, problems + schema.check(document, "config")


class _Layers:
    """The state of layering config files, one at a time, user first."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.diagnostics: list[Diagnostic] = []
        self.packs: dict[str, PackSource] = {}
        self.pack_scope: dict[str, str] = {}
        self.order: list[str] = []
        self.disabled: set[str] = set()
        self.values: dict[str, Any] = {}
        self.user_values: dict[str, Any] = {}
        self.user_has_rules = False
        self.trusted_projects: list[str] = []
        from policy.model import Settings

        self.project_kv: tuple[str, ...] = Settings().project_kv  # the user config's grant, or the default

    # ---- the user level, which an untrusted project may only tighten -------------------------------------------

    def user_level(self, key: str) -> tuple[bool, Any]:
        """(protected, value): the user config's value of `key`, or its default once the user config loads rules
        (then the defaults are the user's rules' settings). Not protected when the user level says nothing."""
        from policy.model import Settings

        if key in self.user_values:
            return True, self.user_values[key]
        if not self.user_has_rules:
            return False, None
        defaults = Settings()
        return True, {"max_delay": defaults.max_delay, "max_event_bytes": defaults.max_event_bytes,
                      "defer_as": defaults.defer_as, "ask_in_bypass": defaults.ask_in_bypass, "db": None,
                      "log": {"retention_days": defaults.log_retention_days}}.get(key)

    def user_fail_mode(self, event: str) -> str | None:
        """The fail mode the user level keeps for `event`, or None when it is not protected."""
        from policy.model import Settings

        fail = self.user_values.get("fail", {})
        if not self.user_has_rules and event not in fail and "*" not in fail:
            return None
        return Settings(fail=dict(fail)).fail_mode(event)

    # ---- one config file -------------------------------------------------------------------------------------

    def apply(self, ref: ConfigRef, document: Document) -> None:
        data = document.data if isinstance(document.data, dict) else {}
        project_dir = project_dir_of(ref.path)
        trusted = ref.scope in ("user", "cli") or is_trusted(project_dir, self.trusted_projects)
        environ = self.request.environ

        def refuse(path: tuple[Any, ...], what: str, why: str = "") -> None:
            self.diagnostics.append(Diagnostic(
                document.location(path, key=True), "not-trusted",
                f"the project config cannot {what}" + (f" ({why})" if why else "") + ": ignored",
                f"add {project_dir} to `trusted_projects` in {user_config_path(environ)} to allow it", "warning"))

        if ref.scope == "user":
            self.trusted_projects = []
            for index, entry in enumerate(data.get("trusted_projects", [])):
                path = expand_home(entry, environ)
                if not os.path.isabs(path):
                    self.diagnostics.append(Diagnostic(
                        document.location(("trusted_projects", index)), "relative-path",
                        f"trusted project {entry!r} is not an absolute path",
                        "write it as /full/path or ~/path (a trailing /* trusts every project below it)"))
                    continue
                self.trusted_projects.append(path)
            self.user_has_rules = bool(data.get("packs") or data.get("rules"))
            if "project_kv" in data:
                self.project_kv = tuple(data["project_kv"])
        elif "trusted_projects" in data:
            refuse(("trusted_projects",), "trust projects", "only the user config can")
        if ref.scope != "user" and "project_kv" in data:
            refuse(("project_kv",), "grant kv namespaces", "only the user config can")

        for index, entry in enumerate(data.get("packs", [])):
            self.pack(ref, document, index, entry, trusted, refuse)
        for index, item in enumerate(data.get("rules", [])):
            self.rules(ref, document, index, item, trusted)
        for key in SETTING_KEYS:
            if key in data:
                self.setting(ref, document, key, data[key], trusted, refuse)

    def _exists(self, document: Document, path: tuple[Any, ...], target: str, written: str) -> bool:
        if os.path.exists(target):
            return True
        self.diagnostics.append(Diagnostic(
            document.location(path), "not-found", f"no such file or directory: {written} ({target})",
            "fix the path; it is relative to the config file's directory"))
        return False

    def pack(self, ref: ConfigRef, document: Document, index: int, entry: Any, trusted: bool, refuse: Any) -> None:
        from policy.compiler import PackSource

        if isinstance(entry, str):
            is_path = "/" in entry or os.sep in entry or entry.endswith((".yaml", ".yml"))
            entry = {"path": entry} if is_path else {"name": entry}
        location = document.location(("packs", index))
        if "name" in entry:
            key = entry["name"]
            if key not in SHIPPED_PACKS:
                from policy.schema import suggest

                self.diagnostics.append(Diagnostic(location, "unknown-pack", f"there is no shipped pack {key!r}",
                                                   suggest(key, set(SHIPPED_PACKS))))
                return
            path = shipped_pack_path(key)
            shipped = True
        else:
            path = config_path_value(entry["path"], ref.path, self.request.environ)
            key = path
            shipped = False
            if entry.get("enabled") is not False and not self._exists(document, ("packs", index), path,
                                                                        entry["path"]):
                return
        existing = self.packs.get(key)
        if existing is not None and self.pack_scope.get(key) == "user" and ref.scope == "project" and not trusted:
            if entry.get("enabled") is False:
                refuse(("packs", index, "enabled"),
                       f"switch off the user-level pack {entry.get('name') or entry['path']!r}")
            elif entry.get("params"):
                refuse(("packs", index, "params"), f"change the params of the user-level pack "
                       f"{entry.get('name') or entry['path']!r}")
            return
        if entry.get("enabled") is False:
            self.disabled.add(key)
            return
        self.disabled.discard(key)
        params = dict(existing.params) if existing is not None else {}
        params.update(entry.get("params") or {})
        self.packs[key] = PackSource(
            path=path, display=display_path(path, self.request.cwd), trusted=shipped or trusted,
            # the rules of a shipped pack are ours, its params an untrusted project's: see PackSource
            params_trusted=trusted or not entry.get("params"), params=params,
            params_location=document.location(("packs", index, "params")), origin=ref.scope)
        self.pack_scope.setdefault(key, ref.scope)
        if key not in self.order:
            self.order.append(key)

    def rules(self, ref: ConfigRef, document: Document, index: int, item: str, trusted: bool) -> None:
        from policy.compiler import PackSource

        target = config_path_value(item, ref.path, self.request.environ)
        if not self._exists(document, ("rules", index), target, item):
            return
        paths = expand_rule_paths(target)
        if not paths:
            self.diagnostics.append(Diagnostic(
                document.location(("rules", index)), "no-rule-files",
                f"{item} holds no rule files (*.yaml, *.yml besides *.test.yaml)", "add one or remove the entry",
                "warning"))
        for path in paths:
            if path not in self.packs:
                self.packs[path] = PackSource(path=path, display=display_path(path, self.request.cwd),
                                              trusted=trusted,
                                              origin=ref.scope)
                self.pack_scope[path] = ref.scope
                self.order.append(path)

    def setting(self, ref: ConfigRef, document: Document, key: str, value: Any, trusted: bool, refuse: Any) -> None:
        if key == "store":
            self.store(ref, document, value, refuse)
            return
        if key == "db":
            value = config_path_value(value, ref.path, self.request.environ)
        if key == "sources":  # a file source's path is relative to the config file, like every path
            value = {name: ({**spec, "path": config_path_value(spec["path"], ref.path, self.request.environ)}
                            if spec.get("kind") == "file" and isinstance(spec.get("path"), str) else spec)
                     for name, spec in value.items()}
        if key == "fail":  # per event, by Claude Code's name or the neutral one (before_tool)
            from policy.vocabulary import canonical_event

            value = {"*": value} if isinstance(value, str) else {canonical_event(event): mode
                                                                  for event, mode in value.items()}
        if ref.scope == "project" and not trusted:
            value = self.project_setting(key, value, refuse, project_dir_of(ref.path))
            if value is None:
                return
        if ref.scope == "user":
            self.user_values[key] = value
        if key in ("fail", "log", "sources"):  # mappings merge key by key
            value = {**self.values.get(key, {}), **value}
        self.values[key] = value

    def store(self, ref: ConfigRef, document: Document, value: dict[str, Any], refuse: Any) -> None:
        """`store:` (the team's shared board) only from the user config, or one given with --config: a project
        file, trusted or not, would choose where this user's claims go and which server hears of their work. The
        DSN must not hold a password (the config is not a secret): libpq reads it from PGPASSWORD, ~/.pgpass or a
        service file."""
        if ref.scope == "project":
            refuse(("store",), "choose the shared store", "only the user config can: it names the server your "
                   "claims and sessions are sent to")
            return
        problem = dsn_problem(value.get("shared", ""))
        if problem is not None:
            self.diagnostics.append(Diagnostic(document.location(("store", "shared")), "shared-dsn", problem,
                                               "put the password in PGPASSWORD, ~/.pgpass or a libpq service file "
                                               "(docs/team.md)"))
            return
        self.values["store"] = dict(value)

    def granted_kv(self) -> tuple[str, ...]:
        """The kv namespaces untrusted projects may write: the user config's `project_kv`, less every namespace
        a trusted source feeds (its values are the user's, not a repository's to rewrite)."""
        from policy.facts.kv import overlaps

        fed = [spec["feeds"][3:] for spec in self.user_values.get("sources", {}).values()
               if str(spec.get("feeds", "")).startswith("kv:")]
        return tuple(namespace for namespace in self.project_kv
                     if not any(overlaps(prefix, namespace) for prefix in fed))

    def project_sources(self, value: dict[str, Any], refuse: Any) -> dict[str, Any] | None:
        """An untrusted project may read its own task checklist (the pacing pack's Stop gate): a `file` source in
        the checklist format, which can only write its own `<prefix>.open`, `.done`, ... keys, and only under a
        kv namespace the user config grants (`project_kv`): the file must not pick the prefix (`kv:hr` would
        rewrite the heart-rate keys a user-level gate reads). Commands and requests (which would run programs or
        send the user's tokens), other formats, and replacing a user-level source are refused."""
        from policy.facts.kv import in_namespaces
        from policy.sources import format_for

        user_sources = self.user_values.get("sources", {})
        allowed = {}
        for name, spec in value.items():
            if name in user_sources:
                refuse(("sources", name), f"replace the user-level source {name!r}", "the user config defines it")
            elif spec.get("kind") != "file" or format_for("file", spec) != "checklist":
                refuse(("sources", name), f"define the {spec.get('kind')} source {name!r}",
                       "only a file source in the checklist format is allowed from an untrusted project: others "
                       "run programs, send requests with your tokens, or write facts other rules read")
            elif not (str(spec.get("feeds", "")).startswith("kv:") and
                      in_namespaces(str(spec["feeds"])[3:], self.granted_kv())):
                granted = ", ".join(self.granted_kv()) or "none"
                refuse(("sources", name, "feeds"), f"feed {spec.get('feeds')!r}",
                       f"an untrusted project's sources may feed only kv namespaces the user config grants "
                       f"(project_kv: {granted})")
            else:
                allowed[name] = spec
        return allowed or None

    def project_setting(self, key: str, value: Any, refuse: Any, project_dir: str) -> Any:
        """What an untrusted project config may set of `key`: the value, a tightened part of it, or None."""
        if key == "sources":
            return self.project_sources(value, refuse)
        if key == "fail":
            return self.project_fail(value, refuse)
        if key == "agents":  # which hosts validate checks rules against: it weakens nothing policy eval enforces
            return value
        protected, user = self.user_level(key)
        if key == "db" and not protected:
            inside = os.path.join(os.path.realpath(project_dir), "")
            if not os.path.realpath(value).startswith(inside):
                refuse(("db",), f"keep the fact store outside the project ({value})",
                       "an untrusted project's own store must be inside its directory")
                return None
        if key == "log" and "keep_payload" in value and payload_mode(value["keep_payload"]) == "full" and \
                payload_mode((user or {}).get("keep_payload", "redacted")) != "full":
            # Secrets kept unredacted: the user decides that, never a project (whose store may be inside it).
            refuse(("log", "keep_payload"), "keep payloads unredacted",
                   "the secrets in them would be stored in your fact store")
            value = {name: item for name, item in value.items() if name != "keep_payload"}
        if not protected:
            return value
        if key == "db":
            if value != user:
                refuse(("db",), "move the fact store", "the user-level rules keep their facts in it")
                return None
        elif key in _RAISE_ONLY:
            if value < user:
                unit, why = _RAISE_ONLY[key]
                refuse((key,), f"lower {key} below {user:.15g}{unit}", why)
                return None
        elif key in _STRICTNESS:
            ranks = _STRICTNESS[key]
            if ranks.index(value) < ranks.index(user):
                refuse((key,), f"change {key} from {user!r} to {value!r}", "it is less strict")
                return None
        elif key == "log" and "retention_days" in value:
            def keeps(days: float) -> float:
                return float("inf") if days == 0 else days

            user_days = (user or {}).get("retention_days", 30.0)
            if keeps(value["retention_days"]) < keeps(user_days):
                refuse(("log", "retention_days"), f"keep decisions for less than {user_days:g} days",
                       "rules may count past decisions")
                value = {name: item for name, item in value.items() if name != "retention_days"}
        return value

    def project_fail(self, modes: dict[str, str], refuse: Any) -> dict[str, str]:
        """An untrusted project may close fail modes, and open only those the user level does not keep closed.
        `*: open` opens the rest, while the user level's closed events are pinned closed."""
        from policy.model import EVENTS

        accepted: dict[str, str] = {}
        for event, mode in modes.items():
            if mode == "open" and event == "*":
                kept = [name for name in EVENTS if name not in modes and self.user_fail_mode(name) == "closed"]
                if kept:
                    refuse(("fail",), f"open the fail mode of {', '.join(kept)}", "the user level keeps them "
                           "closed; every other event fails open")
                    accepted.update({name: "closed" for name in kept})
            elif mode == "open" and self.user_fail_mode(event) == "closed":
                refuse(("fail", event), f"open the fail mode of {event}", "the user level keeps it closed")
                continue
            accepted[event] = mode
        return accepted


def _store_settings(store: dict[str, Any] | None) -> dict[str, Any]:
    if not store:
        return {}
    settings: dict[str, Any] = {"shared_store": store["shared"].strip()}
    if "timeout" in store:
        settings["shared_timeout"] = float(store["timeout"])
    if "on_outage" in store:
        settings["shared_on_outage"] = store["on_outage"]
    return settings


def dsn_problem(dsn: str) -> str | None:
    """What is wrong with a shared store's DSN as written in a config file, or None: a `postgresql://` URI or a
    `key=value` conninfo (e.g. `service=team`), without a password."""
    import re

    text = dsn.strip()
    if text.startswith(("postgresql://", "postgres://")):
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(text)
        try:
            has_password = parts.password is not None
        except ValueError:
            return "store.shared is not a valid postgresql:// URI"
        if has_password or "password" in parse_qs(parts.query):
            return "store.shared holds a password, and config files are not secret"
        return None
    if "://" in text:
        return "store.shared must be a postgresql:// URI or a libpq key=value string (e.g. service=team)"
    if not re.fullmatch(r"\s*(\w+\s*=\s*('([^'\\]|\\.)*'|\S+)\s*)+", text):
        return "store.shared must be a postgresql:// URI or a libpq key=value string (e.g. service=team)"
    if re.search(r"(^|\s)password\s*=", text):
        return "store.shared holds a password, and config files are not secret"
    return None


def resolve(request: Request, refs: tuple[ConfigRef, ...] | None = None) -> Resolved:
    """Read the config files and work out the pack sources and settings. Never raises for bad files: the
    problems are returned as diagnostics, located in the config file that has them."""
    from policy.compiler import PackSource
    from policy.model import Settings, SourceSpec

    refs = discover(request) if refs is None else refs
    layers = _Layers(request)
    documents: list[Document] = []
    for ref in refs:
        document, problems = load_config(ref)
        documents.append(document)
        layers.diagnostics += problems
        if any(problem.severity == "error" for problem in problems):
            continue
        layers.apply(ref, document)
        if ref.scope == "project":
            other = os.path.join(project_dir_of(ref.path), PROJECT_CONFIG_NAMES[1])
            if os.path.basename(ref.path) == PROJECT_CONFIG_NAMES[0] and os.path.isfile(other):
                from policy.errors import Location

                layers.diagnostics.append(Diagnostic(
                    Location(display_path(other, request.cwd)), "shadowed-config",
                    f"{PROJECT_CONFIG_NAMES[0]} is used and this file is ignored", "merge them into one file",
                    "warning"))

    order, packs = layers.order, layers.packs
    if request.rules:
        order = []
        packs = {}
        for item in request.rules:
            for path in expand_rule_paths(os.path.abspath(os.path.join(request.cwd, item))):
                packs[path] = PackSource(path=path, display=display_path(path, request.cwd), trusted=True, origin="cli")
                order.append(path)

    values = layers.values
    log = values.get("log") or {}
    # a source's tuning, with SourceSpec's defaults where the config says nothing
    tuning = {"ttl": float, "timeout": float, "breaker_failures": int, "breaker_cooldown": float,
              "breaker_max_cooldown": float, "max_stale": float}
    sources = tuple(SourceSpec(
        name=name, kind=spec["kind"], feeds=spec["feeds"],
        options={key: value for key, value in spec.items() if key not in ("kind", "feeds", *tuning)},
        **{key: cast(spec[key]) for key, cast in tuning.items() if key in spec},
    ) for name, spec in (values.get("sources") or {}).items())
    defaults = Settings()
    settings = Settings(
        fail=dict(values.get("fail", {})), max_delay=float(values.get("max_delay", defaults.max_delay)),
        defer_as=values.get("defer_as", defaults.defer_as),
        ask_in_bypass=values.get("ask_in_bypass", defaults.ask_in_bypass),
        log_retention_days=float(log.get("retention_days", defaults.log_retention_days)),
        log_keep_payload=payload_mode(log.get("keep_payload", defaults.log_keep_payload)),
        db=request.db or values.get("db"),
        max_event_bytes=int(values.get("max_event_bytes", defaults.max_event_bytes)), sources=sources,
        trusted_paths=tuple(layers.trusted_projects), project_kv=layers.granted_kv(),
        **_store_settings(values.get("store")),
        agents=tuple(values.get("agents") or ()),
    )
    packs = {key: source if source.trusted else replace(source, kv_namespaces=settings.project_kv)
             for key, source in packs.items()}
    return Resolved(tuple(packs[key] for key in order if key not in layers.disabled), settings,
                    tuple(layers.diagnostics), tuple(documents))


def payload_mode(value: Any) -> str:
    """`log.keep_payload`: redacted, full or none; true is full and false none (what they meant before the
    redacted form existed)."""
    if value is True:
        return "full"
    if value is False or value is None:
        return "none"
    return str(value)
