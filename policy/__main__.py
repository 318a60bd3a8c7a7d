"""The `policy` command. `policy eval` takes a fast path straight to the hook, without the CLI framework;
every other command goes through the typer application in policy.cli."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["eval"]:
        import gc

        gc.disable()  # a hook process is short-lived: see scripts/policy-hook
        from policy.hook import run as run_hook

        run_hook(sys.argv[2:])
    from policy.cli import run

    sys.exit(run())


if __name__ == "__main__":
    main()
