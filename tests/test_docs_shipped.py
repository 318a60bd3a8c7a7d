"""The docs ship with policy and are reachable after `pip install` (issue 20): `policy docs [TOPIC]` reads them from
the package data, every `docs/…md#section` a message or hint names resolves there, and the docs and READMEs link
only to what ships."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, Env

from policy.commands.docs import anchor, docs_dir, section, topics

REFERENCE = re.compile(r"(?<!shared/)docs/((?:packs/)?[a-z-]+)\.md(?:#([a-z0-9_-]+))?")


def test_policy_docs_lists_topics_and_prints_a_page_or_one_section(env: Env) -> None:
    listing = env.run_text("docs")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0] == "Topics (policy docs TOPIC, or TOPIC#section):"
    assert "  rules            Rule files (format version 1)\n" in listing.stdout and "  focus            " in listing.stdout
    page = env.run_text("docs", "errors")
    assert page.stdout == (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    part = env.run_text("docs", "rules#match")
    assert part.stdout.startswith("### `match`\n") and "\n### `when`" not in part.stdout
    assert env.run_text("docs", "docs/rules.md#match").stdout == part.stdout  # as hints write it
    assert env.run_text("docs", "focus", "--path").stdout.strip().endswith("packs/focus.md")
    result = env.run_text("docs", "rule")
    assert (result.returncode, result.stderr) == (2, "policy: usage: no documentation topic 'rule' (did you mean "
                                                     "'rules'?)\n")
    result = env.run_text("docs", "rules#mtch")
    assert (result.returncode, result.stderr) == (2, "policy: usage: rules has no section #mtch (did you mean "
                                                     "'match'?)\n")


def test_the_help_points_to_policy_docs(env: Env) -> None:
    assert "Docs: `policy docs` (a topic: `policy docs rules`)." in " ".join(env.run_text("--help").stdout.split())


def source_references() -> list[tuple[str, str, str | None]]:
    found = []
    for path in sorted((ROOT / "policy").rglob("*.py")):
        for match in REFERENCE.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match.group(1), match.group(2)))
    return found


def test_every_docs_reference_in_the_code_resolves_in_the_shipped_docs() -> None:
    references = source_references()
    assert len(references) > 20  # the scan sees them
    pages = topics()
    missing = []
    for where, page, wanted in references:
        name = page.rsplit("/", 1)[-1]
        if name not in pages:
            missing.append(f"{where}: docs/{page}.md")
        elif wanted and section(open(pages[name], encoding="utf-8").read(), wanted) is None:
            missing.append(f"{where}: docs/{page}.md#{wanted}")
    assert missing == []


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
DOCUMENTS = ["README.md", "hooks/README.md", "examples/events/README.md",
             *[str(path.relative_to(ROOT)) for path in sorted((ROOT / "docs").rglob("*.md"))]]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_docs_link_only_to_what_ships(document: str) -> None:
    path = ROOT / document
    text = path.read_text(encoding="utf-8")
    assert " /work/" not in text and "`/work/" not in text and "hook-protocols.md" not in text and "shared/docs" not in text
    broken = [target for target in LINK.findall(text) if "://" not in target
              and not (path.parent / target).exists()]
    assert broken == []


def test_the_docs_are_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"policy.docs" = "docs"' in pyproject and '"policy.docs" = ["*.md", "packs/*.md"]' in pyproject
    assert sorted(topics()) == sorted(path.stem for path in (ROOT / "docs").rglob("*.md"))
    assert docs_dir().endswith("docs")
    assert anchor("### `match`") == "match" and anchor("## Trust: what a project config cannot weaken") == \
        "trust-what-a-project-config-cannot-weaken"
