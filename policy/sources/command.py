"""`command` sources: run a program (argv, no shell) and read its standard output (JSON, YAML or a checklist).

The program gets no stdin and runs in a session of its own, so that at the timeout it is killed with everything it
started. A non-zero exit status is a failure, reported with the first line of its stderr.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.model import SourceSpec
    from policy.sources import Job


def _kill(process: Any) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (OSError, AttributeError):  # already gone, or no process groups (Windows)
        try:
            process.kill()
        except OSError:
            pass


def fetch(spec: SourceSpec, job: Job) -> bytes:
    import subprocess

    from policy.sources import MAX_BYTES, SourceError

    argv = [str(part) for part in spec.options["argv"]]
    argv[0] = os.path.expanduser(argv[0])
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
    except OSError as error:
        raise SourceError(f"cannot run {argv[0]}: {error.strerror or error}") from None
    job.on_cancel(lambda: _kill(process))
    try:
        output, errors = process.communicate(timeout=job.remaining())
    except subprocess.TimeoutExpired:
        _kill(process)
        process.wait()
        raise SourceError(f"timed out after {spec.timeout:g}s") from None
    if process.returncode != 0:
        first = errors.decode("utf-8", "replace").strip().splitlines()[:1]
        raise SourceError(f"{os.path.basename(argv[0])} exited with status {process.returncode}"
                          + (f": {first[0][:200]}" if first else ""))
    if len(output) > MAX_BYTES:
        raise SourceError(f"the output is larger than {MAX_BYTES} bytes")
    return output
