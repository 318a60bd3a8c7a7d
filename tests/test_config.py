"""policy.config: finding config files, layering the user's and the project's, and what an untrusted project may
not do to the user level (docs/config.md#trust). Every refusal is a located warning, and the user's value stays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import event_bytes, write

from policy.config import Request, discover, shipped_pack_path
from policy.layering import resolve
from policy.errors import Diagnostic
from policy.model import Settings

DENY_RM = """
version: 1
pack: {pack}
rules:
  - id: no-rm
    events: PreToolUse
    tools: Bash
    match: {{tool_input.command: 'rm -rf'}}
    decision: deny
    reason: {pack} says no.
"""


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose user config lives under tmp_path/config and whose HOME is tmp_path/home."""
    (tmp_path / "home").mkdir()
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def user_config(environ: dict[str, str], text: str) -> Path:
    return write(Path(environ["XDG_CONFIG_HOME"]) / "policy" / "config.yaml", text)


def run_resolve(project: Path, environ: dict[str, str], cwd: Path | None = None):
    return resolve(Request(cwd=str(cwd or project), environ=environ))


def rendered(resolved) -> list[str]:
    return [diagnostic.render() for diagnostic in sorted(resolved.diagnostics, key=Diagnostic.sort_key)]


def names(resolved) -> list[str]:
    return [os.path.basename(source.path) for source in resolved.sources]


def hint(project: Path, environ: dict[str, str]) -> str:
    return (f"    hint: add {project} to `trusted_projects` in {environ['XDG_CONFIG_HOME']}/policy/config.yaml "
            f"to allow it")


# ---- discovery ------------------------------------------------------------------------------------------------------

def test_no_config_means_no_packs_and_the_documented_defaults(project, home):
    resolved = run_resolve(project, home)
    assert resolved.sources == ()
    assert resolved.diagnostics == ()
    assert resolved.settings == Settings()
    assert (resolved.settings.max_delay, resolved.settings.defer_as, resolved.settings.ask_in_bypass,
            resolved.settings.log_retention_days, resolved.settings.log_keep_payload, resolved.settings.db,
            resolved.settings.max_event_bytes) == (60.0, "ask", "ask", 30.0, "redacted", None, 8 * 1024 * 1024)
    assert [Settings().fail_mode(event) for event in ("PreToolUse", "PermissionRequest", "UserPromptSubmit",
                                                      "Stop", "PostToolUse", "SessionStart")] == \
        ["closed", "closed", "closed", "open", "open", "open"]


def test_the_project_config_is_found_from_a_subdirectory(project, home):
    write(project / "policy.yaml", "rules: [rules]\n")
    write(project / "rules" / "mine.yaml", DENY_RM.format(pack="mine"))
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    refs = discover(Request(cwd=str(deep), environ=home))
    assert [(ref.path, ref.scope) for ref in refs] == [(str(project / "policy.yaml"), "project")]
    assert [source.path for source in run_resolve(project, home, cwd=deep).sources] == \
        [str(project / "rules" / "mine.yaml")]


def test_dot_policy_config_yaml_is_a_project_config_and_paths_are_relative_to_it(project, home):
    write(project / ".policy" / "config.yaml", "rules: [rules]\n")
    write(project / ".policy" / "rules" / "mine.yaml", DENY_RM.format(pack="mine"))
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert [source.path for source in resolved.sources] == [str(project / ".policy" / "rules" / "mine.yaml")]


def test_policy_yaml_wins_over_dot_policy_config_yaml_with_a_warning(project, home):
    write(project / "policy.yaml", "max_delay: 10\n")
    write(project / ".policy" / "config.yaml", "max_delay: 20\n")
    resolved = run_resolve(project, home)
    assert resolved.settings.max_delay == 10.0
    assert rendered(resolved) == [
        ".policy/config.yaml: warning: shadowed-config: policy.yaml is used and this file is ignored\n"
        "    hint: merge them into one file"]


def test_claude_project_dir_is_where_the_project_config_is_looked_for(project, home, tmp_path):
    write(project / "policy.yaml", "max_delay: 12\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = {**home, "CLAUDE_PROJECT_DIR": str(project)}
    assert resolve(Request(cwd=str(elsewhere), environ=environ)).settings.max_delay == 12.0
    assert resolve(Request(cwd=str(elsewhere), environ=home)).settings.max_delay == 60.0


def test_policy_config_replaces_the_project_config_and_is_trusted(project, home, tmp_path):
    user_config(home, "rules: [user.yaml]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", "max_delay: 12\n")
    explicit = write(tmp_path / "ci.yaml", "max_delay: 1\nfail: open\n")
    resolved = run_resolve(project, {**home, "POLICY_CONFIG": str(explicit)})
    assert [ref.scope for ref in discover(Request(cwd=str(project), environ={**home,
                                                                           "POLICY_CONFIG": str(explicit)}))] == \
        ["user", "cli"]
    assert (resolved.settings.max_delay, resolved.settings.fail, rendered(resolved)) == (1.0, {"*": "open"}, [])


def test_the_user_config_is_under_home_when_xdg_config_home_is_unset(project, tmp_path):
    environ = {"HOME": str(tmp_path / "home")}
    write(tmp_path / "home" / ".config" / "policy" / "config.yaml", "max_delay: 7\n")
    assert run_resolve(project, environ).settings.max_delay == 7.0


def test_an_empty_config_and_one_without_version_are_valid(project, home):
    write(project / "policy.yaml", "")
    assert (rendered(run_resolve(project, home)), run_resolve(project, home).settings) == ([], Settings())
    write(project / "policy.yaml", "max_delay: 5\n")
    assert (rendered(run_resolve(project, home)), run_resolve(project, home).settings.max_delay) == ([], 5.0)


# ---- layering -------------------------------------------------------------------------------------------------------

def test_user_packs_come_first_then_the_projects(project, home):
    user_config(home, "version: 1\nrules: [user.yaml]\npacks: [{name: focus, params: {session_minutes: 50}}]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", "version: 1\npacks: [presence]\nrules: [project.yaml]\n")
    write(project / "project.yaml", DENY_RM.format(pack="project"))
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert [(os.path.basename(s.path), s.origin, s.trusted, s.params) for s in resolved.sources] == [
        ("focus.yaml", "user", True, {"session_minutes": 50}),
        ("user.yaml", "user", True, {}),
        ("presence.yaml", "project", True, {}),
        ("project.yaml", "project", False, {}),
    ]
    assert resolved.sources[0].path == shipped_pack_path("focus")


def test_without_user_level_rules_the_project_sets_what_it_likes(project, home):
    user_config(home, "trusted_projects: []\n")
    write(project / "policy.yaml", """
        fail: open
        max_delay: 5
        defer_as: defer
        ask_in_bypass: ask
        db: state/facts.db
        log: {retention_days: 1, keep_payload: none}
        max_event_bytes: 2048
    """)
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert resolved.settings == Settings(
        fail={"*": "open"}, max_delay=5.0, defer_as="defer", ask_in_bypass="ask", log_retention_days=1.0,
        log_keep_payload="none", db=str(project / "state" / "facts.db"), max_event_bytes=2048)


def test_mappings_merge_key_by_key(project, home):
    user_config(home, "log: {retention_days: 90}\nfail: {Stop: closed}\n")
    write(project / "policy.yaml", "log: {keep_payload: none}\nfail: {PostToolUse: closed}\n")
    settings = run_resolve(project, home).settings
    assert (settings.log_retention_days, settings.log_keep_payload) == (90.0, "none")
    assert settings.fail == {"Stop": "closed", "PostToolUse": "closed"}


def test_a_project_may_tighten_the_user_level(project, home):
    user_config(home, "rules: [user.yaml]\nmax_delay: 30\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", """
        fail: closed
        max_delay: 45
        defer_as: deny
        log: {retention_days: 0}
    """)
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    settings = resolved.settings
    assert (settings.fail, settings.max_delay, settings.defer_as, settings.log_retention_days) == \
        ({"*": "closed"}, 45.0, "deny", 0.0)


# ---- what an untrusted project cannot do to the user level ----------------------------------------------------------

WEAKENINGS = [
    # (project config, the warning's position and text, the settings that stay)
    ("packs: [{name: focus, enabled: false}]",
     "1:23", "switch off the user-level pack 'focus'", None),
    ("packs: [{path: ../config/policy/user.yaml, enabled: false}]",
     "1:44", "switch off the user-level pack '../config/policy/user.yaml'", None),
    ("packs: [{name: focus, params: {session_minutes: 5}}]",
     "1:23", "change the params of the user-level pack 'focus'", None),
    ("fail: open",
     "1:1", "open the fail mode of UserPromptSubmit, PreToolUse, PermissionRequest (the user level keeps them "
            "closed; every other event fails open)",
     {"fail": {"UserPromptSubmit": "closed", "PreToolUse": "closed", "PermissionRequest": "closed", "*": "open"}}),
    ("fail: {PreToolUse: open, Stop: open}",
     "1:8", "open the fail mode of PreToolUse (the user level keeps it closed)", {"fail": {"Stop": "open"}}),
    ("max_delay: 5",
     "1:1", "lower max_delay below 60s (it caps the user-level delays)", {"max_delay": 60.0}),
    ("max_event_bytes: 1024",
     "1:1", "lower max_event_bytes below 8388608 bytes (a larger event would get the fail mode instead of the "
            "user-level rules)", {"max_event_bytes": 8 * 1024 * 1024}),
    ("defer_as: defer",
     "1:1", "change defer_as from 'ask' to 'defer' (it is less strict)", {"defer_as": "ask"}),
    ("db: other.db",
     "1:1", "move the fact store (the user-level rules keep their facts in it)", {"db": None}),
    ("log: {retention_days: 1, keep_payload: none}",
     "1:7", "keep decisions for less than 30 days (rules may count past decisions)",
     {"log_retention_days": 30.0, "log_keep_payload": "none"}),
    # even without user-level rules: a project may keep its store inside itself, and the secrets would be there
    ("log: {keep_payload: full}",
     "1:7", "keep payloads unredacted (the secrets in them would be stored in your fact store)",
     {"log_keep_payload": "redacted"}),
    ("sources: {usage: {kind: command, feeds: usage, argv: [echo, '{}']}}",
     "1:11", "define the command source 'usage' (only a file source in the checklist format is allowed from an untrusted project: others run programs, send requests with your tokens, or write facts other rules read)", {"sources": ()}),
    ("trusted_projects: ['/']",
     "1:1", "trust projects (only the user config can)", {"trusted_paths": ()}),
]


def test_a_project_cannot_turn_the_users_ask_in_bypass_deny_back_into_asks(project, home):
    user_config(home, "ask_in_bypass: deny\nrules: [user.yaml]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", "ask_in_bypass: ask\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{project}/policy.yaml:1:1: warning: not-trusted: the project config cannot change ask_in_bypass from 'deny' "
        "to 'ask' (it is less strict): ignored\n" + hint(project, home)]
    assert resolved.settings.ask_in_bypass == "deny"


@pytest.mark.parametrize("text, position, what, kept", WEAKENINGS, ids=[w[0].split(":")[0] for w in WEAKENINGS])
def test_each_weakening_is_refused_with_a_warning(project, home, text, position, what, kept):
    user_config(home, "packs: [{name: focus, params: {session_minutes: 50}}]\nrules: [user.yaml]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", text + "\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{project}/policy.yaml:{position}: warning: not-trusted: the project config cannot {what}: ignored\n"
        + hint(project, home)]
    assert [(name, source.params) for name, source in zip(names(resolved), resolved.sources)] == \
        [("focus.yaml", {"session_minutes": 50}), ("user.yaml", {})]
    for key, value in (kept or {}).items():
        assert getattr(resolved.settings, key) == value


def test_an_untrusted_project_keeps_its_own_fact_store_inside_it(project, home, tmp_path):
    """Without user-level rules a project may choose its fact store, but only inside its own directory: the
    store's file is created, narrowed to 0600 and migrated, which must not happen to the user's other files."""
    write(project / "policy.yaml", "db: ~/notes.txt\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{project}/policy.yaml:1:1: warning: not-trusted: the project config cannot keep the fact store outside "
        f"the project ({home['HOME']}/notes.txt) (an untrusted project's own store must be inside its "
        "directory): ignored\n" + hint(project, home)]
    assert resolved.settings.db is None
    write(project / "policy.yaml", "db: .policy/facts.db\n")
    resolved = run_resolve(project, home)
    assert (rendered(resolved), resolved.settings.db) == ([], f"{project}/.policy/facts.db")


def test_explicit_user_values_are_protected_even_without_user_rules(project, home):
    user_config(home, "defer_as: deny\nfail: {Stop: closed}\n")
    write(project / "policy.yaml", "defer_as: ask\nfail: {Stop: open}\nmax_delay: 1\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{project}/policy.yaml:1:1: warning: not-trusted: the project config cannot change defer_as from 'deny' "
        "to 'ask' (it is less strict): ignored\n" + hint(project, home),
        f"{project}/policy.yaml:2:8: warning: not-trusted: the project config cannot open the fail mode of Stop "
        "(the user level keeps it closed): ignored\n" + hint(project, home)]
    assert (resolved.settings.defer_as, resolved.settings.fail, resolved.settings.max_delay) == \
        ("deny", {"Stop": "closed"}, 1.0)


def test_a_project_cannot_open_what_the_user_closed_with_a_star(project, home):
    user_config(home, "fail: closed\n")
    write(project / "policy.yaml", "fail: {Notification: open, '*': closed}\n")
    resolved = run_resolve(project, home)
    assert [line.split(": warning: ")[1].split("\n")[0] for line in rendered(resolved)] == [
        "not-trusted: the project config cannot open the fail mode of Notification (the user level keeps it "
        "closed): ignored"]
    assert resolved.settings.fail == {"*": "closed"}


def test_sources_are_refused_from_an_untrusted_project_even_without_a_user_config(project, home):
    write(project / "policy.yaml", "sources: {usage: {kind: http, feeds: usage, url: 'http://127.0.0.1:9/u'}}\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{project}/policy.yaml:1:11: warning: not-trusted: the project config cannot define the http source 'usage' "
        "(only a file source in the checklist format is allowed from an untrusted project: others run programs, send requests with your tokens, or write facts other rules read)"
        ": ignored\n" + hint(project, home)]
    assert resolved.settings.sources == ()


def test_an_untrusted_project_may_read_its_task_checklist(project, home):
    write(project / "policy.yaml", "sources: {tasks: {kind: file, path: TASKS.md, feeds: 'kv:tasks'}}\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert [(spec.name, spec.kind, spec.options) for spec in resolved.settings.sources] == [
        ("tasks", "file", {"path": str(project / "TASKS.md")})]


# ---- trust -----------------------------------------------------------------------------------------------------------

ALL_WEAKENINGS = """
packs:
  - {name: focus, params: {session_minutes: 5}}
  - {path: ../config/policy/user.yaml, enabled: false}
fail: open
max_delay: 5
defer_as: defer
db: facts.db
sources: {usage: {kind: command, feeds: usage, argv: [echo, '{}']}}
"""


@pytest.mark.parametrize("entry", ["{project}", "~/project-link", "{parent}/*"])
def test_a_trusted_project_may_change_the_user_level(project, home, tmp_path, entry):
    os.symlink(project, Path(home["HOME"]) / "project-link")
    user_config(home, f"trusted_projects: ['{entry.format(project=project, parent=tmp_path)}']\n"
                      "packs: [{name: focus, params: {session_minutes: 50}}]\nrules: [user.yaml]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(project / "policy.yaml", ALL_WEAKENINGS)
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert [(name, source.params, source.trusted) for name, source in zip(names(resolved), resolved.sources)] == \
        [("focus.yaml", {"session_minutes": 5}, True)]
    settings = resolved.settings
    assert (settings.fail, settings.max_delay, settings.defer_as, settings.db, [s.name for s in settings.sources]) \
        == ({"*": "open"}, 5.0, "defer", str(project / "facts.db"), ["usage"])


def test_trust_is_per_project_not_per_prefix(project, home, tmp_path):
    sibling = tmp_path / "project-other"
    sibling.mkdir()
    user_config(home, f"trusted_projects: ['{project}']\nrules: [user.yaml]\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(sibling / "policy.yaml", "max_delay: 1\n")
    resolved = run_resolve(sibling, home)
    assert resolved.settings.max_delay == 60.0
    assert [d.code for d in resolved.diagnostics] == ["not-trusted"]


def test_trusted_rules_may_run_commands_untrusted_ones_may_not(project, home):
    write(project / "policy.yaml", "rules: [project.yaml]\n")
    write(project / "project.yaml", DENY_RM.format(pack="project"))
    assert [source.trusted for source in run_resolve(project, home).sources] == [False]
    user_config(home, f"trusted_projects: ['{project}']\n")
    assert [source.trusted for source in run_resolve(project, home).sources] == [True]


def test_a_relative_trusted_project_is_an_error(project, home):
    user_config(home, "trusted_projects: [work/project]\n")
    resolved = run_resolve(project, home)
    assert rendered(resolved) == [
        f"{home['XDG_CONFIG_HOME']}/policy/config.yaml:1:20: relative-path: trusted project 'work/project' is not "
        "an absolute path\n"
        "    hint: write it as /full/path or ~/path (a trailing /* trusts every project below it)"]


# ---- paths ----------------------------------------------------------------------------------------------------------

def test_paths_are_relative_to_the_config_file_and_tilde_is_the_hooks_home(project, home):
    write(Path(home["HOME"]) / "shared" / "team.yaml", DENY_RM.format(pack="team"))
    user_config(home, "rules: [mine]\ndb: facts.db\n")
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "mine" / "a.yaml", DENY_RM.format(pack="a"))
    write(Path(home["XDG_CONFIG_HOME"]) / "policy" / "mine" / "a.test.yaml", "version: 1\n")
    write(project / ".policy" / "config.yaml", "packs: [~/shared/team.yaml, {path: ../local.yaml}]\n")
    write(project / "local.yaml", DENY_RM.format(pack="local"))
    resolved = run_resolve(project, home)
    assert rendered(resolved) == []
    assert [source.path for source in resolved.sources] == [
        f"{home['XDG_CONFIG_HOME']}/policy/mine/a.yaml", f"{home['HOME']}/shared/team.yaml", str(project / "local.yaml")]
    assert resolved.settings.db == f"{home['XDG_CONFIG_HOME']}/policy/facts.db"


# ---- errors, located in the config file -------------------------------------------------------------------------------

def test_mistakes_are_located_errors_with_a_hint(project, home):
    write(project / "policy.yaml", "packs: [focsu, {path: nothere.yaml}]\nrules: [rulez]\n")
    write(project / "rules" / "x.yaml", DENY_RM.format(pack="x"))
    assert rendered(run_resolve(project, home)) == [
        f"{project}/policy.yaml:1:9: unknown-pack: there is no shipped pack 'focsu'\n    hint: did you mean 'focus'?",
        f"{project}/policy.yaml:1:16: not-found: no such file or directory: nothere.yaml ({project}/nothere.yaml)\n"
        "    hint: fix the path; it is relative to the config file's directory",
        f"{project}/policy.yaml:2:9: not-found: no such file or directory: rulez ({project}/rulez)\n"
        "    hint: fix the path; it is relative to the config file's directory",
    ]


@pytest.mark.parametrize("text, expected", [
    ("pakcs: [focus]\n", "1:1: unknown-key: unknown key 'pakcs' in the top level\n    hint: did you mean 'packs'?"),
    ("fail: {PreTooluse: open}\n",
     "1:8: unknown-key: unknown key 'PreTooluse' in fail\n    hint: did you mean 'PreToolUse'?"),
    ("fail: sometimes\n", "1:7: bad-value: 'sometimes' is not a valid value for fail\n"
                          "    hint: expected one of: closed, open"),
    ("defer_as: maybe\n", "1:11: bad-value: 'maybe' is not a valid value for defer_as\n"
                          "    hint: expected one of: ask, defer, deny"),
    ("version: 2\n", "1:10: unknown-version: unknown format version 2; this policy reads version 1\n"
                     "    hint: upgrade policy, or write the file in version 1"),
    ("max_delay: -1\n", "1:12: schema: max_delay: -1 is less than the minimum of 0"),
    ("packs: [{name: focus, enable: false}]\n",
     "1:23: unknown-key: unknown key 'enable' in packs[0]\n    hint: did you mean 'enabled'?"),
])
def test_schema_errors_are_located(project, home, text, expected):
    write(project / "policy.yaml", text)
    assert rendered(run_resolve(project, home)) == [f"{project}/policy.yaml:{expected}"]


def test_an_empty_rules_directory_is_a_warning(project, home):
    write(project / "policy.yaml", "rules: [rules]\n")
    (project / "rules").mkdir()
    assert rendered(run_resolve(project, home)) == [
        f"{project}/policy.yaml:1:9: warning: no-rule-files: rules holds no rule files (*.yaml, *.yml besides "
        "*.test.yaml)\n    hint: add one or remove the entry"]


def test_validate_checks_the_effective_config_and_the_params_it_sets(env, tmp_path):
    write(env.root / "policy.yaml", "rules: [guard.yaml]\npacks: [{path: guard2.yaml, params: {limt: 3}}]\n")
    write(env.root / "guard.yaml", DENY_RM.format(pack="guard"))
    write(env.root / "guard2.yaml", "version: 1\npack: guard2\nparams: {limit: 2}\nrules: []\n")
    result = env.run("validate")
    assert (result.returncode, result.stdout.decode()) == (1, (
        f"{env.root}/policy.yaml:2:37: unknown-param: pack 'guard2' has no param 'limt'\n"
        "    hint: did you mean 'limit'?\n"
        "1 error, 0 warnings in 3 files\n"))
    result = env.run("validate", "policy.yaml")
    assert (result.returncode, result.stdout.decode()) == (1, (
        f"{env.root}/policy.yaml:2:37: unknown-param: pack 'guard2' has no param 'limt'\n"
        "    hint: did you mean 'limit'?\n"
        "1 error, 0 warnings in 1 file\n"))


# ---- the whole way through `policy eval` ------------------------------------------------------------------------------

def rm_payload(cwd: Path) -> bytes:
    payload = json.loads(event_bytes("PreToolUse-Bash"))
    payload["tool_input"]["command"] = "rm -rf /"
    payload["cwd"] = str(cwd)
    return json.dumps(payload).encode()


def test_a_refused_switch_off_keeps_the_user_deny_until_the_project_is_trusted(env):
    write(env.config / "policy" / "config.yaml", "rules: [user.yaml]\n")
    write(env.config / "policy" / "user.yaml", DENY_RM.format(pack="user"))
    write(env.root / "policy.yaml", "packs: [{path: ../config/policy/user.yaml, enabled: false}]\n")
    denied = env.eval(stdin=rm_payload(env.root))
    assert (denied.returncode, json.loads(denied.stdout)) == (0, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "user says no."}})
    write(env.config / "policy" / "config.yaml", f"rules: [user.yaml]\ntrusted_projects: ['{env.root}']\n")
    allowed = env.eval(stdin=rm_payload(env.root))
    assert (allowed.returncode, allowed.stdout, allowed.stderr) == (0, b"", b"")


def test_broken_rules_fail_the_way_the_user_config_says(env):
    stop = event_bytes("Stop")
    write(env.root / "policy.yaml", "rules: [broken.yaml]\n")
    write(env.root / "broken.yaml", "version: 1\npack: broken\nrules: [{id: x, events: Stop, decison: deny}]\n")
    by_default = env.eval(stdin=stop)
    assert by_default.returncode == 0
    assert json.loads(by_default.stdout)["systemMessage"].endswith("- policy is NOT enforcing rules")
    write(env.config / "policy" / "config.yaml", "fail: closed\n")
    closed = env.eval(stdin=stop)
    assert (closed.returncode, closed.stdout) == (2, b"")
    assert closed.stderr.decode() == (
        "policy: broken.yaml:3:31: unknown-key: unknown key 'decison' in rules[0] "
        "(did you mean 'decision'?)\n")


def test_docs_config_md_documents_every_key_of_the_schema():
    from conftest import ROOT

    from policy.schema import load_schema

    docs = (ROOT / "docs" / "config.md").read_text()
    properties = load_schema("config")["properties"]
    keys = [key for key in properties if key != "log"] + [f"log.{key}" for key in properties["log"]["properties"]]
    assert [key for key in keys if f"| `{key}` |" not in docs] == []
