"""`policy docs [TOPIC]`: the documentation, readable where policy is installed (docs/ ships as the package data
policy.docs, as rules/ ships as policy.packs).

A topic is a page's name (`rules`, `focus` for docs/packs/focus.md), optionally with a section (`rules#match`, the
heading's anchor as GitHub makes it). What messages and hints name, `docs/rules.md#match`, is accepted as it is
written, so every reference in a hint can be read with `policy docs <that reference>`.
"""

from __future__ import annotations

import os

import typer

from policy.errors import UsageError


def docs_dir() -> str:
    """The installed docs (policy/docs), or docs/ in a source checkout."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(package, "docs")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(package), "docs")


def topics() -> dict[str, str]:
    """Topic name -> the page's path: every page of docs/ and docs/packs/."""
    found: dict[str, str] = {}
    root = docs_dir()
    for directory in (root, os.path.join(root, "packs")):
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                if name.endswith(".md"):
                    found.setdefault(name[:-3], os.path.join(directory, name))
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    text = heading.strip().lstrip("#").strip().lower()
    return "".join(char for char in text.replace(" ", "-") if char.isalnum() or char in "-_")


def _title(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("# "):
                return line[2:].strip()
    return ""


def section(text: str, wanted: str) -> str | None:
    """The part of a page from the heading whose anchor is `wanted` to the next heading of its level or above."""
    lines = text.splitlines(keepends=True)
    fenced = False
    start = level = None
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        depth = len(line) - len(line.lstrip("#"))
        if start is None and anchor(line) == wanted:
            start, level = index, depth
        elif start is not None and level is not None and depth <= level:
            return "".join(lines[start:index])
    return "".join(lines[start:]) if start is not None else None


def show(topic: str | None, *, path_only: bool = False, as_json: bool = False) -> int:
    pages = topics()
    if not pages:
        raise UsageError(f"no documentation found in {docs_dir()}", hint="reinstall policy")
    if topic is None and as_json:
        from policy.commands._shared import emit_json

        emit_json([{"topic": name, "title": _title(path), "path": path} for name, path in pages.items()])
        return 0
    if topic is None:
        width = max(len(name) for name in pages)
        typer.echo("Topics (policy docs TOPIC, or TOPIC#section):")
        typer.echo("\n".join(f"  {name:<{width}}  {_title(path)}" for name, path in pages.items()))
        return 0
    name, _, wanted = topic.partition("#")
    name = os.path.basename(name)[:-3] if name.endswith(".md") else name  # docs/rules.md, packs/focus.md
    if name not in pages:
        from policy.errors import did_you_mean

        raise UsageError(f"no documentation topic {name!r}", hint=did_you_mean(name, pages)
                         or "`policy docs` lists the topics")
    if path_only:
        typer.echo(pages[name])
        return 0
    with open(pages[name], encoding="utf-8") as handle:
        text = handle.read()
    if wanted:
        part = section(text, wanted.lower())
        if part is None:
            with_anchors = [anchor(line) for line in text.splitlines() if line.startswith("#")]
            from policy.errors import did_you_mean

            raise UsageError(f"{name} has no section #{wanted}", hint=did_you_mean(wanted, with_anchors)
                             or f"`policy docs {name}` shows the page")
        text = part
    typer.echo(text, nl=not text.endswith("\n"))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("docs")
    def docs_command(
        topic: str = typer.Argument(None, help="A page (rules, config, focus …), a section (rules#match), or a "
                                               "reference as messages write it (docs/rules.md#match)."),
        path: bool = typer.Option(False, "--path", help="Print where the page is instead of the page."),
        as_json: bool = typer.Option(False, "--json", help="List the topics as JSON."),
    ) -> None:
        """Read the documentation that ships with policy: the topics, a page, or one section of it.

        Example: policy docs rules#match
        """
        raise typer.Exit(show(topic, path_only=path, as_json=as_json))
