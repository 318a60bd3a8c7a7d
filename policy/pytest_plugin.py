"""The pytest plugin (entry point `pytest11` named `policy`): a project's own `pytest` collects its rule scenario
files (`*.test.yaml`) next to its code tests, one item per scenario. Scenarios run through policy.tester exactly
as `policy test` runs them, and a failure shows the text `policy test` prints for it (policy.report).

Only rule test files are collected: a `*.test.yaml` whose top level has `version:` and `tests:` (other YAML that
happens to end so, a compose or CI file, is left alone). pytest skips hidden directories, but not `.policy`,
where `policy init` puts a project's rules (as `policy test` walks it). `pytest -p no:policy` turns it all off.
"""

from __future__ import annotations

import os
import re

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

    from policy.model import RuleSet
    from policy.tester import Result, TestFile, Workspace

SUFFIXES = (".test.yaml", ".test.yml")
_TOP_LEVEL_KEY = r"^{}[ \t]*:"


def is_rule_test_file(path: Path) -> bool:
    """A `*.test.yaml` file whose top-level mapping has both `version` and `tests`. A file that is not valid YAML
    counts when its text has both keys at the top level: it is a rule test file with an error to show, not one
    to skip silently."""
    from policy.loader import parse_yaml, read_text

    try:
        text = read_text(str(path))
    except (OSError, UnicodeDecodeError):
        return False
    document = parse_yaml(text, str(path))
    if isinstance(document.data, dict):
        return "version" in document.data and "tests" in document.data
    if document.data is None:
        return all(re.search(_TOP_LEVEL_KEY.format(key), text, flags=re.M) for key in ("version", "tests"))
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Walk into `.policy/` although pytest's default `norecursedirs` (`.*`) would not; naming `.policy` in
    `norecursedirs` still keeps it out."""
    if collection_path.name == ".policy" and collection_path.is_dir() and \
            ".policy" not in config.getini("norecursedirs"):
        return False
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIXES) and is_rule_test_file(file_path):
        collector: pytest.Collector = RuleTestFile.from_parent(parent, path=file_path)
        return collector
    return None


class RuleTestFileError(Exception):
    """The test file cannot run (schema, YAML, its packs): shown as `policy test` shows it."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.error)
        self.result = result


class ScenarioFailed(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.status)
        self.result = result


def _shown_path(path: Path, config: pytest.Config) -> str:
    """The file's name as `policy test` run from the same directory shows it: relative when it is below."""
    relative = os.path.relpath(path, config.invocation_params.dir)
    return str(path) if relative.startswith(os.pardir) else relative


_WORKSPACE = pytest.StashKey["Workspace"]()


def _workspace(config: pytest.Config) -> Workspace:
    """One workspace (template database, temporary directory) for the session, made on first use."""
    if _WORKSPACE not in config.stash:
        from policy.tester import Workspace

        workspace = Workspace()
        config.stash[_WORKSPACE] = workspace
        config.add_cleanup(workspace.close)
    return config.stash[_WORKSPACE]


class RuleTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from policy.tester import prepare, scenarios, skip_reason

        test_file, ruleset, error = prepare(_shown_path(self.path, self.config))
        if ruleset is None:
            assert error is not None
            raise RuleTestFileError(error)
        for index, name, location in scenarios(test_file):
            item = RuleScenario.from_parent(self, name=name, test_file=test_file, index=index, ruleset=ruleset,
                                            line=location.line)
            reason = skip_reason(test_file, index)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason or "skip: true"))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, RuleTestFileError):
            from policy.report import failure_lines

            return "\n".join(failure_lines(excinfo.value.result))
        return super().repr_failure(excinfo)


class RuleScenario(pytest.Item):
    """One scenario (`tests:` entry) of a rule test file."""

    def __init__(self, *, test_file: TestFile, index: int, ruleset: RuleSet, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test_file = test_file
        self.index = index
        self.ruleset = ruleset
        self.line = line

    def runtest(self) -> None:
        from policy.tester import run_scenario

        result = run_scenario(self.test_file, self.index, self.ruleset, _workspace(self.config))
        if result.status in ("failed", "error"):
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            from policy.report import failure_lines

            return "\n".join(failure_lines(excinfo.value.result))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # (not the node id's tail: pytest would print the name's dots as `::` in verbose lines)
        return self.path, self.line - 1, f"scenario: {self.name}"
