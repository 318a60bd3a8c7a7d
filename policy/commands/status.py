"""`policy status`: one screen (SPEC §6) with the focus session and its break first, then what the other packs add.

Sections by convention: any module of policy/commands/ that defines

    status_section(store, now, utc_offset) -> tuple[str, dict] | None

contributes one section: a text block (sections are printed in order, separated by a blank line) and a JSON object
merged into the top level of `policy status --json` (key it by what it shows, e.g. `{"focus": {...}}`); None leaves
the section out (e.g. nothing to show). `store` is the open fact store, `now` epoch seconds, `utc_offset` the local
offset in seconds (None: the machine's). Sections come in the order of SECTION_ORDER (module names), then any other
module's alphabetically.
"""

from __future__ import annotations

import typer

from policy.commands import _shared

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from policy.store import Store

# Focus first (session.py), then usage pace, claims, and the activity packs' recent denials.
SECTION_ORDER = ("session", "usage", "claims", "sessions", "stats")


def section_providers() -> list[tuple[str, Callable[..., Any]]]:
    """(module name, status_section) for every command module that has one, in display order."""
    import pkgutil

    from policy import commands

    names = [info.name for info in pkgutil.iter_modules(commands.__path__)
             if not info.name.startswith("_") and info.name != "status"]
    names.sort(key=lambda name: (SECTION_ORDER.index(name) if name in SECTION_ORDER else len(SECTION_ORDER), name))
    providers = []
    for name in names:
        module = __import__(f"policy.commands.{name}", fromlist=["status_section"])
        provider = getattr(module, "status_section", None)
        if provider is not None:
            providers.append((name, provider))
    return providers


def show_status(store: Store, now: float, *, utc_offset: int | None = None, as_json: bool = False) -> int:
    texts: list[str] = []
    data: dict[str, Any] = {"at": now}
    for _, provider in section_providers():
        section = provider(store, now, utc_offset)
        if section is None:
            continue
        text, values = section
        texts.append(text)
        data.update(values)
    if as_json:
        _shared.emit_json(data)
    else:
        typer.echo("\n\n".join(texts))
    return 0


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        db: str = typer.Option(None, "--db", help=_shared.DB_OPTION_HELP),
    ) -> None:
        """One screen: the focus session and its break, then what the other packs track.

        Example: policy status --json
        """
        with _shared.open_store(db) as store:
            raise typer.Exit(show_status(store, _shared.now(), as_json=as_json))
