"""A real, throwaway PostgreSQL server for the shared-store tests (no mock): initdb in a temporary directory, then
`postgres` on a free port of 127.0.0.1, with password authentication (scram) for the role `policy`.

PostgreSQL refuses to run as root: as root, the data directory belongs to `nobody` and every server program runs
as that user (subprocess's user=/group=); as any other user, they run as that user. The server binaries are found
on PATH or in /usr/lib/postgresql/<version>/bin (Debian's packages; .ci/run installs them when absent).
`binaries()` is None when there are none: the tests that need a server skip with that reason.

One cluster is initialised per test session (`template`), and each server copies it: a new server starts in well
under a second instead of the seconds initdb takes.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "s3cret-for-tests"
ROLE = "policy"


def binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres", path=os.path.dirname(os.path.realpath(found))):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda path: int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit()
                        else 0)
    return Path(candidates[-1]).parent if candidates else None


def _unprivileged() -> dict[str, object]:
    """subprocess arguments that run a server program as `nobody` when we are root (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    import grp
    import pwd

    user = pwd.getpwnam("nobody")
    try:
        group = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        group = user.pw_gid
    return {"user": user.pw_uid, "group": group, "extra_groups": []}


def _owner() -> tuple[int, int] | None:
    spec = _unprivileged()
    return None if not spec else (int(spec["user"]), int(spec["group"]))  # type: ignore[call-overload]


def _chown_tree(path: Path) -> None:
    owner = _owner()
    if owner is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, *owner)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), *owner)


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/", **_unprivileged(),
                          **kwargs)  # type: ignore[call-overload]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_template(root: Path) -> Path:
    """initdb once: a cluster with the role `policy` (password PASSWORD, scram) as its superuser."""
    bindir = binaries()
    assert bindir is not None
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    data = root / "template"
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    _chown_tree(root)
    result = _run([str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "--pwfile", str(pwfile), "-A",
                   "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"])
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")
    return data


class PgServer:
    """One running server: a copy of the template cluster on its own port. `stop()`, `start()` again on the same
    port (the reconnection tests), `pause()`/`resume()` (SIGSTOP: a server that accepts and never answers)."""

    def __init__(self, template: Path, root: Path) -> None:
        self.bindir = binaries()
        self.root = Path(tempfile.mkdtemp(dir=root))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        shutil.copytree(template, self.data, symlinks=True)
        os.chmod(self.data, 0o700)
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        self.log = self.root / "server.log"
        self.log.touch()
        _chown_tree(self.root)
        self.port = free_port()
        self.pid: int | None = None

    def dsn(self, database: str = "postgres") -> str:
        """The DSN as a user writes it in the config: no password (that comes from PGPASSWORD or ~/.pgpass)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
                   "-c shared_buffers=16MB")
        result = _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                       "-o", options, "start"])
        if result.returncode != 0:
            raise RuntimeError(f"the PostgreSQL server did not start: {result.stdout}{result.stderr}\n"
                               f"{self.log.read_text(errors='replace')[-2000:]}")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self, mode: str = "fast") -> None:
        if self.pid is None:
            return
        self.resume()
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"])
        self.pid = None

    def pause(self) -> None:
        """Freeze the postmaster and its backends: connections are still accepted by the kernel, never answered."""
        self._signal("STOP")

    def resume(self) -> None:
        self._signal("CONT")

    def _signal(self, name: str) -> None:
        if self.pid is None:
            return
        import signal

        signum = getattr(signal, f"SIG{name}")
        children = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout.split()
        for pid in [self.pid, *map(int, children)]:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement as the superuser (CREATE DATABASE, ...)."""
        import psycopg

        with psycopg.connect(self.dsn(database), password=PASSWORD, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until(predicate, seconds: float = 10.0, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it is true or `seconds` have passed (no timing is asserted: only the outcome)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
