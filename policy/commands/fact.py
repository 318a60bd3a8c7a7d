"""`policy fact set|get|list|unset`: the generic `kv` facts, e.g. a signal from outside (`policy fact set hr.bpm 128`).

Values are JSON: `128`, `true`, `"text"`, `{"a": 1}`; anything that is not valid JSON is kept as a string."""

from __future__ import annotations

import typer

from policy.commands._shared import DB_OPTION_HELP, emit_json, now, open_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse_value(text: str, *, as_string: bool = False) -> Any:
    if as_string:
        return text
    from policy.lean import json_loads

    try:
        return json_loads(text)
    except ValueError:
        return text


def fact_set(key: str, value: Any, *, ttl: str | None = None, db: str | None = None) -> int:
    from policy.facts.kv import set_value
    from policy.lean import json_dumps
    from policy.times import parse_duration

    seconds = parse_duration(ttl, what="--ttl") if ttl is not None else None
    _refuse_source_owned(key, "policy fact set")
    with open_store(db) as store, store.transaction():
        set_value(store, key, value, now=now(), ttl=seconds)
    typer.echo(f"{key} = {json_dumps(value)}" + (f" (expires in {ttl})" if ttl is not None else ""))
    return 0


def fact_get(key: str, *, db: str | None = None, as_json: bool = False) -> int:
    from policy.facts.kv import get_value
    from policy.lean import json_dumps

    with open_store(db) as store:
        found, value = get_value(store, key, now=now())
    if not found:
        typer.echo(f"policy: no fact {key!r} (or it expired)", err=True)
        return 1
    typer.echo(json_dumps(value) if as_json or not isinstance(value, str) else value)
    return 0


def fact_list(*, db: str | None = None, as_json: bool = False) -> int:
    from policy import report
    from policy.facts.kv import list_values
    from policy.lean import json_dumps
    from policy.times import format_local

    with open_store(db) as store:
        rows = list_values(store, now=now())
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        typer.echo("no facts")
        return 0
    typer.echo(report.table(["key", "value", "updated", "expires"],
                            [[row["key"], json_dumps(row["value"]), format_local(row["updated_at"], seconds=True),
                              format_local(row["expires_at"], seconds=True)] for row in rows]))
    return 0


def _refuse_source_owned(key: str, writer: str) -> None:
    """Refuse a key a configured source feeds (the sources of the config here, as `policy eval` reads it; a config
    that does not load is refused too: which keys are owned is then unknown)."""
    from policy.commands._shared import effective_ruleset
    from policy.errors import ValidationFailed
    from policy.facts.kv import refuse_source_owned

    try:
        sources = effective_ruleset().settings.sources
    except ValidationFailed as error:
        from policy.errors import PolicyError

        raise PolicyError(f"the configuration does not load, so it is unknown which sources own kv keys: "
                          f"{error.one_line()}", code="source-owned-key",
                          hint="`policy validate` shows what to fix") from None
    refuse_source_owned(key, sources, writer)


def fact_unset(key: str, *, db: str | None = None) -> int:
    from policy.facts.kv import delete_value

    _refuse_source_owned(key, "policy fact unset")

    with open_store(db) as store, store.transaction():
        deleted = delete_value(store, key)
    typer.echo(f"removed {key}" if deleted else f"no fact {key!r}")
    return 0 if deleted else 1


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Generic facts (the kv table): signals from outside for rules to read.",
                        no_args_is_help=True)
    app.add_typer(group, name="fact")

    @group.command("set")
    def set_command(key: str = typer.Argument(..., help="The key, e.g. hr.bpm."),
                    value: str = typer.Argument(..., help="The value, as JSON (else kept as text)."),
                    ttl: str = typer.Option(None, "--ttl", help="Expire after this long: 90, 30s, 5m, 1h."),
                    string: bool = typer.Option(False, "--string", help="Keep VALUE as text, even if it is JSON."),
                    db: str = typer.Option(None, "--db", help=DB_OPTION_HELP)) -> None:
        """Set a fact. Rules read it as facts.kv['KEY'].

        Example: policy fact set hr.ok false --ttl 60
        """
        raise typer.Exit(fact_set(key, parse_value(value, as_string=string), ttl=ttl, db=db))

    @group.command("get")
    def get_command(key: str = typer.Argument(..., help="The key."),
                    as_json: bool = typer.Option(False, "--json", help="Print the value as JSON."),
                    db: str = typer.Option(None, "--db", help=DB_OPTION_HELP)) -> None:
        """Print a fact's value (exit 1 when it is missing or expired).

        Example: policy fact get hr.bpm
        """
        raise typer.Exit(fact_get(key, db=db, as_json=as_json))

    @group.command("list")
    def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
                     db: str = typer.Option(None, "--db", help=DB_OPTION_HELP)) -> None:
        """List the facts that have not expired.

        Example: policy fact list --json
        """
        raise typer.Exit(fact_list(db=db, as_json=as_json))

    @group.command("unset")
    def unset_command(key: str = typer.Argument(..., help="The key."),
                      db: str = typer.Option(None, "--db", help=DB_OPTION_HELP)) -> None:
        """Remove a fact (exit 1 when there was none).

        Example: policy fact unset hr.ok
        """
        raise typer.Exit(fact_unset(key, db=db))
