"""`policy validate [PATH]...`: check rule files, test files and config files; every error, located.

Files are told apart by name: `*.test.yaml` are test files, `policy.yaml` and `config.yaml` are config files,
any other `*.yaml`/`*.yml` is a rule file. Directories are searched recursively. Without paths, the effective
configuration (config files and every pack they load) is checked.
"""

from __future__ import annotations

import os

import typer

from policy.errors import Diagnostic, PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.compiler import CompiledFiles
    from policy.config import ConfigRef
    from policy.layering import Resolved

CONFIG_NAMES = ("policy.yaml", "config.yaml")



def classify(path: str) -> str:
    name = os.path.basename(path)
    if name.endswith((".test.yaml", ".test.yml")):
        return "tests"
    if name in CONFIG_NAMES:
        return "config"
    return "rules"


def check_files(files: list[str], *, cwd: str = ".", environ: dict[str, str] | None = None) -> list[Diagnostic]:
    """All diagnostics for the given files. A config file is checked with everything it loads (its packs, the
    params it sets, its paths), as if it were the only config."""
    from policy.adapters import host_diagnostics
    from policy.compiler import PackSource, compile_files
    from policy.config import ConfigRef, Request
    from policy.layering import resolve

    diagnostics: list[Diagnostic] = []
    rule_files = [path for path in files if classify(path) == "rules"]
    compiled = compile_files([PackSource(path=path, display=path, trusted=True) for path in rule_files])
    diagnostics += [*compiled.diagnostics, *host_diagnostics(compiled.packs)]
    named = {os.path.abspath(path) for path in rule_files}
    for path in files:
        kind = classify(path)
        if kind == "config":
            config = os.path.abspath(path)
            resolved = resolve(Request(config=config, cwd=cwd, environ=dict(environ or {})),
                               (ConfigRef(config, "cli"),))
            from policy.lean import replace

            # the config file is named as the user named it
            diagnostics += [replace(d, location=replace(d.location, file=path)) if d.location.file == config else d
                            for d in resolved.diagnostics]
            if not any(problem.severity == "error" for problem in resolved.diagnostics):
                loaded = compile_files([source for source in resolved.sources
                                        if os.path.abspath(source.path) not in named])
                diagnostics += [*loaded.diagnostics, *host_diagnostics(loaded.packs, resolved.settings.agents)]
        elif kind == "tests":
            from policy.tester import check_test_file

            diagnostics += check_test_file(path)
    # a rule file named next to its test file (or a config) is compiled for each: report each problem once
    return list(dict.fromkeys(diagnostics))


def effective(cwd: str, environ: dict[str, str]) -> tuple[tuple[ConfigRef, ...], Resolved, CompiledFiles]:
    """The config files that apply here, what they resolve to, and the packs they load, compiled."""
    from policy.compiler import compile_files
    from policy.config import Request, discover
    from policy.layering import resolve

    request = Request(cwd=cwd, environ=environ)
    refs = discover(request)
    resolved = resolve(request, refs)
    return refs, resolved, compile_files(resolved.sources)


def check_effective(cwd: str, environ: dict[str, str]) -> tuple[list[str], list[Diagnostic]]:
    """The effective configuration: the config files that apply, every pack they load and the test file next to
    each pack that is not shipped (`<pack>.test.yaml`), whether the installed Claude Code hooks give its delays
    enough time, and whether they still run every rule."""
    from policy.adapters import host_diagnostics
    from policy.adapters.claude_settings import installed_hooks, timeout_diagnostics

    refs, resolved, compiled = effective(cwd, environ)
    hooks = installed_hooks(cwd=cwd, environ=environ)
    from policy.config import display_path

    tests = [display_path(test, cwd) for source in resolved.sources if source.origin != "shipped"
             if os.path.isfile(test := os.path.splitext(source.path)[0] + ".test.yaml")]
    diagnostics = list(resolved.diagnostics) + list(compiled.diagnostics) + host_diagnostics(compiled.packs, resolved.settings.agents) + \
        timeout_diagnostics(compiled.packs, resolved.settings, hooks) + stale_install(resolved, compiled, hooks)
    if tests:
        from policy.tester import check_test_file

        diagnostics += [problem for test in tests for problem in check_test_file(test)]
    # a pack is compiled again for its test file: report each problem once
    return [ref.path for ref in refs] + [source.path for source in resolved.sources] + tests, \
        list(dict.fromkeys(diagnostics))


def stale_install(resolved: Resolved, compiled: CompiledFiles, hooks: list[Any]) -> list[Diagnostic]:
    """Rules the installed hooks would never run (docs/config.md#installing-and-changing-rules): the effective rules, when they
    compile, against the hooks installed."""
    from policy.adapters.claude_settings import stale_diagnostics
    from policy.compiler import build_ruleset

    if not hooks or compiled.errors or any(d.severity == "error" for d in resolved.diagnostics):
        return []
    return stale_diagnostics(build_ruleset(compiled, resolved.settings), hooks)


def stale_install_for(files: list[str], cwd: str, environ: dict[str, str]) -> list[Diagnostic]:
    """`stale_install` for the effective configuration, when one of `files` is part of it (a rule file it loads
    or a config file that applies): what `policy validate FILE` and `policy test` add about the installed hooks."""
    from policy.adapters.claude_settings import installed_hooks

    hooks = installed_hooks(cwd=cwd, environ=environ)
    if not hooks:
        return []
    refs, resolved, compiled = effective(cwd, environ)
    named = {os.path.realpath(path) for path in files}
    used = {os.path.realpath(ref.path) for ref in refs} | {os.path.realpath(source.path) for source in resolved.sources}
    return stale_install(resolved, compiled, hooks) if named & used else []


def render_text(files: list[str], diagnostics: list[Diagnostic], *, color: bool = False) -> str:
    """The diagnostics, then a summary line (colored ok/warn/fail when `color`)."""
    from policy.report import paint

    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    errors = sum(1 for d in ordered if d.severity == "error")
    warnings = len(ordered) - errors
    lines = [d.render() for d in ordered]
    if errors or warnings:
        lines.append(paint(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
                           f"in {len(files)} file{'s' * (len(files) != 1)}", "fail" if errors else "warn", color))
    else:
        lines.append(paint(f"ok: {len(files)} file{'s' * (len(files) != 1)} valid", "ok", color))
    return "\n".join(lines)


def render_json(files: list[str], diagnostics: list[Diagnostic]) -> dict[str, Any]:
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    errors = sum(1 for d in ordered if d.severity == "error")
    return {"files": files, "errors": errors, "warnings": len(ordered) - errors,
            "diagnostics": [d.to_json() for d in ordered]}


def validate(paths: list[str], *, output_format: str = "text", cwd: str | None = None,
             environ: dict[str, str] | None = None) -> int:
    """Validate and print the result; exit code 1 when there is any error."""
    cwd = cwd or os.getcwd()
    if paths:
        from policy.loader import yaml_files

        missing = [path for path in paths if not os.path.exists(path)]
        files = yaml_files([path for path in paths if os.path.exists(path)]) + missing
        if not files:
            raise PolicyError(f"no YAML files in {', '.join(paths)}",
                              code="nothing-to-check",
                              hint="name rule, test or config files (*.yaml), or directories holding them")
        variables = dict(environ if environ is not None else os.environ)
        diagnostics = check_files(files, cwd=cwd, environ=variables)
        diagnostics += stale_install_for(files, cwd, variables)
    else:
        files, diagnostics = check_effective(cwd, dict(environ if environ is not None else os.environ))
        if not files:
            from policy.config import PROJECT_CONFIG_NAMES

            raise PolicyError(  # a check that checked nothing must not pass
                f"no config file applies in {cwd} (looked for "
                f"{' and '.join(PROJECT_CONFIG_NAMES)} upwards, and the user config)",
                code="nothing-to-check", hint="run `policy init`, or name files: policy validate rules/")
    if output_format == "json":
        from policy.lean import json_dumps

        typer.echo(json_dumps(render_json(files, diagnostics), spaced=True))
    else:
        import sys

        from policy.report import colors_on

        typer.echo(render_text(files, diagnostics, color=colors_on(sys.stdout)))
    return 1 if any(d.severity == "error" for d in diagnostics) else 0


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_command(
        paths: list[str] = typer.Argument(None, help="Rule, test or config files, or directories."),
        output_format: str = typer.Option("text", "--format", help="text or json."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (the same as --format json)."),
    ) -> None:
        """Check rule files, test files and config files; report every error as file:line:col: code: message.

        Example: policy validate rules/ policy.yaml
        """
        output_format = "json" if as_json else output_format
        if output_format not in ("text", "json"):
            from policy.errors import UsageError

            raise UsageError(f"--format must be text or json, not {output_format!r}")
        raise typer.Exit(validate(list(paths or []), output_format=output_format))
