"""Regenerate the JSON Schemas from the code: `python scripts/gen_schemas.py` (in the source tree), or `--check`.

Writes `policy/schemas/*.json` (shipped as package data; what `policy validate` and editors use) and
`schemas/*.json` (published). tests/test_schema.py fails when they differ from what the code builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import argparse

    from policy.effects import effect_schemas
    from policy.schema import SCHEMA_FILES, build_schema

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; fail if any schema file is stale")
    options = parser.parse_args()
    effects = effect_schemas()
    stale = False
    for kind, name in SCHEMA_FILES.items():
        text = build_schema(kind, effects)
        for directory in (ROOT / "policy" / "schemas", ROOT / "schemas"):
            path = directory / name
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            stale = True
            if not options.check:
                path.write_text(text, encoding="utf-8")
            print(f"{'stale' if options.check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if options.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
