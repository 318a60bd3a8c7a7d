"""Errors and diagnostics: every user-facing problem carries a location, a short code, a message and a hint.

Compile-time problems are collected as `Diagnostic`s (all of them, sorted); anything that stops a command is a
`PolicyError`. Only the CLI turns them into text.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from policy.lean import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is: a file, 1-based line and column, and the JSON-style path inside the document."""

    file: str
    line: int = 0
    col: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a file. `severity` is "error" or "warning"."""

    location: Location
    code: str
    message: str
    hint: str = ""
    severity: str = "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.file, self.location.line, self.location.col, self.code)

    def render(self) -> str:
        """`file:line:col: code: message` and, on the next line, the hint."""
        prefix = "" if self.severity == "error" else "warning: "
        text = f"{self.location}: {prefix}{self.code}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "path": self.location.path,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


class PolicyError(Exception):
    """The one base of every error policy reports to a user."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, hint: str = "",
                 location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.hint = hint
        self.location = location

    def one_line(self) -> str:
        """The error as one line, for hook stderr: `location: code: message (hint)`."""
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.code}: {self.message}{hint}".replace("\n", " ")


class ValidationFailed(PolicyError):
    """Rule, test or config files have errors; `diagnostics` holds every one of them, sorted."""

    code = "invalid"

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], *, settings: Any = None) -> None:
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        self.settings = settings  # the configured Settings, when the config files themselves could be read
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0] if errors else self.diagnostics[0]
        more = len(errors) - 1
        message = first.message + (f" (and {more} more: run `policy validate`)" if more > 0 else "")
        super().__init__(message, code=first.code, hint=first.hint, location=first.location)


class InputError(PolicyError):
    """The hook event on stdin cannot be used. `event_name` is the event it names, when that much was readable
    (its fail mode then applies)."""

    code = "bad-input"
    event_name: str | None = None


class StoreError(PolicyError):
    """The fact store cannot be opened, read or written."""

    code = "db-error"


class EvaluationError(PolicyError):
    """A rule failed while it was evaluated (an expression raised, a fact query failed)."""

    code = "runtime-error"


class UsageError(PolicyError):
    """A command was called the wrong way."""

    code = "usage"


def did_you_mean(word: str, choices: Any) -> str:
    """`did you mean 'x'?` for the closest of `choices`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""
