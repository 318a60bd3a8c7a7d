"""What every host adapter shares: reading a JSON payload safely, the canonical `Event` built from it, the table of
what each part of a decision does on each event (one per host, in each adapter), and the validate-time warnings
that table gives.

A host's table maps each canonical event it raises to an `EventProtocol`: for each part of a decision (the
verdicts, context, message, stop, rewrites), how the adapter's render() writes it (`how`, a word of that adapter)
and the cell of its table in docs/protocol.md (`doc`). render() follows the table, `check_parts` warns from it,
scripts/gen_docs.py prints it, and tests/test_protocol*.py check every cell by running `policy eval --agent NAME`.
"""

from __future__ import annotations

from policy.errors import InputError
from policy.lean import json_loads
from policy.model import TOOL_EVENTS, Event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import dataclass
    from typing import Any

    from policy.errors import Diagnostic
else:
    from policy.lean import dataclass

_STRING_FIELDS = ("session_id", "transcript_path", "cwd", "permission_mode", "tool_name", "prompt")


def type_name(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def decode_object(raw: bytes, examples: str = "examples/events/") -> dict[str, Any]:
    """One hook payload as a JSON object. Raises InputError with one clear line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"stdin is not valid UTF-8 (byte {raw[error.start]:#04x} at offset {error.start})",
                         hint="the hook payload must be UTF-8 JSON") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError("stdin is empty", hint="pipe a hook event (JSON) into `policy eval`")
    try:
        data = json_loads(text)
    except ValueError as error:
        raise InputError(f"stdin is not valid JSON: {error}", hint="the hook payload must be one JSON object") from None
    if not isinstance(data, dict):
        raise InputError(f"the hook payload must be a JSON object, not {type_name(data)}",
                         hint=f"see {examples} for real payloads")
    if "\\ud" in text or "\\uD" in text:  # a JSON escape can make a lone surrogate, which no UTF-8 can carry
        data = without_lone_surrogates(data)
    return data  # type: ignore[no-any-return]


def event_name_of(data: dict[str, Any], field: str, hint: str, given: str | None = None) -> str:
    """The event a payload names in `field` (else `given`, the hook's `--event`); InputError when it is missing or
    not a string."""
    event_name = data.get(field, given)
    if event_name is not None and not isinstance(event_name, str):
        raise InputError(f"field {field!r} must be a string, not {type_name(event_name)}")
    if not event_name:
        raise InputError(f"the hook payload has no {field}", hint=hint)
    return event_name


def named_event(raw: bytes, host: str | None = None) -> str | None:
    """The event a payload names in `hook_event_name`, read from its first bytes without parsing it (for a payload
    that cannot be parsed, e.g. one cut at the size ceiling, so that the failure still answers in that event's fail
    mode); with `host`, the canonical event that host's name stands for (None for one policy does not map)."""
    import re

    found = re.search(rb'"hook_event_name"\s*:\s*"([A-Za-z]{1,64})"', raw[:65536])
    if not found:
        return None
    if host is None:
        return found.group(1).decode()
    from policy.vocabulary import host_event

    event = host_event(host, found.group(1).decode())
    return event.canonical if event else None


def without_lone_surrogates(value: Any) -> Any:
    """`value` with each unpaired UTF-16 surrogate (from an escape such as `\\ud800`) replaced by U+FFFD, so that
    the event's text can be logged, templated and answered back as UTF-8. Iterative: a payload may nest as deep
    as the JSON reader allows, deeper than Python's recursion limit leaves room for here."""
    root = [value]
    pending: list[tuple[Any, Any, Any]] = [(root, 0, value)]  # (container, key, value)
    while pending:
        container, key, item = pending.pop()
        if isinstance(item, str):
            fixed = _fixed_text(item)
            if fixed is not item:
                container[key] = fixed
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            for name, child in item.items():
                name = _fixed_text(name)
                copy[name] = child
                pending.append((copy, name, child))
            container[key] = copy
        elif isinstance(item, list):
            items = list(item)
            container[key] = items
            pending.extend((items, index, child) for index, child in enumerate(items))
    return root[0]


def _fixed_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def canonical_event(host: str, event_name: str, data: dict[str, Any], host_tool: str | None = None) -> Event:
    """The Event for a payload already in canonical form (Claude Code's field names, `event_name` canonical),
    after checking the types of the fields rules read. Raises InputError naming the event."""
    try:
        for field in _STRING_FIELDS:
            value = data.get(field)
            if value is not None and not isinstance(value, str):
                raise InputError(f"field {field!r} must be a string, not {type_name(value)}")
        tool_input = data.get("tool_input")
        if tool_input is not None and not isinstance(tool_input, dict):
            raise InputError(f"field 'tool_input' must be an object, not {type_name(tool_input)}")
        stop_hook_active = data.get("stop_hook_active", False)
        if not isinstance(stop_hook_active, bool):
            raise InputError(f"field 'stop_hook_active' must be a boolean, not {type_name(stop_hook_active)}")
        if event_name in TOOL_EVENTS and not data.get("tool_name"):
            raise InputError(f"a {event_name} payload needs a tool_name")
    except InputError as error:
        error.event_name = event_name
        raise
    return Event(
        host=host, name=event_name, agent_session=data.get("session_id"), cwd=data.get("cwd"),
        tool=data.get("tool_name"), tool_input=tool_input or {}, prompt=data.get("prompt"),
        permission_mode=data.get("permission_mode"), stop_hook_active=stop_hook_active,
        transcript_path=data.get("transcript_path"), data=data, host_tool=host_tool,
    )


# ---- the table: what each part of a decision does on each event ------------------------------------------------

@dataclass(frozen=True, slots=True)
class Part:
    """What one part of a decision does on one event: `how` names what render() writes ("" for nothing), `doc` is
    the table cell of docs/protocol.md."""

    how: str = ""
    doc: str = "—"


NONE = Part()


@dataclass(frozen=True, slots=True)
class EventProtocol:
    """How each part of a decision is answered on one event (the `how` words are each adapter's own)."""

    deny: Part = NONE
    ask: Part = NONE
    defer: Part = NONE
    allow: Part = NONE
    context: Part = NONE
    message: Part = NONE
    stop: Part = NONE
    update_input: Part = NONE
    update_output: Part = NONE
    # The context is dropped when the answer blocks (the prompt it would go with is erased).
    context_with_block: bool = True
    # False: policy refuses rules on the event and never installs a hook for it.
    supported: bool = True
    # Whether the context's delivery is documented (False: the host's output schema accepts it, no more).
    context_confirmed: bool = True


VERDICT_PARTS = ("deny", "ask", "defer", "allow")
OTHER_PARTS = ("context", "message", "stop", "update_input", "update_output")
RULE_KEYS = {"deny": "decision: deny", "ask": "decision: ask", "defer": "decision: defer", "allow": "decision: allow",
             "context": "context", "message": "message", "stop": "stop", "update_input": "update_input",
             "update_output": "update_output"}


class Table:
    """A host's table, each event's entry built when first asked for (a hook needs one, not all)."""

    def __init__(self, makers: dict[str, Callable[[], EventProtocol]]) -> None:
        self.makers = makers
        self.built: dict[str, EventProtocol] = {}

    def get(self, event_name: str | None) -> EventProtocol | None:
        if event_name not in self.makers:
            return None
        assert event_name is not None
        found = self.built.get(event_name)
        if found is None:
            found = self.built[event_name] = self.makers[event_name]()
        return found

    def all(self) -> dict[str, EventProtocol]:
        return {event_name: self.get(event_name) for event_name in self.makers}  # type: ignore[misc]


def rule_parts(rule: Any) -> list[str]:
    """The parts of a decision a rule produces (keys of EventProtocol)."""
    parts = [rule.decision] if rule.decision else []
    return parts + [part for part in OTHER_PARTS if getattr(rule, part) is not None]


def check_parts(packs: Any, host: str, title: str, table: Table, unsupported_hint: str = "") -> list[Diagnostic]:
    """Located diagnostics for rules the host cannot act on as written: an error for an event policy cannot answer
    there; warnings for each part of a decision that does nothing on some of the rule's events, is dropped there by
    the rule's own verdict, or whose effect there is not documented. Rules `agents:` keeps off the host are
    skipped."""
    from policy.errors import Diagnostic

    problems: list[Diagnostic] = []
    on = f" in {title}"
    # a portable rule is right as it is on the hosts where the part works: the choice is the user's hosts
    elsewhere = "" if host == "claude-code" else f", limit the rule with `agents:`, or leave {host} out of the " \
                                                 "config's `agents:` if you do not use it"
    for pack in packs:
        for rule in pack.rules:
            if rule.agents and host not in rule.agents:
                continue
            protocols = {event: entry for event in rule.events if (entry := table.get(event)) is not None}
            unsupported = [event for event, entry in protocols.items() if not entry.supported]
            if unsupported:
                problems.append(Diagnostic(rule.location, "unsupported-event",
                                           f"rule {pack.name}/{rule.id}: policy cannot answer "
                                           f"{', '.join(unsupported)}{on}", unsupported_hint))
            known = {event: entry for event, entry in protocols.items() if entry.supported}
            for part in rule_parts(rule):
                inert = [event for event, entry in known.items() if not getattr(entry, part).how]
                if inert and part in VERDICT_PARTS:
                    problems.append(Diagnostic(
                        rule.location, "inert-decision", f"{RULE_KEYS[part]} does nothing on {', '.join(inert)}{on} "
                        "(the rule still matches there: its other parts and effects apply)",
                        "docs/protocol.md shows what each event can do; drop these events from the rule or the "
                        f"decision{elsewhere}", "warning"))
                elif inert:
                    problems.append(Diagnostic(
                        rule.location, "inert-field", f"{part} does nothing on {', '.join(inert)}{on}",
                        f"docs/protocol.md shows what each event can do; drop these events from the rule or the "
                        f"{part}{elsewhere}", "warning"))
            verdict = rule.decision
            exits = [event for event, entry in known.items()
                     if verdict and getattr(entry, verdict).how == "exit-2"]
            if rule.message is not None and exits:
                problems.append(Diagnostic(
                    rule.location, "inert-field", f"message is dropped with this rule's deny on {', '.join(exits)}: "
                    f"{title} blocks there by exit code only, which carries only the reason",
                    "put the message in the reason, or in a rule of its own", "warning"))
            erased = [event for event, entry in known.items() if verdict and not entry.context_with_block
                      and entry.context.how and getattr(entry, verdict).how == "block"]
            if rule.context is not None and erased:
                problems.append(Diagnostic(
                    rule.location, "inert-field", f"context is dropped with this rule's block on {', '.join(erased)}"
                    ": the prompt it would go with is erased", "drop the context, or move it to a rule of its "
                    "own", "warning"))
            dropped = [event for event, entry in known.items() if entry.update_input.how == "decision"
                       and verdict != "allow"]
            if rule.update_input is not None and dropped:
                problems.append(Diagnostic(
                    rule.location, "inert-field", f"update_input is dropped with this rule's {verdict} on "
                    f"{', '.join(dropped)}: {title} takes a rewrite there only with an allow",
                    "make it a rule of its own with `decision: allow`, or drop the event", "warning"))
            unconfirmed = [event for event, entry in known.items()
                           if entry.context.how and not entry.context_confirmed]
            if rule.context is not None and unconfirmed:
                problems.append(Diagnostic(
                    rule.location, "unconfirmed-field", f"context on {', '.join(unconfirmed)}: {title} accepts "
                    f"it but does not document giving it to {'Claude' if host == 'claude-code' else 'the agent'}",
                    "docs/protocol.md; put the context on another event to be sure it arrives", "warning"))
    return problems


def joined(*texts: str | None) -> str:
    """Texts joined by a blank line, empty ones left out."""
    return "\n\n".join(text for text in texts if text)


# ---- hosts other than Claude Code: their names to the canonical ones and back ----------------------------------

def canonical_tool_fields(host: str, data: dict[str, Any]) -> str | None:
    """Rewrite `data`'s `tool_name` and `tool_input` (the host's) to the canonical tool and field names, in place;
    the host's tool name when it differs (for Event.host_tool). A `tool_input` that is not an object is left for
    canonical_event to refuse."""
    from policy.vocabulary import canonical_tool, normalised_input

    tool = data.get("tool_name")
    if not isinstance(tool, str):
        return None
    canonical, renames = canonical_tool(host, tool)
    data["tool_name"] = canonical
    tool_input = data.get("tool_input")
    if isinstance(tool_input, dict) and renames:
        data["tool_input"] = normalised_input(tool_input, renames)
    if canonical == tool:
        return None
    data["host_tool"] = tool
    return tool


def host_input(host: str, event: Event, tool_input: dict[str, Any]) -> dict[str, Any]:
    """A (rewritten) canonical tool input in the host's field names, for the tool the event is about."""
    from policy.vocabulary import canonical_tool

    renames = canonical_tool(host, event.host_tool)[1] if event.host_tool else {}
    back = {canonical: theirs for theirs, canonical in renames.items()}
    return {back.get(key, key): value for key, value in tool_input.items()}


def host_tool_name(host: str, tool: str) -> tuple[str, dict[str, str]]:
    """The host's name for a canonical tool, and the canonical -> host field names (for building a host payload
    in `policy test --agent`). Raises ValueError when the host has no such tool."""
    from policy.vocabulary import HOST_TITLES, host_tools

    if tool.startswith("mcp__"):
        if host == "gemini":
            server, _, name = tool[5:].partition("__")
            return f"mcp_{server}_{name}", {}
        return tool, {}
    for found in host_tools(host):
        if found.canonical == tool:
            return found.name, dict(found.fields)
    raise ValueError(f"{HOST_TITLES[host]} has no {tool} tool")


def renamed(fields: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in fields.items()}


# ---- events made up from a description (`policy explain`) ------------------------------------------------------

# The input fields Claude Code's file tools send, and what a made-up event gives the others.
_FILE_TOOL_INPUTS: dict[str, dict[str, Any]] = {"Edit": {"old_string": "", "new_string": "", "replace_all": False}, "Write": {"content": ""},
                                                 "Read": {}, "MultiEdit": {"edits": []}, "NotebookEdit": {"new_source": ""}}


def described_event(*, event: str | None = None, command: str | None = None, tool: str | None = None,
                    file: str | None = None, prompt: str | None = None, tool_input: dict[str, Any] | None = None,
                    cwd: str, session: str) -> dict[str, Any]:
    """The canonical event (Claude Code's shape, which each adapter's `payload()` turns into its host's) for a
    described call: a shell command (the Bash tool), a file (`tool` on `file`, Edit by default), a prompt
    (UserPromptSubmit), or any event and tool with `tool_input`. The event defaults to PreToolUse for a tool
    call. Canonical names only (`--event PreToolUse`, `--tool Edit`)."""
    import os

    from policy.errors import UsageError, did_you_mean
    from policy.model import EVENTS

    tool_input = dict(tool_input or {})
    if command is not None:
        tool = tool or "Bash"
        tool_input.setdefault("command", command)
        tool_input.setdefault("description", "")
    if file is not None:
        tool = tool or "Edit"
        tool_input.setdefault("file_path", file if os.path.isabs(file) else os.path.join(cwd, file))
        for key, value in _FILE_TOOL_INPUTS.get(tool, {}).items():
            tool_input.setdefault(key, value)
    name = event or ("UserPromptSubmit" if prompt is not None and tool is None else
                     "PreToolUse" if tool is not None or tool_input else "UserPromptSubmit")
    if name not in EVENTS:
        raise UsageError(f"unknown event {name!r}", hint=did_you_mean(name, EVENTS) or "events: " + ", ".join(EVENTS))
    data: dict[str, Any] = {"session_id": session, "transcript_path": "", "cwd": cwd, "permission_mode": "default",
                            "hook_event_name": name}
    if name in TOOL_EVENTS:
        if tool is None:
            raise UsageError(f"{name} is a tool event: say which call", hint="give a command, or --tool NAME "
                             "(with --file PATH or --input JSON)")
        data.update(tool_name=tool, tool_input=tool_input, tool_use_id="policy-explain")
        if name in ("PostToolUse", "PostToolUseFailure"):
            data.setdefault("tool_response", {})
    elif name == "UserPromptSubmit":
        data["prompt"] = prompt or ""
    elif name in ("Stop", "SubagentStop"):
        data["stop_hook_active"] = False
    return data


def example_payload(host: str, to_host: Callable[[dict[str, Any]], dict[str, Any]], *, event: str | None = None,
                    **described: Any) -> bytes:
    """The payload `host` would send for a described call (`policy explain --agent HOST`): the call as Claude Code
    would send it, in the host's shape (`to_host`, the adapter's `payload`). `event` may be the host's name for
    it, the neutral one or Claude Code's. Raises UsageError for an event or tool the host does not have."""
    from policy.errors import UsageError
    from policy.lean import json_dumps
    from policy.vocabulary import canonical_event as neutral, host_event

    if event is not None:
        found = host_event(host, event)
        event = found.canonical if found else neutral(event)
    canonical = described_event(event=event, **described)
    try:
        return json_dumps(to_host(canonical)).encode()
    except ValueError as error:
        raise UsageError(str(error), hint="docs/hosts.md lists each host's events and tools") from None
