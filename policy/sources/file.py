"""`file` sources: a JSON, YAML or Markdown checklist file (e.g. a task's acceptance criteria).

A file is read again only when it changes: its path, size, mtime and inode are the cache's `etag`, checked with
one `stat` whenever a rule needs the source (ttl and breaker don't apply; the same bytes give the same value).
A missing checklist is an empty one (no open items); a missing JSON or YAML file is a failure.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from policy.model import SourceSpec
    from policy.sources import Job


def signature(spec: SourceSpec) -> str:
    """What the file's content depends on, cheaply: path, size, mtime, inode (or why it cannot be read)."""
    path = str(spec.options["path"])
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"{path}\0missing"
    except OSError as error:
        return f"{path}\0error {error.errno}"
    return f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}"


def fetch(spec: SourceSpec, job: Job) -> bytes | None:
    """The file's bytes (a regular file of at most MAX_BYTES), or None when it does not exist."""
    from policy.sources import MAX_BYTES, SourceError

    from policy.lean import FileRefused, read_regular_file

    path = str(spec.options["path"])
    try:
        return read_regular_file(path, MAX_BYTES)  # a repository's FIFO or /dev/zero symlink must not hang it
    except FileNotFoundError:
        return None
    except FileRefused as error:
        raise SourceError(f"cannot read {path}: {error}") from None
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None
