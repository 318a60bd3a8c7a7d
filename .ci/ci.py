"""What .ci/run needs from pyproject.toml, README.md and the lowest-versions constraints file; standard library only
(it runs before any virtual environment exists, and in each one).

    python3 .ci/ci.py readme N      the Nth command of README.md (its Nth ```sh block), as a new user types it
    python3 .ci/ci.py extras        every extra of pyproject.toml, comma-separated (for `pip install '.[...]'`)
    python3 .ci/ci.py check         the constraints file pins exactly the lower bounds of pyproject.toml
    python ci.py installed          this interpreter has exactly the pinned versions installed

tests/test_ci.py runs `check` on the real files and on drifted copies.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / ".ci" / "lowest-constraints.txt"
README = ROOT / "README.md"

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): `PyYAML` and `sqlite_utils` are `pyyaml`, `sqlite-utils`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version: str) -> tuple[int, ...]:
    """`6.0` and `6.0.0` are the same version (PEP 440 pads with zeros); the release numbers are compared."""
    release = re.match(r"\d+(?:\.\d+)*", version.strip())
    parts = [int(part) for part in release.group(0).split(".")] if release else []
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def requirements(pyproject: Path = PYPROJECT) -> list[tuple[str, str]]:
    """(where, requirement) for the dependencies and every extra: ("dependencies", "pyyaml>=6.0"), ("extra test", …)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    found = [("dependencies", requirement) for requirement in project.get("dependencies", [])]
    for extra, listed in sorted(project.get("optional-dependencies", {}).items()):
        found += [(f"extra {extra}", requirement) for requirement in listed]
    return found


def extras(pyproject: Path = PYPROJECT) -> list[str]:
    return sorted(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("optional-dependencies", {}))


def lower_bounds(pyproject: Path = PYPROJECT) -> tuple[dict[str, str], list[str]]:
    """{canonical name: lower bound} of every requirement, and the problems: a requirement without `>=`, or one
    package given two different lower bounds."""
    bounds: dict[str, str] = {}
    problems: list[str] = []
    for where, requirement in requirements(pyproject):
        match = _REQUIREMENT.match(requirement)
        name = canonical(match.group(1)) if match else requirement
        low = [spec.strip()[2:].strip() for spec in (match.group(2).split(",") if match else [])
               if spec.strip().startswith(">=")]
        if not low:
            problems.append(f"{requirement!r} ({where}) has no lower bound: give it one (>=), the lowest version "
                            f"that works")
            continue
        if name in bounds and version_key(bounds[name]) != version_key(low[0]):
            problems.append(f"{name} has two lower bounds, {bounds[name]} and {low[0]} ({where}): give it one")
            continue
        bounds[name] = low[0]
    return bounds, problems


def pins(constraints: Path = CONSTRAINTS) -> tuple[dict[str, str], list[str]]:
    """{canonical name: pinned version} of the constraints file, and the lines that are not `name==version`."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(constraints.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([0-9][0-9A-Za-z.+-]*)", text)
        if not match:
            problems.append(f"{constraints.name}:{number}: {text!r} is not a pin (name==version)")
            continue
        found[canonical(match.group(1))] = match.group(2)
    return found, problems


def check(pyproject: Path = PYPROJECT, constraints: Path = CONSTRAINTS) -> list[str]:
    """Every way the constraints file and pyproject.toml's lower bounds disagree; empty when they are in step."""
    bounds, problems = lower_bounds(pyproject)
    pinned, pin_problems = pins(constraints)
    problems += pin_problems
    for name, bound in sorted(bounds.items()):
        if name not in pinned:
            problems.append(f"{name}>={bound} is in {pyproject.name} but not pinned in {constraints.name}: "
                            f"add {name}=={bound}")
        elif version_key(pinned[name]) != version_key(bound):
            problems.append(f"{name}: {pyproject.name} allows >={bound} but {constraints.name} pins "
                            f"{pinned[name]}: pin {name}=={bound}")
    for name in sorted(set(pinned) - set(bounds)):
        problems.append(f"{name}=={pinned[name]} is pinned in {constraints.name} but {pyproject.name} does not "
                        f"require it: remove the pin")
    return problems


def installed_mismatches(pinned: dict[str, str], installed: dict[str, str]) -> list[str]:
    """The pins that the environment (`installed`: canonical name → version) does not hold exactly."""
    problems = []
    for name, version in sorted(pinned.items()):
        if name not in installed:
            problems.append(f"{name}=={version} is pinned but not installed (is its extra installed?)")
        elif version_key(installed[name]) != version_key(version):
            problems.append(f"{name} {installed[name]} is installed, not the pinned {version}")
    return problems


def readme_command(number: int, readme: Path = README) -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```", readme.read_text(encoding="utf-8"), flags=re.M | re.S)
    return blocks[number - 1].strip()


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else ""
    if verb == "readme" and len(argv) == 2:
        print(readme_command(int(argv[1])))
        return 0
    if verb == "extras":
        print(",".join(extras()))
        return 0
    if verb == "check":
        problems = check()
    elif verb == "installed":
        from importlib import metadata

        pinned, problems = pins()
        installed = {canonical(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}
        problems += installed_mismatches(pinned, installed)
        if not problems:
            print("lowest versions installed: " + ", ".join(f"{name}=={pinned[name]}" for name in sorted(pinned)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for problem in problems:
        print(f"ci: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
