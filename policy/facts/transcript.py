"""`facts.transcript`: what the agent did in this session, read lazily from the event's `transcript_path` (Claude
Code's JSONL transcript), bounded to its last MAX_TRANSCRIPT_BYTES: the tools it used, the Bash commands it ran
(with whether each failed), the file edits, and its last text. For Stop gates such as "were the tests run since
the last edit?".

A line of the transcript is one JSON object: `{"type": "assistant", "message": {"content": [...]}}` holds the
model's blocks (`text`, `thinking`, `tool_use` with `id`, `name`, `input`), `{"type": "user", "message": {"content":
[{"type": "tool_result", "tool_use_id": ..., "is_error": true}]}}` a tool's result. Only lines that can hold either
are parsed; other lines (summaries, snapshots, malformed or cut lines) are skipped.
"""

from __future__ import annotations

from policy.conditions import ExpressionError
from policy.facts import Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_TRANSCRIPT_BYTES = 4 << 20  # the last 4 MiB: hours of a session, read in a few milliseconds
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


class TranscriptFacts(Family):
    """The session's transcript, parsed on first use. With no readable transcript (`available` false) the lists
    are empty and the text is None."""

    name = "transcript"
    fields = {
        "available": "True when the event's transcript_path (a `.jsonl` file) could be read.",
        "truncated": "True when the transcript is longer than the last 4 MiB, which are all that is read.",
        "tools": "The names of the tools used, in order (`['Read', 'Edit', 'Bash']`).",
        "calls": "Every tool call, in order: `{tool, input, ok}`; `ok` is False when its result was an error, "
                 "True when it succeeded, None when no result is recorded (yet).",
        "commands": "The Bash commands run, in order (`input.command` of each Bash call).",
        "edited": "True when a file was edited (Edit, Write, MultiEdit, NotebookEdit) in what was read.",
        "commands_since_edit": "The Bash commands run after the last file edit (all of them when none).",
        "last_text": "The text of the last assistant message that has text (its text blocks joined), or None.",
        "ran": "`ran(regex)`: whether a Bash command was run one of whose simple commands matches `regex`: "
               "searched in its words as the presence pack's command map reads them (`cd x && .venv/bin/pytest -q` "
               "holds `cd x` and `pytest -q`), so anchor it with `^`.",
        "ran_since_edit": "`ran_since_edit(regex)`: whether one was run after the last file edit (at all, when "
                          "nothing was edited).",
        "passed_since_edit": "`passed_since_edit(regex)`: whether the last such command after the last edit "
                             "succeeded (its result was not an error).",
    }

    regex_args = {"ran": (0,), "ran_since_edit": (0,), "passed_since_edit": (0,)}

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.available = False
        self.truncated = False
        self.calls: list[dict[str, Any]] = []
        self.last_text: str | None = None
        self._last_edit = -1
        self._memo: dict[tuple[Any, str], bool] = {}
        # Claude Code's format: other hosts keep transcripts of their own (Codex's rollout JSONL), or none
        if context.event.host == "claude-code":
            self._read(context.event.transcript_path)

    def _read(self, path: str | None) -> None:
        if not path or not isinstance(path, str) or not path.endswith(".jsonl"):
            return
        from policy.lean import read_file_tail

        try:
            raw, self.truncated = read_file_tail(path, MAX_TRANSCRIPT_BYTES)
        except (OSError, ValueError):
            return
        self.available = True
        lines = raw.split(b"\n")
        if self.truncated:
            lines = lines[1:]  # the first line was cut
        from policy.lean import json_loads

        by_id: dict[str, dict[str, Any]] = {}
        for line in lines:
            if b'"assistant"' not in line and b'"tool_result"' not in line:
                continue
            try:
                entry = json_loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(entry, dict):
                continue
            message = entry.get("message")
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            kind = entry.get("type")
            if kind == "assistant":
                texts = []
                for block in content:
                    if not isinstance(block, dict):
                        continue
                    if block.get("type") == "text" and isinstance(block.get("text"), str):
                        texts.append(block["text"])
                    elif block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                        tool_input = block.get("input")
                        call = {"tool": block["name"], "input": tool_input if isinstance(tool_input, dict) else {},
                                "ok": None}
                        if call["tool"] in EDIT_TOOLS:
                            self._last_edit = len(self.calls)
                        self.calls.append(call)
                        if isinstance(block.get("id"), str):
                            by_id[block["id"]] = call
                if texts:
                    self.last_text = "\n".join(texts)
            elif kind == "user":
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        called = by_id.get(str(block.get("tool_use_id")))
                        if called is not None:
                            called["ok"] = block.get("is_error") is not True

    @property
    def tools(self) -> list[str]:
        return [call["tool"] for call in self.calls]

    @property
    def commands(self) -> list[str]:
        return [command for command, _ in self._bash(0)]

    @property
    def edited(self) -> bool:
        return self._last_edit >= 0

    @property
    def commands_since_edit(self) -> list[str]:
        return [command for command, _ in self._bash(self._last_edit + 1)]

    def ran(self, pattern: Any) -> bool:
        return self._latest(pattern, 0) is not None

    def ran_since_edit(self, pattern: Any) -> bool:
        return self._latest(pattern, self._last_edit + 1) is not None

    def passed_since_edit(self, pattern: Any) -> bool:
        found = self._latest(pattern, self._last_edit + 1)
        return found is not None and found[1] is True

    def _latest(self, pattern: Any, start: int) -> tuple[str, bool | None] | None:
        """The newest Bash call from `start` on whose command matches, searched newest first (the command a Stop
        gate asks about is usually among the last)."""
        for command, ok in reversed(self._bash(start)):
            if self._matches(pattern, command):
                return command, ok
        return None

    def _matches(self, pattern: Any, command: str) -> bool:
        key = (pattern, command)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = _search(pattern, command)
        return found

    def _bash(self, start: int) -> list[tuple[str, bool | None]]:
        return [(str(call["input"].get("command")), call["ok"]) for call in self.calls[start:]
                if call["tool"] == "Bash" and isinstance(call["input"].get("command"), str)]


def _search(pattern: Any, command: str) -> bool:
    """Whether a simple command of `command` (normalised as policy.labels reads it) matches `pattern`; a line past
    the reader's bounds is searched whole."""
    if not isinstance(pattern, str):
        raise ExpressionError(f"transcript: the pattern must be a regex string, not {pattern!r}")
    from policy import lean
    from policy.labels import CommandTooComplex, simple_commands

    try:
        texts = [" ".join(words) for words, _ in simple_commands(command)]
    except CommandTooComplex:
        texts = [command]
    try:
        compiled = lean.regex(pattern)
    except Exception as error:  # re.error, without importing re on the eval path
        raise ExpressionError(f"transcript: bad regex {pattern!r}: {error}") from None
    return any(compiled.search(text) is not None for text in texts)


FAMILY = TranscriptFacts
