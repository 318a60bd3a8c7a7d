"""`policy install --agent claude-code [--scope user|project|local] [--dry-run]` and `policy uninstall …`: put
policy's hook into Claude Code's settings.json, and take it out again (hook-protocols.md §3; docs: hooks/README.md).

Installed: for each event the enabled rules use (`ruleset.by_event`) that policy can answer (never WorktreeCreate),
one matcher group holding one command handler, `{"type": "command", "command": …, "timeout": …}`. The matcher is
`*`, or the exact tool names when every rule of the event names its tools plainly. The timeout is in seconds, above
`max_delay` plus what a hook may wait for besides (the fact store's busy timeout, fact sources, start-up). The
command is the hook client, `<this python> -I -S <policy>/client.py --agent claude-code` with absolute paths (so it
works without `policy` on the hook's PATH; it asks `policy serve` and evaluates in-process when no server answers),
written so that every shell Claude Code may use runs it (`hook_handler`: sh, Git Bash, and PowerShell where Windows
has no Git Bash).

Our handlers are recognised by their command: `… -I -S …/policy/client.py --agent claude-code`,
`…/policy-hook --agent claude-code` (what earlier versions wrote) or `… -m policy eval --agent claude-code`, in shell or exec form, whatever the directory (a re-created virtualenv is
still ours). A policy hook the user wrote or wrapped (`FOO=1 …/policy-hook …`, `env …`, a script around it) is
recognised too (`is_wrapped`): install keeps it as it is instead of adding a second one; uninstall removes it. No
marker field is added (Claude Code validates handlers; an unknown key could make it reject the file). The settings
file is edited as text (policy.commands._jsonedit): every other byte stays, a second install changes nothing, and
uninstall restores the file as it was. Each change is backed up first, under $XDG_STATE_HOME/policy/backups/, and
written atomically.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

import typer

from policy.adapters.claude_settings import matcher_for, used_events
from policy.commands import _jsonedit
from policy.errors import PolicyError, UsageError
from policy.hook import required_timeout  # (the hook derives its deadline from the same number)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from policy.model import Rule, RuleSet

AGENTS = ("claude-code",)
SCOPES = ("user", "project", "local")
HOOK_ARGS = ("--agent", "claude-code")
LAUNCHER = "policy-hook"
CLIENT_FLAGS = ("-I", "-S")  # the hook client's interpreter flags: isolated, no `site` (policy/client.py)
TRANSPORTS = ("command", "http")
DEFAULT_HTTP_PORT = 8765  # `--transport http`: 127.0.0.1:<port>/claude-code, answered by `policy serve`


class SettingsError(PolicyError):
    """A settings file policy will not edit (invalid JSON, or an unexpected shape where the hooks go)."""

    code = "bad-settings"


# ---- what to install ---------------------------------------------------------------------------------------------

def _plain(path: str) -> bool:
    """Whether a path needs no quoting in any shell Claude Code may run a hook with: sh, Git Bash and PowerShell
    (Windows without Git Bash) all read a word of letters, digits and `_ . / - + :` as one program name."""
    return bool(path) and path[0] not in "-~" and all(char.isalnum() or char in "_./-+:" for char in path)


def hook_handler(*, project_dir: str | None = None, executable: str | None = None) -> dict[str, Any]:
    """The command handler Claude Code runs: the hook client, `<python> -I -S <policy>/client.py --agent
    claude-code` (policy/client.py: it asks the resident evaluator, `policy serve`, and evaluates in-process
    when none answers). The flags are written here because pip drops a script's shebang flags. Shell form
    (`command` alone, which every Claude Code version runs) when the paths need no quoting in any shell;
    otherwise exec form (`command` + `args`, no shell, Claude Code 2.1.139 and later), the one form that
    PowerShell, Git Bash and sh all run alike. Paths use `/`, which every one of them reads on Windows too. A
    project-scope install of the project's own virtualenv names its paths by `${CLAUDE_PROJECT_DIR}` (exec
    form), so that the committed settings work on every clone. The one place that builds the command: every
    host's install writes what this returns."""
    from policy.server import client_file

    python = os.path.abspath(executable or sys.executable)
    program, args = python, [*CLIENT_FLAGS, client_file(), *HOOK_ARGS]
    if project_dir is not None:
        inside = [os.path.relpath(path, project_dir) for path in (python, args[len(CLIENT_FLAGS)])]
        if not inside[0].startswith(os.pardir + os.sep):
            program = "${CLAUDE_PROJECT_DIR}/" + inside[0].replace(os.sep, "/")
            if not inside[1].startswith(os.pardir + os.sep):
                args[len(CLIENT_FLAGS)] = "${CLAUDE_PROJECT_DIR}/" + inside[1].replace(os.sep, "/")
            return {"type": "command", "command": program, "args": args}
    program = program.replace(os.sep, "/")
    args = [arg.replace(os.sep, "/") for arg in args]
    if _plain(program) and _plain(args[len(CLIENT_FLAGS)]):  # (the flags are plain words)
        return {"type": "command", "command": " ".join([program, *args])}
    return {"type": "command", "command": program, "args": args}


def shown_command(handler: dict[str, Any]) -> str:
    """A handler's command as one line: shell form as written, exec form as the JSON list of its words (no shell
    reads them, so no quoting applies)."""
    args = handler.get("args")
    if not isinstance(args, list):
        return str(handler.get("command"))
    return json.dumps([handler.get("command"), *args], ensure_ascii=False)


def _canonical(words: list[str]) -> bool:
    name = os.path.basename(words[0].replace("\\", "/")) if words else ""
    if name in (LAUNCHER, LAUNCHER + ".exe") and words[1:] == list(HOOK_ARGS):
        return True
    if client_script(words) is not None and words[len(CLIENT_FLAGS) + 2:] == list(HOOK_ARGS):
        return True
    return words[1:] == ["-m", "policy", "eval", *HOOK_ARGS]


def client_script(words: list[str]) -> str | None:
    """The hook client's path in a command's words (`<python> -I -S …/policy/client.py …`), or None."""
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


def is_ours(handler: Any) -> bool:
    """Whether a settings handler is one `policy install` writes (see the module docstring), in either form, from
    any policy version, or the http hook of `--transport http`."""
    if isinstance(handler, dict) and handler.get("type") == "http":
        return _our_url(handler.get("url"))
    if not isinstance(handler, dict) or handler.get("type") != "command" or not isinstance(handler.get("command"),
                                                                                           str):
        return False
    args = handler.get("args")
    if args is not None:
        return isinstance(args, list) and _canonical([handler["command"], *map(str, args)])
    try:
        return _canonical(shlex.split(handler["command"]))
    except ValueError:
        return False


def _ends_command(word: str) -> bool:
    """Whether a shell word ends the command before it: a pipe, a list operator or a redirection."""
    return word.lstrip("0123456789")[:1] in ("<", ">") or word[:1] in ("|", "&", ";")


def is_wrapped(handler: Any) -> bool:
    """A handler that runs our hook command, wrapped in something `policy install` does not write: an env prefix
    (`POLICY_DB=… …/policy-hook --agent claude-code`), `env`, a shell or script around it, or the exec form of
    another path. Policy's hook all the same, which install neither duplicates nor changes. A policy command with
    flags of its own (`policy eval --rules …`) is another hook, not ours."""
    from policy.adapters.claude_settings import HOOK_PROGRAMS, POLICY_PROGRAMS, command_words, is_hook_client

    if not isinstance(handler, dict) or handler.get("type", "command") != "command" or is_ours(handler):
        return False
    command, args = handler.get("command"), handler.get("args")
    if not isinstance(command, str):
        return False
    words = command_words(command, [str(arg) for arg in args] if isinstance(args, list) else None)
    for index, word in enumerate(words):
        name = os.path.basename(word.replace("\\", "/"))
        if name in HOOK_PROGRAMS or is_hook_client(word):
            rest = words[index + 1:]
        elif name in POLICY_PROGRAMS and words[index + 1:index + 2] == ["eval"]:
            rest = words[index + 2:]
        else:
            continue
        end = next((position for position, part in enumerate(rest) if _ends_command(part)), len(rest))
        if rest[:end] in ([], list(HOOK_ARGS)):
            return True
    return False


def command_path(handler: dict[str, Any], project_dir: str) -> str | None:
    """The executable a hook handler starts, with `${CLAUDE_PROJECT_DIR}` expanded as Claude Code would, past an
    env prefix (`NAME=value ...`, `env ...`); a bare name is looked up on PATH."""
    import shutil

    from policy.adapters.claude_settings import command_words

    args = handler.get("args")
    words = command_words(str(handler.get("command", "")), [str(arg) for arg in args]
                          if isinstance(args, list) else None)
    while words and ("=" in words[0] and not words[0].startswith(("/", ".")) or
                     os.path.basename(words[0]) == "env" and len(words) > 1):
        words = words[1:]
    if not words:
        return None
    path = words[0].replace("${CLAUDE_PROJECT_DIR}", project_dir).replace("$CLAUDE_PROJECT_DIR", project_dir)
    if os.sep not in path and "/" not in path:
        return shutil.which(path) or path
    return path


def hook_groups(ruleset: RuleSet, handler_spec: dict[str, Any],
                http_spec: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Event → the matcher group to install for it. With `http_spec` (`--transport http`), the events an http
    hook can answer get it, the others the command handler; SessionStart gets the command handler even with no
    rule on it, so that a new session starts the server the http hooks need."""
    from policy.adapters.claude_code import http_capable
    from policy.model import TOOL_EVENTS

    groups = {}
    events = used_events(ruleset)
    if http_spec is not None and "SessionStart" not in events:
        events = {"SessionStart": [], **events}
    for event, rules in events.items():
        spec = http_spec if http_spec is not None and http_capable(event) else handler_spec
        handler = {**spec, "timeout": required_timeout(ruleset, event)}
        # tool events match on the tool name; the others' matchers test other fields, and we want every value
        group: dict[str, Any] = {"matcher": matcher_for(rules)} if event in TOOL_EVENTS else {}
        group["hooks"] = [handler]
        groups[event] = group
    return groups


def settings_hooks(groups: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The `hooks` value of settings.json holding these groups: event → [group]."""
    return {event: [group] for event, group in groups.items()}


# ---- where ---------------------------------------------------------------------------------------------------------

def project_dir(environ: Mapping[str, str], cwd: str) -> str:
    """The project Claude Code runs in: $CLAUDE_PROJECT_DIR, else the directory of the nearest project config,
    else the working directory."""
    from policy.config import find_project_config, project_dir_of

    if environ.get("CLAUDE_PROJECT_DIR"):
        return os.path.abspath(environ["CLAUDE_PROJECT_DIR"])
    config = find_project_config(cwd)
    return project_dir_of(config) if config else os.path.abspath(cwd)


def settings_path(scope: str, environ: Mapping[str, str], project: str) -> str:
    """The settings file `policy install --scope` writes (user, project or local)."""
    from policy.adapters.claude_settings import settings_path as path_of

    return path_of(scope, project=project, environ=environ)


# ---- reading and editing settings.json ------------------------------------------------------------------------

def read_settings(path: str) -> str | None:
    """The file's text, None when it does not exist. Raises SettingsError when it is not a JSON object."""
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
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg})",
                            hint="fix it (Claude Code cannot read it either) or move it aside; nothing was changed") \
            from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} holds a JSON {type(data).__name__}, not an object",
                            hint="fix it or move it aside; nothing was changed")
    return text


def _hooks_node(text: str, path: str) -> tuple[_jsonedit.Node, _jsonedit.Node | None]:
    root = _jsonedit.parse(text)
    found = root.member("hooks")
    if found is None:
        return root, None
    if found[1].kind != "object":
        raise SettingsError(f"{path}: `hooks` is not an object", hint="fix it by hand; nothing was changed")
    return root, found[1]


def _value(text: str, node: _jsonedit.Node) -> Any:
    return json.loads(text[node.start:node.end])


def _remove_one_of_ours(text: str, path: str, keep: dict[str, dict[str, Any]], *, wrapped: bool) -> str | None:
    """Remove one of our handlers that is not the one to keep (with the group, event and `hooks` it leaves empty):
    one install wrote, or (`wrapped`) one the user wrapped, or any policy hook on an event policy cannot answer.
    None when there is nothing to remove."""
    from policy.adapters.claude_code import supports

    root, hooks = _hooks_node(text, path)
    if hooks is None:
        return None
    for member_index, (event, _, groups) in enumerate(hooks.members):
        if groups.kind != "array":
            continue
        any_policy_hook = wrapped or not supports(event)
        ours = [(group_index, handler_index)
                for group_index, group in enumerate(groups.items) if group.kind == "object"
                for handlers in [group.member("hooks")] if handlers is not None and handlers[1].kind == "array"
                for handler_index, handler in enumerate(handlers[1].items)
                for value in [_value(text, handler)] if is_ours(value) or (any_policy_hook and is_wrapped(value))]
        if not ours:
            continue
        if event in keep and len(ours) == 1 and _value(text, groups.items[ours[0][0]]) == keep[event]:
            continue
        group_index, handler_index = ours[0]
        group = groups.items[group_index]
        handlers = group.member("hooks")[1]  # type: ignore[index]
        if len(handlers.items) > 1:
            return _jsonedit.remove_item(text, handlers, handler_index)
        if len(groups.items) > 1:
            return _jsonedit.remove_item(text, groups, group_index)
        if len(hooks.members) > 1:
            return _jsonedit.remove_member(text, hooks, member_index)
        return _jsonedit.remove_member(text, root, root.member("hooks")[0])  # type: ignore[index]
    return None


def _add_missing(text: str, path: str, groups: dict[str, dict[str, Any]]) -> str | None:
    """Add one group that is not installed yet. None when all are."""
    style = _jsonedit.style_of(text)
    root, hooks = _hooks_node(text, path)
    if hooks is None:
        return _jsonedit.add_member(text, root, "hooks", settings_hooks(groups), style) if groups else None
    for event, group in groups.items():
        found = hooks.member(event)
        if found is None:
            return _jsonedit.add_member(text, hooks, event, [group], style)
        if found[1].kind != "array":
            raise SettingsError(f"{path}: hooks.{event} is not a list", hint="fix it by hand; nothing was changed")
        if not any(group_node.kind == "object" and _value(text, group_node) == group for group_node in found[1].items):
            return _jsonedit.append_item(text, found[1], group, style)
    return None


def edited(text: str | None, path: str, groups: dict[str, dict[str, Any]]) -> str:
    """The settings text with exactly `groups` as our hooks (none, to uninstall). An event the user already hooks
    with a policy command of their own (`is_wrapped`) keeps that one and gets none of ours; uninstalling removes
    those too."""
    current = text if text is not None and text.strip() else "{}"
    keep = {event: group for event, group in groups.items() if event not in wrapped_events(current)}
    while (step := _remove_one_of_ours(current, path, keep, wrapped=not groups)) is not None:
        current = step
    while (step := _add_missing(current, path, keep)) is not None:
        current = step
    if text is None or not text.strip():
        return current + "\n" if current != "{}" else (text or "")
    return current


def installed_handlers(text: str | None) -> dict[str, list[dict[str, Any]]]:
    """Event → [{"matcher": …, "wrapped": …, **handler}] of the handlers in a settings text that run policy: ours,
    and the ones the user wrapped."""
    from policy.adapters.claude_settings import handlers

    found: dict[str, list[dict[str, Any]]] = {}
    for event, group, handler in handlers(json.loads(text) if text and text.strip() else {}):
        if is_ours(handler) or is_wrapped(handler):
            found.setdefault(event, []).append({"matcher": group.get("matcher"), "wrapped": is_wrapped(handler),
                                                **handler})
    return found


def wrapped_events(text: str | None) -> set[str]:
    """The events whose policy hook is one the user wrapped."""
    return {event for event, found in installed_handlers(text).items() if any(item["wrapped"] for item in found)}


def _has_ours(path: str) -> bool:
    try:
        return bool(installed_handlers(read_settings(path)))
    except SettingsError:
        return False


def backup_dir(environ: Mapping[str, str]) -> str:
    from policy.store import state_dir

    return os.path.join(state_dir(environ), "backups")


def write_settings(path: str, before: str | None, after: str, *, scope: str, environ: Mapping[str, str]) -> str | None:
    """Back up `before`, then replace the file atomically (through a symlink, keeping its mode). Refuses when the
    file changed since it was read. Returns the backup's path."""
    real = os.path.realpath(path)
    backup = None
    if before is not None:
        directory = backup_dir(environ)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        backup = os.path.join(directory, f"{stamp}-{os.getpid()}-{scope}-{os.path.basename(path)}")
        descriptor = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(before)
    if read_settings(path) != before:
        raise SettingsError(f"{path} changed while policy was editing it", hint="run the command again")
    mode = os.stat(real).st_mode & 0o7777 if before is not None else (0o644 if scope == "project" else 0o600)
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
    return backup


def diff(path: str, before: str | None, after: str) -> str:
    import difflib

    return "".join(difflib.unified_diff((before or "").splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=path if before is not None else "/dev/null", tofile=path))


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


# ---- the commands ------------------------------------------------------------------------------------------------

def _check_agent(agent: str, scope: str) -> None:
    if agent not in AGENTS:
        from policy.schema import suggest

        raise UsageError(f"policy cannot install hooks for {agent!r} yet", hint=suggest(agent, set(AGENTS)))
    if scope not in SCOPES:
        from policy.schema import suggest

        raise UsageError(f"unknown scope {scope!r}", hint=suggest(scope, set(SCOPES)))


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


def install(*, agent: str, scope: str, dry_run: bool, environ: dict[str, str], cwd: str, transport: str = "command",
            port: int = DEFAULT_HTTP_PORT, host_fails_closed: bool = False) -> int:
    _check_agent(agent, scope)
    if transport not in TRANSPORTS:
        from policy.schema import suggest

        raise UsageError(f"unknown transport {transport!r}", hint=suggest(transport, set(TRANSPORTS)))
    if host_fails_closed and transport != "http":
        raise UsageError("--host-fails-closed is for --transport http",
                         hint="a command hook that fails is answered in the configured fail mode by policy itself")
    project = project_dir(environ, cwd)
    ruleset = effective_ruleset_for_install(cwd)
    events = used_events(ruleset)
    if not events:
        raise PolicyError("no rules are enabled here, so there is nothing to hook", code="nothing-to-install",
                          hint="run `policy init` (or add packs to policy.yaml) first")
    handler = hook_handler(project_dir=project if scope == "project" else None)
    http_spec = None
    if transport == "http":
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
        http_spec = http_handler(port, fails_closed=host_fails_closed)
    groups = hook_groups(ruleset, handler, http_spec)
    path = settings_path(scope, environ, project)
    before = read_settings(path)
    after = edited(before, path, groups)
    kept = sorted(wrapped_events(before) & set(groups))
    if dry_run:
        typer.echo(diff(shown(path), before, after) or f"no changes: {shown(path)} already has policy's hooks\n",
                   nl=False)
        return 0
    if after == (before or ""):
        typer.echo(f"policy's hooks are already installed in {shown(path)}: nothing changed"
                   + (f" (your own on {', '.join(kept)} kept as you wrote {'them' if len(kept) > 1 else 'it'})"
                      if kept else ""))
        return 0
    backup = write_settings(path, before, after, scope=scope, environ=environ)
    if http_spec is not None:
        _write_http_port(port, environ)
    timeout = required_timeout(ruleset, "")  # an event without `run` commands
    longer = {event: group["hooks"][0]["timeout"] for event, group in groups.items()
              if group["hooks"][0]["timeout"] > timeout}
    typer.echo(f"installed policy's hooks in {shown(path)} ({scope} scope)")
    typer.echo("  events:  " + ", ".join(f"{event} ({group['matcher']})" if "matcher" in group else event
                                         for event, group in groups.items()))
    typer.echo(f"  command: {shown_command(handler)}")
    if http_spec is not None:
        safe, denying_packs = http_safety(ruleset)
        typer.echo(f"  http:    {http_spec['url']} on "
                   + ", ".join(event for event, group in groups.items() if group["hooks"][0]["type"] == "http")
                   + (", onFailure: block" if host_fails_closed else " (fails open: safe for "
                      + (", ".join(safe) or "no pack") + ")")
                   + "; answered by `policy serve`, which SessionStart starts"
                   + (f" (packs that deny: {', '.join(denying_packs)})" if denying_packs else ""))
    if kept:
        typer.echo(f"  kept:    your own policy hook{'s' * (len(kept) > 1)} on {', '.join(kept)}, as you wrote "
                   f"{'them' if len(kept) > 1 else 'it'} (`policy doctor` checks the timeout and matcher)")
    typer.echo(f"  timeout: {timeout} s (max_delay {ruleset.settings.max_delay:g} s + "
               f"{timeout - ruleset.settings.max_delay:g} s for the fact store, sources and start-up)"
               + "".join(f"; {event} {seconds} s (its rules run commands)" for event, seconds in longer.items()))
    if backup:
        typer.echo(f"  backup:  {backup}")
    if scope == "local" and before is None and _tracked_by_git(path):
        typer.echo(f"  note:    git does not ignore {shown(path)}; add it to .gitignore (it names paths on this "
                   "machine)")
    typer.echo("Run `policy install` again after changing which events or tools your rules use; "
               "`policy doctor` checks.")
    return 0


def _write_http_port(port: int, environ: Mapping[str, str]) -> None:
    """Tell `policy serve` (however it is started) to answer http hooks on `port` (policy.server)."""
    from policy.server import http_port_file

    path = http_port_file(environ)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump({"port": port}, handle)
    os.replace(temporary, path)


def uninstall(*, agent: str, scope: str, dry_run: bool, environ: dict[str, str], cwd: str) -> int:
    _check_agent(agent, scope)
    project = project_dir(environ, cwd)
    path = settings_path(scope, environ, project)
    before = read_settings(path)
    after = edited(before, path, {})
    if dry_run:
        typer.echo(diff(shown(path), before, after) or f"no changes: no policy hooks in {shown(path)}\n", nl=False)
        return 0
    if before is None or after == before:
        elsewhere = [f"{shown(settings_path(other, environ, project))} (--scope {other})" for other in SCOPES
                     if other != scope and _has_ours(settings_path(other, environ, project))]
        typer.echo(f"no policy hooks in {shown(path)}: nothing changed"
                   + (f"; they are in {', '.join(elsewhere)}" if elsewhere else ""))
        return 0
    events = sorted(installed_handlers(before))
    backup = write_settings(path, before, after, scope=scope, environ=environ)
    typer.echo(f"removed policy's hooks ({', '.join(events)}) from {shown(path)}")
    if backup:
        typer.echo(f"  backup: {backup}")
    return 0


def _cli(action: Any) -> Any:
    """The typer command running `action` (install or uninstall) with the options they share."""
    def command(
        agent: str = typer.Option("claude-code", "--agent", help="The agent whose settings to edit: "
                                                                 + ", ".join(AGENTS) + "."),
        scope: str = typer.Option("local", "--scope", help="user: ~/.claude/settings.json (every project); "
                                  "project: .claude/settings.json (committed); local: .claude/settings.local.json "
                                  "(this machine only)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the change as a unified diff; write nothing."),
    ) -> None:
        raise typer.Exit(action(agent=agent, scope=scope, dry_run=dry_run, environ=dict(os.environ),
                                cwd=os.getcwd()))

    return command


def _install_cli() -> Any:
    """`policy install`: the options it shares with uninstall, and how to hook (the transport)."""
    def command(
        agent: str = typer.Option("claude-code", "--agent", help="The agent whose settings to edit: "
                                                                 + ", ".join(AGENTS) + "."),
        scope: str = typer.Option("local", "--scope", help="user: ~/.claude/settings.json (every project); "
                                  "project: .claude/settings.json (committed); local: .claude/settings.local.json "
                                  "(this machine only)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the change as a unified diff; write nothing."),
        transport: str = typer.Option("command", "--transport", help="command: the hook client, which asks "
                                      "`policy serve` and evaluates in-process when none answers; http: Claude "
                                      "Code POSTs events to `policy serve` itself (no process; fails open unless "
                                      "--host-fails-closed)."),
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
    app.command("install", help="Add policy's hook to the agent's settings, for the events the enabled rules use. "
                                "Idempotent.\n\nExample: policy install --agent claude-code --scope project "
                                "--dry-run")(_install_cli())
    app.command("uninstall", help="Remove exactly policy's hooks from the agent's settings; everything else stays "
                                  "as it was.\n\nExample: policy uninstall --agent claude-code --scope project")(
        _cli(uninstall))


def snippet(rule_paths: list[str]) -> str:
    """hooks/claude-code.json: what install writes for these rule files with the default settings, with the
    launcher found on PATH. `python -m policy.commands.install` regenerates it (a test keeps it current)."""
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.model import Settings

    ruleset = build_ruleset(compile_files([PackSource(path, trusted=True) for path in rule_paths]), Settings())
    groups = hook_groups(ruleset, {"type": "command", "command": f"{LAUNCHER} {' '.join(HOOK_ARGS)}"})
    return json.dumps({"hooks": settings_hooks(groups)}, indent=2) + "\n"


def snippet_sources(workdir: str) -> list[str]:
    """The rule files the snippet is built from: the shipped packs present in this tree, and the starter rule
    `policy init` writes (written into `workdir`)."""
    from policy.commands.init import STARTER_TEMPLATE
    from policy.config import SHIPPED_PACKS, shipped_pack_path

    starter = os.path.join(workdir, "project.yaml")
    with open(starter, "w", encoding="utf-8") as handle:
        handle.write(STARTER_TEMPLATE)
    return [path for path in map(shipped_pack_path, SHIPPED_PACKS) if os.path.isfile(path)] + [starter]


if __name__ == "__main__":  # python -m policy.commands.install: regenerate hooks/claude-code.json
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        text = snippet(snippet_sources(work))
    target = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "hooks",
                          "claude-code.json")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(target)
