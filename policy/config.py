"""Configuration (SPEC §8): which packs run and how, layered from the user's and the project's config files.

`discover` only looks for files (a few `stat`s, on every `policy eval`); `resolve` reads them (YAML, schema) and is
only reached when the compiled cache is cold. Layering: the user config (`~/.config/policy/config.yaml`) first,
then the project config (`policy.yaml` or `.policy/config.yaml`, found from the project directory upwards).
A project config adds packs and settings but cannot weaken the user's: it cannot switch off or re-parameterise a
user-level pack, open a fail mode the user keeps closed, or move the fact store, unless the user lists the
project under `trusted_projects`. Nothing is required; with no config the defaults in docs/config.md apply.
"""

from __future__ import annotations

import os

from policy.errors import Diagnostic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from dataclasses import dataclass, field
    from typing import Any

    from policy.compiler import PackSource
    from policy.loader import Document
    from policy.model import Settings
else:
    from policy.lean import dataclass, field

PROJECT_CONFIG_NAMES = ("policy.yaml", os.path.join(".policy", "config.yaml"))
SHIPPED_PACKS = ("focus", "presence", "pacing", "activity")


@dataclass(frozen=True, slots=True)
class ConfigRef:
    """A config file that applies: its path and scope ("user", "project" or "cli")."""

    path: str
    scope: str


@dataclass(frozen=True, slots=True)
class Resolved:
    sources: tuple[PackSource, ...]
    settings: Settings
    diagnostics: tuple[Diagnostic, ...] = ()
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """What the caller asked for: an explicit config file and/or explicit rule paths, and the environment."""

    config: str | None = None
    rules: tuple[str, ...] = ()
    db: str | None = None
    cwd: str = "."
    environ: dict[str, str] = field(default_factory=dict)


def user_config_path(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(base, "policy", "config.yaml")


def project_root(environ: Mapping[str, str], cwd: str) -> str:
    return environ.get("CLAUDE_PROJECT_DIR") or cwd


def find_project_config(start: str) -> str | None:
    """The nearest `policy.yaml` or `.policy/config.yaml`, from `start` upwards."""
    directory = os.path.abspath(start)
    while True:
        for name in PROJECT_CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def discover(request: Request) -> tuple[ConfigRef, ...]:
    """The config files that apply, user first. `POLICY_CONFIG` or --config replaces the project config."""
    refs = []
    user = user_config_path(request.environ)
    if os.path.isfile(user):
        refs.append(ConfigRef(user, "user"))
    explicit = request.config or request.environ.get("POLICY_CONFIG")
    if explicit:
        refs.append(ConfigRef(os.path.abspath(explicit), "cli"))
    else:
        project = find_project_config(project_root(request.environ, request.cwd))
        if project is not None and os.path.abspath(project) != os.path.abspath(user):
            refs.append(ConfigRef(project, "project"))
    return tuple(refs)


def shipped_dir() -> str:
    """Where the shipped packs are: the installed `policy/packs`, or `rules/` in a source checkout."""
    package = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(package, "packs")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(package), "rules")


def shipped_pack_path(name: str) -> str:
    return os.path.join(shipped_dir(), f"{name}.yaml")


def expand_rule_paths(path: str) -> list[str]:
    """A rule file, or every rule file (`*.yaml`, `*.yml`, not `*.test.yaml`) in a directory, sorted."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, name) for name in os.listdir(path)
                      if name.endswith((".yaml", ".yml")) and not name.endswith((".test.yaml", ".test.yml")))
    return [path]


def _display(path: str, cwd: str) -> str:
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if relative.startswith(".." + os.sep + "..") else relative


def load_config(ref: ConfigRef) -> tuple[Document, list[Diagnostic]]:
    from policy import schema
    from policy.compiler import check_version
    from policy.loader import load_yaml

    document = load_yaml(ref.path)
    problems = list(document.diagnostics)
    if document.data is None:
        return document, problems
    version = check_version(document, "config file")
    if version:
        return document, problems + version
    return document, problems + schema.check(document, "config")


def resolve(request: Request, refs: tuple[ConfigRef, ...] | None = None) -> Resolved:
    """Read the config files and work out the pack sources and settings. Never raises for bad files: the
    problems are returned as diagnostics."""
    from policy.compiler import PackSource
    from policy.model import Settings, SourceSpec

    refs = discover(request) if refs is None else refs
    diagnostics: list[Diagnostic] = []
    documents: list[Document] = []
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    packs: dict[str, PackSource] = {}
    order: list[str] = []
    disabled: set[str] = set()
    trusted_projects: list[str] = []
    user_closed: set[str] = set()
    source_configs: dict[str, dict[str, Any]] = {}  # merged by name across configs
    source_origin: dict[str, str] = {}

    for ref in refs:
        document, problems = load_config(ref)
        documents.append(document)
        diagnostics += problems
        if any(problem.severity == "error" for problem in problems) or not isinstance(document.data, dict):
            continue
        data = document.data
        base = os.path.dirname(ref.path)
        project_dir = os.path.dirname(base) if os.path.basename(base) == ".policy" else base
        trusted = ref.scope in ("user", "cli") or any(
            os.path.abspath(project_dir) == os.path.abspath(path) for path in trusted_projects)

        def weaken(key: str, what: str) -> None:
            diagnostics.append(Diagnostic(
                document.location((key,), key=True), "not-trusted",
                f"the project config cannot {what}: ignored", "add the project to `trusted_projects` in "
                f"{user_config_path(request.environ)} to allow it", "warning"))

        if ref.scope == "user":
            trusted_projects = [os.path.expanduser(path) for path in data.get("trusted_projects", [])]
        elif "trusted_projects" in data:
            weaken("trusted_projects", "trust projects (only the user config can)")

        for index, entry in enumerate(data.get("packs", [])):
            entry = {"name": entry} if isinstance(entry, str) and "/" not in entry and not entry.endswith(
                (".yaml", ".yml")) else ({"path": entry} if isinstance(entry, str) else entry)
            location = document.location(("packs", index))
            if "name" in entry:
                key = entry["name"]
                if key not in SHIPPED_PACKS:
                    from policy.schema import suggest

                    diagnostics.append(Diagnostic(location, "unknown-pack", f"there is no shipped pack {key!r}",
                                                  suggest(key, set(SHIPPED_PACKS))))
                    continue
                path = shipped_pack_path(key)
            else:
                path = os.path.normpath(os.path.join(base, os.path.expanduser(entry["path"])))
                key = path
            existing = packs.get(key)
            if existing is not None and existing.origin == "user" and ref.scope == "project" and not trusted:
                if entry.get("enabled") is False:
                    weaken("packs", f"switch off the user-level pack {key!r}")
                elif entry.get("params"):
                    weaken("packs", f"change the params of the user-level pack {key!r}")
                continue
            if entry.get("enabled") is False:
                disabled.add(key)
                continue
            disabled.discard(key)
            params = dict(existing.params) if existing is not None else {}
            params.update(entry.get("params") or {})
            shipped = "name" in entry
            packs[key] = PackSource(path=path, display=_display(path, request.cwd),
                                    trusted=shipped or trusted, params=params,
                                    params_location=document.location(("packs", index, "params")),
                                    origin="shipped" if shipped and ref.scope == "user" else ref.scope)
            if key not in order:
                order.append(key)

        for index, item in enumerate(data.get("rules", [])):
            for path in expand_rule_paths(os.path.normpath(os.path.join(base, os.path.expanduser(item)))):
                if path not in packs:
                    packs[path] = PackSource(path=path, display=_display(path, request.cwd), trusted=trusted,
                                             origin=ref.scope)
                    order.append(path)

        for name, spec in (data.get("sources") or {}).items():
            kind = spec.get("kind")
            if ref.scope == "project" and not trusted:
                where = document.location(("sources", name), key=True)
                hint = f"add the project to `trusted_projects` in {user_config_path(request.environ)} to allow it"
                if kind in ("command", "http"):
                    what = "run a program" if kind == "command" else "send requests, with your tokens"
                    diagnostics.append(Diagnostic(where, "not-trusted", f"the project config cannot define the "
                                                  f"{kind} source {name!r} (it would {what}): ignored", hint,
                                                  "warning"))
                    continue
                if source_origin.get(name) == "user":
                    diagnostics.append(Diagnostic(where, "not-trusted", f"the project config cannot replace the "
                                                  f"user-level source {name!r}: ignored", hint, "warning"))
                    continue
            spec = dict(spec)
            if kind == "file" and isinstance(spec.get("path"), str):
                spec["path"] = os.path.normpath(os.path.join(base, os.path.expanduser(spec["path"])))
            source_configs[name] = spec
            source_origin[name] = ref.scope

        for key in ("db", "max_delay", "defer_as", "ask_in_bypass", "max_event_bytes", "log"):
            if key not in data:
                continue
            if ref.scope == "project" and not trusted and key in values and origin.get(key) == "user":
                if key in ("db", "ask_in_bypass", "defer_as") and data[key] != values[key]:
                    weaken(key, f"change `{key}` set in the user config")
                    continue
            value = data[key]
            if key == "db":
                value = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
            values[key] = value
            origin[key] = ref.scope
        if "fail" in data:
            fail = data["fail"]
            modes = {"*": fail} if isinstance(fail, str) else dict(fail)
            merged = dict(values.get("fail", {}))
            for event, mode in modes.items():
                if ref.scope == "user" and mode == "closed":
                    user_closed.add(event)
                if ref.scope == "project" and not trusted and mode == "open" and (
                        event in user_closed or "*" in user_closed):
                    weaken("fail", f"open the fail mode of {event!r}")
                    continue
                merged[event] = mode
            values["fail"] = merged

    if request.rules:
        order = []
        packs = {}
        for item in request.rules:
            for path in expand_rule_paths(os.path.abspath(item)):
                packs[path] = PackSource(path=path, display=_display(path, request.cwd), trusted=True, origin="cli")
                order.append(path)

    log = values.get("log") or {}
    sources = tuple(SourceSpec(
        name=name, kind=spec["kind"], feeds=spec["feeds"],
        options={key: value for key, value in spec.items()
                 if key not in ("kind", "feeds", "ttl", "timeout", "breaker_failures", "breaker_cooldown")},
        ttl=float(spec.get("ttl", 60)), timeout=float(spec.get("timeout", 2)),
        breaker_failures=int(spec.get("breaker_failures", 3)),
        breaker_cooldown=float(spec.get("breaker_cooldown", 300)),
    ) for name, spec in source_configs.items())
    db = request.db or (values.get("db") if isinstance(values.get("db"), str) else None)
    settings = Settings(
        fail=dict(values.get("fail", {})), max_delay=float(values.get("max_delay", 60.0)),
        defer_as=values.get("defer_as", "ask"), ask_in_bypass=values.get("ask_in_bypass", "deny"),
        log_retention_days=float(log.get("retention_days", 30.0)), log_keep_payload=bool(log.get("keep_payload")),
        db=db, max_event_bytes=int(values.get("max_event_bytes", 8 * 1024 * 1024)), sources=sources,
        trusted_paths=tuple(trusted_projects),
    )
    return Resolved(tuple(packs[key] for key in order if key not in disabled), settings, tuple(diagnostics),
                    tuple(documents))
