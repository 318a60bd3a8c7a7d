"""policy.config: which config files apply and in what order (the layering and trust rules are tested in
test_config.py)."""

from __future__ import annotations


import pytest
from conftest import write

from policy.config import ConfigRef, Request, discover, find_project_config, user_config_path
from policy.layering import resolve

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
