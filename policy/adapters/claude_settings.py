"""Claude Code's settings files, read back: which hooks run `policy`, on which events, with which timeouts.

`policy install` writes the hooks; this module reads what is installed (whoever wrote it), so that `policy validate`
can warn when a hook's timeout is too short for the delays the rules can cause: Claude Code kills a hook at its
timeout and drops its answer (hook-protocols.md §3.2, §4.3). Not an adapter (adapters/__init__.ADAPTERS lists
those) and not on the `policy eval` path.

    installed_hooks(cwd=..., environ=...)   -> [InstalledHook(file, scope, event, matcher, command, timeout, ...)]
    timeout_diagnostics(packs, settings, hooks) -> warnings for hooks whose timeout is below what a delay needs
    stale_diagnostics(ruleset, hooks)          -> errors for rules the installed hooks never run (an event without
                                                  a hook, a matcher without the rule's tool), with the exact fix

It is also Claude Code's entry in the per-host settings data `policy install`, `uninstall` and `doctor` share with
codex_settings, gemini_settings, cursor_settings and copilot_settings (the names below the scopes): where the files
are, how one hook entry is written and read, the timeout's unit (seconds), what switches hooks off.
"""

from __future__ import annotations

import os

from policy.errors import Diagnostic, Location

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from dataclasses import dataclass
    from typing import Any

    from policy.model import Pack, Rule, RuleSet, Settings
else:
    from policy.lean import dataclass

# A command hook's timeout when settings.json gives none, in seconds: 600 since Claude Code 2.1.3 (60 before),
# lower for a few events (hook-protocols.md §3.2).
DEFAULT_TIMEOUT = 600.0
EVENT_TIMEOUTS = {"UserPromptSubmit": 30.0, "MessageDisplay": 10.0}
# What a delay needs on top of itself: starting the process and deciding (a warm run takes milliseconds).
START_MARGIN = 1.0
POLICY_PROGRAMS = ("policy", "policy.exe")
HOOK_PROGRAMS = ("policy-hook", "policy-hook.exe")


@dataclass(frozen=True, slots=True)
class InstalledHook:
    """One command hook that runs `policy eval` (or the `policy-hook` launcher)."""

    file: str
    scope: str  # managed | user | project | local
    event: str
    matcher: str
    command: str
    timeout: float  # seconds, the default when the file gives none
    explicit: bool  # whether the file sets `timeout`


SCOPES = ("user", "project", "local", "managed")  # lowest first
MANAGED_SETTINGS = "/etc/claude-code/managed-settings.json"


def settings_path(scope: str, *, project: str, environ: Mapping[str, str]) -> str:
    """The settings file of a scope: user, ~/.claude/settings.json (or $CLAUDE_CONFIG_DIR/settings.json);
    project, .claude/settings.json; local, .claude/settings.local.json; managed, the system-wide file."""
    if scope == "user":
        return os.path.join(home(environ), "settings.json")
    if scope == "managed":
        return MANAGED_SETTINGS
    return os.path.join(project, ".claude", "settings.json" if scope == "project" else "settings.local.json")


# ---- the per-host settings data (see policy/commands/install.py) --------------------------------------------------

name = "claude-code"
INSTALL_SCOPES = ("user", "project", "local")
DEFAULT_SCOPE = "local"
SCOPE_HELP = {"user": "~/.claude/settings.json (every project)", "project": ".claude/settings.json (committed)",
              "local": ".claude/settings.local.json (this machine only)"}
LAYOUT = "groups"  # event -> [{"matcher", "hooks": [handler]}]
COMMENTS = False
TIMEOUT_FIELD = "timeout"
TIMEOUT_UNIT = "s"
SKELETON: dict[str, Any] = {}
PROJECT_DIR_VARIABLE = "${CLAUDE_PROJECT_DIR}"
EXEC_FORM = True  # a handler may be `command` + `args`, run without a shell (2.1.139+)
MATCHER_EVENTS = ("PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure")
SMOKE_EVENT = {"session_id": "policy-doctor", "transcript_path": "", "cwd": "", "permission_mode": "default",
               "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "policy-doctor",
               "tool_input": {"command": "true", "description": "policy doctor"}}


def entry(event: str, matcher: str | None, handler: dict[str, Any], timeout: int) -> dict[str, Any]:
    """The matcher group for one event: tool events match on the tool name; the others' matchers test other
    fields, and policy wants every value, so they get none."""
    group: dict[str, Any] = {"matcher": matcher or "*"} if event in MATCHER_EVENTS else {}
    group["hooks"] = [{**handler, TIMEOUT_FIELD: timeout}]
    return group


def handlers_of(item: Any) -> list[tuple[int, dict[str, Any]]]:
    # (the shared readers are imported when used: this module is on the `policy eval` path, for run_bounds)
    from policy.adapters._settings import grouped_handlers

    return grouped_handlers(item)


def command_of(handler: dict[str, Any]) -> tuple[str, list[str] | None] | None:
    from policy.adapters._settings import command_handler

    return command_handler(handler)


def matcher_of(item: dict[str, Any], handler: dict[str, Any]) -> str | None:
    from policy.adapters._settings import group_matcher

    return group_matcher(item, handler)


PROGRAMS = ("claude",)  # what shows it is installed, besides its home directory (on PATH)



def home(environ: Mapping[str, str]) -> str:
    return environ.get("CLAUDE_CONFIG_DIR") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".claude")


def host_problems(data: dict[str, Any], path: str, scope: str, *, shown: str, environ: Mapping[str, str],
                  project: str, ours: list[tuple[str, int, int]]) -> list[tuple[str, str, str]]:
    if data.get("disableAllHooks") is True:
        return [("fail", f"{shown} sets disableAllHooks: no hook runs, policy enforces nothing",
                 f"remove disableAllHooks from {shown}")]
    return []


def settings_files(*, cwd: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(scope, path) of the settings files Claude Code reads for a session started in `cwd`, lowest first."""
    project = environ.get("CLAUDE_PROJECT_DIR") or cwd
    return [(scope, settings_path(scope, project=project, environ=environ)) for scope in SCOPES]


def handlers(data: Any) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(event, group, handler) for every hook handler in a parsed settings file, passing over whatever is not
    shaped like one (Claude Code ignores it too)."""
    events = data.get("hooks") if isinstance(data, dict) else None
    for event, groups in (events.items() if isinstance(events, dict) else ()):
        for group in groups if isinstance(groups, list) else ():
            entries = group.get("hooks") if isinstance(group, dict) else None
            for handler in entries if isinstance(entries, list) else ():
                if isinstance(handler, dict):
                    yield str(event), group, handler


def command_words(command: str, args: list[str] | None = None) -> list[str]:
    """The words of a hook command: `command` split as the shell would (shell form), or `command` then `args`
    (exec form, no shell). A word that is itself a command line (`sh -c '...'`) is followed by its own words."""
    import shlex

    def split(text: str) -> list[str]:
        try:
            return shlex.split(text)
        except ValueError:
            return text.split()

    words = [command, *args] if args is not None else split(command)
    return [part for word in words for part in ([word] + (split(word) if " " in word.strip() else []))]


def runs_policy(command: str, args: list[str] | None = None) -> bool:
    """Whether a hook command runs `policy eval` for Claude Code: the hook client, the `policy-hook` launcher, or
    `policy ... eval`
    (also as `python -m policy eval`), in shell form or exec form, however wrapped (an env prefix, `env`, a shell
    around it), unless it names another `--agent`."""
    words = command_words(command, args)
    agents = [words[index + 1] for index, word in enumerate(words[:-1]) if word == "--agent"]
    agents += [word.split("=", 1)[1] for word in words if word.startswith("--agent=")]
    if any(agent != "claude-code" for agent in agents):
        return False
    for index, word in enumerate(words):
        name = os.path.basename(word.replace("\\", "/"))
        if name in HOOK_PROGRAMS or is_hook_client(word):
            return True
        if name in POLICY_PROGRAMS and "eval" in words[index + 1:]:
            return True
    return False


def is_hook_client(word: str) -> bool:
    """Whether a command word is the hook client's path (`…/policy/client.py`, what `policy install` writes)."""
    return word.replace("\\", "/").endswith("/policy/client.py")


def read_hooks(path: str, scope: str) -> list[InstalledHook]:
    """The policy hooks of one settings file (none when it is missing or not valid JSON)."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return []
    hooks: list[InstalledHook] = []
    for event, group, handler in handlers(data):
        if handler.get("type", "command") != "command":
            continue
        command, args = handler.get("command"), handler.get("args")
        if not isinstance(command, str) or not runs_policy(command, args if isinstance(args, list) else None):
            continue
        timeout = handler.get("timeout")
        explicit = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        seconds = float(timeout) if isinstance(timeout, (int, float)) and explicit else \
            EVENT_TIMEOUTS.get(event, DEFAULT_TIMEOUT)
        hooks.append(InstalledHook(path, scope, event, str(group.get("matcher") or ""), command, seconds, explicit))
    return hooks


def installed_hooks(*, cwd: str, environ: Mapping[str, str]) -> list[InstalledHook]:
    """Every policy hook in the settings files that apply to a session started in `cwd`."""
    return [hook for scope, path in settings_files(cwd=cwd, environ=environ) for hook in read_hooks(path, scope)]


def _static_number(source: str, pack: Pack, *, curve_cap: bool = False) -> float | None:
    """The number an expression (or a one-expression template) always gives, when it is a constant or a param;
    with `curve_cap`, a curve()'s max_delay argument stands for the call. None when it depends on the event."""
    import ast

    text = source.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        text = text[2:-2].strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if curve_cap and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "curve" \
            and len(node.args) >= 4:
        node = node.args[3]
    value: Any = None
    if isinstance(node, ast.Constant):
        value = node.value
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "params":
        value = pack.params.get(node.attr)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def delay_bound(rule: Rule, pack: Pack, settings: Settings) -> float:
    """The longest delay `rule` can cause: the engine's cap (`max_delay` of the config), or less when the delay is
    a constant or a curve() whose max_delay argument is a number or a param."""
    if rule.delay is None:
        return 0.0
    value = _static_number(rule.delay.source, pack, curve_cap=True)
    return settings.max_delay if value is None else max(0.0, min(settings.max_delay, value))


def run_bound(rule: Rule, pack: Pack) -> float:
    """The longest `rule`'s `run` and `http` effects can keep the hook process: each one's timeout (a number or a
    param, else the most a timeout can be), and for a command the grace before it is killed. The hook answers only
    after its commands finish; an http request goes out after the answer, but within the same deadline."""
    from policy.effects import http, run

    limits = {"run": (run.DEFAULT_TIMEOUT, run.MAX_TIMEOUT, run.TERM_GRACE),
              "http": (http.DEFAULT_TIMEOUT, http.MAX_TIMEOUT, 0.0)}
    total = 0.0
    for effect in rule.effects:
        if effect.kind not in limits or not effect.trusted:  # an untrusted one is refused: it does nothing
            continue
        default, most, grace = limits[effect.kind]
        raw = effect.args.get("timeout") if isinstance(effect.args, dict) else None
        if raw is None:
            seconds: float | None = default
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            seconds = float(raw)
        else:
            seconds = _static_number(getattr(raw, "source", str(raw)), pack)
        total += min(most, most if seconds is None else seconds) + grace
    return total


def run_bounds(packs: tuple[Pack, ...] | list[Pack]) -> dict[str, float]:
    """Event -> how long its rules' `run` effects can take together."""
    bounds: dict[str, float] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.enabled and rule.effects:
                bound = run_bound(rule, pack)
                for event in rule.events if bound else ():
                    bounds[event] = bounds.get(event, 0.0) + bound
    return bounds


def timeout_diagnostics(packs: tuple[Pack, ...] | list[Pack], settings: Settings,
                        hooks: list[InstalledHook]) -> list[Diagnostic]:
    """A warning for each installed policy hook whose timeout is not above the longest delay its event's rules
    can cause, plus what their `run` commands can take, the slowest source's timeout and a second to start (Claude
    Code would kill it mid-delay and drop its answer)."""
    longest: dict[str, tuple[float, str]] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.delay is None or not rule.enabled:
                continue
            bound = delay_bound(rule, pack, settings)
            for event in rule.events:
                if bound > longest.get(event, (0.0, ""))[0]:
                    longest[event] = (bound, f"{pack.name}/{rule.id}")
    runs = run_bounds(packs)
    sources = max((spec.timeout for spec in settings.sources), default=0.0)
    diagnostics = []
    for hook in hooks:
        if hook.event not in longest and hook.event not in runs:
            continue
        bound, rule_id = longest.get(hook.event, (0.0, ""))
        run = runs.get(hook.event, 0.0)
        needed = bound + run + sources + START_MARGIN
        if hook.timeout >= needed:
            continue
        given = f"a {hook.timeout:g}s timeout" if hook.explicit else f"the default {hook.timeout:g}s timeout"
        needs = " + ".join(([f"{rule_id} can delay {bound:g}s"] if bound else []) +
                           ([f"{run:g}s for its rules' commands" if bound else
                             f"its rules' commands can run {run:g}s"] if run else []) +
                           ([f"{sources:g}s for sources"] if sources else []))
        diagnostics.append(Diagnostic(
            Location(hook.file, path=f"hooks.{hook.event}"), "hook-timeout",
            f"the policy hook for {hook.event} ({hook.scope} settings) has {given}, but {needs}: Claude Code "
            f"would kill it {'mid-delay' if bound and not run else 'before it answers'}",
            f"set its timeout to at least {needed:g} (policy install does), or lower the pack's max_delay"
            + (" or the commands' timeouts" if run else ""), "warning"))
    return diagnostics


# ---- what `policy install` writes, and whether what is installed still covers the rules ------------------------

def matcher_for(rules: tuple[Rule, ...] | list[Rule]) -> str:
    """`*`, or `A|B` when every rule names its tools plainly (Claude Code reads that as an exact list; a regex
    would be read as a JavaScript RegExp, whose syntax differs from Python's, so regexes widen to `*`)."""
    from policy.vocabulary import plain_tool_names

    names: set[str] = set()
    for rule in rules:
        listed = plain_tool_names(rule)
        if listed is None:
            return "*"
        names.update(listed)
    return "|".join(sorted(names)) or "*"


def used_events(ruleset: RuleSet) -> dict[str, list[Rule]]:
    """The enabled rules of each event Claude Code can be answered on, in Claude Code's event order (never
    WorktreeCreate: its hook must create the worktree, which policy does not)."""
    from policy.adapters.claude_code import supports
    from policy.model import EVENTS

    return {event: [rule for rule in ruleset.by_event[event] if rule.enabled] for event in EVENTS
            if supports(event) and any(rule.enabled for rule in ruleset.by_event.get(event, ()))}


def covers(installed: str, needed: str) -> bool:
    """Whether an installed matcher runs the hook for every tool of `needed` (`*` or `A|B`)."""
    if installed in ("", "*") or installed == needed:
        return True
    if needed == "*":
        return False
    names = {name.strip() for name in installed.replace(",", "|").split("|")}
    return set(needed.split("|")) <= names


def install_command(scopes: list[str] | set[str]) -> str:
    """The command that brings the hooks in line with the rules: `policy install` for the scope already used."""
    scope = next((scope for scope in ("project", "local", "user") if scope in scopes), "project")
    return f"policy install --agent claude-code --scope {scope}"


def stale_diagnostics(ruleset: RuleSet, hooks: list[InstalledHook]) -> list[Diagnostic]:
    """When policy's hook is installed at all: an error for each event the rules use that has no hook, and for
    each tool event whose matchers miss a tool a rule names (the rule would never run; Claude Code only starts
    the hook for what the matcher says). Nothing when no hook is installed: that is `policy doctor`'s business."""
    from policy.model import TOOL_EVENTS

    if not hooks:
        return []
    fix = install_command({hook.scope for hook in hooks})
    diagnostics = []
    for event, rules in used_events(ruleset).items():
        installed = [hook for hook in hooks if hook.event == event]
        if not installed:
            location = rules[0].location
            users = ", ".join(f"{rule.pack}/{rule.id}" for rule in rules[:3]) + (" …" if len(rules) > 3 else "")
            diagnostics.append(Diagnostic(
                location, "stale-install", f"no installed policy hook runs on {event}, so {users} never run"
                f"{'s' * (len(rules) == 1)}", f"run `{fix}`"))
            continue
        if event not in TOOL_EVENTS:
            continue
        for rule in rules:
            needed = matcher_for([rule])
            if any(covers(hook.matcher, needed) for hook in installed):
                continue
            shown = ", ".join(sorted({hook.matcher for hook in installed}))
            diagnostics.append(Diagnostic(
                rule.location, "stale-install",
                f"rule {rule.pack}/{rule.id} looks at {needed!r}, but the installed {event} hook's matcher "
                f"{shown!r} leaves it out: Claude Code never runs the rule", f"run `{fix}`"))
    return diagnostics
