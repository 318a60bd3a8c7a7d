"""policy: a declarative, stateful policy engine for AI coding agent hooks."""

__version__ = "0.1.0"
