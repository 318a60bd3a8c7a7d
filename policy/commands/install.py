"""`policy install --agent NAME [--scope S] [--dry-run]` and `policy uninstall ...`: put policy's hook into an
agent's settings file, and take it out again, for every host policy answers: Claude Code, Codex CLI, Gemini CLI,
Cursor and GitHub Copilot CLI (hook-protocols.md §3 and §7; docs/install.md). `--agent auto` finds which of them
are installed here, says so, and installs (or uninstalls) for each.

One implementation for every host; what differs is data and small functions in the host's settings module
(policy/adapters/<host>_settings.py, listed in policy.adapters.SETTINGS): where the files of each scope are, how
one hook entry is written and read back (Claude Code, Codex and Gemini nest event -> matcher groups -> handlers;
Cursor and Copilot list handlers under each event), the timeout's field and unit (Gemini CLI counts milliseconds,
Copilot `timeoutSec`), whether the file may hold comments (Gemini), what a new file starts as (`{"version": 1}`
for Cursor and Copilot), what switches hooks off there (for `policy doctor`).

Installed: for each host event the enabled rules need (`planned_hooks`), one command handler running the hook
client, `<this python> -I -S <policy>/client.py --agent NAME` with absolute paths (so it works without `policy` on
the hook's PATH; it asks `policy serve` and evaluates in-process, as `policy eval --agent NAME`, when no server
answers; `hook_handler`), with a matcher on the tools when every rule of the event names its tools plainly, and a
timeout above `max_delay` plus what a hook may wait for besides (the fact store's busy timeout, fact sources,
start-up), in the host's unit. Claude Code can also be given http hooks answered by `policy serve`
(`--transport http`).

Our handlers are recognised by their command: `... -I -S .../policy/client.py --agent NAME`, `.../policy-hook
--agent NAME` (what earlier versions wrote) or `... -m policy eval --agent NAME`, in shell or exec form, whatever
the directory (a re-created virtualenv is still ours), and Claude Code's http hook of `--transport http`. A policy hook the user wrote
or wrapped (`FOO=1 .../policy-hook ...`, `env ...`, a script around it) is recognised too (`is_wrapped`): install
keeps it as it is instead of adding a second one; uninstall removes it. No marker field is added (hosts validate
handlers; an unknown key could make one reject the file). The settings file is edited as text
(policy.commands._jsonedit): every other byte stays (comments too), a second install changes nothing, and uninstall
restores the file as it was, and removes it when install had created it. Each change is backed up first, under
$XDG_STATE_HOME/policy/backups/, and written atomically.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

import typer

from policy.adapters.claude_settings import used_events
from policy.commands import _jsonedit
from policy.errors import PolicyError, UsageError
from policy.hook import required_timeout  # (the hook derives its deadline from the same number)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Rule, RuleSet
else:
    from policy.lean import dataclass

LAUNCHER = "policy-hook"
CLIENT_FLAGS = ("-I", "-S")  # the hook client's interpreter flags: isolated, no `site` (policy/client.py)
TRANSPORTS = ("command", "http")
DEFAULT_HTTP_PORT = 8765  # `--transport http`: 127.0.0.1:<port>/claude-code, answered by `policy serve`
DEFAULT_AGENT = "claude-code"
AUTO = "auto"


class SettingsError(PolicyError):
    """A settings file policy will not edit (invalid JSON, or an unexpected shape where the hooks go)."""

    code = "bad-settings"


def agents() -> tuple[str, ...]:
    """The hosts `policy install` can write a hook for: those with a settings module and an adapter to answer."""
    from policy.adapters import ADAPTERS, SETTINGS

    return tuple(name for name in SETTINGS if name in ADAPTERS)


def host(agent: str) -> Any:
    """The settings module of a host (policy/adapters/<host>_settings.py)."""
    from policy.adapters import get_settings

    return get_settings(agent)


def title(agent: str) -> str:
    from policy.vocabulary import HOST_TITLES

    return HOST_TITLES.get(agent, agent)


def hook_args(agent: str) -> list[str]:
    return ["--agent", agent]


def for_event(handler: dict[str, Any], agent: str, event: str) -> dict[str, Any]:
    """The command for one event, where the host's payload does not name its event (Copilot CLI's camelCase
    payloads): `hook_handler`'s command with `--event NAME`; as it is elsewhere."""
    if not getattr(host(agent), "EVENT_ARGUMENT", False) or handler.get("type") != "command":
        return handler
    if "args" in handler:
        return {**handler, "args": [*handler["args"], "--event", event]}
    return {**handler, "command": f"{handler['command']} --event {shlex.quote(event)}"}


def _without_event(words: list[str], agent: str) -> list[str]:
    """A command's words without the trailing `--event NAME` `for_event` adds for this host."""
    if getattr(host(agent), "EVENT_ARGUMENT", False) and len(words) >= 2 and words[-2] == "--event":
        return words[:-2]
    return words


# ---- what to install ---------------------------------------------------------------------------------------------

def _plain(path: str) -> bool:
    """Whether a path needs no quoting in any shell a host may run a hook with: sh, bash, Git Bash and PowerShell
    (Windows without Git Bash) all read a word of letters, digits and `_ . / - + :` as one program name."""
    return bool(path) and path[0] not in "-~" and all(char.isalnum() or char in "_./-+:" for char in path)


def hook_handler(*, agent: str = DEFAULT_AGENT, project_dir: str | None = None,
                 executable: str | None = None) -> dict[str, Any]:
    """The command the host runs, as `{"type": "command", "command": ...}` (shell form) or with `args` (exec form,
    no shell): the hook client, `<python> -I -S <policy>/client.py --agent NAME` (policy/client.py: it asks the
    resident evaluator, `policy serve`, and evaluates in-process when none answers). The flags are written here
    because pip drops a script's shebang flags. Shell form when the paths need no quoting in any shell; otherwise
    exec form where the host has it (Claude Code 2.1.139 and later), the one form that PowerShell, Git Bash and sh
    all run alike, and a POSIX-quoted command line where it has not. Paths use `/`, which every shell reads on
    Windows too. A project-scope install of the project's own virtualenv names its paths through the host's
    project variable (`${CLAUDE_PROJECT_DIR}`, exec form), so that the committed settings work on every clone.
    The one place that builds the command: every host's install writes what this returns."""
    from policy.server import client_file

    settings = host(agent)
    python = os.path.abspath(executable or sys.executable)
    program, args = python, [*CLIENT_FLAGS, client_file(), *hook_args(agent)]
    variable = settings.PROJECT_DIR_VARIABLE
    if project_dir is not None and variable:
        inside = [os.path.relpath(path, project_dir) for path in (python, args[len(CLIENT_FLAGS)])]
        if not inside[0].startswith(os.pardir + os.sep):
            program = variable + "/" + inside[0].replace(os.sep, "/")
            if not inside[1].startswith(os.pardir + os.sep):
                args[len(CLIENT_FLAGS)] = variable + "/" + inside[1].replace(os.sep, "/")
            return {"type": "command", "command": program, "args": args}
    program = program.replace(os.sep, "/")
    args = [arg.replace(os.sep, "/") for arg in args]
    if _plain(program) and _plain(args[len(CLIENT_FLAGS)]):  # (the flags are plain words)
        return {"type": "command", "command": " ".join([program, *args])}
    if settings.EXEC_FORM:
        return {"type": "command", "command": program, "args": args}
    return {"type": "command", "command": shlex.join([program, *args])}


def shown_command(handler: dict[str, Any], agent: str = DEFAULT_AGENT) -> str:
    """A handler's command as one line: shell form as written, exec form as the JSON list of its words (no shell
    reads them, so no quoting applies)."""
    found = host(agent).command_of(handler)
    if found is None:
        return str(handler.get("command"))
    command, args = found
    return command if args is None else json.dumps([command, *args], ensure_ascii=False)


def _canonical(words: list[str], agent: str) -> bool:
    words = _without_event(words, agent)
    name = os.path.basename(words[0].replace("\\", "/")) if words else ""
    if name in (LAUNCHER, LAUNCHER + ".exe") and words[1:] == hook_args(agent):
        return True
    if client_script(words) is not None and words[len(CLIENT_FLAGS) + 2:] == hook_args(agent):
        return True
    return words[1:] == ["-m", "policy", "eval", *hook_args(agent)]


def client_script(words: list[str]) -> str | None:
    """The hook client's path in a command's words (`<python> -I -S .../policy/client.py ...`), or None."""
    from policy.adapters.claude_settings import is_hook_client

    if words[1:len(CLIENT_FLAGS) + 1] != list(CLIENT_FLAGS) or len(words) < len(CLIENT_FLAGS) + 2:
        return None
    script = words[len(CLIENT_FLAGS) + 1]
    return script if is_hook_client(script) else None


def http_handler(port: int, *, fails_closed: bool) -> dict[str, Any]:
    """The http hook `--transport http` writes: Claude Code POSTs the event to `policy serve` on 127.0.0.1.
    `onFailure: "block"` (Claude Code 2.1.295 and later) makes a down or slow server block the call instead of
    letting it through (docs/serve.md#http-hooks)."""
    handler: dict[str, Any] = {"type": "http", "url": f"http://127.0.0.1:{port}/claude-code"}
    if fails_closed:
        handler["onFailure"] = "block"
    return handler


def _our_url(url: Any) -> bool:
    import re

    return isinstance(url, str) and re.fullmatch(r"http://127\.0\.0\.1:[0-9]{1,5}/claude-code", url) is not None


def is_ours(handler: Any, agent: str = DEFAULT_AGENT) -> bool:
    """Whether a settings handler is one `policy install` writes for `agent` (see the module docstring), in either
    form, from any policy version, or Claude Code's http hook of `--transport http`."""
    if agent == DEFAULT_AGENT and isinstance(handler, dict) and handler.get("type") == "http":
        return _our_url(handler.get("url"))
    found = host(agent).command_of(handler) if isinstance(handler, dict) else None
    if found is None:
        return False
    command, args = found
    if args is not None:
        return _canonical([command, *args], agent)
    try:
        return _canonical(shlex.split(command), agent)
    except ValueError:
        return False


def _ends_command(word: str) -> bool:
    """Whether a shell word ends the command before it: a pipe, a list operator or a redirection."""
    return word.lstrip("0123456789")[:1] in ("<", ">") or word[:1] in ("|", "&", ";")


def is_wrapped(handler: Any, agent: str = DEFAULT_AGENT) -> bool:
    """A handler that runs our hook command, wrapped in something `policy install` does not write: an env prefix
    (`POLICY_DB=... .../policy-hook --agent claude-code`), `env`, a shell or script around it, or the exec form of
    another path. Policy's hook all the same, which install neither duplicates nor changes. A policy command with
    flags of its own (`policy eval --rules ...`) is another hook, not ours; so is one for another agent. A bare
    `policy-hook` answers as Claude Code, so it counts only in Claude Code's settings."""
    from policy.adapters.claude_settings import HOOK_PROGRAMS, POLICY_PROGRAMS, command_words, is_hook_client

    found = host(agent).command_of(handler) if isinstance(handler, dict) else None
    if found is None or is_ours(handler, agent):
        return False
    words = command_words(*found)
    accepted = ([], hook_args(agent)) if agent == DEFAULT_AGENT else (hook_args(agent),)
    for index, word in enumerate(words):
        name = os.path.basename(word.replace("\\", "/"))
        if name in HOOK_PROGRAMS or is_hook_client(word):
            rest = words[index + 1:]
        elif name in POLICY_PROGRAMS and words[index + 1:index + 2] == ["eval"]:
            rest = words[index + 2:]
        else:
            continue
        end = next((position for position, part in enumerate(rest) if _ends_command(part)), len(rest))
        if _without_event(rest[:end], agent) in accepted:
            return True
    return False


def command_path(handler: dict[str, Any], project_dir: str, agent: str = DEFAULT_AGENT) -> str | None:
    """The executable a hook handler starts, with the host's project variable expanded as the host would, past an
    env prefix (`NAME=value ...`, `env ...`); a bare name is looked up on PATH."""
    import shutil

    from policy.adapters.claude_settings import command_words

    found = host(agent).command_of(handler)
    words = command_words(*found) if found is not None else []
    while words and ("=" in words[0] and not words[0].startswith(("/", ".")) or
                     os.path.basename(words[0]) == "env" and len(words) > 1):
        words = words[1:]
    if not words:
        return None
    path = words[0].replace("${CLAUDE_PROJECT_DIR}", project_dir).replace("$CLAUDE_PROJECT_DIR", project_dir)
    if os.sep not in path and "/" not in path:
        return shutil.which(path) or path
    return path


@dataclass(frozen=True, slots=True)
class PlannedHook:
    """One hook `policy install` writes: the host's event, the tool names to match there (None: every tool, or
    an event without tools), the timeout in seconds, and the canonical events and rules it serves."""

    event: str
    matcher: str | None
    timeout: int
    events: tuple[str, ...]
    rules: tuple[Rule, ...]


def planned_hooks(ruleset: RuleSet, agent: str) -> list[PlannedHook]:
    """The hooks `policy install --agent` writes for a ruleset (policy.vocabulary.host_hooks: which of the host's
    events the rules need, with which tool matcher), each with its timeout. A matcher that lets every tool through
    (`*`, `.*`) becomes None: each host writes "every tool" its own way."""
    from policy.vocabulary import host_hooks

    return [PlannedHook(hook.event, None if hook.matcher in (None, "", "*", ".*") else hook.matcher,
                        required_timeout(ruleset, hook.canonical), (hook.canonical,), hook.rules)
            for hook in host_hooks(ruleset, agent)]


def unhooked_events(ruleset: RuleSet, agent: str) -> list[str]:
    """The canonical events the rules use that get no hook on this host (it has no such event, or the rules are
    for other agents)."""
    served = {event for plan in planned_hooks(ruleset, agent) for event in plan.events}
    return [event for event in used_events(ruleset) if event not in served]


def hook_entries(ruleset: RuleSet, handler: dict[str, Any], agent: str = DEFAULT_AGENT,
                 http_spec: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Host event -> the entry to install for it (a matcher group, or a handler where the host lists handlers).
    With `http_spec` (Claude Code's `--transport http`), the events an http hook can answer get it, the others
    the command handler; SessionStart gets the command handler even with no rule on it, so that a new session
    starts the server the http hooks need."""
    settings = host(agent)
    plans = planned_hooks(ruleset, agent)
    if http_spec is None:
        return {plan.event: settings.entry(plan.event, plan.matcher, for_event(handler, agent, plan.event),
                                           plan.timeout) for plan in plans}
    from policy.adapters.claude_code import http_capable

    if not any(plan.event == "SessionStart" for plan in plans):
        plans = [PlannedHook("SessionStart", None, required_timeout(ruleset, "SessionStart"), ("SessionStart",), ()),
                 *plans]
    return {plan.event: settings.entry(plan.event, plan.matcher, http_spec if http_capable(plan.event) else handler,
                                       plan.timeout) for plan in plans}


def hook_groups(ruleset: RuleSet, handler_spec: dict[str, Any],
                http_spec: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Claude Code's event -> the matcher group to install for it."""
    return hook_entries(ruleset, handler_spec, DEFAULT_AGENT, http_spec)


def settings_hooks(groups: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The `hooks` value of a settings file holding these entries: event -> [entry]."""
    return {event: [group] for event, group in groups.items()}


# ---- where ---------------------------------------------------------------------------------------------------------

def project_dir(environ: Mapping[str, str], cwd: str) -> str:
    """The project the agent runs in: $CLAUDE_PROJECT_DIR, else the directory of the nearest project config,
    else the working directory."""
    from policy.config import find_project_config, project_dir_of

    if environ.get("CLAUDE_PROJECT_DIR"):
        return os.path.abspath(environ["CLAUDE_PROJECT_DIR"])
    config = find_project_config(cwd)
    return project_dir_of(config) if config else os.path.abspath(cwd)


def settings_path(scope: str, environ: Mapping[str, str], project: str, agent: str = DEFAULT_AGENT) -> str:
    """The settings file `policy install --agent --scope` writes."""
    return str(host(agent).settings_path(scope, project=project, environ=environ))


# ---- reading and editing settings files ------------------------------------------------------------------------

def read_settings(path: str, agent: str = DEFAULT_AGENT) -> str | None:
    """The file's text, None when it does not exist. Raises SettingsError when it is not a JSON object (comments
    allowed where the host allows them)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}", hint="check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text", hint="fix or move it aside; nothing was changed") from None
    if not text.strip():
        return text
    try:
        data = loads(text, agent)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})",
                            hint=f"fix it ({title(agent)} cannot read it either) or move it aside; nothing was "
                                 "changed") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} holds a JSON {type(data).__name__}, not an object",
                            hint="fix it or move it aside; nothing was changed")
    return text


def loads(text: str | None, agent: str = DEFAULT_AGENT) -> Any:
    """A settings text as data ({} for none): JSON, with comments where the host reads them."""
    if not text or not text.strip():
        return {}
    return json.loads(_jsonedit.strip_comments(text) if host(agent).COMMENTS else text)


def _hooks_node(text: str, path: str) -> tuple[_jsonedit.Node, _jsonedit.Node | None]:
    root = _jsonedit.parse(text)
    found = root.member("hooks")
    if found is None:
        return root, None
    if found[1].kind != "object":
        raise SettingsError(f"{path}: `hooks` is not an object", hint="fix it by hand; nothing was changed")
    return root, found[1]


def _positions(text: str, items: _jsonedit.Node, settings: Any) -> list[tuple[int, int | None, Any, Any]]:
    """(item index, handler index or None, item, handler) of every handler under one event's array."""
    found = []
    for item_index, item in enumerate(items.items):
        if item.kind != "object":
            continue
        value = _jsonedit.value(text, item)
        for handler_index, handler in settings.handlers_of(value):
            found.append((item_index, handler_index, value, handler))
    return found


def _remove_one_of_ours(text: str, path: str, keep: dict[str, dict[str, Any]], *, wrapped: bool,
                        agent: str) -> str | None:
    """Remove one of our handlers that is not the one to keep (with the group, event and `hooks` it leaves empty):
    one install wrote, or (`wrapped`) one the user wrapped, or any policy hook on an event policy cannot answer.
    None when there is nothing to remove."""
    from policy.adapters.claude_code import supports

    settings = host(agent)
    root, hooks = _hooks_node(text, path)
    if hooks is None:
        return None
    for member_index, (event, _, items) in enumerate(hooks.members):
        if items.kind != "array":
            continue
        any_policy_hook = wrapped or (agent == DEFAULT_AGENT and not supports(event))
        ours = [(item_index, handler_index) for item_index, handler_index, _, handler in _positions(text, items, settings)
                if is_ours(handler, agent) or (any_policy_hook and is_wrapped(handler, agent))]
        if not ours:
            continue
        if event in keep and len(ours) == 1 and _jsonedit.value(text, items.items[ours[0][0]]) == keep[event]:
            continue
        item_index, handler_index = ours[0]
        item = items.items[item_index]
        handlers = item.member("hooks") if handler_index is not None else None
        if handlers is not None and len(handlers[1].items) > 1:
            return _jsonedit.remove_item(text, handlers[1], handler_index)  # type: ignore[arg-type]
        if len(items.items) > 1:
            return _jsonedit.remove_item(text, items, item_index)
        if len(hooks.members) > 1:
            return _jsonedit.remove_member(text, hooks, member_index)
        return _jsonedit.remove_member(text, root, root.member("hooks")[0])  # type: ignore[index]
    return None


def _add_missing(text: str, path: str, entries: dict[str, dict[str, Any]]) -> str | None:
    """Add one entry that is not installed yet. None when all are."""
    style = _jsonedit.style_of(text)
    root, hooks = _hooks_node(text, path)
    if hooks is None:
        return _jsonedit.add_member(text, root, "hooks", settings_hooks(entries), style) if entries else None
    for event, entry in entries.items():
        found = hooks.member(event)
        if found is None:
            return _jsonedit.add_member(text, hooks, event, [entry], style)
        if found[1].kind != "array":
            raise SettingsError(f"{path}: hooks.{event} is not a list", hint="fix it by hand; nothing was changed")
        if not any(node.kind == "object" and _jsonedit.value(text, node) == entry for node in found[1].items):
            return _jsonedit.append_item(text, found[1], entry, style)
    return None


def skeleton(agent: str) -> str:
    """What install writes into a file that does not exist yet, before the hooks (`{}`, `{"version": 1}`)."""
    new: dict[str, Any] = host(agent).SKELETON
    return json.dumps(new, indent=2) if new else "{}"


def edited(text: str | None, path: str, entries: dict[str, dict[str, Any]], agent: str = DEFAULT_AGENT) -> str:
    """The settings text with exactly `entries` as our hooks (none, to uninstall). An event the user already hooks
    with a policy command of their own (`is_wrapped`) keeps that one and gets none of ours; uninstalling removes
    those too."""
    current = text if text is not None and text.strip() else skeleton(agent)
    keep = {event: entry for event, entry in entries.items() if event not in wrapped_events(current, agent)}
    while (step := _remove_one_of_ours(current, path, keep, wrapped=not entries, agent=agent)) is not None:
        current = step
    while (step := _add_missing(current, path, keep)) is not None:
        current = step
    if text is None or not text.strip():
        return current + "\n" if current != skeleton(agent) else (text or "")
    return current


def installed_handlers(text: str | None, agent: str = DEFAULT_AGENT) -> dict[str, list[dict[str, Any]]]:
    """Host event -> the handlers in a settings text that run policy for `agent` (ours, and the ones the user
    wrapped), each as {"matcher", "wrapped", "timeout" (seconds, None when the file gives none), "handler",
    "item", "index" (its handler index, None where the host lists handlers)}."""
    settings = host(agent)
    data = loads(text, agent)
    events = data.get("hooks") if isinstance(data, dict) else None
    found: dict[str, list[dict[str, Any]]] = {}
    for event, items in (events.items() if isinstance(events, dict) else ()):
        for item_index, item in enumerate(items if isinstance(items, list) else ()):
            for handler_index, handler in settings.handlers_of(item):
                if not (is_ours(handler, agent) or is_wrapped(handler, agent)):
                    continue
                raw = handler.get(settings.TIMEOUT_FIELD)
                seconds = raw / (1000 if settings.TIMEOUT_UNIT == "ms" else 1) \
                    if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
                found.setdefault(str(event), []).append({
                    "matcher": settings.matcher_of(item, handler), "wrapped": is_wrapped(handler, agent),
                    "timeout": seconds, "handler": handler, "item": item_index, "index": handler_index})
    return found


def wrapped_events(text: str | None, agent: str = DEFAULT_AGENT) -> set[str]:
    """The events whose policy hook is one the user wrapped."""
    return {event for event, found in installed_handlers(text, agent).items() if any(item["wrapped"] for item in found)}


def _has_ours(path: str, agent: str) -> bool:
    try:
        return bool(installed_handlers(read_settings(path, agent), agent))
    except SettingsError:
        return False


def backup_dir(environ: Mapping[str, str]) -> str:
    from policy.store import state_dir

    return os.path.join(state_dir(environ), "backups")


def _creation_record(path: str, environ: Mapping[str, str]) -> str:
    """The file that says `policy install` created `path` (so that uninstall removes it again)."""
    import hashlib

    digest = hashlib.sha256(os.path.realpath(path).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(backup_dir(environ), f"created-{digest}")


def write_settings(path: str, before: str | None, after: str, *, scope: str, environ: Mapping[str, str],
                   agent: str = DEFAULT_AGENT) -> str | None:
    """Back up `before`, then replace the file atomically (through a symlink, keeping its mode); a file that did
    not exist is recorded as created by policy. Refuses when the file changed since it was read. Returns the
    backup's path."""
    real = os.path.realpath(path)
    directory = backup_dir(environ)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    backup = None
    if before is not None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        backup = os.path.join(directory, f"{stamp}-{os.getpid()}-{agent}-{scope}-{os.path.basename(path)}")
        descriptor = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(before)
    if read_settings(path, agent) != before:
        raise SettingsError(f"{path} changed while policy was editing it", hint="run the command again")
    mode = os.stat(real).st_mode & 0o7777 if before is not None else (0o644 if scope == "project" else 0o600)
    created = []  # the directories made for a new file, deepest first
    parent = os.path.dirname(real)
    while not os.path.isdir(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    os.makedirs(os.path.dirname(real), exist_ok=True)
    temporary = f"{real}.policy-{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(after)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, real)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    if before is None:
        with open(_creation_record(path, environ), "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in [real, *created]))
    return backup


def remove_created(path: str, before: str, *, scope: str, environ: Mapping[str, str], agent: str) -> str | None:
    """Remove a settings file install created, now that it holds nothing else (backed up first), and the
    directories made for it that are empty now. Returns the backup's path."""
    record = _creation_record(path, environ)
    with open(record, encoding="utf-8") as handle:
        directories = handle.read().splitlines()[1:]
    backup = write_settings(path, before, before, scope=scope, environ=environ, agent=agent)
    os.unlink(os.path.realpath(path))
    os.unlink(record)
    for directory in directories:
        try:
            os.rmdir(directory)
        except OSError:  # not empty (or gone): it holds something else now
            break
    return backup


def diff(path: str, before: str | None, after: str | None) -> str:
    import difflib

    return "".join(difflib.unified_diff((before or "").splitlines(keepends=True),
                                        (after or "").splitlines(keepends=True),
                                        fromfile=path if before is not None else "/dev/null",
                                        tofile=path if after is not None else "/dev/null"))


def _tracked_by_git(path: str) -> bool:
    """Whether `path` is in a git work tree and not ignored (Claude Code ignores settings.local.json only when
    it creates the file itself)."""
    import subprocess

    try:
        result = subprocess.run(["git", "check-ignore", "-q", os.path.basename(path)], cwd=os.path.dirname(path),
                                capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 1


def shown(path: str) -> str:
    """A path as commands print it: relative below the working directory, else with ~ for the home directory."""
    relative = os.path.relpath(path)
    if not relative.startswith(os.pardir):
        return relative
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


# ---- finding the agents (--agent auto) ---------------------------------------------------------------------------

def detect(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(agent, what shows it is here) for each host installed on this machine: its configuration directory, or
    its program on PATH."""
    import shutil

    from policy.adapters._settings import presence

    def which(program: str) -> str | None:
        return shutil.which(program, path=environ.get("PATH", os.defpath))

    found = []
    for agent in agents():
        evidence = presence(host(agent).home(environ), host(agent).PROGRAMS, which)
        if evidence:
            found.append((agent, evidence))
    return found


# ---- the commands ------------------------------------------------------------------------------------------------

def _check_agent(agent: str, scope: str | None) -> str:
    """The scope to use (the host's default for None); raises UsageError for an unknown agent or scope."""
    from policy.schema import suggest

    if agent not in agents():
        raise UsageError(f"policy cannot install hooks for {agent!r} yet", hint=suggest(agent, {*agents(), AUTO}))
    scopes = host(agent).INSTALL_SCOPES
    if scope is None:
        return str(host(agent).DEFAULT_SCOPE)
    if scope not in scopes:
        hint = suggest(scope, set(scopes))
        raise UsageError(f"unknown scope {scope!r}" if scope not in _ALL_SCOPES else
                         f"{title(agent)} has no {scope} scope", hint=hint)
    return scope


_ALL_SCOPES = ("user", "project", "local")


def effective_ruleset_for_install(cwd: str) -> RuleSet:
    from policy.commands._shared import effective_ruleset
    from policy.errors import ValidationFailed

    from policy.adapters import host_diagnostics

    try:
        ruleset = effective_ruleset(cwd=cwd)
    except ValidationFailed as failed:
        raise PolicyError(f"the configuration has errors: {failed.code}: {failed.message}", code="invalid-config",
                          hint="run `policy validate`, fix what it reports, then install again") from None
    errors = [problem for problem in host_diagnostics(ruleset.packs) if problem.severity == "error"]
    if errors:
        raise PolicyError(f"the configuration has errors: {errors[0].code}: {errors[0].message}",
                          code="invalid-config", hint="run `policy validate`, fix what it reports, then install again")
    return ruleset


def denying_rules(ruleset: RuleSet) -> list[Rule]:
    """The enabled rules that deny on an event an http hook would answer: what a down server lets through."""
    from policy.adapters.claude_code import http_capable

    return [rule for event, rules in used_events(ruleset).items() if http_capable(event) for rule in rules
            if rule.decision == "deny"]


def http_safety(ruleset: RuleSet) -> tuple[list[str], list[str]]:
    """(packs whose rules an http hook that fails open still serves safely, packs with rules that deny)."""
    denying = {rule.pack for rule in denying_rules(ruleset)}
    packs = [pack.name for pack in ruleset.packs]
    return [name for name in packs if name not in denying], [name for name in packs if name in denying]


def _http_spec(agent: str, transport: str, port: int, host_fails_closed: bool, ruleset: RuleSet) -> dict[str, Any] | None:
    """The http hook for `--transport http` (None for the command transport), after the checks that it is safe."""
    if transport not in TRANSPORTS:
        from policy.schema import suggest

        raise UsageError(f"unknown transport {transport!r}", hint=suggest(transport, set(TRANSPORTS)))
    if host_fails_closed and transport != "http":
        raise UsageError("--host-fails-closed is for --transport http",
                         hint="a command hook that fails is answered in the configured fail mode by policy itself")
    if transport != "http":
        return None
    if agent != DEFAULT_AGENT:
        raise UsageError(f"--transport http is for Claude Code; {title(agent)} runs command hooks",
                         hint="leave --transport out (the command transport also asks `policy serve`)")
    from policy import server

    if not server.supported():
        raise PolicyError("http hooks are answered by `policy serve`, which needs Linux's SO_PEERCRED",
                          code="serve-unsupported", hint="install the command transport (the default)")
    denying = denying_rules(ruleset)
    if denying and not host_fails_closed:
        names = ", ".join(f"{rule.pack}/{rule.id}" for rule in denying[:3]) + (" …" if len(denying) > 3 else "")
        raise PolicyError(f"{len(denying)} rule{'s' * (len(denying) != 1)} deny ({names}), and Claude Code lets "
                          "a call through when an http hook's server is down, slow or failing",
                          code="http-fails-open",
                          hint="add --host-fails-closed to write onFailure: \"block\" (Claude Code 2.1.295 or "
                               "later: confirm yours with `claude --version`), or keep the command transport")
    return http_handler(port, fails_closed=host_fails_closed)


def _write_http_port(port: int, environ: Mapping[str, str]) -> None:
    """Tell `policy serve` (however it is started) to answer http hooks on `port` (policy.server)."""
    from policy.server import http_port_file

    path = http_port_file(environ)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump({"port": port}, handle)
    os.replace(temporary, path)


def _timeout_line(agent: str, ruleset: RuleSet, plans: list[PlannedHook]) -> str:
    settings = host(agent)
    timeout = required_timeout(ruleset, "")  # an event without `run` commands
    unit = f" (written as {timeout * 1000} ms, {title(agent)}'s unit)" if settings.TIMEOUT_UNIT == "ms" else ""
    longer = "".join(f"; {plan.event} {plan.timeout} s (its rules run commands)" for plan in plans
                     if plan.timeout > timeout)
    return (f"  timeout: {timeout} s{unit} (max_delay {ruleset.settings.max_delay:g} s + "
            f"{timeout - ruleset.settings.max_delay:g} s for the fact store, sources and start-up){longer}")


def install(*, agent: str, scope: str | None, dry_run: bool, environ: dict[str, str], cwd: str,
            transport: str = "command", port: int = DEFAULT_HTTP_PORT, host_fails_closed: bool = False) -> int:
    if agent == AUTO:
        if transport != "command":
            raise UsageError("--transport http is for Claude Code alone", hint="use it with --agent claude-code")
        return _for_each_found(install, scope=scope, dry_run=dry_run, environ=environ, cwd=cwd)
    scope = _check_agent(agent, scope)
    project = project_dir(environ, cwd)
    ruleset = effective_ruleset_for_install(cwd)
    if not used_events(ruleset):
        raise PolicyError("no rules are enabled here, so there is nothing to hook", code="nothing-to-install",
                          hint="run `policy init` (or add packs to policy.yaml) first")
    plans = planned_hooks(ruleset, agent)
    missing = unhooked_events(ruleset, agent)
    if not plans:
        raise PolicyError(f"{title(agent)} has no hook for any event your rules use ({', '.join(missing)})",
                          code="nothing-to-install", hint="see docs/install.md for the events each agent has")
    http_spec = _http_spec(agent, transport, port, host_fails_closed, ruleset)
    handler = hook_handler(agent=agent, project_dir=project if scope == "project" else None)
    entries = hook_entries(ruleset, handler, agent, http_spec)
    path = settings_path(scope, environ, project, agent)
    before = read_settings(path, agent)
    after = edited(before, path, entries, agent)
    kept = sorted(wrapped_events(before, agent) & set(entries))
    if dry_run:
        typer.echo(diff(shown(path), before, after) or f"no changes: {shown(path)} already has policy's hooks\n",
                   nl=False)
        return 0
    if after == (before or ""):
        typer.echo(f"policy's hooks are already installed in {shown(path)}: nothing changed"
                   + (f" (your own on {', '.join(kept)} kept as you wrote {'them' if len(kept) > 1 else 'it'})"
                      if kept else ""))
        return 0
    backup = write_settings(path, before, after, scope=scope, environ=environ, agent=agent)
    if http_spec is not None:
        _write_http_port(port, environ)
    where = f"{title(agent)}'s " if agent != DEFAULT_AGENT else ""
    typer.echo(f"installed policy's hooks in {where}{shown(path)} ({scope} scope)")
    typer.echo("  events:  " + ", ".join(f"{plan.event} ({plan.matcher or '*'})"
                                         if plan.event in getattr(host(agent), "MATCHER_EVENTS", ()) else plan.event
                                         for plan in plans))
    if missing:
        typer.echo(f"  not hooked: {', '.join(missing)} ({title(agent)} has no such event; `policy validate` lists "
                   "the rules that never run there)")
    typer.echo(f"  command: {shown_command(handler, agent)}"
               + (" --event EVENT (the event's name: the payload does not say it)"
                  if getattr(host(agent), "EVENT_ARGUMENT", False) else ""))
    if http_spec is not None:
        safe, denying_packs = http_safety(ruleset)
        typer.echo(f"  http:    {http_spec['url']} on "
                   + ", ".join(event for event, group in entries.items() if group["hooks"][0]["type"] == "http")
                   + (", onFailure: block" if host_fails_closed else " (fails open: safe for "
                      + (", ".join(safe) or "no pack") + ")")
                   + "; answered by `policy serve`, which SessionStart starts"
                   + (f" (packs that deny: {', '.join(denying_packs)})" if denying_packs else ""))
    if kept:
        typer.echo(f"  kept:    your own policy hook{'s' * (len(kept) > 1)} on {', '.join(kept)}, as you wrote "
                   f"{'them' if len(kept) > 1 else 'it'} (`policy doctor` checks the timeout and matcher)")
    typer.echo(_timeout_line(agent, ruleset, plans))
    if backup:
        typer.echo(f"  backup:  {backup}")
    if scope == "local" and before is None and _tracked_by_git(path):
        typer.echo(f"  note:    git does not ignore {shown(path)}; add it to .gitignore (it names paths on this "
                   "machine)")
    for note in getattr(host(agent), "INSTALL_NOTES", ()):
        typer.echo(f"  note:    {note}")
    typer.echo("Run `policy install` again after changing which events or tools your rules use; "
               "`policy doctor` checks.")
    return 0


def uninstall(*, agent: str, scope: str | None, dry_run: bool, environ: dict[str, str], cwd: str) -> int:
    if agent == AUTO:
        return _for_each_found(uninstall, scope=scope, dry_run=dry_run, environ=environ, cwd=cwd)
    scope = _check_agent(agent, scope)
    project = project_dir(environ, cwd)
    path = settings_path(scope, environ, project, agent)
    before = read_settings(path, agent)
    after: str | None = edited(before, path, {}, agent)
    created = before is not None and after == skeleton(agent) + "\n" and os.path.isfile(_creation_record(path, environ))
    if created:
        after = None
    if dry_run:
        typer.echo(diff(shown(path), before, after) or f"no changes: no policy hooks in {shown(path)}\n", nl=False)
        return 0
    if before is None or after == before:
        elsewhere = [f"{shown(settings_path(other, environ, project, agent))} (--scope {other})"
                     for other in host(agent).INSTALL_SCOPES
                     if other != scope and _has_ours(settings_path(other, environ, project, agent), agent)]
        typer.echo(f"no policy hooks in {shown(path)}: nothing changed"
                   + (f"; they are in {', '.join(elsewhere)}" if elsewhere else ""))
        return 0
    events = sorted(installed_handlers(before, agent))
    if after is None:
        backup = remove_created(path, before, scope=scope, environ=environ, agent=agent)
        typer.echo(f"removed policy's hooks ({', '.join(events)}) and {shown(path)}, which policy install had created")
    else:
        backup = write_settings(path, before, after, scope=scope, environ=environ, agent=agent)
        typer.echo(f"removed policy's hooks ({', '.join(events)}) from {shown(path)}")
    if backup:
        typer.echo(f"  backup: {backup}")
    return 0


def _for_each_found(action: Any, *, scope: str | None, dry_run: bool, environ: dict[str, str], cwd: str) -> int:
    """`--agent auto`: say which agents are installed here, then run `action` for each of them (in its default
    scope, or `scope` where the agent has it). Installing skips an agent the config's `agents:` leaves out."""
    found = detect(environ)
    chosen = _configured_agents(cwd) if action is install else ()
    missing = [title(agent) for agent in agents() if agent not in dict(found)]
    if not found:
        raise PolicyError(f"found none of the agents policy supports ({', '.join(missing)})", code="no-agent",
                          hint="install one, or name it: policy install --agent NAME")
    typer.echo("found:     " + ", ".join(f"{title(agent)} ({shown(evidence)})" for agent, evidence in found))
    if missing:
        typer.echo("not found: " + ", ".join(missing))
    code = 0
    for agent, _ in found:
        typer.echo("")
        if scope is not None and scope not in host(agent).INSTALL_SCOPES:
            typer.echo(f"skipped {title(agent)}: it has no {scope} scope (it has {', '.join(host(agent).INSTALL_SCOPES)})")
            continue
        if chosen and agent not in chosen:
            typer.echo(f"skipped {title(agent)}: the config's `agents:` ({', '.join(chosen)}) leaves it out")
            continue
        typer.echo(f"{title(agent)}:")
        try:
            code = max(code, action(agent=agent, scope=scope, dry_run=dry_run, environ=environ, cwd=cwd))
        except PolicyError as error:
            typer.echo(f"  not done: {error.code}: {error.message}" + (f" ({error.hint})" if error.hint else ""))
            code = 1
    return code


def _configured_agents(cwd: str) -> tuple[str, ...]:
    """The config's `agents:` (the hosts the user runs policy under), () when it names none or does not load (the
    installs then report the config's errors themselves)."""
    from policy.commands._shared import effective_ruleset
    from policy.errors import ValidationFailed

    try:
        return tuple(effective_ruleset(cwd=cwd).settings.agents)
    except ValidationFailed:
        return ()


def _agent_option() -> Any:
    return typer.Option(DEFAULT_AGENT, "--agent", help="The agent whose settings to edit: " + ", ".join(agents())
                        + ", or auto (every one installed here).")


def _scope_option() -> Any:
    return typer.Option(None, "--scope", show_default=False,
                        help="Which settings file (default: local for Claude Code, project for the others). "
                        + "; ".join(f"{title(agent)}: " + ", ".join(f"{scope} {host(agent).SCOPE_HELP[scope]}"
                                                                    for scope in host(agent).INSTALL_SCOPES)
                                    for agent in agents()) + ".")


DRY_RUN_HELP = "Print the change as a unified diff; write nothing."


def _uninstall_cli() -> Any:
    def command(agent: str = _agent_option(), scope: str = _scope_option(),
                dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP)) -> None:
        raise typer.Exit(uninstall(agent=agent, scope=scope, dry_run=dry_run, environ=dict(os.environ),
                                   cwd=os.getcwd()))

    return command


def _install_cli() -> Any:
    """`policy install`: the options it shares with uninstall, and how to hook (the transport)."""
    def command(
        agent: str = _agent_option(), scope: str = _scope_option(),
        dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
        transport: str = typer.Option("command", "--transport", help="command: the hook client, which asks "
                                      "`policy serve` and evaluates in-process when none answers; http (Claude "
                                      "Code only): Claude Code POSTs events to `policy serve` itself (no process; "
                                      "fails open unless --host-fails-closed)."),
        port: int = typer.Option(DEFAULT_HTTP_PORT, "--port", min=1, max=65535,
                                 help="--transport http: the port on 127.0.0.1."),
        host_fails_closed: bool = typer.Option(False, "--host-fails-closed", help="--transport http: write "
                                               "onFailure: \"block\" (Claude Code 2.1.295 or later), required "
                                               "when a rule denies."),
    ) -> None:
        raise typer.Exit(install(agent=agent, scope=scope, dry_run=dry_run, environ=dict(os.environ),
                                 cwd=os.getcwd(), transport=transport, port=port,
                                 host_fails_closed=host_fails_closed))

    return command


def register(app: typer.Typer) -> None:
    app.command("install", help="Add policy's hook to an agent's settings, for the events the enabled rules use. "
                                "Idempotent.\n\nExample: policy install --agent claude-code --scope project "
                                "--dry-run")(_install_cli())
    app.command("uninstall", help="Remove exactly policy's hooks from an agent's settings; everything else stays "
                                  "as it was.\n\nExample: policy uninstall --agent claude-code --scope project")(
        _uninstall_cli())


def snippet(rule_paths: list[str], agent: str = DEFAULT_AGENT) -> str:
    """hooks/<agent>.json: what install writes for these rule files with the default settings into a new file,
    with the launcher found on PATH. `python -m policy.commands.install` regenerates them (a test keeps them
    current)."""
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.model import Settings

    ruleset = build_ruleset(compile_files([PackSource(path, trusted=True) for path in rule_paths]), Settings())
    entries = hook_entries(ruleset, {"type": "command", "command": " ".join([LAUNCHER, *hook_args(agent)])}, agent)
    return json.dumps({**host(agent).SKELETON, "hooks": settings_hooks(entries)}, indent=2) + "\n"


def snippet_sources(workdir: str) -> list[str]:
    """The rule files the snippets are built from: the shipped packs present in this tree, and the starter rule
    `policy init` writes (written into `workdir`)."""
    from policy.commands.init import STARTER_TEMPLATE
    from policy.config import SHIPPED_PACKS, shipped_pack_path

    starter = os.path.join(workdir, "project.yaml")
    with open(starter, "w", encoding="utf-8") as handle:
        handle.write(STARTER_TEMPLATE)
    return [path for path in map(shipped_pack_path, SHIPPED_PACKS) if os.path.isfile(path)] + [starter]


if __name__ == "__main__":  # python -m policy.commands.install: regenerate hooks/<agent>.json
    import tempfile

    from policy.adapters import SETTINGS

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as work:
        sources = snippet_sources(work)
        for name in SETTINGS:
            target = os.path.join(root, "hooks", f"{name}.json")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(snippet(sources, name))
            print(target)
