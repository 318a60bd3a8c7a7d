"""`facts.git`: the git checkout the event's `cwd` is in, read from its `.git` (no `git` process): the branch, for
mapping agent sessions to tasks (the activity pack's `map-task-from-branch`). A worktree's `.git` file is followed to
its git directory. Nothing is read until a rule needs it; a cwd outside any checkout gives None everywhere."""

from __future__ import annotations

import os

from policy.facts import Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_LEVELS = 64  # directories walked up from the cwd looking for `.git`
MAX_HEAD_BYTES = 4096


class GitFacts(Family):
    """The checkout of the event's cwd, as its `.git/HEAD` says."""

    name = "git"
    fields = {
        "root": "The checkout's top directory (the one holding `.git`), or None outside a checkout.",
        "branch": "The branch checked out (`feature/cart-rounding`), or None (no checkout, or a detached HEAD).",
        "head": "The commit of a detached HEAD, or None.",
    }

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.root: str | None = None
        self.branch: str | None = None
        self.head: str | None = None
        cwd = context.event.cwd
        if isinstance(cwd, str) and os.path.isabs(cwd):
            self._read(cwd)

    def _read(self, cwd: str) -> None:
        from policy.lean import read_regular_file

        directory = os.path.normpath(cwd)
        for _ in range(MAX_LEVELS):
            marker = os.path.join(directory, ".git")
            git_dir = marker if os.path.isdir(marker) else _linked_git_dir(marker, directory)
            if git_dir is not None:
                try:
                    head = read_regular_file(os.path.join(git_dir, "HEAD"), MAX_HEAD_BYTES).decode("utf-8").strip()
                except (OSError, UnicodeDecodeError):
                    return
                self.root = directory
                if head.startswith("ref: refs/heads/"):
                    self.branch = head[len("ref: refs/heads/"):] or None
                elif head and all(char in "0123456789abcdef" for char in head):
                    self.head = head
                return
            parent = os.path.dirname(directory)
            if parent == directory:
                return
            directory = parent


def _linked_git_dir(marker: str, directory: str) -> str | None:
    """A worktree's or submodule's `.git` file (`gitdir: PATH`) → PATH, or None when `marker` is not one."""
    if not os.path.isfile(marker):
        return None
    from policy.lean import read_regular_file

    try:
        text = read_regular_file(marker, MAX_HEAD_BYTES).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    return os.path.normpath(os.path.join(directory, text[len("gitdir:"):].strip()))


FAMILY = GitFacts
