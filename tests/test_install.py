"""`policy install` / `policy uninstall` for Claude Code, in a temporary HOME and project: the settings it writes
have the shape of hook-protocols.md §3, the installed command enforces the rules when run exactly as Claude Code
runs it, a second install changes nothing, and uninstall gives back the original file byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import BIN, CLIENT, POLICY_HOOK, ROOT, Env, event_payload, write

from policy.commands import install
from policy.model import SourceSpec, Settings

SETTINGS_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "claude-code-settings.schema.json").read_text())
# What `policy install` (run as the `policy` console script, whose interpreter is BIN/python3) writes: the hook
# client (policy/client.py); earlier versions wrote the launcher, LAUNCHER_HOOK.
HOOK = f"{BIN}/python3 -I -S {CLIENT} --agent claude-code"
LAUNCHER_HOOK = f"{POLICY_HOOK} --agent claude-code"
DENIAL = {"hookSpecificOutput": {
    "hookEventName": "PreToolUse", "permissionDecision": "deny",
    "permissionDecisionReason": "Force-pushing is blocked by this project's policy (.policy/rules/project.yaml); ask "
                                "the user to do it."}}

# More rules next to the starter one: a Stop gate and session context, so that install adds a group to an event
# the existing settings have, and an event they do not.
EXTRA_RULES = """
version: 1
pack: extra
rules:
  - id: tests-before-stop
    events: Stop
    when: "False"
    decision: deny
    reason: Run the tests first.
  - id: conventions
    events: SessionStart
    context: Run `make test` before you finish.
"""

# A settings file as people have them: Claude Code's own layout with hand-edited parts, other hooks, other keys.
EXISTING = """{
  "model": "opus",
  "permissions": {
    "allow": ["Bash(npm test:*)", "Read(~/notes/**)"],
    "deny": ["Read(./.env)"]
  },
  "env": {"GREETING": "h\\u00e9llo", "NAME": "José"},
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Edit|Write",
        "hooks": [{"type": "command", "command": "npx prettier --check", "timeout": 30}]
      }
    ],
    "Stop": [{"hooks": [{"type": "command", "command": "~/bin/notify-done"}]}]
  },
  "statusLine": {"type": "command", "command": "~/bin/status"}
}
"""


def restyled(text: str, style: str) -> str:
    data = json.loads(text)
    return {
        "as-written": text,
        "four-spaces": json.dumps(data, indent=4, ensure_ascii=False) + "\n",
        "tabs": json.dumps(data, indent="\t") + "\n",
        "one-line": json.dumps(data, ensure_ascii=False),
        "crlf": text.replace("\n", "\r\n"),
        "no-hooks-yet": json.dumps({key: value for key, value in data.items() if key != "hooks"}, indent=2),
        "empty-object": "{}\n",
    }[style]


@pytest.fixture
def project(env: Env) -> Path:
    """A project set up with `policy init`, plus EXTRA_RULES."""
    assert env.run("init").returncode == 0
    write(env.root / ".policy" / "rules" / "extra.yaml", EXTRA_RULES)
    return env.root


def settings_file(project: Path) -> Path:
    return project / ".claude" / "settings.json"


def installed(env: Env, *args: str) -> subprocess.CompletedProcess:
    return env.run("install", "--agent", "claude-code", "--scope", "project", *args)


def run_as_claude_code(env: Env, handler: dict | str, payload: dict, project: Path) -> subprocess.CompletedProcess:
    """The handler run as Claude Code runs it: shell form (`command` alone) through `sh -c`, exec form (`args`)
    spawned directly with `${CLAUDE_PROJECT_DIR}` substituted, no shell; with the event on stdin, in the project,
    with Claude Code's variables and a PATH that has neither the virtualenv nor `policy` on it."""
    handler = {"command": handler} if isinstance(handler, str) else handler
    environ = {name: env.vars[name] for name in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    environ.update(PATH="/usr/bin:/bin", CLAUDE_PROJECT_DIR=str(project), CLAUDE_CODE_SESSION_ID=payload["session_id"],
                   POLICY_NO_SERVER="1")  # (tests/test_serve.py runs the client with servers)
    assert shutil.which("policy", path=environ["PATH"]) is None
    if "args" in handler:
        argv = [word.replace("${CLAUDE_PROJECT_DIR}", str(project)) for word in [handler["command"], *handler["args"]]]
    else:
        argv = ["sh", "-c", handler["command"]]
    return subprocess.run(argv, input=json.dumps(payload).encode(), capture_output=True, env=environ,
                          cwd=str(project), timeout=60)


def bash_event(command: str, project: Path) -> dict:
    payload = event_payload("PreToolUse-Bash")
    payload["tool_input"]["command"] = command
    payload["cwd"] = str(project)
    return payload


def without_ours(data: dict) -> dict:
    """The settings with our handlers, and what held only them, taken out."""
    data = json.loads(json.dumps(data))
    hooks = data.get("hooks", {})
    for event in list(hooks):
        groups = [dict(group, hooks=[h for h in group["hooks"] if not install.is_ours(h)]) for group in hooks[event]]
        hooks[event] = [group for group in groups if group["hooks"]]
        if not hooks[event]:
            del hooks[event]
    if "hooks" in data and not hooks:
        del data["hooks"]
    return data


# ---- the "done when" ----------------------------------------------------------------------------------------

def test_init_then_install_writes_settings_of_the_documented_shape(env, project):
    result = installed(env)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.decode() == (
        "installed policy's hooks in .claude/settings.json (project scope)\n"
        "  events:  SessionStart, PreToolUse (Bash), Stop\n"
        f"  command: {HOOK}\n"
        "  timeout: 75 s (max_delay 60 s + 15 s for the fact store, sources and start-up)\n"
        "Run `policy install` again after changing which events or tools your rules use; `policy doctor` checks.\n")
    data = json.loads(settings_file(project).read_text())
    jsonschema.validate(data, SETTINGS_SCHEMA)
    handler = {"type": "command", "command": HOOK, "timeout": 75}
    assert data == {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [handler]}],
                              "Stop": [{"hooks": [handler]}], "SessionStart": [{"hooks": [handler]}]}}


def test_the_installed_command_enforces_the_rules_as_claude_code_runs_it(env, project):
    installed(env)
    command = json.loads(settings_file(project).read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    denied = run_as_claude_code(env, command, bash_event("git push --force origin main", project), project)
    assert (denied.returncode, json.loads(denied.stdout), denied.stderr) == (0, DENIAL, b"")
    let_through = run_as_claude_code(env, command, bash_event("git push origin main", project), project)
    assert (let_through.returncode, let_through.stdout, let_through.stderr) == (0, b"", b"")
    rows = env.rows("SELECT event, tool, verdict, rule_ids FROM decisions ORDER BY id")
    assert rows == [{"event": "PreToolUse", "tool": "Bash", "verdict": "deny", "rule_ids": '["project/no-force-push"]'},
                    {"event": "PreToolUse", "tool": "Bash", "verdict": None, "rule_ids": "[]"}]


def test_a_second_install_changes_nothing(env, project):
    write(settings_file(project), EXISTING)
    installed(env)
    first = settings_file(project).read_bytes()
    backups = sorted((env.state / "policy" / "backups").iterdir())
    again = installed(env)
    assert (again.returncode, again.stdout.decode()) == (
        0, "policy's hooks are already installed in .claude/settings.json: nothing changed\n")
    assert settings_file(project).read_bytes() == first
    assert sorted((env.state / "policy" / "backups").iterdir()) == backups


@pytest.mark.parametrize("style", ["as-written", "four-spaces", "tabs", "one-line", "crlf", "no-hooks-yet",
                                   "empty-object"])
def test_uninstall_restores_the_original_file_byte_for_byte(env, project, style):
    original = restyled(EXISTING, style).encode()
    settings_file(project).parent.mkdir()
    settings_file(project).write_bytes(original)
    assert installed(env).returncode == 0
    after_install = json.loads(settings_file(project).read_text())
    jsonschema.validate(after_install, SETTINGS_SCHEMA)
    assert without_ours(after_install) == json.loads(original)
    removed = env.run("uninstall", "--agent", "claude-code", "--scope", "project")
    assert removed.returncode == 0
    assert removed.stdout.decode().splitlines()[0] == \
        "removed policy's hooks (PreToolUse, SessionStart, Stop) from .claude/settings.json"
    assert settings_file(project).read_bytes() == original


# ---- keeping what is there -----------------------------------------------------------------------------------------

def test_install_keeps_every_hook_and_key_and_appends_its_groups(env, project):
    write(settings_file(project), EXISTING)
    installed(env)
    text = settings_file(project).read_text()
    data = json.loads(text)
    ours = {"type": "command", "command": HOOK, "timeout": 75}
    assert data["hooks"]["PreToolUse"] == [json.loads(EXISTING)["hooks"]["PreToolUse"][0],
                                           {"matcher": "Bash", "hooks": [ours]}]
    assert data["hooks"]["Stop"] == [{"hooks": [{"type": "command", "command": "~/bin/notify-done"}]},
                                     {"hooks": [ours]}]
    assert list(data) == ["model", "permissions", "env", "hooks", "statusLine"]
    assert list(data["hooks"]) == ["PreToolUse", "Stop", "SessionStart"]
    assert text.startswith(EXISTING[:EXISTING.index('"hooks"')])  # untouched up to the hooks
    assert '"NAME": "José"' in text and '"GREETING": "h\\u00e9llo"' in text


def test_install_backs_up_the_file_it_changes(env, project):
    write(settings_file(project), EXISTING)
    result = installed(env)
    backups = list((env.state / "policy" / "backups").iterdir())
    assert len(backups) == 1 and backups[0].name.endswith("-project-settings.json")
    assert backups[0].read_text() == EXISTING
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600"
    assert f"  backup:  {backups[0]}\n" in result.stdout.decode()


def test_dry_run_prints_a_unified_diff_and_writes_nothing(env, project):
    write(settings_file(project), '{\n  "model": "opus"\n}\n')
    result = installed(env, "--dry-run")
    assert (result.returncode, result.stdout.decode()) == (0, f"""\
--- .claude/settings.json
+++ .claude/settings.json
@@ -1,3 +1,39 @@
 {{
-  "model": "opus"
+  "model": "opus",
+  "hooks": {{
+    "SessionStart": [
+      {{
+        "hooks": [
+          {{
+            "type": "command",
+            "command": "{HOOK}",
+            "timeout": 75
+          }}
+        ]
+      }}
+    ],
+    "PreToolUse": [
+      {{
+        "matcher": "Bash",
+        "hooks": [
+          {{
+            "type": "command",
+            "command": "{HOOK}",
+            "timeout": 75
+          }}
+        ]
+      }}
+    ],
+    "Stop": [
+      {{
+        "hooks": [
+          {{
+            "type": "command",
+            "command": "{HOOK}",
+            "timeout": 75
+          }}
+        ]
+      }}
+    ]
+  }}
 }}
""")
    assert settings_file(project).read_text() == '{\n  "model": "opus"\n}\n'
    assert not (env.state / "policy" / "backups").exists()


@pytest.mark.parametrize("text, message", [
    ('{\n  "model": "opus",\n}\n', ".claude/settings.json:3:1: not valid JSON (Expecting property name enclosed in "
                                   "double quotes)\n    hint: fix it (Claude Code cannot read it either) or move it "
                                   "aside; nothing was changed\n"),
    ('["hooks"]\n', ".claude/settings.json holds a JSON list, not an object\n"
                    "    hint: fix it or move it aside; nothing was changed\n"),
    ('{"hooks": []}\n', ".claude/settings.json: `hooks` is not an object\n"
                        "    hint: fix it by hand; nothing was changed\n"),
    ('{"hooks": {"Stop": {}}}\n', ".claude/settings.json: hooks.Stop is not a list\n"
                                  "    hint: fix it by hand; nothing was changed\n"),
])
def test_settings_policy_cannot_read_are_refused_not_overwritten(env, project, text, message):
    write(settings_file(project), text)
    result = installed(env)
    path = str(settings_file(project))
    assert (result.returncode, result.stdout, result.stderr.decode()) == (
        1, b"", "policy: bad-settings: " + message.replace(".claude/settings.json", path, 1))
    assert settings_file(project).read_text() == text
    assert env.run("uninstall", "--scope", "project").returncode == (0 if "Stop" in text else 1)


def test_a_changed_config_updates_the_hook_in_place(env, project):
    write(settings_file(project), EXISTING)
    installed(env)
    write(project / "policy.yaml", "rules: [.policy/rules]\nmax_delay: 100\n")
    (project / ".policy" / "rules" / "extra.yaml").unlink()
    installed(env)
    data = json.loads(settings_file(project).read_text())
    ours = {"type": "command", "command": HOOK, "timeout": 115}
    assert data["hooks"] == {**json.loads(EXISTING)["hooks"],
                             "PreToolUse": json.loads(EXISTING)["hooks"]["PreToolUse"] + [
                                 {"matcher": "Bash", "hooks": [ours]}]}


def test_a_hook_from_an_old_virtualenv_is_replaced_and_other_policy_commands_are_kept(env, project):
    theirs = {"type": "command", "command": "policy eval --rules ~/my-rules"}
    write(settings_file(project), json.dumps({"hooks": {"PreToolUse": [
        {"matcher": "*", "hooks": [theirs, {"type": "command", "timeout": 70,
                                            "command": "'/old venv/bin/policy-hook' --agent claude-code"}]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/bin/python3 -m policy eval --agent "
                                                                      "claude-code"}]}]}}, indent=2))
    installed(env)
    data = json.loads(settings_file(project).read_text())
    assert data["hooks"]["PreToolUse"] == [
        {"matcher": "*", "hooks": [theirs]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": HOOK, "timeout": 75}]}]
    env.run("uninstall", "--scope", "project")
    assert json.loads(settings_file(project).read_text()) == {"hooks": {"PreToolUse": [
        {"matcher": "*", "hooks": [theirs]}]}}


def test_a_policy_hook_the_user_wrapped_is_kept_instead_of_installing_a_second_one(env, project):
    """The user prefixed our command with an env variable (PreToolUse) and wrote it in exec form (Stop): both are
    policy's hook. The wrapped one stays as the user wrote it; the exec form, our own command, becomes what install
    writes; SessionStart, which neither covers, gets ours. Uninstall takes them all out."""
    wrapped = {"type": "command", "command": f"POLICY_PACING=off {HOOK}", "timeout": 75}
    exec_form = {"type": "command", "command": str(POLICY_HOOK), "args": ["--agent", "claude-code"], "timeout": 90}
    write(settings_file(project), json.dumps({"hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [wrapped]}], "Stop": [{"hooks": [exec_form]}]}}, indent=2))
    result = installed(env)
    assert result.returncode == 0
    assert "  kept:    your own policy hook on PreToolUse, as you wrote it (`policy doctor` checks the timeout and " \
           "matcher)" in result.stdout.decode().splitlines()
    ours = {"type": "command", "command": HOOK, "timeout": 75}
    data = json.loads(settings_file(project).read_text())
    assert data["hooks"] == {"PreToolUse": [{"matcher": "Bash", "hooks": [wrapped]}], "Stop": [{"hooks": [ours]}],
                             "SessionStart": [{"hooks": [ours]}]}
    again = installed(env)
    assert again.stdout.decode() == ("policy's hooks are already installed in .claude/settings.json: nothing changed "
                                     "(your own on PreToolUse kept as you wrote it)\n")
    denied = run_as_claude_code(env, wrapped["command"], bash_event("git push --force", project), project)
    assert (denied.returncode, json.loads(denied.stdout)) == (0, DENIAL)
    assert env.run("uninstall", "--scope", "project").returncode == 0
    assert json.loads(settings_file(project).read_text()) == {}


def test_a_duplicate_of_a_wrapped_hook_is_taken_out(env, project):
    """Settings that have both (an earlier install next to the user's wrapper) keep only the user's."""
    wrapped = {"type": "command", "command": f"env POLICY_PACING=off {HOOK}", "timeout": 75}
    write(settings_file(project), json.dumps({"hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [wrapped]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": HOOK, "timeout": 75}]}]}}, indent=2))
    installed(env)
    assert json.loads(settings_file(project).read_text())["hooks"]["PreToolUse"] == [
        {"matcher": "Bash", "hooks": [wrapped]}]


def test_worktree_create_is_never_hooked(env, project):
    """Rules on it are refused; a policy hook found there (any form) is taken out; others' hooks stay."""
    theirs = {"type": "command", "command": "~/bin/make-worktree"}
    write(settings_file(project), json.dumps({"hooks": {"WorktreeCreate": [
        {"hooks": [{"type": "command", "command": HOOK, "timeout": 75}]},
        {"hooks": [{"type": "command", "command": f"FOO=1 {HOOK}"}, theirs]}]}}, indent=2))
    assert installed(env).returncode == 0
    data = json.loads(settings_file(project).read_text())
    assert data["hooks"]["WorktreeCreate"] == [{"hooks": [theirs]}]
    write(project / ".policy" / "rules" / "worktree.yaml", "version: 1\npack: wt\nrules:\n"
          "  - {id: log, events: [WorktreeCreate], do: [{set: {key: wt.last, value: '{{ event.name }}'}}]}\n")
    refused = installed(env)
    assert (refused.returncode, refused.stderr.decode()) == (1, (
        "policy: invalid-config: the configuration has errors: unsupported-event: rule wt/log: policy cannot answer "
        "WorktreeCreate in Claude Code\n    hint: run `policy validate`, fix what it reports, then install again\n"))


def test_a_symlinked_settings_file_stays_a_symlink(env, project, tmp_path):
    dotfiles = write(tmp_path / "dotfiles" / "claude-settings.json", EXISTING)
    settings_file(project).parent.mkdir()
    settings_file(project).symlink_to(dotfiles)
    installed(env)
    assert settings_file(project).is_symlink()
    assert "policy/client.py" in dotfiles.read_text()


# ---- scopes and commands -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope, extra, where", [
    ("user", {}, "home/.claude/settings.json"),
    ("user", {"CLAUDE_CONFIG_DIR": "{root}/claude-config"}, "claude-config/settings.json"),
    ("local", {}, "work/.claude/settings.local.json"),
    ("project", {}, "work/.claude/settings.json"),
])
def test_each_scope_has_its_settings_file(env, project, tmp_path, scope, extra, where):
    extra = {name: value.format(root=tmp_path) for name, value in extra.items()}
    result = env.run("install", "--scope", scope, extra_env=extra)
    assert result.returncode == 0, result.stderr
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("settings*.json"))
    assert written == [where]
    mode = (tmp_path / where).stat().st_mode & 0o777
    assert mode == (0o644 if scope == "project" else 0o600)


def test_uninstall_from_the_wrong_scope_says_where_the_hooks_are(env, project):
    env.run("install", "--scope", "project")
    result = env.run("uninstall")
    assert (result.returncode, result.stdout.decode()) == (0, (
        "no policy hooks in .claude/settings.local.json: nothing changed; they are in .claude/settings.json "
        "(--scope project)\n"))


def test_install_from_a_subdirectory_finds_the_project(env, project):
    (project / "src").mkdir()
    assert env.run("install", "--scope", "project", cwd=project / "src").returncode == 0
    assert settings_file(project).is_file()


def test_nothing_to_install_and_a_broken_config_are_clear_errors(env):
    nothing = env.run("install")
    assert (nothing.returncode, nothing.stderr.decode()) == (1, (
        "policy: nothing-to-install: no rules are enabled here, so there is nothing to hook\n"
        "    hint: run `policy init` (or add packs to policy.yaml) first\n"))
    write(env.root / "policy.yaml", "packs: [focsu]\n")
    broken = env.run("install")
    assert (broken.returncode, broken.stderr.decode()) == (1, (
        "policy: invalid-config: the configuration has errors: unknown-pack: there is no shipped pack 'focsu'\n"
        "    hint: run `policy validate`, fix what it reports, then install again\n"))
    assert not (env.root / ".claude").exists()


def test_an_unknown_agent_or_scope_is_a_usage_error(env, project):
    agent = env.run("install", "--agent", "no-such-agent")
    known = ", ".join(sorted([*install.agents(), "auto"]))
    assert (agent.returncode, agent.stderr.decode()) == (
        2, f"policy: usage: policy cannot install hooks for 'no-such-agent' yet (expected one of: {known})\n")
    scope = env.run("install", "--scope", "globl")
    assert (scope.returncode, scope.stderr.decode()) == (
        2, "policy: usage: unknown scope 'globl' (did you mean 'local'?)\n")




def test_the_command_is_the_hook_client_run_by_this_interpreter_isolated_and_without_site(tmp_path):
    assert install.hook_handler() == {"type": "command",
                                      "command": f"{os.path.abspath(sys.executable)} -I -S {CLIENT} --agent claude-code"}
    for command in (HOOK, LAUNCHER_HOOK, f"{sys.executable} -m policy eval --agent claude-code"):
        assert install.is_ours({"type": "command", "command": command}) and not install.is_wrapped(
            {"type": "command", "command": command})
    assert install.is_wrapped({"type": "command", "command": f"POLICY_PACING=off {HOOK}"})
    assert not install.is_ours({"type": "command", "command": f"{BIN}/python3 -S {CLIENT} --agent claude-code"})


def fake_venv(root: Path, *, launcher: bool) -> Path:
    """A virtualenv at `root` that shares this one's packages: its python, and the launcher if asked."""
    (root / "bin").mkdir(parents=True)
    os.symlink(os.path.realpath(sys.executable), root / "bin" / "python")
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", root / "pyvenv.cfg")
    os.symlink(Path(sys.prefix) / "lib", root / "lib")
    if launcher:
        shutil.copy(POLICY_HOOK, root / "bin" / "policy-hook")
    return root / "bin" / "python"


def test_a_path_that_needs_quoting_is_run_without_a_shell(env, project, tmp_path):
    """A path no shell reads as one word unquoted gets exec form: quoting for sh (`'…'`) would not run in
    PowerShell, where Claude Code runs shell-form hooks on Windows without Git Bash."""
    python = fake_venv(tmp_path / "my venv's dir", launcher=False)
    handler = install.hook_handler(executable=str(python))
    assert handler == {"type": "command", "command": f"{tmp_path}/my venv's dir/bin/python",
                       "args": ["-I", "-S", CLIENT, "--agent", "claude-code"]}
    assert install.is_ours(handler) and not install.is_wrapped(handler)
    denied = run_as_claude_code(env, handler, bash_event("git push -f", project), project)
    assert (denied.returncode, json.loads(denied.stdout)) == (0, DENIAL)


def test_a_plain_path_is_written_in_shell_form(tmp_path):
    python = fake_venv(tmp_path / "venv", launcher=False)
    assert install.hook_handler(executable=str(python)) == {
        "type": "command", "command": f"{tmp_path}/venv/bin/python -I -S {CLIENT} --agent claude-code"}


def test_a_virtualenv_inside_the_project_is_named_through_claude_project_dir(env, tmp_path):
    project = tmp_path / "my project"
    python = fake_venv(project / ".venv", launcher=True)
    assert env.run("init", cwd=project).returncode == 0
    handler = install.hook_handler(project_dir=str(project), executable=str(python))
    assert handler == {"type": "command", "command": "${CLAUDE_PROJECT_DIR}/.venv/bin/python",
                       "args": ["-I", "-S", CLIENT, "--agent", "claude-code"]}
    assert install.is_ours(handler)
    denied = run_as_claude_code(env, handler, bash_event("git push --force", project), project)
    assert (denied.returncode, json.loads(denied.stdout)) == (0, DENIAL)


@pytest.mark.parametrize("path, plain", [
    ("/home/dev/shop/.venv/bin/policy-hook", True),
    ("C:/Users/dev/shop/.venv/Scripts/policy-hook.exe", True),
    ("/home/dév/.venv/bin/policy-hook", True),
    ("/home/dev/my shop/.venv/bin/policy-hook", False),
    ("/opt/it's/bin/policy-hook", False),
    ("/opt/$HOME/bin/policy-hook", False),
    ("/opt/a;b/bin/policy-hook", False),
    ("/opt/a&b/bin/policy-hook", False),
    ("/opt/(x)/bin/policy-hook", False),
    ("/opt/a,b/bin/policy-hook", False),  # PowerShell reads a comma as an array
    ("/opt/a@b/bin/policy-hook", False),
    ("/opt/`x`/bin/policy-hook", False),
    ("~/venv/bin/policy-hook", False),
    ("-rf/bin/policy-hook", False),
    ("C:\\Users\\dev\\policy-hook.exe", False),  # Git Bash would read the backslashes as escapes
])
def test_shell_form_only_for_a_word_every_shell_reads_as_is(path, plain):
    """sh, Git Bash and PowerShell (no shell of PowerShell is available here to run it: the rule is checked)."""
    assert install._plain(path) is plain


def test_policy_hooks_of_every_form_and_version_are_recognised():
    exec_form = {"type": "command", "command": "/v/bin/policy-hook", "args": ["--agent", "claude-code"]}
    old_quoted = {"type": "command", "command": "'/old venv/bin/policy-hook' --agent claude-code"}
    old_project = {"type": "command", "command": '"$CLAUDE_PROJECT_DIR"/.venv/bin/policy-hook --agent claude-code'}
    windows = {"type": "command", "command": "C:/venv/Scripts/policy-hook.exe --agent claude-code"}
    assert [install.is_ours(handler) for handler in (exec_form, old_quoted, old_project, windows)] == [True] * 4
    wrapped = [
        {"type": "command", "command": "POLICY_DB=/tmp/f.db /v/bin/policy-hook --agent claude-code"},
        {"type": "command", "command": "env POLICY_PACING=off policy-hook"},
        {"type": "command", "command": "bash -c 'policy eval --agent claude-code 2>>/tmp/policy.log'"},
        {"type": "command", "command": "/usr/bin/env", "args": ["POLICY_DB=/x", "/v/bin/policy-hook", "--agent",
                                                                 "claude-code"]},
        {"type": "command", "command": "/v/bin/policy", "args": ["eval"]},
    ]
    assert [(install.is_ours(handler), install.is_wrapped(handler)) for handler in wrapped] == [(False, True)] * 5
    others = [
        {"type": "command", "command": "policy eval --rules ~/my-rules"},  # a policy hook of its own
        {"type": "command", "command": "/v/bin/policy-hook --agent cursor"},
        {"type": "command", "command": "npx prettier --check"},
        {"type": "http", "url": "http://127.0.0.1:1/policy-hook"},
    ]
    assert [(install.is_ours(handler), install.is_wrapped(handler)) for handler in others] == [(False, False)] * 4


# ---- matchers and timeouts -----------------------------------------------------------------------------------------

def ruleset_of(tmp_path: Path, rules: str, settings: Settings | None = None):
    from policy.compiler import PackSource, build_ruleset, compile_files

    path = write(tmp_path / "rules.yaml", "version: 1\npack: m\nrules:\n" + rules)
    compiled = compile_files([PackSource(str(path), trusted=True)])
    assert compiled.errors == ()
    return build_ruleset(compiled, settings or Settings())


@pytest.mark.parametrize("tools, matcher", [
    (["Bash", "[Edit, Write]"], "Bash|Edit|Write"),
    (["Bash", None], "*"),
    (["Bash", "'Edit|MultiEdit'"], "Bash|Edit|MultiEdit"),
    (["'mcp__.*'"], "*"),
    (["mcp__github__create_issue"], "mcp__github__create_issue"),
    (["'Bash|Power.*'"], "*"),
])
def test_the_matcher_is_star_unless_every_rule_names_its_tools(tmp_path, tools, matcher):
    rules = "".join(f"  - {{id: r{index}, events: [PreToolUse, PostToolUse], decision: deny"
                    + (f", tools: {tool}" if tool else "") + "}\n" for index, tool in enumerate(tools))
    rules += "  - {id: switched-off, events: [PreToolUse], enabled: false, decision: deny}\n"
    groups = install.hook_groups(ruleset_of(tmp_path, rules), {"type": "command", "command": "x"})
    assert {event: group["matcher"] for event, group in groups.items()} == {"PreToolUse": matcher,
                                                                           "PostToolUse": matcher}


def test_the_timeout_is_above_max_delay_in_seconds(tmp_path):
    plain = "  - {id: a, events: [PreToolUse], decision: deny}\n"
    assert install.required_timeout(ruleset_of(tmp_path, plain), "PreToolUse") == 75
    assert install.required_timeout(ruleset_of(tmp_path, plain, Settings(max_delay=0.5)), "PreToolUse") == 16
    sources = (SourceSpec("usage", "http", "usage", {}, timeout=2.5), SourceSpec("hr", "file", "kv:hr", {}))
    assert install.required_timeout(ruleset_of(tmp_path, plain, Settings(max_delay=120, sources=sources)),
                                    "PreToolUse") == 140


def test_the_timeout_leaves_time_for_the_commands_a_rule_runs(tmp_path):
    """Claude Code kills a hook at its timeout and drops its answer: a deny whose rule also runs a slow command
    would be lost (the tool runs), so the event's timeout covers its commands' timeouts and their grace."""
    rules = ("  - {id: a, events: [PreToolUse], decision: deny, do: [{run: {argv: [make, lint], timeout: 40}}]}\n"
             "  - {id: b, events: [PreToolUse, Stop], do: [{run: {argv: [sync]}}]}\n"
             "  - {id: c, events: [PostToolUse], do: [{run: {argv: [x], timeout: '{{ 5 if tool else 6 }}'}}]}\n")
    ruleset = ruleset_of(tmp_path, rules)
    assert {event: install.required_timeout(ruleset, event) for event in ("PreToolUse", "Stop", "PostToolUse",
                                                                          "SessionStart")} == {
        "PreToolUse": 75 + 41 + 11, "Stop": 75 + 11, "PostToolUse": 75 + 601, "SessionStart": 75}
    groups = install.hook_groups(ruleset, {"type": "command", "command": "x"})
    assert {event: group["hooks"][0]["timeout"] for event, group in groups.items()} == {
        "PreToolUse": 127, "Stop": 86, "PostToolUse": 676}


# ---- one source of truth -------------------------------------------------------------------------------------------

HOST_SCHEMAS = {"claude-code": "claude-code-settings.schema.json", "codex": "codex-hooks.schema.json",
                "gemini": "gemini-settings.schema.json", "cursor": "cursor-hooks.schema.json",
                "copilot": "copilot-hooks.schema.json"}


@pytest.mark.parametrize("agent", list(HOST_SCHEMAS))
def test_the_published_snippets_are_what_install_writes(tmp_path, agent):
    expected = install.snippet(install.snippet_sources(str(tmp_path)), agent)
    assert (ROOT / "hooks" / f"{agent}.json").read_text() == expected, \
        f"hooks/{agent}.json is stale: run `python -m policy.commands.install`"
    schema = json.loads((Path(__file__).parent / "schemas" / HOST_SCHEMAS[agent]).read_text())
    jsonschema.validate(json.loads(expected), schema)
    assert BIN / "policy-hook" == POLICY_HOOK


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_local_install_reminds_to_keep_the_file_out_of_git(env, project):
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    note = ("  note:    git does not ignore .claude/settings.local.json; add it to .gitignore (it names paths on this "
            "machine)")
    assert note in env.run("install", "--scope", "local").stdout.decode().splitlines()
    env.run("uninstall", "--scope", "local")
    assert not (project / ".claude" / "settings.local.json").exists()  # install had created it
    write(project / ".gitignore", ".claude/settings.local.json\n")
    assert note not in env.run("install", "--scope", "local").stdout.decode().splitlines()
