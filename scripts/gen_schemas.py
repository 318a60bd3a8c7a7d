"""Regenerate the JSON Schemas from the code: `python scripts/gen_schemas.py` (in the source tree).

Writes `policy/schemas/*.json` (shipped as package data; what `policy validate` and editors use) and
`schemas/*.json` (published). tests/test_schema.py fails when they differ from what the code builds.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from policy.effects import effect_schemas
    from policy.schema import SCHEMA_FILES, build_schema

    effects = effect_schemas()
    for kind, name in SCHEMA_FILES.items():
        text = build_schema(kind, effects)
        for directory in (ROOT / "policy" / "schemas", ROOT / "schemas"):
            (directory / name).write_text(text, encoding="utf-8")
            print((directory / name).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
