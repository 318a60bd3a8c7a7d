"""`policy install` / `uninstall` / `doctor` for Codex CLI, Gemini CLI, Cursor and GitHub Copilot CLI, in a
temporary HOME and project: the exact bytes each host's file gets (its layout, its timeout unit, its shape checked
against tests/schemas/), the installed command enforcing the rules when run the way the host runs it, a second
install changing nothing, uninstall giving back the original file byte for byte (and removing a file install
created), what `policy doctor` finds per host, and `--agent auto`. Claude Code's own install is tests/test_install.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
from conftest import BIN, CLIENT, EVENTS, POLICY_HOOK, ROOT, Env, write
from test_install import EXTRA_RULES

from policy.commands import _jsonedit

SCHEMAS = Path(__file__).parent / "schemas"
FORCE_PUSH_REASON = ("Force-pushing is blocked by this project's policy (.policy/rules/project.yaml); ask the user "
                     "to do it.")
COMMAND_NOTE = {"copilot": " --event EVENT (the event's name: the payload does not say it)"}
TIMEOUT_LINE = "  timeout: 75 s{unit} (max_delay 60 s + 15 s for the fact store, sources and start-up)\n"


def _copilot_denied(stdout: bytes) -> str | None:
    answer = json.loads(stdout) if stdout.strip() else {}
    return answer.get("permissionDecisionReason") if answer.get("permissionDecision") == "deny" else None


def _codex_denied(stdout: bytes) -> str | None:
    answer = json.loads(stdout) if stdout.strip() else {}
    specific = answer.get("hookSpecificOutput", {})
    return specific.get("permissionDecisionReason") if specific.get("permissionDecision") == "deny" else None


def _gemini_denied(stdout: bytes) -> str | None:
    answer = json.loads(stdout) if stdout.strip() else {}
    return answer.get("reason") if answer.get("decision") == "deny" else None


def _cursor_denied(stdout: bytes) -> str | None:
    answer = json.loads(stdout) if stdout.strip() else {}
    return answer.get("agent_message") if answer.get("permission") == "deny" else None


@dataclass(frozen=True)
class Host:
    name: str
    path: str  # the project-scope file, relative to the project
    user_path: str  # the user-scope file, relative to HOME
    schema: str
    shell: tuple[str, ...]  # how the host runs a hook's command line
    expected: Callable[[str], dict[str, Any]]  # command -> the file install writes into a new project file
    events_line: str
    example: str  # examples/events/<host>/<example>.json: a shell call
    set_command: Callable[[dict[str, Any], str], None]
    denied: Callable[[bytes], str | None]
    unit: str = ""


def _codex_file(command: str) -> dict[str, Any]:
    handler = {"type": "command", "command": command, "timeout": 75}
    return {"hooks": {"SessionStart": [{"hooks": [handler]}], "PreToolUse": [{"matcher": "Bash", "hooks": [handler]}],
                      "Stop": [{"hooks": [handler]}]}}


def _gemini_file(command: str) -> dict[str, Any]:
    handler = {"name": "policy", "type": "command", "command": command, "timeout": 75000}
    return {"hooks": {"SessionStart": [{"hooks": [handler]}], "AfterAgent": [{"hooks": [handler]}],
                      "BeforeTool": [{"matcher": "^(?:run_shell_command)$", "hooks": [handler]}]}}


def _cursor_file(command: str) -> dict[str, Any]:
    handler = {"command": command, "timeout": 75}
    return {"version": 1, "hooks": {"sessionStart": [handler], "beforeShellExecution": [handler], "stop": [handler]}}


def _copilot_file(command: str) -> dict[str, Any]:
    # a camelCase payload does not name its event: each command says it
    return {"version": 1, "hooks": {event: [{"type": "command", "bash": f"{command} --event {event}", "timeoutSec": 75}]
                                    for event in ("sessionStart", "preToolUse", "agentStop")}}


def _set_tool_command(payload: dict[str, Any], command: str) -> None:
    payload["tool_input"]["command"] = command


def _set_flat_command(payload: dict[str, Any], command: str) -> None:
    payload["command"] = command


def _set_copilot_command(payload: dict[str, Any], command: str) -> None:
    arguments = json.loads(payload["toolArgs"]) if isinstance(payload["toolArgs"], str) else payload["toolArgs"]
    arguments["command"] = command
    payload["toolArgs"] = json.dumps(arguments) if isinstance(payload["toolArgs"], str) else arguments


HOSTS = {
    "codex": Host("codex", ".codex/hooks.json", ".codex/hooks.json", "codex-hooks.schema.json", ("sh", "-lc"),
                  _codex_file, "SessionStart, PreToolUse (Bash), Stop", "PreToolUse-Bash", _set_tool_command,
                  _codex_denied),
    "gemini": Host("gemini", ".gemini/settings.json", ".gemini/settings.json", "gemini-settings.schema.json",
                   ("bash", "-c"), _gemini_file, "SessionStart, AfterAgent, BeforeTool (run_shell_command)",
                   "BeforeTool-run_shell_command", _set_tool_command, _gemini_denied,
                   " (written as 75000 ms, Gemini CLI's unit)"),
    "cursor": Host("cursor", ".cursor/hooks.json", ".cursor/hooks.json", "cursor-hooks.schema.json", ("sh", "-c"),
                   _cursor_file, "sessionStart, beforeShellExecution, stop", "beforeShellExecution",
                   _set_flat_command, _cursor_denied),
    "copilot": Host("copilot", ".github/hooks/policy.json", ".copilot/hooks/policy.json",
                    "copilot-hooks.schema.json", ("bash", "-c"), _copilot_file,
                    "sessionStart, preToolUse (*), agentStop", "preToolUse-bash", _set_copilot_command,
                    _copilot_denied),
}
NAMES = list(HOSTS)
TITLES = {"codex": "Codex CLI", "gemini": "Gemini CLI", "cursor": "Cursor", "copilot": "GitHub Copilot CLI"}
HOOK = {name: f"{BIN}/python3 -I -S {CLIENT} --agent {name}" for name in HOSTS}  # the hook client

# Files as people have them: the host's own layout with other hooks and other keys (Gemini's with comments).
EXISTING = {
    "codex": """{
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [{"type": "command", "command": "python3 ~/.codex/hooks/audit.py", "timeout": 10}]
      }
    ],
    "Stop": [{"hooks": [{"type": "command", "command": "~/bin/notify-done"}]}]
  }
}
""",
    "gemini": """{
  // my Gemini settings
  "model": {"name": "gemini-2.5-pro"},
  "general": {"vimMode": true}, /* hand-edited */
  "hooks": {
    "BeforeTool": [
      {
        "matcher": "write_file|replace",
        "hooks": [{"name": "prettier", "type": "command", "command": "npx prettier --check", "timeout": 30000}]
      }
    ]
  },
  "ui": {"theme": "GitHub"} // last
}
""",
    "cursor": """{
  "version": 1,
  "hooks": {
    "afterFileEdit": [{"command": "./hooks/format.sh"}],
    "stop": [{"command": "./hooks/audio.sh", "timeout": 5}]
  }
}
""",
    "copilot": """{
  "version": 1,
  "hooks": {
    "sessionStart": [{"type": "command", "bash": "echo started >> logs/session.log", "timeoutSec": 10}]
  }
}
""",
}


def restyled(text: str, style: str, host: str) -> str:
    data = json.loads(_jsonedit.strip_comments(text))
    return {
        "as-written": text,
        "four-spaces": json.dumps(data, indent=4, ensure_ascii=False) + "\n",
        "one-line": json.dumps(data, ensure_ascii=False),
        "crlf": text.replace("\n", "\r\n"),
        "no-hooks-yet": json.dumps({key: value for key, value in data.items() if key != "hooks"}, indent=2),
    }[style]


@pytest.fixture
def project(env: Env) -> Path:
    assert env.run("init").returncode == 0
    write(env.root / ".policy" / "rules" / "extra.yaml", EXTRA_RULES)
    return env.root


def installed(env: Env, host: str, *args: str) -> subprocess.CompletedProcess:
    return env.run("install", "--agent", host, "--scope", "project", *args)


def uninstalled(env: Env, host: str) -> subprocess.CompletedProcess:
    return env.run("uninstall", "--agent", host, "--scope", "project")


def pre_tool_command(host: str) -> str:
    """The installed command of the host's pre-tool hook (Copilot's names its event)."""
    return HOOK[host] + (" --event preToolUse" if host == "copilot" else "")


def host_file(project: Path, host: str) -> Path:
    return project / HOSTS[host].path


def schema_check(host: str, text: str) -> None:
    schema = json.loads((SCHEMAS / HOSTS[host].schema).read_text())
    jsonschema.validate(json.loads(_jsonedit.strip_comments(text)), schema)


def example(host: str) -> dict[str, Any]:
    return json.loads((EVENTS / host / f"{HOSTS[host].example}.json").read_text())


def run_as_host(env: Env, host: str, command: str, payload: dict[str, Any], project: Path) -> subprocess.CompletedProcess:
    """The command line run the way the host runs it (its shell, in the project), with the event on stdin and a PATH
    that has neither the virtualenv nor `policy` on it."""
    environ = {name: env.vars[name] for name in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    environ["PATH"] = "/usr/bin:/bin"
    environ["POLICY_NO_SERVER"] = "1"  # (the hook client starts no `policy serve`: tests/test_serve.py runs those)
    assert shutil.which("policy", path=environ["PATH"]) is None
    return subprocess.run([*HOSTS[host].shell, command], input=json.dumps(payload).encode(), capture_output=True,
                          env=environ, cwd=str(project), timeout=60)


# ---- writing ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", NAMES)
def test_install_writes_the_hosts_documented_shape(env, project, host):
    result = installed(env, host)
    assert (result.returncode, result.stderr) == (0, b"")
    lines = result.stdout.decode()
    assert lines.startswith(f"installed policy's hooks in {TITLES[host]}'s {HOSTS[host].path} (project scope)\n"
                            f"  events:  {HOSTS[host].events_line}\n"
                            f"  command: {HOOK[host]}{COMMAND_NOTE.get(host, '')}\n"
                            + TIMEOUT_LINE.format(unit=HOSTS[host].unit))
    text = host_file(project, host).read_text()
    assert text == json.dumps(HOSTS[host].expected(HOOK[host]), indent=2) + "\n"
    schema_check(host, text)
    assert host_file(project, host).stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("host", NAMES)
def test_the_installed_command_enforces_the_rules_as_the_host_runs_it(env, project, host):
    installed(env, host)
    command = pre_tool_command(host)
    payload = example(host)
    HOSTS[host].set_command(payload, "git push --force origin main")
    denied = run_as_host(env, host, command, payload, project)
    assert HOSTS[host].denied(denied.stdout) == FORCE_PUSH_REASON, (denied.stdout, denied.stderr)
    HOSTS[host].set_command(payload, "git push origin main")
    allowed = run_as_host(env, host, command, payload, project)
    assert (allowed.returncode, HOSTS[host].denied(allowed.stdout)) == (0, None)
    rows = env.rows("SELECT host, verdict, rule_ids FROM decisions ORDER BY id")
    assert rows == [{"host": host, "verdict": "deny", "rule_ids": '["project/no-force-push"]'},
                    {"host": host, "verdict": None, "rule_ids": "[]"}]


@pytest.mark.parametrize("host", NAMES)
def test_a_second_install_changes_nothing(env, project, host):
    write(host_file(project, host), EXISTING[host])
    installed(env, host)
    first = host_file(project, host).read_bytes()
    backups = sorted((env.state / "policy" / "backups").iterdir())
    again = installed(env, host)
    assert (again.returncode, again.stdout.decode()) == (
        0, f"policy's hooks are already installed in {HOSTS[host].path}: nothing changed\n")
    assert host_file(project, host).read_bytes() == first
    assert sorted((env.state / "policy" / "backups").iterdir()) == backups


@pytest.mark.parametrize("style", ["as-written", "four-spaces", "one-line", "crlf", "no-hooks-yet"])
@pytest.mark.parametrize("host", NAMES)
def test_uninstall_restores_the_original_file_byte_for_byte(env, project, host, style):
    original = restyled(EXISTING[host], style, host).encode()
    host_file(project, host).parent.mkdir(parents=True)
    host_file(project, host).write_bytes(original)
    assert installed(env, host).returncode == 0
    after = host_file(project, host).read_text()
    schema_check(host, after)
    assert after != original.decode()
    removed = uninstalled(env, host)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.decode().splitlines()[0].startswith("removed policy's hooks (")
    assert host_file(project, host).read_bytes() == original


@pytest.mark.parametrize("host", NAMES)
def test_install_keeps_every_hook_and_key(env, project, host):
    write(host_file(project, host), EXISTING[host])
    installed(env, host)
    text = host_file(project, host).read_text()
    data = json.loads(_jsonedit.strip_comments(text))
    before = json.loads(_jsonedit.strip_comments(EXISTING[host]))
    ours = HOSTS[host].expected(HOOK[host])["hooks"]
    assert {key: value for key, value in data.items() if key != "hooks"} == \
        {key: value for key, value in before.items() if key != "hooks"}
    assert data["hooks"] == {event: before["hooks"].get(event, []) + ours.get(event, [])
                             for event in [*before["hooks"], *(event for event in ours if event not in before["hooks"])]}


def test_gemini_comments_stay_where_they_are(env, project):
    write(host_file(project, "gemini"), EXISTING["gemini"])
    installed(env, "gemini")
    text = host_file(project, "gemini").read_text()
    assert text.startswith('{\n  // my Gemini settings\n  "model": {"name": "gemini-2.5-pro"},\n'
                           '  "general": {"vimMode": true}, /* hand-edited */\n')
    assert text.endswith('  "ui": {"theme": "GitHub"} // last\n}\n')


@pytest.mark.parametrize("host", NAMES)
def test_uninstall_removes_a_file_install_created_and_the_directories_it_made(env, project, host):
    installed(env, host)
    assert host_file(project, host).is_file()
    removed = uninstalled(env, host)
    assert removed.stdout.decode().splitlines()[0].endswith(
        f"and {HOSTS[host].path}, which policy install had created")
    assert not (project / HOSTS[host].path.split("/")[0]).exists()
    again = uninstalled(env, host)
    assert again.stdout.decode() == f"no policy hooks in {HOSTS[host].path}: nothing changed\n"


@pytest.mark.parametrize("host", NAMES)
def test_the_user_scope_file(env, project, host):
    result = env.run("install", "--agent", host, "--scope", "user")
    assert result.returncode == 0, result.stderr
    path = Path(env.vars["HOME"]) / HOSTS[host].user_path
    assert json.loads(path.read_text()) == HOSTS[host].expected(HOOK[host])
    assert path.stat().st_mode & 0o777 == 0o600
    assert not (project / HOSTS[host].path).exists()


@pytest.mark.parametrize("host, variable, where", [("codex", "CODEX_HOME", "codex-home/hooks.json"),
                                                    ("gemini", "GEMINI_CLI_HOME", "gemini-home/.gemini/settings.json"),
                                                    ("copilot", "COPILOT_HOME", "copilot-home/hooks/policy.json")])
def test_the_hosts_home_variable_moves_the_user_file(env, project, tmp_path, host, variable, where):
    result = env.run("install", "--agent", host, "--scope", "user",
                     extra_env={variable: str(tmp_path / where.split("/")[0])})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / where).is_file()


@pytest.mark.parametrize("host", NAMES)
def test_a_default_scope_is_the_project_and_local_is_refused(env, project, host):
    assert env.run("install", "--agent", host).returncode == 0
    assert host_file(project, host).is_file()
    local = env.run("install", "--agent", host, "--scope", "local")
    assert (local.returncode, local.stderr.decode()) == (
        2, f"policy: usage: {TITLES[host]} has no local scope (expected one of: project, user)\n")


@pytest.mark.parametrize("host", NAMES)
def test_a_policy_hook_for_another_agent_is_not_ours(env, project, host):
    """A handler running `policy-hook --agent claude-code` in this host's file answers in the wrong protocol; it
    is someone's own hook, left alone, and ours is added next to it."""
    text = EXISTING[host].replace("~/bin/notify-done", f"{POLICY_HOOK} --agent claude-code") \
        .replace("./hooks/audio.sh", f"{POLICY_HOOK} --agent claude-code")
    write(host_file(project, host), text)
    installed(env, host)
    uninstalled(env, host)
    assert host_file(project, host).read_text() == text


def test_gemini_timeout_is_in_milliseconds_and_copilot_in_timeout_sec(env, project):
    write(project / "policy.yaml", "rules: [.policy/rules]\nmax_delay: 100\n")
    installed(env, "gemini")
    installed(env, "copilot")
    gemini = json.loads(_jsonedit.strip_comments(host_file(project, "gemini").read_text()))
    copilot = json.loads(host_file(project, "copilot").read_text())
    assert {group["hooks"][0]["timeout"] for groups in gemini["hooks"].values() for group in groups} == {115000}
    assert {handler["timeoutSec"] for handlers in copilot["hooks"].values() for handler in handlers} == {115}


@pytest.mark.parametrize("host", NAMES)
def test_settings_policy_cannot_read_are_refused_not_overwritten(env, project, host):
    text = '{\n  "hooks": {}, // a comment\n}\n' if host == "gemini" else '{\n  "hooks": {} // a comment\n}\n'
    write(host_file(project, host), text)
    result = installed(env, host)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"policy: bad-settings: {host_file(project, host)}:")
    assert f"({TITLES[host]} cannot read it either)" in result.stderr.decode()
    assert host_file(project, host).read_text() == text


# ---- doctor --------------------------------------------------------------------------------------------------------

def doctor_lines(env: Env) -> tuple[int, list[str]]:
    result = env.run("doctor")
    return result.returncode, result.stdout.decode().splitlines()


@pytest.mark.parametrize("host", NAMES)
def test_doctor_checks_each_hosts_hooks(env, project, host):
    installed(env, host)
    code, lines = doctor_lines(env)
    hooks = [line for line in lines if line[6:13] == "hooks  "]
    expected_events = HOSTS[host].events_line.replace(" (*)", "")
    assert f"ok    hooks   {HOSTS[host].path} (project): {expected_events}" in hooks, hooks
    assert f"ok    hooks   `{pre_tool_command(host)}` runs and decides (checked with a dry-run event)" in hooks
    fails = [line for line in lines if line.startswith("fail")]
    assert (code, fails) == (0, [])


@pytest.mark.parametrize("host, edit, problem", [
    ("gemini", lambda data: data.update(hooksConfig={"enabled": False}),
     "fail  hooks   .gemini/settings.json sets hooksConfig.enabled: false: Gemini CLI runs no hook, policy enforces "
     "nothing; fix: remove hooksConfig.enabled from .gemini/settings.json"),
    ("gemini", lambda data: data.update(hooksConfig={"disabled": ["policy"]}),
     "fail  hooks   .gemini/settings.json lists 'policy' in hooksConfig.disabled: Gemini CLI skips policy's hook; "
     "fix: remove 'policy' from hooksConfig.disabled in .gemini/settings.json"),
    ("copilot", lambda data: data.update(disableAllHooks=True),
     "fail  hooks   .github/hooks/policy.json sets disableAllHooks: Copilot CLI skips every hook in it; fix: remove "
     "disableAllHooks from .github/hooks/policy.json"),
    ("cursor", lambda data: data.update(version=2),
     "fail  hooks   .cursor/hooks.json has version 2, not 1: Cursor does not load it; fix: set \"version\": 1 in "
     ".cursor/hooks.json"),
])
def test_doctor_finds_what_switches_a_hosts_hooks_off(env, project, host, edit, problem):
    installed(env, host)
    data = json.loads(host_file(project, host).read_text())
    edit(data)
    host_file(project, host).write_text(json.dumps(data, indent=2))
    code, lines = doctor_lines(env)
    assert code == 1
    assert problem in lines


def test_doctor_finds_copilots_repository_wide_switch(env, project):
    installed(env, "copilot")
    write(project / ".github" / "copilot" / "settings.local.json", '{"disableAllHooks": true}\n')
    code, lines = doctor_lines(env)
    assert code == 1
    assert (f"fail  hooks   {project}/.github/copilot/settings.local.json sets disableAllHooks: Copilot CLI runs no "
            f"hook in this repository, policy enforces nothing; fix: remove disableAllHooks from "
            f"{project}/.github/copilot/settings.local.json") in lines


def test_doctor_finds_codex_hooks_switched_off_untrusted_or_disabled(env, project):
    installed(env, "codex")
    config = Path(env.vars["HOME"]) / ".codex" / "config.toml"
    code, lines = doctor_lines(env)
    assert code == 0
    key = f"{project / '.codex' / 'hooks.json'}:pre_tool_use:0:0"  # Codex's trust key: file, event, group, handler
    assert ("warn  hooks   Codex has not been told to trust the PreToolUse hook in .codex/hooks.json yet and skips "
            "it until you do; fix: open /hooks in Codex and trust it") in lines
    assert (f"warn  hooks   Codex loads .codex/hooks.json only in a trusted project, and {project} is not marked "
            f"trusted in {config}; fix: trust the project when Codex asks") in lines
    write(config, f'[projects."{project}"]\ntrust_level = "trusted"\n\n'
                  f'[hooks.state."{key}"]\ntrusted_hash = "sha256:0"\n'
                  f'[hooks.state."{key.replace("pre_tool_use", "session_start")}"]\ntrusted_hash = "sha256:0"\n'
                  f'[hooks.state."{key.replace("pre_tool_use", "stop")}"]\nenabled = false\n')
    code, lines = doctor_lines(env)
    assert [line for line in lines if line.startswith(("warn  hooks", "fail  hooks"))] == [
        "fail  hooks   the Stop hook in .codex/hooks.json is disabled in Codex's /hooks; fix: enable it in /hooks in "
        "Codex"]
    write(config, "[features]\nhooks = false\n")
    code, lines = doctor_lines(env)
    assert (f"fail  hooks   {config} sets [features] hooks = false: Codex runs no hook, policy enforces nothing; fix: "
            f"remove `hooks = false` from {config}") in lines


@pytest.mark.parametrize("host", NAMES)
def test_doctor_finds_a_hook_whose_program_is_gone(env, project, host):
    installed(env, host)
    text = host_file(project, host).read_text().replace(f"{BIN}/python3", "/nowhere/bin/python3")
    host_file(project, host).write_text(text)
    code, lines = doctor_lines(env)
    consequence = "denies every tool call" if host == "copilot" else "runs without policy"
    assert code == 1
    assert (f"fail  hooks   the installed command `{pre_tool_command(host).replace(str(BIN), '/nowhere/bin')}` (project): "
            f"/nowhere/bin/python3 does not exist or is not executable ({TITLES[host]} then {consequence}); "
            f"fix: policy install --agent {host} --scope project") in lines


@pytest.mark.parametrize("host", NAMES)
def test_doctor_finds_a_timeout_below_max_delay_in_the_hosts_unit(env, project, host):
    installed(env, host)
    field = {"gemini": '"timeout": 75000', "copilot": '"timeoutSec": 75'}.get(host, '"timeout": 75')
    short = {"gemini": '"timeout": 20000', "copilot": '"timeoutSec": 20'}.get(host, '"timeout": 20')
    host_file(project, host).write_text(host_file(project, host).read_text().replace(field, short))
    code, lines = doctor_lines(env)
    event = {"codex": "PreToolUse", "gemini": "BeforeTool", "cursor": "beforeShellExecution",
             "copilot": "preToolUse"}[host]
    assert code == 1
    assert (f"fail  hooks   {HOSTS[host].path}: the {event} hook times out after 20 s, before a rule's delay can end "
            f"(max_delay 60 s needs 75 s); fix: policy install --agent {host} --scope project") in lines


# ---- --agent auto --------------------------------------------------------------------------------------------------

def test_auto_says_what_it_found_and_installs_for_each(env, project, tmp_path):
    home = Path(env.vars["HOME"])
    (home / ".gemini").mkdir()
    programs = tmp_path / "bin"
    programs.mkdir()
    for name in ("codex", "copilot"):
        write(programs / name, "#!/bin/sh\nexit 0\n")
        os.chmod(programs / name, 0o755)
    result = env.run("install", "--agent", "auto", extra_env={"PATH": f"{programs}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[:2] == [f"found:     Codex CLI ({programs}/codex), Gemini CLI (~/.gemini), "
                         f"GitHub Copilot CLI ({programs}/copilot)",
                         "not found: Claude Code, Cursor"]
    assert [line for line in lines if line.endswith(":") or line.startswith("installed")] == [
        "Codex CLI:", "installed policy's hooks in Codex CLI's .codex/hooks.json (project scope)",
        "Gemini CLI:", "installed policy's hooks in Gemini CLI's .gemini/settings.json (project scope)",
        "GitHub Copilot CLI:", "installed policy's hooks in GitHub Copilot CLI's .github/hooks/policy.json "
                               "(project scope)"]
    assert not (project / ".claude").exists() and not (project / ".cursor").exists()
    removed = env.run("uninstall", "--agent", "auto", extra_env={"PATH": f"{programs}:/usr/bin:/bin"})
    assert removed.returncode == 0
    assert not any((project / name).exists() for name in (".codex", ".gemini", ".github"))


def test_auto_with_a_scope_skips_the_agents_without_it(env, project):
    (Path(env.vars["HOME"]) / ".claude").mkdir()
    (Path(env.vars["HOME"]) / ".cursor").mkdir()
    result = env.run("install", "--agent", "auto", "--scope", "local", extra_env={"PATH": "/usr/bin:/bin"})
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0
    assert "skipped Cursor: it has no local scope (it has user, project)" in lines
    assert (project / ".claude" / "settings.local.json").is_file()
    assert not (project / ".cursor").exists()


def test_auto_finding_nothing_installs_nothing(env, project):
    result = env.run("install", "--agent", "auto", extra_env={"PATH": "/usr/bin:/bin"})
    assert (result.returncode, result.stdout) == (1, b"")
    assert result.stderr.decode() == (
        "policy: no-agent: found none of the agents policy supports (Claude Code, Codex CLI, Gemini CLI, Cursor, "
        "GitHub Copilot CLI)\n    hint: install one, or name it: policy install --agent NAME\n")
    assert sorted(path.name for path in project.iterdir()) == [".policy", "policy.yaml"]


def test_auto_installs_only_the_agents_the_config_names(env, project):
    (Path(env.vars["HOME"]) / ".gemini").mkdir()
    (Path(env.vars["HOME"]) / ".cursor").mkdir()
    write(project / "policy.yaml", "rules: [.policy/rules]\nagents: [claude-code, gemini]\n")
    result = env.run("install", "--agent", "auto", extra_env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert "skipped Cursor: the config's `agents:` (claude-code, gemini) leaves it out" in lines
    assert (project / ".gemini" / "settings.json").is_file() and not (project / ".cursor").exists()


def test_doctor_warns_about_another_agents_file_it_cannot_read(env, project):
    env.run("install", "--scope", "project")
    write(host_file(project, "cursor"), '{"version": 1,}\n')
    code, lines = doctor_lines(env)
    assert code == 0
    assert (f"warn  hooks   {host_file(project, 'cursor')}:1:15: not valid JSON (Expecting property name enclosed "
            "in double quotes) (Cursor ignores it); fix: fix it (Cursor cannot read it either) or move it aside; "
            "nothing was changed") in lines


@pytest.mark.parametrize("host, how, fix", [
    ("copilot", "runs them", ", or keep Claude Code's at --scope user"),
    ("cursor", "runs them when its third-party hooks are on", "")])
def test_doctor_warns_when_a_host_also_runs_the_claude_code_hook(env, project, host, how, fix):
    """Copilot CLI reads a repository's .claude/settings*.json hooks; Cursor, with third-party hooks on, those and
    ~/.claude/settings.json."""
    env.run("install", "--scope", "project")
    installed(env, host)
    code, lines = doctor_lines(env)
    assert code == 0
    assert (f"warn  hooks   {TITLES[host]} also {how}: policy's hook in .claude/settings.json and its own "
            f"{TITLES[host]} hook both run on each call there (counted twice, the first answering as Claude Code); "
            f"fix: policy uninstall --scope project if you use only {TITLES[host]} here{fix}") in lines
    env.run("uninstall", "--scope", "project")
    env.run("install", "--scope", "user")
    warned = [line for line in doctor_lines(env)[1] if line.startswith(f"warn  hooks   {TITLES[host]} also")]
    assert warned == ([] if host == "copilot" else [
        f"warn  hooks   Cursor also {how}: policy's hook in ~/.claude/settings.json and its own Cursor hook both run "
        "on each call there (counted twice, the first answering as Claude Code); fix: policy uninstall --scope user "
        "if you use only Cursor here"])
