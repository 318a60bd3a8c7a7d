"""The CLI commands, one module per command or command group. Each module holds the command's logic as plain
functions that return an exit code (the tests call them directly) and its thin typer wrapper; policy.cli only
assembles them."""
