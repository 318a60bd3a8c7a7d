"""policy.pytest_plugin: a project's own `pytest` runs its rule scenarios (*.test.yaml), as real pytest processes
over real projects, with the same results and failure text as `policy test`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, ROOT, isolated_vars, write

from policy.pytest_plugin import is_rule_test_file

PYTEST = BIN / "pytest"

SCENARIOS = """
version: 1
pack: guard
now: "2026-11-20T10:00:00+01:00"
tests:
  - name: terraform apply in prod asks
    steps:
      - event: {hook_event_name: PreToolUse, tool_name: Bash, cwd: /srv/infra/prod,
                tool_input: {command: terraform apply}}
        expect: {verdict: ask, reason: "terraform in prod (prod): ask #1 today"}
  - name: the second apply is still the first ask
    steps:
      - event: {hook_event_name: PreToolUse, tool_name: Bash, cwd: /srv/infra/prod,
                tool_input: {command: terraform apply}}
      - event: {hook_event_name: PreToolUse, tool_name: Bash, cwd: /srv/infra/prod,
                tool_input: {command: terraform destroy}}
        expect:
          verdict: deny
          output:
            hookSpecificOutput:
              hookEventName: PreToolUse
              permissionDecision: ask
              permissionDecisionReason: "terraform in prod (prod): ask #1 today"
  - name: plans are left alone
    skip: plans are not written yet
    steps:
      - event: {hook_event_name: PreToolUse, tool_name: Bash, tool_input: {command: terraform plan}}
        expect: {verdict: none}
"""

FAILURE_TEXT = [
    "guard.test.yaml:17:20: the second apply is still the first ask [step 2] verdict: expected deny, got ask "
    "(reason: 'terraform in prod (prod): ask #2 today')",
    "guard.test.yaml:19:13: the second apply is still the first ask [step 2] output: the host output differs",
    "    --- expected",
    "    +++ actual",
    "    @@ -2,6 +2,6 @@",
    '       "hookSpecificOutput": {',
    '         "hookEventName": "PreToolUse",',
    '         "permissionDecision": "ask",',
    '    -    "permissionDecisionReason": "terraform in prod (prod): ask #1 today"',
    '    +    "permissionDecisionReason": "terraform in prod (prod): ask #2 today"',
    "       }",
    "     }",
]


def run(command: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(isolated_vars(tmp_path / "state"), COLUMNS="100")
    return subprocess.run(command, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)


def pytest_run(*args: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return run([str(PYTEST), "-p", "no:cacheprovider", *args], cwd, tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a rule pack, its scenarios (one passes, one fails, one is skipped), a code test, and YAML
    that only happens to end in .test.yaml."""
    root = tmp_path / "project"
    write(root / ".policy" / "guard.yaml", (ROOT / "examples" / "rules" / "guard.yaml").read_text())
    write(root / ".policy" / "guard.test.yaml", SCENARIOS)
    write(root / "tests" / "test_code.py", "def test_code():\n    assert 1 + 1 == 2\n")
    write(root / "deploy" / "compose.test.yaml", 'version: "3.9"\nservices:\n  web: {image: nginx}\n')
    write(root / "ci.test.yml", "tests:\n  - run: make test\n")
    return root


def failures_section(output: str, header: str) -> list[str]:
    """The lines pytest shows under a failure's `____ header ____` line, up to the next section."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if re.fullmatch(rf"_+ {re.escape(header)} _+", line))
    end = next(index for index, line in enumerate(lines[start + 1:], start + 1)
               if line.startswith(("____", "====")))
    return lines[start + 1:end]


def test_rule_scenarios_are_items_next_to_code_tests(project, tmp_path):
    done = pytest_run("--collect-only", "-q", cwd=project, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[:4] == [
        ".policy/guard.test.yaml::terraform apply in prod asks",
        ".policy/guard.test.yaml::the second apply is still the first ask",
        ".policy/guard.test.yaml::plans are left alone",
        "tests/test_code.py::test_code",
    ]
    assert done.stdout.splitlines()[4:] == ["", "4 tests collected in " + done.stdout.split(" in ")[-1].strip()]


def test_a_failing_scenario_shows_what_policy_test_shows(project, tmp_path):
    done = pytest_run("-rs", cwd=project / ".policy", tmp_path=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^guard\.test\.yaml \.Fs +\[100%\]$", done.stdout, flags=re.M), done.stdout
    assert failures_section(done.stdout, "scenario: the second apply is still the first ask") == \
        FAILURE_TEXT
    # (whether pytest shows the skip's line number depends on its release)
    assert re.search(r"^SKIPPED \[1\] guard\.test\.yaml(:41)?: plans are not written yet$", done.stdout, flags=re.M)
    assert re.search(r"^=+ 1 failed, 1 passed, 1 skipped in [\d.]+s =+$", done.stdout, flags=re.M), done.stdout

    # `policy test` over the same file prints the same lines for the failure
    policy = run([str(BIN / "policy"), "test", "guard.test.yaml"], project / ".policy", tmp_path)
    assert policy.returncode == 1
    lines = policy.stdout.splitlines()
    assert lines[:3] == ["guard.test.yaml .Fs", "", "FAILURES"]
    assert lines[3:3 + len(FAILURE_TEXT)] == FAILURE_TEXT
    assert re.fullmatch(r"1 passed, 1 failed, 1 skipped in [\d.]+s", lines[-1])


def test_pytest_selects_scenarios_by_name(project, tmp_path):
    done = pytest_run("-q", "-k", "prod and asks", cwd=project, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^1 passed, 3 deselected in [\d.]+s$", done.stdout, flags=re.M), done.stdout


def test_a_broken_rule_test_file_is_a_collection_error_with_policy_tests_text(tmp_path):
    root = tmp_path / "project"
    write(root / "rules" / "broken.test.yaml", "version: 1\npack: guard\ntests:\n  - name: [unclosed\n")
    done = pytest_run(cwd=root, tmp_path=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    start = next(index for index, line in enumerate(lines)
                 if re.fullmatch(r"_+ ERROR collecting rules/broken\.test\.yaml _+", line))
    shown = lines[start + 1:start + 4]
    # (the syntax error's words are PyYAML's: only our part of the line is asserted, and that both tools agree)
    assert shown[0] == "rules/broken.test.yaml:5:1: (file): error"
    assert shown[1].startswith("    rules/broken.test.yaml:5:1: yaml-syntax: ")
    assert shown[2] == "        hint: fix the YAML syntax at this position"
    assert lines[start + 4].startswith("====")
    assert re.search(r"^=+ 1 error in [\d.]+s =+$", done.stdout, flags=re.M)
    policy = run([str(BIN / "policy"), "test", "rules"], root, tmp_path)
    assert policy.stdout.splitlines()[:6] == ["rules/broken.test.yaml E", "", "FAILURES", *shown]


def test_the_shipped_rule_scenarios_all_pass_under_pytest(tmp_path):
    import yaml

    expected = []
    for path in sorted((ROOT / "rules").glob("*.test.yaml")):
        expected += [f"rules/{path.name}::{test['name']}" for test in yaml.safe_load(path.read_text())["tests"]]
    assert len(expected) > 50  # (every pack has its scenarios)
    # our own config turns the plugin off for our suite (-p no:policy): clear it, as a user's project has no such line
    done = pytest_run("-o", "addopts=", "-v", "rules", cwd=ROOT, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [match.groups() for match in re.finditer(r"^(rules/.*) (PASSED|FAILED|SKIPPED|ERROR) +\[ *\d+%\]$",
                                                   done.stdout, flags=re.M)]
    assert ran == [(nodeid, "PASSED") for nodeid in expected]
    assert re.search(rf"^=+ {len(expected)} passed in [\d.]+s =+$", done.stdout, flags=re.M), done.stdout
    policy = run([str(BIN / "policy"), "test", "rules", "--format", "json"], ROOT, tmp_path)
    assert f'"passed": {len(expected)},' in policy.stdout and '"failed": 0,' in policy.stdout


def test_our_own_suite_does_not_collect_rule_scenarios(tmp_path):
    # pyproject.toml's addopts: the shipped scenarios run through `policy test` in CI, not twice, and YAML fixtures
    # under tests/ never become items
    done = pytest_run("--collect-only", "-q", "rules", cwd=ROOT, tmp_path=tmp_path)
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("no tests collected in ")


@pytest.mark.parametrize("text, collected", [
    ("version: 1\npack: guard\ntests: []\n", True),
    ("version: 1\ntests:\n  - name: x\n    steps: []\n", True),
    ('version: "3.9"\nservices:\n  web: {image: nginx}\n', False),  # docker compose
    ("tests:\n  - run: make test\n", False),
    ("version: 1\npack: guard\n", False),
    ("- version: 1\n- tests: []\n", False),
    ("", False),
    ("version: 1\ntests:\n  - name: [unclosed\n", True),  # broken, but ours: shown as an error, never skipped
    ("services: [unclosed\n", False),
])
def test_only_rule_test_files_are_collected(tmp_path, text, collected):
    path = tmp_path / "x.test.yaml"
    path.write_text(text)
    assert is_rule_test_file(path) is collected


def test_a_file_that_is_not_utf8_is_not_collected(tmp_path):
    path = tmp_path / "x.test.yaml"
    path.write_bytes(b"version: 1\ntests: \xff\n")
    assert is_rule_test_file(path) is False
