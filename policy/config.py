"""Configuration (SPEC §8), part one: which config files apply, and the paths they name.

`discover` only looks for files (a few `stat`s), on every `policy eval`: the user config
(`~/.config/policy/config.yaml`), then the project config (`policy.yaml` or `.policy/config.yaml`, found from the
project directory upwards), or instead of it a config given with --config / $POLICY_CONFIG. Reading and layering
them (policy.layering) is only reached when the compiled cache is cold.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from dataclasses import dataclass, field
else:
    from policy.lean import dataclass, field

PROJECT_CONFIG_NAMES = ("policy.yaml", os.path.join(".policy", "config.yaml"))
SHIPPED_PACKS = ("focus", "presence", "pacing", "activity")


@dataclass(frozen=True, slots=True)
class ConfigRef:
    """A config file that applies: its path and scope ("user", "project" or "cli")."""

    path: str
    scope: str


@dataclass(frozen=True, slots=True)
class Request:
    """What the caller asked for: an explicit config file and/or explicit rule paths, and the environment."""

    config: str | None = None
    rules: tuple[str, ...] = ()
    db: str | None = None
    cwd: str = "."
    environ: dict[str, str] = field(default_factory=dict)


def user_config_path(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(base, "policy", "config.yaml")


def project_root(environ: Mapping[str, str], cwd: str) -> str:
    """Where the project config is looked for: Claude Code's project directory (it stays put when the agent `cd`s
    elsewhere), else the working directory."""
    return environ.get("CLAUDE_PROJECT_DIR") or cwd


def find_project_config(start: str) -> str | None:
    """The nearest `policy.yaml` or `.policy/config.yaml`, from `start` upwards."""
    directory = os.path.abspath(start)
    while True:
        for name in PROJECT_CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def discover(request: Request) -> tuple[ConfigRef, ...]:
    """The config files that apply, user first. `POLICY_CONFIG` or --config replaces the project config."""
    refs = []
    user = user_config_path(request.environ)
    if os.path.isfile(user):
        refs.append(ConfigRef(user, "user"))
    explicit = request.config or request.environ.get("POLICY_CONFIG")
    if explicit:
        refs.append(ConfigRef(os.path.abspath(os.path.join(request.cwd, explicit)), "cli"))
    else:
        project = find_project_config(project_root(request.environ, request.cwd))
        if project is not None and os.path.abspath(project) != os.path.abspath(user):
            refs.append(ConfigRef(project, "project"))
    return tuple(refs)


def project_dir_of(config_path: str) -> str:
    """The project a config file belongs to: its directory, or the parent of `.policy/`."""
    base = os.path.dirname(os.path.abspath(config_path))
    return os.path.dirname(base) if os.path.basename(base) == ".policy" else base


def shipped_dir() -> str:
    """Where the shipped packs are: the installed `policy/packs`, or `rules/` in a source checkout."""
    package = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(package, "packs")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(package), "rules")


def shipped_pack_path(name: str) -> str:
    return os.path.join(shipped_dir(), f"{name}.yaml")


def expand_rule_paths(path: str) -> list[str]:
    """A rule file, or every rule file (`*.yaml`, `*.yml`, not `*.test.yaml`) in a directory, sorted."""
    if os.path.isdir(path):
        return sorted(os.path.join(path, name) for name in os.listdir(path)
                      if name.endswith((".yaml", ".yml")) and not name.endswith((".test.yaml", ".test.yml")))
    return [path]


def expand_home(path: str, environ: Mapping[str, str]) -> str:
    """`~` and `~/…` with the HOME of `environ` (the hook's environment, not necessarily this process's)."""
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path)


def config_path_value(value: str, config_file: str, environ: Mapping[str, str]) -> str:
    """A path written in a config file: `~` expanded, relative to the file's directory, normalised."""
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(config_file)), expand_home(value, environ)))


def is_trusted(project_dir: str, trusted_projects: list[str] | tuple[str, ...]) -> bool:
    """Whether `project_dir` is listed (symlinks resolved): exactly, or below an entry ending in `/*`."""
    real = os.path.realpath(project_dir)
    for entry in trusted_projects:
        if entry.endswith(os.sep + "*"):
            parent = os.path.realpath(entry[:-2])
            if real.startswith(parent.rstrip(os.sep) + os.sep):
                return True
        elif os.path.realpath(entry) == real:
            return True
    return False


def display_path(path: str, cwd: str) -> str:
    """`path` as messages show it: relative to `cwd` when it is below it or next to it, else as it is."""
    try:
        relative = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if relative.startswith(".." + os.sep + "..") else relative
