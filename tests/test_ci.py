""".ci/: the lowest-versions constraints file stays in step with pyproject.toml's lower bounds (dependencies and
every extra), and CI runs README.md's commands as written."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def load_ci():
    spec = importlib.util.spec_from_file_location("ci_helpers", ROOT / ".ci" / "ci.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ci = load_ci()


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the real pyproject.toml and constraints file, to drift."""
    pyproject = tmp_path / "pyproject.toml"
    constraints = tmp_path / "lowest-constraints.txt"
    shutil.copyfile(ROOT / "pyproject.toml", pyproject)
    shutil.copyfile(ROOT / ".ci" / "lowest-constraints.txt", constraints)
    return pyproject, constraints


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_constraints_pin_every_lower_bound():
    assert ci.check() == []
    bounds, problems = ci.lower_bounds()
    assert problems == []
    assert {"pyyaml", "jsonschema", "jmespath", "simpleeval", "sqlite-utils", "typer", "pytest"} <= set(bounds)


def test_the_check_runs_as_ci_runs_it():
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "ci.py"), "check"], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("old, new, pin", [
    ('    "pytest>=8",\n', '    "pytest>=8",\n    "coverage>=7.0",\n', "coverage==7.0"),
    ("test = [\n", 'docs = ["mkdocs[i18n]>=1.5"]\ntest = [\n', "mkdocs==1.5"),
], ids=["a test dependency", "a new extra"])
def test_a_new_requirement_is_one_line_here_and_its_pin_there(copies, old, new, pin):
    pyproject, constraints = copies
    edit(pyproject, old, new)
    name, version = pin.split("==")
    assert ci.check(pyproject, constraints) == [
        f"{name}>={version} is in pyproject.toml but not pinned in lowest-constraints.txt: add {pin}"]
    constraints.write_text(constraints.read_text() + pin + "\n")
    assert ci.check(pyproject, constraints) == []


def test_the_lowest_run_installs_every_extra(copies):
    pyproject, _ = copies
    assert ci.extras(pyproject) == ["postgres", "test"]
    edit(pyproject, "test = [\n", 'docs = ["mkdocs>=1.5"]\ntest = [\n')
    assert ci.extras(pyproject) == ["docs", "postgres", "test"]


def test_a_raised_lower_bound_fails_until_its_pin_is_raised(copies):
    pyproject, constraints = copies
    edit(pyproject, '"pyyaml>=6.0"', '"PyYAML>=6.0.1"')
    assert ci.check(pyproject, constraints) == [
        "pyyaml: pyproject.toml allows >=6.0.1 but lowest-constraints.txt pins 6.0: pin pyyaml==6.0.1"]
    edit(constraints, "pyyaml==6.0\n", "pyyaml==6.0.1\n")
    assert ci.check(pyproject, constraints) == []


@pytest.mark.parametrize("edits, problem", [
    ([('    "jmespath>=1.0",\n', "")],
     "jmespath==1.0 is pinned in lowest-constraints.txt but pyproject.toml does not require it: remove the pin"),
    ([('    "typer>=0.26",\n', '    "typer>=0.26",\n    "rich",\n')],
     "'rich' (dependencies) has no lower bound: give it one (>=), the lowest version that works"),
    ([('    "pytest>=8",\n', '    "pytest>=8.1",\n'), ('    "typer>=0.26",\n', '    "typer>=0.26",\n    "pytest>=8",\n')],
     "pytest has two lower bounds, 8 and 8.1 (extra test): give it one"),
], ids=["a pin of a dropped dependency", "no lower bound", "two lower bounds"])
def test_pyproject_drifting_from_the_pins_fails(copies, edits, problem):
    pyproject, constraints = copies
    for old, new in edits:
        edit(pyproject, old, new)
    assert ci.check(pyproject, constraints) == [problem]


def test_a_constraint_that_is_not_a_pin_fails(copies):
    pyproject, constraints = copies
    edit(constraints, "pyyaml==6.0\n", "pyyaml>=6.0\n")
    number = constraints.read_text().splitlines().index("pyyaml>=6.0") + 1
    assert ci.check(pyproject, constraints) == [
        f"lowest-constraints.txt:{number}: 'pyyaml>=6.0' is not a pin (name==version)",
        "pyyaml>=6.0 is in pyproject.toml but not pinned in lowest-constraints.txt: add pyyaml==6.0"]


def test_the_installed_versions_must_be_the_pins():
    pinned = {"pyyaml": "6.0", "pytest": "8", "typer": "0.26"}
    assert ci.installed_mismatches(pinned, {"pyyaml": "6.0", "pytest": "8.0.0", "typer": "0.26.0"}) == []
    assert ci.installed_mismatches(pinned, {"pyyaml": "6.0.4", "typer": "0.26.0"}) == [
        "pytest==8 is pinned but not installed (is its extra installed?)",
        "pyyaml 6.0.4 is installed, not the pinned 6.0"]


def test_ci_runs_the_readme_commands_as_a_new_user_types_them():
    first, second = ci.readme_command(1), ci.readme_command(2)
    assert first == ('python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/policy eval --rules rules/ '
                     '--dry-run --db "$(mktemp -d)/facts.db" < examples/events/PreToolUse-Bash.json')
    assert second == "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/pytest"
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in ('first=$(python3 .ci/ci.py readme 1)', 'second=$(python3 .ci/ci.py readme 2)',
                 '"$lowest/venv/bin/pip" install -c .ci/lowest-constraints.txt ".[$(python3 .ci/ci.py extras)]"',
                 '"$lowest/venv/bin/python" .ci/ci.py installed', '"$lowest/venv/bin/pytest"'):
        assert line in script.splitlines(), line


def test_readme_command_one_leaves_the_real_store_alone(env):
    # the command as README.md gives it, after the install: the answer, and nothing under the user's state dir
    command = ci.readme_command(1).split(" && ", 2)[2].replace(".venv/bin/policy", str(Path(sys.executable).parent /
                                                                                       "policy"))
    done = subprocess.run(["bash", "-c", command], cwd=str(ROOT), env=env.vars, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny",')
    assert done.stderr.startswith("dry run: verdict deny;")
    assert not env.db.exists() and list(env.state.iterdir()) == []
