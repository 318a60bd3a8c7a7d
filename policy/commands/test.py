"""`policy test [PATH]...`: run scenario tests for rules (docs/testing.md)."""

from __future__ import annotations

import typer

from policy.errors import UsageError

NO_TESTS = 5  # pytest's exit code when no test was collected

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_tests(paths: list[str], *, output_format: str = "text", keyword: str | None = None,
              coverage: bool = False, min_coverage: float | None = None, agent: str = "claude-code") -> int:
    """Run and print; 0 when everything passed (and coverage is high enough), 1 otherwise."""
    from policy import report as reporters
    from policy.tester import check_min_coverage, find_test_files, run_tests as run

    if not find_test_files(paths):
        raise UsageError(f"no test files (*.test.yaml) in {', '.join(paths)}",
                         hint="name scenario files <pack>.test.yaml (docs/testing.md)")
    from policy.commands.explain import check_agent

    check_agent(agent)
    report = run(paths, keyword=keyword, host=agent)
    coverage_problem = check_min_coverage(report, min_coverage) if min_coverage is not None else None
    stale = stale_rules(paths)
    if output_format == "json":
        from policy.lean import json_dumps

        data = reporters.test_json(report)
        data["coverage_ok"] = coverage_problem is None
        typer.echo(json_dumps(data, spaced=True))
    elif output_format == "junit":
        typer.echo(reporters.test_junit(report), nl=False)
    else:
        typer.echo(reporters.test_text(report, coverage=coverage or min_coverage is not None))
        if coverage_problem:
            typer.echo(coverage_problem)
    for diagnostic in stale:  # on stderr: the reporters' output stays what they print
        typer.echo(diagnostic.render(), err=True)
    if keyword is not None and not report.results:  # as pytest: nothing selected is exit 5, not a pass
        typer.echo(f"policy: no tests match -k {keyword!r}", err=True)
        return NO_TESTS
    return 0 if report.ok and coverage_problem is None and not stale else 1


def stale_rules(paths: list[str]) -> list[Any]:
    """The rules of the tested rule files that the installed hooks would never run, when the configuration here
    loads those files (docs/config.md#installing-and-changing-rules)."""
    import os

    from policy.commands.validate import stale_install_for
    from policy.tester import find_test_files

    rule_files = [test.rsplit(".test.", 1)[0] + ".yaml" for test in find_test_files(paths)]
    return stale_install_for([path for path in rule_files if os.path.isfile(path)], os.getcwd(), dict(os.environ))


def register(app: typer.Typer) -> None:
    @app.command("test")
    def test_command(
        paths: list[str] = typer.Argument(None, help="Test files (*.test.yaml) or directories (default: the "
                                                     "current directory)."),
        coverage: bool = typer.Option(False, "--coverage", help="Report the rules no test matched, per pack."),
        min_coverage: float = typer.Option(None, "--min-coverage", metavar="N", help="Fail if any pack's rule coverage is "
                                                                        "below N percent."),
        output_format: str = typer.Option("text", "--format", help="text, json or junit."),
        keyword: str = typer.Option(None, "-k", metavar="PATTERN", help="Only tests whose `file::name` contains PATTERN."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (the same as --format json)."),
        agent: str = typer.Option("claude-code", "--agent", metavar="AGENT",
                                  help="The host whose payloads the events become (claude-code, codex, gemini, "
                                       "cursor, copilot); scenarios it cannot run are skipped."),
    ) -> None:
        """Run stateful scenario tests: seeded facts, a fake clock, events with expectations.

        Exit 1 when a test fails, 5 when -k selects none (as pytest).

        Example: policy test rules/ --coverage --min-coverage 100
        """
        output_format = "json" if as_json else output_format
        if output_format not in ("text", "json", "junit"):
            raise UsageError(f"--format must be text, json or junit, not {output_format!r}")
        raise typer.Exit(run_tests(list(paths or ["."]), output_format=output_format, keyword=keyword,
                                   coverage=coverage, min_coverage=min_coverage, agent=agent))
