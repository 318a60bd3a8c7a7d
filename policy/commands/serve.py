"""`policy serve [status|stop]`: the resident evaluator (policy/server.py, docs/serve.md), and the line of
`policy status` that says whether one answers."""

from __future__ import annotations

import os

import typer

from policy.commands._shared import emit_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.store import Store

ACTIONS = ("start", "status", "stop")


def describe(status: dict[str, Any]) -> str:
    from policy.times import format_duration

    http = f" and http://127.0.0.1:{status['http_port']}/" if status.get("http_port") else ""
    return (f"answering on {status['socket']}{http} (pid {status['pid']}, policy {status['version']}, up "
            f"{format_duration(status['uptime'])}, {status['decisions']} decision"
            f"{'s' * (status['decisions'] != 1)}, {status['workers']} workers)")


def serve_command(action: str, *, idle_timeout: float, workers: int, as_json: bool, http: int | None = None) -> int:
    from policy import server
    from policy.errors import UsageError
    from policy.schema import suggest

    environ = dict(os.environ)
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}", hint=suggest(action, set(ACTIONS)))
    if action == "start":
        return server.serve(environ, idle_timeout=idle_timeout, workers=workers, http_port=http)
    status = server.server_status(environ)
    if action == "status":
        if as_json:
            emit_json({"server": status, "socket": server.socket_path(environ)})
        elif status is None:
            typer.echo(f"no server answers on {server.socket_path(environ)}: hooks evaluate in-process")
        else:
            typer.echo("policy serve: " + describe(status))
        return 0 if status is not None else 1
    reply = server.ask(environ, ("stop",))
    if reply is None:
        typer.echo("no server was running")
        return 0
    typer.echo(f"stopped the server (pid {reply[1]})")
    return 0


def status_section(store: Store, now: float, utc_offset: int | None) -> tuple[str, dict[str, Any]] | None:
    """`policy status`: whether a server answers the hooks."""
    from policy import server

    status = server.server_status(dict(os.environ)) if server.supported() else None
    text = ("server: " + describe(status)) if status is not None else \
        "server: none answering (hooks evaluate in-process; the next one starts it)"
    return text, {"server": status}


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def command(
        action: str = typer.Argument("start", help="start (the default: run the server in the foreground), "
                                                   "status or stop."),
        idle_timeout: float = typer.Option(1800.0, "--idle-timeout", min=1.0,
                                           help="Exit after this many seconds without an event."),
        workers: int = typer.Option(4, "--workers", min=1, max=64,
                                    help="Worker processes: events decided at the same time."),
        as_json: bool = typer.Option(False, "--json", help="status: print JSON."),
        http: int = typer.Option(None, "--http", min=1, max=65535, help="Also answer Claude Code's http hooks on "
                                 "127.0.0.1 at this port (default: the port `policy install --transport http` "
                                 "wrote, if any); the server then never exits for being idle."),
    ) -> None:
        """Run the resident evaluator the hook client asks (one per user and installation; the hook starts it
        when none answers), or show or stop it.

        Example: policy serve status
        """
        raise typer.Exit(serve_command(action, idle_timeout=idle_timeout, workers=workers, as_json=as_json,
                                       http=http))
