"""The host-neutral vocabulary: canonical events, tool kinds and normalised tool inputs, and each host's names for
them (docs/hosts.md).

A rule may name events in the neutral spelling (`before_tool`) or in Claude Code's (`PreToolUse`): both name the
same canonical event, keyed inside policy by Claude Code's name (the richest set, and what rules have always
used). Tools likewise: a rule may name a tool kind (`shell`) or a Claude Code tool name (`Bash`), and every adapter
gives rules the tool under its Claude Code name, with its input under Claude Code's field names (`input.command`,
`input.file_path`, `input.content`, ...), whatever the host calls them; the host's own names stay readable
(`event.host_tool`, `event.host_payload`).

This module is data and small lookups: adapters (parse), the compiler (`events:`, `tools:`, `agents:`),
`policy validate` (selectors and tool names per host) and `policy install` (which hooks a ruleset needs, per host)
read it. No adapter is imported here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Rule, RuleSet
else:
    from policy.lean import dataclass

# The hosts, by the name `--agent` takes, in the order docs and `policy install --agent auto` list them.
HOSTS = ("claude-code", "codex", "gemini", "cursor", "copilot")
HOST_TITLES = {"claude-code": "Claude Code", "codex": "Codex CLI", "gemini": "Gemini CLI", "cursor": "Cursor",
               "copilot": "GitHub Copilot CLI"}

# Neutral event name -> the canonical event (Claude Code's name for it).
NEUTRAL_EVENTS = {
    "session_start": "SessionStart",
    "session_end": "SessionEnd",
    "prompt": "UserPromptSubmit",
    "before_tool": "PreToolUse",
    "permission_request": "PermissionRequest",
    "after_tool": "PostToolUse",
    "tool_failure": "PostToolUseFailure",
    "stop": "Stop",
    "stop_failure": "StopFailure",
    "subagent_start": "SubagentStart",
    "subagent_stop": "SubagentStop",
    "notification": "Notification",
    "pre_compact": "PreCompact",
    "post_compact": "PostCompact",
}
NEUTRAL_NAMES = {canonical: neutral for neutral, canonical in NEUTRAL_EVENTS.items()}


def canonical_event(name: str) -> str:
    """The canonical event a rule's event name means (a neutral name, or Claude Code's, which stays as it is)."""
    return NEUTRAL_EVENTS.get(name, name)


# ---- tool kinds and the canonical tools ---------------------------------------------------------------------------

# Kind -> the canonical (Claude Code) tool names of that kind. `mcp` tools are named `mcp__<server>__<tool>`.
TOOL_KINDS: dict[str, tuple[str, ...]] = {
    "shell": ("Bash", "PowerShell"),
    "edit": ("Edit", "MultiEdit", "NotebookEdit"),
    "write": ("Write",),
    "read": ("Read",),
    "search": ("Grep", "Glob"),
    "fetch": ("WebFetch", "WebSearch"),
    "mcp": (),
}
KIND_OF = {tool: kind for kind, tools in TOOL_KINDS.items() for tool in tools}
MCP_PATTERN = "mcp__.*"

# The normalised input fields of each canonical tool (Claude Code's names): what `input.X` and `tool_input.X`
# may name (policy validate checks selectors against them).
TOOL_FIELDS: dict[str, tuple[str, ...]] = {
    "Bash": ("command", "description", "timeout", "run_in_background"),
    "PowerShell": ("command", "description", "timeout", "run_in_background"),
    "Edit": ("file_path", "old_string", "new_string", "replace_all"),
    "MultiEdit": ("file_path", "edits"),
    "NotebookEdit": ("notebook_path", "new_source", "cell_id", "cell_type", "edit_mode"),
    "Write": ("file_path", "content"),
    "Read": ("file_path", "offset", "limit"),
    "Grep": ("pattern", "path", "glob", "output_mode", "-i", "multiline", "type"),
    "Glob": ("pattern", "path"),
    "WebFetch": ("url", "prompt"),
    "WebSearch": ("query", "allowed_domains", "blocked_domains"),
    "Agent": ("prompt", "description", "subagent_type", "model"),
    "Task": ("prompt", "description", "subagent_type", "model"),
}


def tool_kind(tool: str | None) -> str | None:
    """The kind of a canonical tool name (None for one of no kind, e.g. `Agent`)."""
    if tool is None:
        return None
    if tool.startswith("mcp__"):
        return "mcp"
    return KIND_OF.get(tool)


def expand_tool_name(name: str) -> str:
    """A rule's `tools:` entry with a kind word replaced by the regex of its canonical tools (`shell` ->
    `Bash|PowerShell`, `mcp` -> `mcp__.*`); anything else (a tool name, a regex) as written."""
    if name == "mcp":
        return MCP_PATTERN
    tools = TOOL_KINDS.get(name)
    return "|".join(tools) if tools else name


# ---- hosts ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostEvent:
    """One event of a host: its name there, the canonical event it becomes, the tool kind it implies (Cursor's
    `beforeShellExecution` is always a shell call) and whether the host matches its hooks on the tool name."""

    name: str
    canonical: str
    kind: str | None = None
    matcher: bool = False


@dataclass(frozen=True, slots=True)
class HostTool:
    """One tool of a host: its name there, its canonical name and the host's input field for each canonical one
    (`{"file_path": "path"}`: the host calls it `path`)."""

    name: str
    canonical: str
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def renames(self) -> dict[str, str]:
        """Host field -> canonical field."""
        return {host: canonical for canonical, host in self.fields}


def _events(*specs: tuple[Any, ...]) -> tuple[HostEvent, ...]:
    return tuple(HostEvent(*spec) for spec in specs)


_CLAUDE_TOOL_EVENTS = ("PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure")


def _claude_events() -> tuple[HostEvent, ...]:
    from policy.model import EVENTS

    return tuple(HostEvent(name, name, None, name in _CLAUDE_TOOL_EVENTS) for name in EVENTS)


# Sources: Claude Code's hooks reference; openai/codex codex-rs/hooks (schema/generated, src/events); google-gemini
# /gemini-cli docs/hooks/reference.md and packages/core/src/tools/definitions; cursor.com/docs/hooks; github/docs
# Copilot CLI hooks reference. What could not be confirmed is listed in docs/hosts.md.
_HOST_EVENTS: dict[str, Any] = {
    "claude-code": _claude_events,
    "codex": lambda: _events(
        ("SessionStart", "SessionStart"), ("UserPromptSubmit", "UserPromptSubmit"),
        ("PreToolUse", "PreToolUse", None, True), ("PermissionRequest", "PermissionRequest", None, True),
        ("PostToolUse", "PostToolUse", None, True), ("Stop", "Stop"), ("StopFailure", "StopFailure"),
        ("SubagentStart", "SubagentStart"), ("SubagentStop", "SubagentStop"), ("PreCompact", "PreCompact"),
        ("PostCompact", "PostCompact")),
    "gemini": lambda: _events(
        ("SessionStart", "SessionStart"), ("SessionEnd", "SessionEnd"), ("BeforeAgent", "UserPromptSubmit"),
        ("AfterAgent", "Stop"), ("BeforeTool", "PreToolUse", None, True), ("AfterTool", "PostToolUse", None, True),
        ("PreCompress", "PreCompact"), ("Notification", "Notification")),
    "cursor": lambda: _events(
        ("sessionStart", "SessionStart"), ("sessionEnd", "SessionEnd"), ("beforeSubmitPrompt", "UserPromptSubmit"),
        ("beforeShellExecution", "PreToolUse", "shell"), ("beforeMCPExecution", "PreToolUse", "mcp"),
        ("beforeReadFile", "PreToolUse", "read"), ("preToolUse", "PreToolUse", None, True),
        ("afterShellExecution", "PostToolUse", "shell"), ("afterMCPExecution", "PostToolUse", "mcp"),
        ("afterFileEdit", "PostToolUse", "edit"), ("postToolUse", "PostToolUse", None, True),
        ("postToolUseFailure", "PostToolUseFailure", None, True), ("stop", "Stop"),
        ("subagentStart", "SubagentStart"), ("subagentStop", "SubagentStop"), ("preCompact", "PreCompact")),
    "copilot": lambda: _events(
        ("sessionStart", "SessionStart"), ("sessionEnd", "SessionEnd"), ("userPromptSubmitted", "UserPromptSubmit"),
        ("preToolUse", "PreToolUse"), ("permissionRequest", "PermissionRequest"), ("postToolUse", "PostToolUse"),
        ("postToolUseFailure", "PostToolUseFailure"), ("agentStop", "Stop"), ("subagentStart", "SubagentStart"),
        ("subagentStop", "SubagentStop"), ("preCompact", "PreCompact"), ("notification", "Notification"),
        ("errorOccurred", "StopFailure")),
}

_SAME = ()  # a host tool whose fields are the canonical ones


def _tools(*specs: tuple[Any, ...]) -> tuple[HostTool, ...]:
    return tuple(HostTool(name, canonical, tuple(fields.items()) if fields else ())
                 for name, canonical, fields in specs)


_HOST_TOOLS: dict[str, Any] = {
    "claude-code": lambda: tuple(HostTool(name, name) for name in TOOL_FIELDS),
    "codex": lambda: _tools(
        ("Bash", "Bash", None),
        # apply_patch carries the whole patch in `command`: an edit, or a write when it only adds files (the
        # adapter tells them apart and adds the first file it touches as `file_path`).
        ("apply_patch", "Edit", None), ("apply_patch", "Write", None)),
    "gemini": lambda: _tools(
        ("run_shell_command", "Bash", {"path": "dir_path"}),
        ("write_file", "Write", None), ("replace", "Edit", None),
        ("read_file", "Read", {"offset": "start_line", "limit": "end_line"}),
        ("read_many_files", "Read", None),
        ("glob", "Glob", {"path": "dir_path"}), ("grep_search", "Grep", {"path": "dir_path"}),
        ("search_file_content", "Grep", {"path": "dir_path"}),
        ("web_fetch", "WebFetch", None), ("google_web_search", "WebSearch", None)),
    "cursor": lambda: _tools(
        ("Shell", "Bash", None), ("Read", "Read", None), ("Write", "Write", None), ("Edit", "Edit", None),
        ("StrReplace", "Edit", None),
        ("Grep", "Grep", None), ("Glob", "Glob", None), ("WebFetch", "WebFetch", None),
        ("WebSearch", "WebSearch", None)),
    "copilot": lambda: _tools(
        ("bash", "Bash", None), ("powershell", "PowerShell", None),
        ("edit", "Edit", {"file_path": "path", "old_string": "old_str", "new_string": "new_str"}),
        ("create", "Write", {"file_path": "path", "content": "file_text"}),
        ("view", "Read", {"file_path": "path"}),
        ("glob", "Glob", None), ("grep", "Grep", None), ("web_fetch", "WebFetch", None),
        ("task", "Agent", None)),
}
_BUILT: dict[tuple[str, str], Any] = {}


def _built(table: dict[str, Any], which: str, host: str) -> Any:
    found = _BUILT.get((which, host))
    if found is None:
        found = _BUILT[(which, host)] = table[host]()
    return found


def host_events(host: str) -> tuple[HostEvent, ...]:
    """The events of `host` policy can read, in the host's order. Raises KeyError for an unknown host."""
    return _built(_HOST_EVENTS, "events", host)  # type: ignore[no-any-return]


def host_event(host: str, name: str) -> HostEvent | None:
    """The host's event of that name (None: policy does not map it; it is answered with nothing)."""
    return next((event for event in host_events(host) if event.name == name), None)


def host_tools(host: str) -> tuple[HostTool, ...]:
    """The tools of `host` policy knows by name (others pass through under the host's name)."""
    return _built(_HOST_TOOLS, "tools", host)  # type: ignore[no-any-return]


def host_tool(host: str, name: str) -> HostTool | None:
    return next((tool for tool in host_tools(host) if tool.name == name), None)


def canonical_events(host: str) -> frozenset[str]:
    """The canonical events `host` can raise."""
    return frozenset(event.canonical for event in host_events(host))


def canonical_tool(host: str, name: str) -> tuple[str, dict[str, str]]:
    """The canonical name of a host's tool and its field renames (host field -> canonical); an MCP tool in the
    host's spelling becomes `mcp__<server>__<tool>`; an unknown tool keeps its name."""
    found = host_tool(host, name)
    if found is not None:
        return found.canonical, found.renames
    if host == "gemini" and name.startswith("mcp_") and not name.startswith("mcp__"):
        server, _, tool = name[4:].partition("_")
        return (f"mcp__{server}__{tool}" if tool else name), {}
    return name, {}


def normalised_input(tool_input: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """The tool input under canonical field names (a field the host names otherwise is renamed; a canonical
    name the host also sent wins)."""
    if not renames:
        return tool_input
    result = {renames.get(key, key): value for key, value in tool_input.items()}
    for key, value in tool_input.items():
        if key in result and key not in renames:
            result[key] = value
    return result


def host_tool_names(host: str, canonical: str) -> tuple[str, ...]:
    """The host's names for a canonical tool (several hosts have two tools for one, none for others)."""
    return tuple(tool.name for tool in host_tools(host) if tool.canonical == canonical)


def rule_hosts(rule: Rule, enabled: tuple[str, ...] | list[str] = HOSTS) -> tuple[str, ...]:
    """The enabled hosts on which the rule can fire: those its `agents:` allows that raise one of its events."""
    allowed = [host for host in enabled if not rule.agents or host in rule.agents]
    return tuple(host for host in allowed if canonical_events(host) & set(rule.events))


# ---- what to install: the hooks a ruleset needs on a host ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostHook:
    """One hook to install on a host: the host's event name (as its settings file spells it), the canonical event
    it raises, the tool matcher to put on it (None where the host has no matcher for the event, or the hook must
    see every call), and the enabled rules it serves."""

    event: str
    canonical: str
    matcher: str | None
    rules: tuple[Rule, ...]


def plain_tool_names(rule: Rule) -> list[str] | None:
    """The canonical tool names a rule's `tools:` lists plainly (kind words expanded), or None when it has no
    `tools:` or uses a regex (then it may see any tool)."""
    if rule.tools is None or not (rule.tools.startswith("^(?:") and rule.tools.endswith(")$")):
        return None
    names = rule.tools[4:-2].replace("(?:", "").replace(")", "").split("|")
    if all(name and all(char.isascii() and (char.isalnum() or char == "_") for char in name) for name in names):
        return names
    return None


def _needed_tools(rules: tuple[Rule, ...]) -> set[str] | None:
    """The canonical tools the rules look at, None for any."""
    names: set[str] = set()
    for rule in rules:
        listed = plain_tool_names(rule)
        if listed is None:
            return None
        names.update(listed)
    return names


def _matcher(host: str, tools: set[str] | None) -> str:
    """The host's matcher for these tools (canonical names, or the host's own): Claude Code reads `A|B` as an
    exact list and `*` as all; the other hosts with matchers read a regex, where `.*` is all. All when a tool is
    one policy does not know (it may be any of the host's); "" when the host has none of them (no hook needed)."""
    every = "*" if host == "claude-code" else ".*"
    if tools is None:
        return every
    names: set[str] = set()
    for tool in tools:
        if host == "claude-code":
            names.add(tool)
        elif host_tool_names(host, tool):
            names.update(host_tool_names(host, tool))
        elif host_tool(host, tool) is not None:  # the host's own name, written in the rule
            names.add(tool)
        elif tool not in TOOL_FIELDS:  # a tool policy does not know
            return every
    # `A|B` is an exact list to Claude Code and, unanchored, a regex at least as wide elsewhere: a hook that sees
    # more calls than needed costs a process start; one that sees fewer would let rules be skipped.
    return "|".join(sorted(names))


def host_hooks(ruleset: RuleSet, host: str) -> tuple[HostHook, ...]:
    """The hooks `host` needs for the enabled rules of `ruleset` that can fire there, in the host's event order.
    Where the host has several events for one canonical event (Cursor: `beforeShellExecution`, `beforeReadFile`,
    `beforeMCPExecution` and `preToolUse` all raise before_tool), a call must reach policy once: each kind goes to
    its own event, and the general event gets a matcher for the rest (docs/hosts.md). Claude Code's hooks are
    those `policy install` has always written, except WorktreeCreate, which policy cannot answer."""
    hooks: list[HostHook] = []
    events = host_events(host)
    for event in events:
        if host == "claude-code" and event.name == "WorktreeCreate":
            continue
        rules = tuple(rule for rule in ruleset.by_event.get(event.canonical, ())
                      if rule.enabled and (not rule.agents or host in rule.agents))
        if not rules:
            continue
        siblings = [other for other in events if other.canonical == event.canonical and other.kind]
        needed = _needed_tools(rules) if event.canonical in _CLAUDE_TOOL_EVENTS else None
        if event.kind is not None:  # a kind-specific event: hooked when the rules may look at that kind
            if needed is None or any(tool_kind(tool) == event.kind for tool in needed):
                hooks.append(HostHook(event.name, event.canonical, None, rules))
            continue
        if siblings and event.canonical in _CLAUDE_TOOL_EVENTS:
            # the general tool event of a host with kind-specific ones: only the tools they do not cover
            covered = {sibling.kind for sibling in siblings}
            rest = {name for name in KIND_OF if KIND_OF[name] not in covered} if needed is None else \
                {tool for tool in needed if tool_kind(tool) not in covered}
            matcher = _matcher(host, rest)
            if matcher:
                hooks.append(HostHook(event.name, event.canonical, matcher if event.matcher else None, rules))
            continue
        found = _matcher(host, needed) if needed is not None or event.matcher else None
        if found == "":  # the rules look only at tools this host does not have
            continue
        hooks.append(HostHook(event.name, event.canonical, found if event.matcher else None, rules))
    return tuple(hooks)


# ---- validate time -------------------------------------------------------------------------------------------------

def reach_diagnostics(packs: Any, enabled: tuple[str, ...] | list[str] = ()) -> list[Any]:
    """An error for each rule that cannot fire on any enabled host (every host when none is named): its
    `agents:` and the hosts' events leave it nowhere to run."""
    from policy.errors import Diagnostic

    hosts = tuple(enabled) or HOSTS
    problems = []
    for pack in packs:
        for rule in pack.rules:
            if rule_hosts(rule, hosts):
                continue
            allowed = [host for host in hosts if not rule.agents or host in rule.agents]
            events = ", ".join(rule.events)
            if not allowed:
                why = (f"it is for {', '.join(rule.agents)}, and the enabled hosts are {', '.join(hosts)}")
                hint = "add the host to `agents:` in the config, or fix the rule's `agents:`"
            else:
                why = f"{', '.join(HOST_TITLES[host] for host in allowed)} never raise{'s' * (len(allowed) == 1)} " \
                      f"{events}"
                hint = "docs/hosts.md lists each host's events; change the rule's events or `agents:`"
            problems.append(Diagnostic(rule.location, "never-fires",
                                       f"rule {pack.name}/{rule.id} cannot fire on any enabled host: {why}", hint))
    return problems


# ---- what rules may select: the fields of the canonical payloads -------------------------------------------------

# Claude Code's tools with no kind (any rule may name them), besides the canonical ones of TOOL_KINDS.
OTHER_TOOLS = ("Agent", "Task", "AskUserQuestion", "ExitPlanMode", "TodoWrite", "BashOutput", "KillShell", "Skill",
               "SlashCommand", "LS", "NotebookRead")
# Fields every canonical payload may carry (Claude Code's common fields, and what the adapters add).
COMMON_FIELDS = ("session_id", "transcript_path", "cwd", "permission_mode", "hook_event_name", "prompt_id", "effort",
                 "agent_id", "agent_type", "model", "host_payload", "host_tool")
_TOOL_FIELDS = ("tool_name", "tool_input", "tool_use_id")
# The fields of each canonical event's payload (hook-protocols.md §2.2, in Claude Code's names: the other hosts'
# adapters rename theirs to these; what a host sends besides stays in the payload, and under host_payload).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "PreToolUse": _TOOL_FIELDS,
    "PermissionRequest": ("tool_name", "tool_input", "permission_suggestions"),
    "PermissionDenied": (*_TOOL_FIELDS, "reason"),
    "PostToolUse": (*_TOOL_FIELDS, "tool_response", "duration_ms"),
    "PostToolUseFailure": (*_TOOL_FIELDS, "error", "is_interrupt", "duration_ms"),
    "PostToolBatch": ("tool_calls",),
    "UserPromptSubmit": ("prompt",),
    "UserPromptExpansion": ("expansion_type", "command_name", "command_args", "command_source", "prompt"),
    "Stop": ("stop_hook_active", "last_assistant_message", "background_tasks", "session_crons"),
    "SubagentStop": ("stop_hook_active", "agent_transcript_path", "last_assistant_message", "background_tasks",
                     "session_crons"),
    "SubagentStart": (),
    "StopFailure": ("error", "error_details", "last_assistant_message"),
    "Notification": ("message", "title", "notification_type"),
    "PreCompact": ("trigger", "custom_instructions"),
    "PostCompact": ("trigger", "compact_summary"),
    "SessionStart": ("source", "session_title"),
    "SessionEnd": ("reason",),
    "Setup": ("trigger",),
    "InstructionsLoaded": ("file_path", "memory_type", "load_reason", "globs", "trigger_file_path",
                           "parent_file_path"),
    "MessageDisplay": ("turn_id", "message_id", "index", "final", "delta"),
    "TaskCreated": ("task_id", "task_subject", "task_description", "teammate_name", "team_name"),
    "TaskCompleted": ("task_id", "task_subject", "task_description", "teammate_name", "team_name"),
    "TeammateIdle": ("teammate_name", "team_name"),
    "ConfigChange": ("source", "file_path"),
    "CwdChanged": ("old_cwd", "new_cwd"),
    "DirectoryAdded": ("directory", "source"),
    "FileChanged": ("file_path", "change_type"),
    "WorktreeCreate": ("name",),
    "WorktreeRemove": ("worktree_path",),
    "Elicitation": ("mcp_server_name", "message", "requested_schema", "mode", "url", "elicitation_id"),
    "ElicitationResult": ("mcp_server_name", "action", "content", "mode", "elicitation_id"),
}
_METHODS = frozenset({"get", "keys", "items", "values", "startswith", "endswith", "lower", "upper", "strip",
                      "split", "replace", "count", "find"})


def known_tool_names(hosts: tuple[str, ...] | list[str] = HOSTS) -> set[str]:
    """Every tool name a rule's `tools:` may use: canonical names, kinds, Claude Code's other tools, and the enabled
    hosts' own names."""
    names = set(TOOL_FIELDS) | set(KIND_OF) | set(TOOL_KINDS) | set(OTHER_TOOLS)
    for host in hosts:
        names.update(tool.name for tool in host_tools(host))
    return names


def selector_diagnostics(packs: Any, enabled: tuple[str, ...] | list[str] = ()) -> list[Any]:
    """Warnings for what rules select that no payload of an enabled host has: a `tools:` name no host calls a tool
    (`Bsh`), a `match:` selector or an `input.X`/`event.X` read that is no field of the rule's events
    (`tool_input.comand`), each with the closest known name. Selectors under `host_payload` (one host's own
    fields) and JMESPath expressions that are not plain paths are not checked."""
    from policy.errors import Diagnostic, did_you_mean

    hosts = tuple(enabled) or HOSTS
    tools_known = known_tool_names(hosts)
    problems: list[Diagnostic] = []
    for pack in packs:
        for rule in pack.rules:
            if rule.tools is not None and rule.tools.startswith("^(?:") and rule.tools.endswith(")$"):
                import re

                for name in rule.tools[4:-2].replace("(?:", "").replace(")", "").split("|"):
                    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) and name not in tools_known:
                        hint = did_you_mean(name, tools_known) or ("tool kinds are " + ", ".join(TOOL_KINDS))
                        problems.append(Diagnostic(
                            rule.location, "unknown-tool", f"rule {pack.name}/{rule.id}: no enabled host has a "
                            f"tool {name!r}, so `tools:` never matches it", hint, "warning"))
            fields = set(COMMON_FIELDS)
            for event in rule.events:
                fields.update(EVENT_FIELDS.get(event, ()))
            listed = plain_tool_names(rule)
            # a host's own tool name stands for its canonical tool; a name no host has (reported above) for none
            canonical = set(TOOL_FIELDS) if listed is None else {
                found.canonical for host in hosts for name in listed for found in host_tools(host)
                if found.name == name} | {name for name in listed if name in TOOL_FIELDS}
            inputs = {field for tool in canonical for field in TOOL_FIELDS[tool]}
            # tools whose inputs policy does not know (a regex, which may be MCP tools; AskUserQuestion, ...): their
            # fields go unchecked
            checked_inputs = rule.tools is None or (listed is not None and bool(canonical) and all(
                name in TOOL_FIELDS or name not in tools_known or any(
                    found.name == name for host in hosts for found in host_tools(host)) for name in listed))
            paths = [(condition.selector.keys, condition.location, condition.selector.source)
                     for condition in rule.match if condition.selector.keys]
            paths += [(tuple(chain.split(".")[1:]) if chain.startswith("event.") else
                       ("tool_input", *chain.split(".")[1:]), expr.location, chain)
                      for expr in rule.expressions() for chain in expr.reads
                      if chain.startswith(("event.", "input.")) and chain.count(".") >= 1]
            for keys, location, written in paths:
                problem = _selector_problem(keys, fields, inputs if checked_inputs else None)
                if problem:
                    problems.append(Diagnostic(location, "unknown-field", f"rule {pack.name}/{rule.id}: "
                                               f"{written}: {problem[0]}", problem[1], "warning"))
    return list(dict.fromkeys(problems))


def _selector_problem(keys: tuple[Any, ...], fields: set[str], inputs: set[str] | None) -> tuple[str, str] | None:
    """(what is wrong, the hint) for a plain selector no known payload has, else None."""
    from policy.errors import did_you_mean

    if not keys or not isinstance(keys[0], str) or keys[0] in _METHODS:
        return None
    first = keys[0]
    if first not in fields:
        return (f"{first!r} is no field of the rule's events (in Claude Code's names, which every host's payload "
                "is given)",
                did_you_mean(first, fields) or "docs/hosts.md: selectors use Claude Code's field names on every "
                                               "host; one host's own fields are under host_payload")
    if first == "tool_input" and inputs is not None and len(keys) > 1 and isinstance(keys[1], str) and \
            keys[1] not in _METHODS and keys[1] not in inputs:
        return (f"no known tool input of the rule's tools has {keys[1]!r}",
                did_you_mean(keys[1], inputs) or "tool inputs: " + ", ".join(sorted(inputs)))
    return None
