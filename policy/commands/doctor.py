"""`policy doctor [--json]`: is policy really enforcing the rules here? One line per check, with what to fix.

Checks the configuration and rule files (as `policy validate`), the hooks in every agent's settings files (Claude
Code, Codex CLI, Gemini CLI, Cursor, Copilot CLI; for each agent policy is installed for: present, pointing at an
executable, long enough timeout in the host's unit, covering every event and tool the rules use, not installed
twice, not switched off by the host's own settings, and actually running: the installed command is run once as the
host would, with a `--dry-run` event in the host's format), the fact store (opens, writable, schema version, private
to the user), the team's shared store when the user config names one (answers in time, schema current) and the
editor schemas `policy init` copied. Exit 1 when a check fails; warnings do not fail.
"""

from __future__ import annotations

import os

import typer

from policy.adapters.claude_settings import used_events
from policy.commands import install
from policy.hook import required_timeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from policy.model import RuleSet

    # agent -> scope -> host event -> [installed handler] (install.installed_handlers)
    Found = dict[str, dict[str, dict[str, list[dict[str, Any]]]]]
else:
    from policy.lean import dataclass

@dataclass(frozen=True, slots=True)
class Check:
    area: str  # "config" | "hooks" | "store" | "shared" | "schemas"
    status: str  # "ok" | "warn" | "fail"
    message: str
    fix: str = ""

    def render(self, color: bool = False) -> str:
        from policy.report import paint

        return f"{paint(self.status, self.status, color)}{' ' * (4 - len(self.status))}  {self.area:<7} " \
               f"{self.message}" + (f"; fix: {self.fix}" if self.fix else "")


# ---- config and rules --------------------------------------------------------------------------------------------

def check_config(cwd: str, environ: dict[str, str]) -> tuple[list[Check], RuleSet | None]:
    """The config files and the rule files they load (as `policy validate`), and the ruleset they give."""
    from policy.adapters import host_diagnostics
    from policy.commands.validate import effective
    from policy.compiler import build_ruleset

    refs, resolved, compiled = effective(cwd, environ)
    diagnostics = sorted([*resolved.diagnostics, *compiled.diagnostics, *host_diagnostics(compiled.packs)],
                         key=lambda d: d.sort_key())
    checks = [Check("config", "fail" if diagnostic.severity == "error" else "warn",
                    f"{_shown_location(diagnostic.location)}: {diagnostic.code}: {diagnostic.message}",
                    diagnostic.hint or "see `policy validate`") for diagnostic in diagnostics]
    if any(check.status == "fail" for check in checks):
        return checks, None
    ruleset = build_ruleset(compiled, resolved.settings)
    configs = ", ".join(install.shown(ref.path) for ref in refs) or "no config file"
    events = used_events(ruleset)
    if not events:
        return [Check("config", "fail", f"{configs}: no rules are enabled, so nothing is enforced",
                      "policy init, or add packs to policy.yaml")] + checks, ruleset
    packs = ", ".join(pack.name for pack in ruleset.packs)
    return [Check("config", "ok", f"{configs}: {len(ruleset.packs)} pack{'s' * (len(ruleset.packs) != 1)} "
                                  f"({packs}), rules on {', '.join(events)}")] + checks, ruleset


def _shown_location(location: Any) -> str:
    text = str(location)
    path = location.file
    return install.shown(path) + text[len(path):] if os.path.isabs(path) else text


# ---- hooks -----------------------------------------------------------------------------------------------------



def _fix(verb: str, agent: str, scope: str) -> str:
    return f"policy {verb}" + (f" --agent {agent}" if agent != install.DEFAULT_AGENT else "") + f" --scope {scope}"


def _handlers(environ: dict[str, str], project: str) -> tuple[list[Check], Found]:
    """Problems reading the settings files and what switches hooks off (for the agents policy is installed for),
    and agent -> scope -> event -> our handlers."""
    checks: list[Check] = []
    found: Found = {}
    problems: dict[str, list[Check]] = {}
    for agent in install.agents():
        settings = install.host(agent)
        for scope in settings.INSTALL_SCOPES:
            path = install.settings_path(scope, environ, project, agent)
            try:
                text = install.read_settings(path, agent)
            except install.SettingsError as error:
                # (another agent's file: whether policy's hook is in it cannot be told, nor whether it is used)
                checks.append(Check("hooks", "fail" if agent == install.DEFAULT_AGENT else "warn",
                                    f"{error.message} ({install.title(agent)} ignores it)", error.hint))
                continue
            if text is None:
                continue
            handlers = install.installed_handlers(text, agent)
            ours = [(event, handler["item"], handler["index"] or 0) for event, items in handlers.items()
                    for handler in items]
            for status, message, fix in settings.host_problems(install.loads(text, agent), os.path.abspath(path), scope,
                                                               shown=install.shown(path), environ=environ,
                                                               project=project, ours=ours):
                check = Check("hooks", status, message, fix)
                if check not in problems.setdefault(agent, []):
                    problems[agent].append(check)
            if handlers:
                found.setdefault(agent, {})[scope] = handlers
    for agent in found:
        checks += problems.get(agent, [])
    return checks, found


def _executable_problem(handler: dict[str, Any], project: str, agent: str) -> str | None:
    path = install.command_path(handler, project, agent)
    if path is None:
        return "it cannot be parsed"
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return f"{path} does not exist or is not executable ({install.title(agent)} then {_consequence(agent)})"
    script = _client_script(handler, project, agent)
    if script is not None and not os.path.isfile(script):
        return f"the hook client {script} does not exist ({install.title(agent)} then {_consequence(agent)})"
    with open(path, "rb") as handle:
        first = handle.readline()
    if first.startswith(b"#!"):
        interpreter = first[2:].decode(errors="replace").split()[0] if first[2:].strip() else ""
        if not os.path.isfile(interpreter) or not os.access(interpreter, os.X_OK):
            return f"its interpreter {interpreter} does not exist (the virtualenv was moved or removed)"
    return None


def _consequence(agent: str) -> str:
    """What the host does when the hook cannot start."""
    return str(getattr(install.host(agent), "BROKEN_HOOK", "runs without policy"))


def _client_script(handler: dict[str, Any], project: str, agent: str) -> str | None:
    from policy.adapters.claude_settings import command_words

    found = install.host(agent).command_of(handler)
    script = install.client_script(command_words(*found)) if found is not None else None
    return script.replace("${CLAUDE_PROJECT_DIR}", project) if script is not None else None


def _smoke_test(handler: dict[str, Any], project: str, environ: dict[str, str], timeout: int,
                agent: str) -> str | None:
    """Run the installed command as the host would (exec form directly, shell form through sh), on a harmless
    pre-tool event in the host's format, with --dry-run."""
    import json
    import subprocess

    settings = install.host(agent)
    event = dict(settings.SMOKE_EVENT)
    if "cwd" in event:
        event["cwd"] = project
    command, args = settings.command_of(handler)
    if args is not None:
        argv = [str(word).replace("${CLAUDE_PROJECT_DIR}", project) for word in [command, *args]]
        argv += ["--dry-run", "--format", "json"]
    else:
        argv = ["sh", "-c", command + " --dry-run --format json"]
    try:
        result = subprocess.run(argv, input=json.dumps(event).encode(), capture_output=True, cwd=project,
                                timeout=timeout, env={**environ, "CLAUDE_PROJECT_DIR": project})
    except subprocess.TimeoutExpired:
        return f"it did not answer within its {timeout} s timeout"
    except OSError as error:
        return f"it cannot be started ({error.strerror})"
    try:
        report = json.loads(result.stdout)
    except ValueError:
        lines = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        return f"it exits {result.returncode}: {lines[-1] if lines else 'no output'}"
    failure = report.get("error")
    if failure:
        return f"it runs, but fails: {failure['code']}: {failure['message']}"
    return None


def check_hooks(environ: dict[str, str], project: str, ruleset: RuleSet | None) -> list[Check]:
    checks, found = _handlers(environ, project)
    if not found:
        return checks + [Check("hooks", "fail", "policy's hook is not installed in any agent's settings file ("
                               + ", ".join(install.title(agent) for agent in install.agents()) + ")",
                               "policy install --agent auto (or --agent NAME)")]
    for agent, scopes in found.items():
        checks += _check_host(agent, scopes, environ, project, ruleset)
    return checks + _claude_hooks_read_by_others(found, environ, project)


# Hosts that also run Claude Code's hooks (docs/install.md#agents-that-run-claude-codes-hooks-too): Copilot CLI those of the
# repository's `.claude/settings.json` and `.claude/settings.local.json`; Cursor, with its third-party hooks on, those
# and the user's `~/.claude/settings.json`.
_READS_CLAUDE_SETTINGS = {"copilot": ("runs them", ("project", "local")),
                          "cursor": ("runs them when its third-party hooks are on", ("project", "local", "user"))}


def _claude_hooks_read_by_others(found: Found, environ: dict[str, str], project: str) -> list[Check]:
    """A warning when policy is installed for Claude Code where a host that runs Claude Code's hooks reads them,
    and for that host too: policy then runs twice per call there (once answering as Claude Code), and counts,
    paces and logs every call twice."""
    checks = []
    for agent, (how, scopes) in _READS_CLAUDE_SETTINGS.items():
        claude = [scope for scope in scopes if scope in found.get(install.DEFAULT_AGENT, {})]
        if claude and agent in found:
            files = " and ".join(install.shown(install.settings_path(scope, environ, project)) for scope in claude)
            checks.append(Check("hooks", "warn", f"{install.title(agent)} also {how}: policy's hook in {files} and "
                                f"its own {install.title(agent)} hook both run on each call there (counted twice, "
                                "the first answering as Claude Code)",
                                f"policy uninstall --scope {claude[0]} if you use only {install.title(agent)} here"
                                + (", or keep Claude Code's at --scope user" if "user" not in scopes else "")))
    return checks


def _check_host(agent: str, found: dict[str, dict[str, list[dict[str, Any]]]], environ: dict[str, str],
                project: str, ruleset: RuleSet | None) -> list[Check]:
    """The checks of one agent's installed hooks: where, timeouts, the command runs and decides, events policy
    cannot answer, hooks in two scopes, and whether every event and tool the rules use is hooked."""
    from policy.adapters import get_adapter
    from policy.adapters.claude_settings import EVENT_TIMEOUTS, run_bounds

    supports = get_adapter(agent).supports  # the adapter registry, as every host's lookup

    settings = install.host(agent)
    checks = []
    max_delay = ruleset.settings.max_delay if ruleset is not None else 0.0
    runs = run_bounds(ruleset.packs) if ruleset is not None else {}
    plans = {plan.event: plan for plan in install.planned_hooks(ruleset, agent)} if ruleset is not None else {}
    scope_of: dict[str, list[str]] = {}
    for scope, events in found.items():
        path = install.shown(install.settings_path(scope, environ, project, agent))
        summary = ", ".join(f"{event} ({handlers[0]['matcher']})" if handlers[0].get("matcher") else event
                            for event, handlers in events.items())
        checks.append(Check("hooks", "ok", f"{path} ({scope}): {summary}"))
        for event, handlers in events.items():
            scope_of.setdefault(event, []).append(scope)
            plan = plans.get(event)
            required = plan.timeout if plan is not None else \
                required_timeout(ruleset, event) if ruleset is not None else None
            default = EVENT_TIMEOUTS.get(event, settings.DEFAULT_TIMEOUT) if agent == install.DEFAULT_AGENT \
                else settings.DEFAULT_TIMEOUT
            for handler in handlers:
                timeout = handler["timeout"] if handler["timeout"] is not None else default
                if required is not None and isinstance(timeout, (int, float)) and timeout < required:
                    uses_runs = bool(set(plan.events if plan else (event,)) & set(runs))
                    checks.append(Check("hooks", "fail", f"{path}: the {event} hook times out after {timeout:g} s, "
                                        f"before a rule's delay can end (max_delay {max_delay:g} s"
                                        f"{' and its commands' if uses_runs else ''} need{'s' * (not uses_runs)} "
                                        f"{required} s)", _fix("install", agent, scope)))
    http = [(scope, event, item["handler"]) for scope, events in found.items() for event, items in events.items()
            for item in items if item["handler"].get("type") == "http"]
    if http:
        checks += _http_checks(http, environ, ruleset)
    commands = {install.shown_command(item["handler"], agent): (scope, item["handler"])
                for scope, events in found.items() for items in events.values() for item in items
                if item["handler"].get("type") != "http"}
    for command, (scope, handler) in commands.items():
        smoke_timeout = required_timeout(ruleset, "") if ruleset is not None else 75
        problem = _executable_problem(handler, project, agent)
        ran = problem is None
        problem = problem or _smoke_test(handler, project, environ, smoke_timeout, agent)
        if problem:
            # A hook that runs and reports the rules' own error is installed right: reinstalling changes nothing.
            fix = "fix the config errors above (`policy validate` lists them)" if ran and ruleset is None \
                and problem.startswith("it runs, but fails") else _fix("install", agent, scope)
            checks.append(Check("hooks", "fail", f"the installed command `{command}` ({scope}): {problem}", fix))
        else:
            checks.append(Check("hooks", "ok", f"`{command}` runs and decides (checked with a dry-run event)"))
    if agent == install.DEFAULT_AGENT:
        for scope, events in found.items():
            for event in events:
                if not supports(event):
                    checks.append(Check("hooks", "fail", f"{install.shown(install.settings_path(scope, environ, project))}"
                                        f" hooks policy on {event}, which it cannot answer: every worktree creation "
                                        "fails", _fix("install", agent, scope)))
    for event, scopes in scope_of.items():
        commands_here = {install.shown_command(item["handler"], agent) for scope in scopes
                         for item in found[scope][event]}
        if len(scopes) > 1 and len(commands_here) > 1:
            checks.append(Check("hooks", "warn", f"{event} is hooked in {' and '.join(scopes)} settings with "
                                f"different commands: policy runs twice on every {event}",
                                _fix("uninstall", agent, scopes[0])))
    if ruleset is not None:
        checks += _coverage(agent, found, ruleset)
    return checks


def _http_checks(http: list[tuple[str, str, dict[str, Any]]], environ: dict[str, str],
                 ruleset: RuleSet | None) -> list[Check]:
    """Http hooks (`policy install --transport http`): whether a server answers them, and which packs a down
    server leaves unenforced (Claude Code lets a call through unless the hook says onFailure: block)."""
    from urllib.parse import urlsplit

    from policy import server

    checks = []
    events = sorted({event for _, event, _ in http})
    port = urlsplit(http[0][2].get("url", "")).port
    status = server.server_status(environ)
    if status is None or status.get("http_port") != port:
        checks.append(Check("hooks", "fail", f"no `policy serve` answers http://127.0.0.1:{port}/ for the http "
                            f"hooks on {', '.join(events)}",
                            f"policy serve --http {port} (a new Claude Code session starts it)"))
    else:
        checks.append(Check("hooks", "ok", f"`policy serve` answers the http hooks on {', '.join(events)} "
                            f"(pid {status['pid']})"))
    open_events = sorted({event for _, event, handler in http if handler.get("onFailure") != "block"})
    if ruleset is not None and open_events:
        safe, denying = install.http_safety(ruleset)
        if denying:
            checks.append(Check("hooks", "fail", f"the http hooks on {', '.join(open_events)} fail open: while the "
                                f"server is down Claude Code lets calls through, and {', '.join(denying)} "
                                f"den{'ies' if len(denying) == 1 else 'y'} calls (safe that way: "
                                f"{', '.join(safe) or 'no pack'})",
                                "policy install --transport http --host-fails-closed (Claude Code 2.1.295 or "
                                "later), or the command transport"))
        else:
            checks.append(Check("hooks", "ok", f"the http hooks fail open, which is safe for every pack here "
                                f"({', '.join(safe)}): none denies"))
    return checks


def _coverage(agent: str, found: dict[str, dict[str, list[dict[str, Any]]]], ruleset: RuleSet) -> list[Check]:
    """Every event (and tool) the rules use has a hook; hooks on events no rule uses are only a cost."""
    from policy.adapters.claude_settings import covers

    checks = []
    scope = next(iter(found))
    plans = install.planned_hooks(ruleset, agent)
    for plan in plans:
        installed = [handler for events in found.values() for handler in events.get(plan.event, [])]
        users = ", ".join(f"{rule.pack}/{rule.id}" for rule in plan.rules[:3]) + (" …" if len(plan.rules) > 3 else "")
        if not installed:
            checks.append(Check("hooks", "fail", f"no hook for {plan.event}, so {users} never run"
                                + (f" in {install.title(agent)}" if agent != install.DEFAULT_AGENT else ""),
                                _fix("install", agent, scope)))
            continue
        needed = plan.matcher or "*"
        if not any(covers(handler.get("matcher") or "", needed) for handler in installed):
            checks.append(Check("hooks", "fail", f"the {plan.event} hook's matcher {installed[0].get('matcher')!r} "
                                f"misses tools that {users} look at (needed: {needed!r})",
                                _fix("install", agent, scope)))
    hooked = {event for events in found.values() for event in events} - {plan.event for plan in plans}
    if any(item["handler"].get("type") == "http" for events in found.values() for items in events.values()
           for item in items):
        hooked.discard("SessionStart")  # (with http hooks, SessionStart starts the server they need)
    unused = sorted(hooked)
    if unused:
        checks.append(Check("hooks", "warn", f"hooked but no rule uses {', '.join(unused)} (a process start each "
                                             "time, for nothing)", _fix("install", agent, scope)))
    return checks


# ---- the fact store ------------------------------------------------------------------------------------------------

def check_store(db: str) -> list[Check]:
    import sqlite3
    from urllib.request import pathname2url

    from policy.migrations import LATEST
    from policy.store import BUSY_TIMEOUT_SECONDS, translate_error

    shown = install.shown(db)
    if not os.path.exists(db):
        directory = os.path.dirname(db) or "."
        while not os.path.isdir(directory):
            directory = os.path.dirname(directory)
        if not os.access(directory, os.W_OK | os.X_OK):
            return [Check("store", "fail", f"{shown} does not exist and {directory} is not writable",
                          f"chmod u+w {directory}, or set db in the config")]
        return [Check("store", "ok", f"{shown}: does not exist yet; the first hook creates it (0600)")]
    checks = []
    mode = os.stat(db).st_mode & 0o777
    if mode & 0o077:
        checks.append(Check("store", "fail", f"{shown} is readable by other users (mode {mode:04o}); it holds your "
                                             "prompts' decisions and sessions", f"chmod 600 {db}"))
    try:
        connection = sqlite3.connect(f"file:{pathname2url(os.path.abspath(db))}?mode=rw", uri=True,
                                     timeout=min(BUSY_TIMEOUT_SECONDS, 2.0), isolation_level=None)
    except sqlite3.Error as error:
        failure = translate_error(error, db)
        return checks + [Check("store", "fail", failure.message, failure.hint)]
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    except sqlite3.Error as error:
        failure = translate_error(error, db)
        return checks + [Check("store", "fail", failure.message, failure.hint)]
    finally:
        connection.close()
    if version > LATEST:
        checks.append(Check("store", "fail", f"{shown} has schema version {version}, newer than this policy "
                                             f"({LATEST})", "upgrade policy"))
    elif version < LATEST:
        checks.append(Check("store", "ok", f"{shown}: writable; schema version {version}, migrated to {LATEST} on "
                                           "next use"))
    else:
        checks.append(Check("store", "ok", f"{shown}: opens, writable, schema version {version}"
                                           + ("" if mode & 0o077 else f", private ({mode:04o})")))
    return checks


# ---- the team's shared store -------------------------------------------------------------------------------------

def check_shared(settings: Any) -> list[Check]:
    """When the user config names a shared store: it answers within its timeout, and its schema is this policy's
    (migrated on the way, as the first hook would). docs/team.md."""
    if settings is None or settings.shared_store is None:
        return []
    import time

    from policy.boards.postgres import SharedBoard, shared_store
    from policy.errors import StoreError

    board = SharedBoard(shared_store(settings.shared_store, settings.shared_timeout), None)
    try:
        claims = board.active(now=time.time())  # a read never raises an outage: it says so in `outage`
    except StoreError as error:  # no driver, a schema newer than this policy
        return [Check("shared", "fail", error.message, error.hint)]
    if board.outage is not None:
        return [Check("shared", "fail", board.outage, "check the server, the network and the credentials "
                      "(PGPASSWORD, ~/.pgpass, the service file); meanwhile claims answer ask, or the fail mode "
                      "with on_outage: fail (docs/team.md#outages)")]
    return [Check("shared", "ok", f"{settings.shared_store}: answers, schema current, {len(claims)} active "
                                  f"claim{'s' * (len(claims) != 1)} on the team's board")]


# ---- editor schemas ------------------------------------------------------------------------------------------------

def check_schemas(project: str) -> list[Check]:
    from policy.commands.init import SCHEMAS_DIR
    from policy.schema import SCHEMA_FILES, schema_text

    directory = os.path.join(project, SCHEMAS_DIR)
    stale = []
    for kind, name in SCHEMA_FILES.items():
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                if handle.read() != schema_text(kind):
                    stale.append(name)
    if not stale:
        return []
    return [Check("schemas", "warn", f"{', '.join(stale)} in {install.shown(directory)} are from another policy "
                                     "version; editors check your files against outdated schemas",
                  f"rm {' '.join(os.path.join(install.shown(directory), name) for name in stale)} && policy init")]


# ---- the command -------------------------------------------------------------------------------------------------

def diagnose(environ: dict[str, str], cwd: str) -> list[Check]:
    from policy.store import default_path

    project = install.project_dir(environ, cwd)
    checks, ruleset = check_config(cwd, environ)
    # the store `policy eval` would use here; checked before the hooks' dry run opens (and so creates) it
    checks += check_store((ruleset.settings.db if ruleset is not None else None) or default_path(environ))
    checks += check_shared(ruleset.settings if ruleset is not None else None)
    checks += check_hooks(environ, project, ruleset)
    checks += check_schemas(project)
    return checks


def doctor(*, as_json: bool, environ: dict[str, str], cwd: str) -> int:
    checks = diagnose(environ, cwd)
    failed = sum(1 for check in checks if check.status == "fail")
    if as_json:
        from policy.commands._shared import emit_json
        from policy.lean import asdict

        emit_json({"ok": not failed, "checks": [asdict(check) for check in checks]})
    else:
        import sys

        from policy.report import colors_on

        color = colors_on(sys.stdout)
        for check in checks:
            typer.echo(check.render(color))
        warned = sum(1 for check in checks if check.status == "warn")
        typer.echo(f"{failed} problem{'s' * (failed != 1)}: policy is not fully enforcing your rules here"
                   if failed else "policy is enforcing your rules here"
                   + (f" ({warned} warning{'s' * (warned != 1)})" if warned else ""))
    return 1 if failed else 0


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_command(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
        """Check that policy is really enforcing your rules here: config, hooks, fact store. Exit 1 on a problem.

        Example: policy doctor --json
        """
        raise typer.Exit(doctor(as_json=as_json, environ=dict(os.environ), cwd=os.getcwd()))
