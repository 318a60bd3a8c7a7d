"""`policy schema [rules|tests|config]`: print a JSON Schema, for editors and other tools."""

from __future__ import annotations

import typer

from policy.schema import SCHEMA_FILES, schema_text


def print_schema(kind: str) -> int:
    typer.echo(schema_text(kind), nl=False)
    return 0


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(kind: str = typer.Argument("rules", help=" or ".join(SCHEMA_FILES) + ".")) -> None:
        """Print the JSON Schema of rule files or of the config file.

        Example: policy schema rules > rules.schema.json
        """
        if kind not in SCHEMA_FILES:
            from policy.errors import UsageError

            raise UsageError(f"no schema named {kind!r}", hint="choose " + " or ".join(SCHEMA_FILES))
        raise typer.Exit(print_schema(kind))
