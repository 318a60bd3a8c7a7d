"""The lean runtime: what `policy eval` needs from the standard library, without its slow-to-import wrappers.

A hook runs once per tool call, as a fresh process, so import time is most of its cost. On this project's
reference machine a bare `python -c pass` starts in ~7 ms and these wrappers each add a large share of that:
`dataclasses` 1.7x, `re` 0.6x, `json` 0.7x (it imports `re`), `sqlite3` 0.5x, `hashlib` 0.2x. Their C cores
(`_sre`, `_json`, `_sqlite3`, `_blake2`) cost almost nothing. This module wraps those cores behind small, tested
functions, and falls back to the public modules wherever a core is missing (another Python implementation).
docs/performance.md has the measurements.
"""

from __future__ import annotations

import marshal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Pattern
    from typing import Any, TypeVar

    T = TypeVar("T")
    RegexSpec = tuple[Any, ...]  # (pattern, flags, code, groups, groupindex, indexgroup): _sre.compile's arguments

# --------------------------------------------------------------------------------------------------------------
# Frozen records: the subset of `dataclasses.dataclass(frozen=True, slots=True)` that policy uses.
#
# Modules declare their records with `@dataclass(frozen=True, slots=True)`. Type checkers read the
# `if TYPE_CHECKING:` branch and see the real `dataclasses`; at run time this implementation is used, because
# importing `dataclasses` (it imports `inspect`) alone costs more than the whole hook's start-up budget.
# Records are never pickled (the compiled cache uses marshal, see policy/cache.py).
# tests/test_lean.py checks that both behave the same for every feature used here.
# --------------------------------------------------------------------------------------------------------------

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Raised on an attempt to change a field of a frozen record."""


class _Factory:
    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], object]) -> None:
        self.factory = factory


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made fresh for every instance (only `default_factory` is supported)."""
    return _Factory(default_factory)  # type: ignore[return-value]


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make_init(names: tuple[str, ...], defaults: dict[str, object]) -> Callable[..., None]:
    count = len(names)
    setter = object.__setattr__

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        if len(args) > count:
            raise TypeError(f"{type(self).__name__}() takes {count} arguments but {len(args)} were given")
        for index, name in enumerate(names):
            if index < len(args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
                value = args[index]
            elif name in kwargs:
                value = kwargs.pop(name)
            else:
                default = defaults.get(name, _MISSING)
                if default is _MISSING:
                    raise TypeError(f"{type(self).__name__}() missing required argument {name!r}")
                value = default.factory() if isinstance(default, _Factory) else default
            setter(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    return __init__


def _values(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in self.__policy_fields__)  # type: ignore[attr-defined]


def _eq(self: object, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _repr(self: object) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__policy_fields__)  # type: ignore[attr-defined]
    return f"{type(self).__qualname__}({fields})"


def dataclass(cls: type[T] | None = None, /, *, frozen: bool = True, slots: bool = True) -> Any:
    """Make `cls` a frozen record: `__init__`, `==`, `hash`, `repr`, immutability.

    The class is completed in place rather than re-created with `__slots__` as `dataclasses` does: defining a
    class twice costs ~30 µs, and the hook defines ~20 records on every run. `slots=True` is accepted so that
    type checkers, which see the real `dataclasses`, check the same declaration.
    """
    if not frozen:
        raise TypeError("policy records are always frozen")

    def wrap(cls: type[T]) -> type[T]:
        names = tuple(cls.__dict__.get("__annotations__", {}))
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        for name in defaults:
            delattr(cls, name)
        members = {"__policy_fields__": names, "__match_args__": names, "__init__": _make_init(names, defaults),
                   "__setattr__": _frozen_setattr, "__delattr__": _frozen_delattr, "__eq__": _eq,
                   "__hash__": _hash, "__repr__": _repr}
        for name, value in members.items():
            setattr(cls, name, value)
        return cls

    return wrap if cls is None else wrap(cls)


def restore(cls: type[T], values: list[Any]) -> T:
    """An instance of record class `cls` from its field values, in declaration order, without running `__init__`
    (for data that was a valid record when it was stored: the compiled-rules cache)."""
    names = getattr(cls, "__policy_fields__", None)
    if names is None:  # a real dataclass (another Python implementation's type checking run)
        return cls(*values)
    record = object.__new__(cls)
    record.__dict__.update(zip(names, values))
    return record


def fields_of(record: object) -> tuple[str, ...]:
    """The field names of a record, in declaration order (works for real dataclasses too)."""
    return fields_of_class(type(record))


def fields_of_class(cls: type) -> tuple[str, ...]:
    """The field names of a record class, in declaration order (works for real dataclasses too)."""
    names = getattr(cls, "__policy_fields__", None)
    if names is None:
        names = tuple(getattr(cls, "__dataclass_fields__"))
    return tuple(names)


def replace(record: T, /, **changes: object) -> T:
    """A copy of `record` with some fields changed, like `dataclasses.replace`."""
    values = {name: getattr(record, name) for name in fields_of(record)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(record)(**values)


def asdict(record: object) -> dict[str, Any]:
    """A record as plain data: nested records become dicts, tuples become lists."""

    def convert(value: object) -> object:
        if hasattr(type(value), "__policy_fields__") or hasattr(type(value), "__dataclass_fields__"):
            return {name: convert(getattr(value, name)) for name in fields_of(value)}
        if isinstance(value, (list, tuple)):
            return [convert(item) for item in value]
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        return value

    result = convert(record)
    assert isinstance(result, dict)
    return result


# --------------------------------------------------------------------------------------------------------------
# JSON through the `_json` C accelerator (the `json` package imports `re`).
# --------------------------------------------------------------------------------------------------------------

_WHITESPACE = " \t\n\r"

try:
    import _json

    def _reject_constant(name: str) -> object:
        raise ValueError(f"{name} is not valid JSON")

    class _ScanContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = staticmethod(_reject_constant)
        memo: dict[str, str] = {}

    _scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]

    def _invalid(text: str) -> ValueError:
        """The error for a document the scanner refused, in the json module's words.

        `_json` reports syntax errors by raising `json.decoder.JSONDecodeError`, which it looks up in
        `sys.modules` without importing it: while `json` is not imported (the hook's fast path), the scanner
        fails with a SystemError ("returned NULL without setting an exception") instead. So on this rare path
        the json module is imported and asked what is wrong.
        """
        import json

        try:
            json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:
            return ValueError(str(error))
        return ValueError("not valid JSON")

    def json_loads(text: str) -> Any:
        """Parse one JSON document, strictly (no NaN/Infinity, nothing after the value)."""
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except (StopIteration, ValueError, SystemError):
            raise _invalid(text) from None
        except RecursionError:
            raise ValueError("the JSON value is nested too deeply") from None
        finally:
            _ScanContext.memo.clear()
        if text[end:].strip(_WHITESPACE):
            raise ValueError(f"extra data after the JSON value at char {end}")
        return value

    def _unserialisable(value: object) -> object:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    _encode = _json.make_encoder(
        None, _unserialisable, _json.encode_basestring, None, ":", ",", False, False, False)
    _encode_pretty = _json.make_encoder(
        None, _unserialisable, _json.encode_basestring, None, ": ", ", ", False, False, False)

    def json_dumps(value: object, *, spaced: bool = False) -> str:
        """Serialise plain data compactly (`spaced` adds a space after `:` and `,`). Non-ASCII stays as is."""
        return "".join((_encode_pretty if spaced else _encode)(value, 0))

except ImportError:  # pragma: no cover - other Python implementations
    import json as _json_module

    def json_loads(text: str) -> Any:
        def reject(name: str) -> object:
            raise ValueError(f"{name} is not valid JSON")
        return _json_module.loads(text, parse_constant=reject)

    def json_dumps(value: object, *, spaced: bool = False) -> str:
        separators = (", ", ": ") if spaced else (",", ":")
        return _json_module.dumps(value, ensure_ascii=False, allow_nan=False, separators=separators)


# --------------------------------------------------------------------------------------------------------------
# Regular expressions compiled ahead of time.
#
# `regex_spec` (compile time, in `policy validate` or on a cold cache) runs the standard library's own regex
# compiler and keeps its output; `regex` (run time) hands that output to the `_sre` core directly, so a warm
# `policy eval` never imports `re`. A spec is only used by the exact interpreter that made it (the compiled
# cache is keyed by interpreter version); anything unexpected falls back to `re.compile`.
# --------------------------------------------------------------------------------------------------------------

_SPECS: dict[tuple[str, int], RegexSpec] = {}
_COMPILED: dict[tuple[str, int], Pattern[str]] = {}


def regex_spec(pattern: str, flags: int = 0) -> RegexSpec | None:
    """Compile `pattern` with the standard library and return what `_sre` needs to rebuild it, or None.

    Raises `re.error` for an invalid pattern.
    """
    import re

    re.compile(pattern, flags)  # the public check, with the public error message
    try:
        from re import _compiler, _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
        code = _compiler._code(parsed, flags)
        groupindex = dict(parsed.state.groupdict)
        indexgroup: list[str | None] = [None] * parsed.state.groups
        for name, index in groupindex.items():
            indexgroup[index] = name
        return (pattern, int(flags | parsed.state.flags), [int(op) for op in code], parsed.state.groups - 1,
                groupindex, tuple(indexgroup))
    except Exception:  # a Python whose regex internals differ: fall back to re.compile at run time
        return None


def register_regex_specs(specs: dict[tuple[str, int], RegexSpec]) -> None:
    """Make precompiled specs known to `regex` (called when a compiled ruleset is loaded)."""
    _SPECS.update(specs)


def regex(pattern: str, flags: int = 0) -> Pattern[str]:
    """The compiled pattern, from a registered spec when there is one, else from `re.compile`; memoised."""
    key = (pattern, flags)
    compiled = _COMPILED.get(key)
    if compiled is None:
        spec = _SPECS.get(key)
        if spec is not None:
            try:
                import _sre

                compiled = _sre.compile(*spec)
            except Exception:
                compiled = None
        if compiled is None:
            import re

            compiled = re.compile(pattern, flags)
        _COMPILED[key] = compiled
    return compiled


# --------------------------------------------------------------------------------------------------------------
# SQLite through the `_sqlite3` core (`sqlite3` adds `datetime` and `collections.abc` imports on top of it).
# The connection objects are the same type; sqlite-utils accepts them.
# --------------------------------------------------------------------------------------------------------------

try:
    import _sqlite3 as sqlite
except ImportError:  # pragma: no cover
    import sqlite3 as sqlite  # type: ignore[no-redef]

__all__ = ["FileRefused", "FrozenInstanceError", "asdict", "dataclass", "digest", "field", "fields_of",
           "interpreter_tag", "json_dumps", "json_loads", "read_regular_file", "regex", "regex_spec",
           "register_regex_specs", "replace", "restore", "sqlite"]


# --------------------------------------------------------------------------------------------------------------
# Content digests (`hashlib` loads OpenSSL; the built-in BLAKE2 core does not).
# --------------------------------------------------------------------------------------------------------------

try:
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b as _blake2b


def digest(*parts: bytes) -> str:
    """A short hex digest of the given byte strings (length-prefixed, so part boundaries count)."""
    hasher = _blake2b(digest_size=16)
    for part in parts:
        hasher.update(len(part).to_bytes(8, "little"))
        hasher.update(part)
    return hasher.hexdigest()


def interpreter_tag() -> str:
    """Identifies the interpreter for caches of compiled code and regex specs."""
    try:
        import _sre

        magic = _sre.MAGIC
    except ImportError:  # pragma: no cover
        magic = 0
    return f"{sys.implementation.cache_tag}-{sys.hexversion:x}-{magic}-{marshal.version}"


# --------------------------------------------------------------------------------------------------------------
# Reading files that someone else may have put there (rule files, config files, a repository's checklist).
# --------------------------------------------------------------------------------------------------------------

MAX_FILE_BYTES = 4 * 1024 * 1024  # rule and config files; a real one is a few kilobytes


class FileRefused(OSError):
    """A path that is not a regular file of bounded size (a FIFO, a device, a directory, a huge file)."""


def read_file_tail(path: str, limit: int) -> tuple[bytes, bool]:
    """The last `limit` bytes of the regular file at `path` (opened as read_regular_file opens it), and whether
    anything before them was left unread. Raises OSError (FileRefused when it is not a regular file)."""
    import os
    import stat

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("it is not a regular file")
        start = max(0, info.st_size - limit)
        if start:
            os.lseek(descriptor, start, os.SEEK_SET)
        chunks = []
        size = 0
        while size < limit:  # a file that grows meanwhile is read up to the limit
            chunk = os.read(descriptor, min(1 << 20, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), start > 0
    finally:
        os.close(descriptor)


def read_regular_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them. A FIFO would block the reader forever
    and /dev/zero (say, through a committed symlink) would fill the memory: the file is opened without blocking
    and refused unless it is a regular file no larger than `limit`. Raises OSError (FileRefused for those, saying what
    the path is)."""
    import os
    import stat

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else \
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file"
            raise FileRefused(f"it is {kind}, not a regular file")
        if info.st_size > limit:
            raise FileRefused(f"it is larger than {limit:,} bytes")
        chunks = []
        size = 0
        while True:  # read to the end, even if the file grows meanwhile, up to the limit
            chunk = os.read(descriptor, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileRefused(f"it is larger than {limit:,} bytes")
        return b"".join(chunks)
    finally:
        os.close(descriptor)
