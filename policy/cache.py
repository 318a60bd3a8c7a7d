"""The compiled-ruleset cache: a warm `policy eval` loads its rules without YAML, JSON Schema or compiling.

An entry is keyed by everything the compiled result depends on that is known before reading rule files: the
policy version, the interpreter, the explicit arguments and the contents of the config files. It lists the rule
files (and directory listings) it was compiled from with a digest of their contents; it is used only if they all
still match. Entries are marshal data (plain values and code objects) in a directory private to the user:
they hold code that is executed, so they are written 0600 in a 0700 directory, atomically.
"""

from __future__ import annotations

import marshal
import os

from policy import __version__, lean
from policy.config import ConfigRef, Request, discover, expand_rule_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from policy.model import RuleSet

CACHE_FORMAT = 3
_KEEP_ENTRIES = 32


def cache_dir(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "policy", "rulesets")


def _read(path: str) -> bytes | None:
    """A config or rule file's bytes, to key and check entries with (None: unreadable, or not a regular file of
    bounded size, which the loader then reports)."""
    try:
        return lean.read_regular_file(path)
    except OSError:
        return None


def _read_private(path: str) -> bytes | None:
    """A cache entry's bytes, if the entry is this user's and no one else can write it: it holds code that runs."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
            return handle.read()
    except OSError:
        return None


def _record_shapes() -> bytes:
    """The names and fields of the records an entry is made of. Entries are decoded positionally, so an entry
    written by code whose records had other fields (a new commit under the same version number, e.g. in an
    editable install) must not be found at all."""
    return "\0".join(f"{name}:{','.join(lean.fields_of_class(cls))}"
                      for name, cls in sorted(_record_classes().items())).encode()


def _key(request: Request, refs: tuple[ConfigRef, ...]) -> str:
    parts = [f"{CACHE_FORMAT}\0{__version__}\0{lean.interpreter_tag()}".encode(), _record_shapes(),
             "\0".join(os.path.abspath(path) for path in request.rules).encode(),
             (request.db or "").encode(), request.cwd.encode() if not refs else b""]
    for ref in refs:
        parts.append(f"{ref.scope}\0{ref.path}".encode())
        parts.append(_read(ref.path) or b"")
    return lean.digest(*parts)


def _dependency_digest(path: str) -> str:
    """What compiled rules depend on at `path`: a file's contents, or (a path ending in the separator) the rule
    files a directory lists."""
    if path.endswith(os.sep):
        return lean.digest("\0".join(expand_rule_paths(path[:-1])).encode())
    return lean.digest(_read(path) or b"\0missing")


def _dependencies(paths: list[str], directories: list[str]) -> list[tuple[str, str]]:
    return [(path, _dependency_digest(path)) for path in [*paths, *(directory + os.sep for directory in directories)]]


def _fresh(deps: list[tuple[str, str]]) -> bool:
    return all(_dependency_digest(path) == expected for path, expected in deps)


# ---- encoding records as marshal-able data ------------------------------------------------------------------------

def _record_classes() -> dict[str, type]:
    from policy import errors, model

    return {value.__name__: value for module in (model, errors) for value in vars(module).values()
            if isinstance(value, type) and _is_record_class(value)}


def _is_record_class(kind: type) -> bool:
    return hasattr(kind, "__policy_fields__") or hasattr(kind, "__dataclass_fields__")


def _is_record(value: Any) -> bool:
    return _is_record_class(type(value))


def _holds_records(value: Any) -> bool:
    if _is_record(value):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_records(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_records(item) for item in value.values())
    return False


def encode(value: Any) -> Any:
    """Records become `(..., "ClassName", field, ...)`; containers that hold no record (params, event names, JSON
    values) become `(..., None, value)`, taken as they are when decoding. Ellipsis never occurs in YAML or JSON."""
    if _is_record(value):
        return (..., type(value).__name__, *(encode(getattr(value, name)) for name in lean.fields_of(value)))
    if isinstance(value, (tuple, list, dict)) and not _holds_records(value):
        return (..., None, value)
    if isinstance(value, tuple):
        return tuple(encode(item) for item in value)
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(value: Any, classes: dict[str, type]) -> Any:
    """The inverse of `encode`. Records are restored without running their __init__ (the data was checked when it
    was compiled), which makes loading a warm cache several times faster."""
    kind = type(value)
    if kind is tuple:
        if value and value[0] is ...:
            if value[1] is None:
                return value[2]
            return lean.restore(classes[value[1]], [decode(item, classes) if type(item) in _CONTAINERS else item
                                                    for item in value[2:]])
        return tuple([decode(item, classes) if type(item) in _CONTAINERS else item for item in value])
    if kind is list:
        return [decode(item, classes) if type(item) in _CONTAINERS else item for item in value]
    if kind is dict:
        return {key: decode(item, classes) if type(item) in _CONTAINERS else item for key, item in value.items()}
    return value


_CONTAINERS = frozenset((tuple, list, dict))  # what decode looks into; everything else is taken as it is


# ---- the cache ----------------------------------------------------------------------------------------------------

def load_ruleset(request: Request, *, use_cache: bool = True) -> RuleSet:
    """The compiled rules and settings for `request`, from the cache when it is fresh. Raises ValidationFailed."""
    return _load(request, discover(request), use_cache)[0]


def _load(request: Request, refs: tuple[ConfigRef, ...], use_cache: bool,
          key: str | None = None) -> tuple[RuleSet, list[tuple[str, str]]]:
    """The ruleset for `request` and what it was compiled from (the rule files' digests)."""
    directory = cache_dir(request.environ)
    key = key or _key(request, refs)
    entry_path = os.path.join(directory, key)
    if use_cache:
        raw = _read_private(entry_path)
        if raw is not None:
            loaded = _load_entry(raw)
            if loaded is not None:
                return loaded
    ruleset, deps, compiled = compile_request(request, refs)
    if use_cache:
        _store(directory, entry_path, marshal.dumps(
            (CACHE_FORMAT, deps, compiled.regexes, encode(tuple(compiled.selectors.values())),
             encode((ruleset.packs, ruleset.settings, ruleset.digest, ruleset.uses_now)))))
    return ruleset, deps


class RulesetMemo:
    """Compiled rulesets held in memory by a resident evaluator (`policy serve`), by the cache key of their
    request. Every use checks them exactly as a cache entry is checked (the key hashes the config files' contents
    and the policy version, and the rule files' digests must still match), so an edited rule or config file is
    picked up by the next event, as it is without a server; only the reading and decoding of the entry is saved."""

    KEEP = _KEEP_ENTRIES

    def __init__(self) -> None:
        self._held: dict[str, tuple[RuleSet, list[tuple[str, str]]]] = {}

    def load(self, request: Request, *, use_cache: bool = True) -> RuleSet:
        if not use_cache:
            return load_ruleset(request, use_cache=False)
        refs = discover(request)
        key = _key(request, refs)
        held = self._held.pop(key, None)
        if held is None or not _fresh(held[1]):
            held = _load(request, refs, True, key)
        self._held[key] = held  # (most recently used last)
        while len(self._held) > self.KEEP:
            del self._held[next(iter(self._held))]
        return held[0]


def _load_entry(raw: bytes) -> tuple[RuleSet, list[tuple[str, str]]] | None:
    """The ruleset of a fresh cache entry and its dependencies, or None. An entry that cannot be used for any
    reason (truncated, from a build whose records had other fields, ...) is a miss, never an error: the rules are
    simply compiled again."""
    try:
        form, deps, regexes, selectors, payload = marshal.loads(raw)
        if form != CACHE_FORMAT or not _fresh(deps):
            return None
        from policy import conditions
        from policy.model import RuleSet

        classes = _record_classes()
        packs, settings, digest, uses_now = decode(payload, classes)
        selector_records = decode(selectors, classes)
        ruleset = RuleSet(packs, settings, digest, RuleSet.index(packs), uses_now)
    except Exception:
        return None
    lean.register_regex_specs(regexes)
    conditions.register_selectors(selector_records)
    return ruleset, deps


def compile_request(request: Request, refs: tuple[ConfigRef, ...]) -> tuple[RuleSet, list[tuple[str, str]], Any]:
    """Resolve the config and compile the rules (the cold path). Raises ValidationFailed on any error."""
    from policy import compiler, config, layering
    from policy.errors import ValidationFailed

    resolved = layering.resolve(request, refs)
    errors = [problem for problem in resolved.diagnostics if problem.severity == "error"]
    untrusted = {source.name for source in resolved.sources if not source.trusted}
    if errors:
        failed = ValidationFailed(errors, settings=resolved.settings)
        if all(_untrusted_config(problem.location.file, refs, resolved.settings) for problem in errors):
            failed.fallback = _fallback(resolved, untrusted)  # type: ignore[attr-defined]
        raise failed
    compiled = compiler.compile_files(resolved.sources)
    broken = {problem.location.file for problem in compiled.errors}
    if broken and broken <= untrusted:
        failed = ValidationFailed(compiled.errors, settings=resolved.settings)
        failed.fallback = _fallback(resolved, broken)  # type: ignore[attr-defined]
        raise failed
    settings_key = repr(resolved.settings).encode()
    try:
        ruleset = compiler.build_ruleset(compiled, resolved.settings, settings_key=settings_key)
    except ValidationFailed as failed:  # the configured fail mode still applies to broken rule files
        raise ValidationFailed(failed.diagnostics, settings=resolved.settings) from None
    directories = [os.path.abspath(path) for path in request.rules if os.path.isdir(path)]
    for ref, document in zip(refs, resolved.documents):  # resolve reads one document per config file, in order
        resolved_dirs = []
        if isinstance(document.data, dict):
            resolved_dirs = [config.config_path_value(item, ref.path, request.environ)
                             for item in document.data.get("rules", []) if isinstance(item, str)]
        directories += [path for path in resolved_dirs if os.path.isdir(path)]
    deps = _dependencies([source.path for source in resolved.sources], directories)
    return ruleset, deps, compiled


def _fallback(resolved: Any, left_out: set[str]) -> RuleSet | None:
    """The rules without the untrusted files that do not load, for the events whose fail mode is open: a broken
    repository file must not switch the user's rules off (policy.hook). None when those do not load either."""
    from policy import compiler
    from policy.errors import ValidationFailed

    compiled = compiler.compile_files([source for source in resolved.sources if source.name not in left_out])
    try:
        return compiler.build_ruleset(compiled, resolved.settings, settings_key=repr(resolved.settings).encode())
    except ValidationFailed:
        return None


def _untrusted_config(file: str, refs: tuple[ConfigRef, ...], settings: Any) -> bool:
    """Whether `file` is an untrusted project's config (whose problems leave it unapplied, not fatal)."""
    from policy import config

    return any(ref.scope == "project" and ref.path == file and
               not config.is_trusted(config.project_dir_of(ref.path), settings.trusted_paths) for ref in refs)


def _store(directory: str, path: str, data: bytes) -> None:
    """Write atomically, privately; a cache that cannot be written is only slower, never an error."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
        entries = sorted((entry for entry in os.scandir(directory) if entry.is_file()),
                         key=lambda entry: entry.stat().st_mtime, reverse=True)
        for stale in entries[_KEEP_ENTRIES:]:
            os.unlink(stale.path)
    except OSError:
        pass
