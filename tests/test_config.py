"""policy.config: which config files apply, and how a project's config is layered over the user's without
weakening it."""

from __future__ import annotations

import os

import pytest
from conftest import write

from policy.config import ConfigRef, Request, discover, find_project_config, resolve, user_config_path

RULES = "version: 1\npack: {name}\nrules: []\n"


@pytest.fixture
def layout(tmp_path):
    """A user config directory and a project with a subdirectory."""
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    environ = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return tmp_path, project, environ


def test_user_config_path():
    assert user_config_path({"XDG_CONFIG_HOME": "/c", "HOME": "/h"}) == "/c/policy/config.yaml"
    assert user_config_path({"HOME": "/h"}) == "/h/.config/policy/config.yaml"


def test_no_config_at_all(layout):
    _, project, environ = layout
    request = Request(cwd=str(project), environ=environ)
    assert discover(request) == ()
    resolved = resolve(request)
    assert (resolved.sources, resolved.diagnostics, resolved.settings.fail_mode("PreToolUse"),
            resolved.settings.fail_mode("Stop"), resolved.settings.max_delay) == ((), (), "closed", "open", 60.0)


def test_project_config_is_found_from_subdirectories_and_claude_project_dir(layout):
    tmp_path, project, environ = layout
    config = write(project / ".policy" / "config.yaml", "version: 1\n")
    assert find_project_config(str(project / "src" / "deep")) == str(config)
    write(project / "policy.yaml", "version: 1\n")
    assert find_project_config(str(project / "src")) == str(project / "policy.yaml")  # policy.yaml first
    request = Request(cwd=str(tmp_path), environ={**environ, "CLAUDE_PROJECT_DIR": str(project)})
    assert discover(request) == (ConfigRef(str(project / "policy.yaml"), "project"),)


def test_user_first_then_project_and_explicit_config_replaces_the_project(layout):
    tmp_path, project, environ = layout
    user = write(tmp_path / "config" / "policy" / "config.yaml", "version: 1\n")
    write(project / "policy.yaml", "version: 1\n")
    other = write(tmp_path / "other.yaml", "version: 1\n")
    assert discover(Request(cwd=str(project), environ=environ)) == (
        ConfigRef(str(user), "user"), ConfigRef(str(project / "policy.yaml"), "project"))
    assert discover(Request(config=str(other), cwd=str(project), environ=environ)) == (
        ConfigRef(str(user), "user"), ConfigRef(str(other), "cli"))
    assert discover(Request(cwd=str(project), environ={**environ, "POLICY_CONFIG": str(other)})) == (
        ConfigRef(str(user), "user"), ConfigRef(str(other), "cli"))


def test_rules_and_settings_are_layered(layout):
    tmp_path, project, environ = layout
    write(tmp_path / "config" / "policy" / "user.yaml", RULES.format(name="mine"))
    write(tmp_path / "config" / "policy" / "config.yaml",
          "version: 1\nrules: [user.yaml]\nmax_delay: 30\nfail: {PreToolUse: closed}\n")
    write(project / "rules" / "team.yaml", RULES.format(name="team"))
    write(project / "policy.yaml", "version: 1\nrules: [rules]\nmax_delay: 10\nfail: {Stop: closed}\n"
                                   "log: {retention_days: 7}\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert [(source.display, source.origin, source.trusted) for source in resolved.sources] == [
        (os.path.relpath(tmp_path / "config" / "policy" / "user.yaml", project), "user", True),
        ("rules/team.yaml", "project", False)]
    settings = resolved.settings
    assert (settings.max_delay, settings.fail, settings.log_retention_days) == (
        10.0, {"PreToolUse": "closed", "Stop": "closed"}, 7.0)
    assert resolved.diagnostics == ()


@pytest.mark.parametrize("project_config, key, what", [
    ("fail: open", "fail", "open the fail mode of '*'"),
    ("fail: {PreToolUse: open}", "fail", "open the fail mode of 'PreToolUse'"),
    ("db: elsewhere.db", "db", "move the fact store"),
    ("sources: {hr: {kind: command, feeds: 'kv:hr', argv: [curl, evil]}}", "sources",
     "define fact sources (they run commands)"),
    ("defer_as: ask", "defer_as", "change `defer_as` set in the user config"),
    ("trusted_projects: [/]", "trusted_projects", "trust projects (only the user config can)"),
])
def test_an_untrusted_project_cannot_weaken_the_user(layout, project_config, key, what):
    tmp_path, project, environ = layout
    user = write(tmp_path / "config" / "policy" / "config.yaml", "version: 1\nfail: closed\ndefer_as: deny\n")
    write(project / "policy.yaml", f"version: 1\n{project_config}\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert [(d.severity, d.code, d.message, d.hint) for d in resolved.diagnostics] == [
        ("warning", "not-trusted", f"the project config cannot {what}: ignored",
         f"add the project to `trusted_projects` in {user} to allow it")]
    settings = resolved.settings
    assert (settings.fail, settings.db, settings.sources, settings.defer_as) == ({"*": "closed"}, None, (), "deny")


def test_a_project_cannot_move_the_store_even_when_the_user_config_does_not_set_it(layout):
    _, project, environ = layout
    write(project / "policy.yaml", "version: 1\ndb: ./seeded.db\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert resolved.settings.db is None
    assert [d.message for d in resolved.diagnostics] == ["the project config cannot move the fact store: ignored"]


def test_a_trusted_project_may(layout):
    tmp_path, project, environ = layout
    write(tmp_path / "config" / "policy" / "config.yaml",
          f"version: 1\nfail: closed\ntrusted_projects: ['{project}']\n")
    write(project / "policy.yaml", "version: 1\nfail: open\ndb: seeded.db\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert resolved.diagnostics == ()
    assert (resolved.settings.fail, resolved.settings.db) == ({"*": "open"}, str(project / "seeded.db"))


def test_explicit_rules_replace_the_configured_packs(layout):
    tmp_path, project, environ = layout
    write(project / "policy.yaml", "version: 1\nrules: [a.yaml]\nmax_delay: 5\n")
    write(project / "a.yaml", RULES.format(name="a"))
    explicit = write(tmp_path / "b.yaml", RULES.format(name="b"))
    resolved = resolve(Request(rules=(str(explicit),), cwd=str(project), environ=environ))
    assert [(source.path, source.trusted) for source in resolved.sources] == [(str(explicit), True)]
    assert resolved.settings.max_delay == 5.0


def test_config_errors_are_located(layout):
    _, project, environ = layout
    write(project / "policy.yaml", "version: 1\nfail: sometimes\npacks: [nope]\n")
    resolved = resolve(Request(cwd=str(project), environ=environ))
    assert [d.render() for d in resolved.diagnostics] == [
        f"{project / 'policy.yaml'}:2:7: bad-value: 'sometimes' is not a valid value for fail\n"
        "    hint: expected one of: closed, open"]
