"""`policy serve`: the resident evaluator, one per user and installation, on a Unix socket.

A supervisor process binds `<runtime dir>/serve-<installation>.sock` (policy/client.py names it and speaks the
protocol) in a directory only this user may enter, and forks WORKERS worker processes that all accept on it.
Each worker decides one event at a time, exactly as a hook process does (`policy.hook.answer_event`, the same
function), but keeps what a hook process has to rebuild on every event: the compiled rules (`RulesetMemo`,
checked on every event with the cache's own freshness), the open fact store, and whatever else is held for the
user across requests (`Resources`: where issue 17's shared-store connection belongs).

Per event a worker:
- checks the peer's uid (SO_PEERCRED) and that its own code has not changed since the server started (the
  installed version: otherwise it answers "stale", and the whole server exits);
- takes the client's working directory and environment for the event (a worker runs one event at a time, so
  `os.chdir` and `os.environ` are its own, as chg does);
- says "ready" (how to fail) once the rules are loaded, and arms a kernel timer at the evaluation deadline: a
  worker stuck in one C call is killed by SIGALRM, the client answers in the fail mode, and the supervisor starts
  another worker (the deadline of docs/security.md#the-deadline holds per decision);
- answers; the client prints the answer and sleeps the delay.

Concurrent events go to different workers; each has its own connection to the store, whose write lock orders
them as it orders concurrent hook processes, so no row is lost. The supervisor exits after `idle_timeout` seconds
without an event, on `policy serve stop`, on SIGTERM/SIGINT, when its socket file is removed or replaced, and
when a worker finds the installation changed. docs/serve.md has the design and its trade-offs.
"""

from __future__ import annotations

import os
import sys
import time

from policy import __version__, client
from policy.errors import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from policy.cache import RulesetMemo
    from policy.model import Event, RuleSet
    from policy.store import Store

WORKERS = 4
IDLE_TIMEOUT = 1800.0  # seconds without an event before the server exits
REQUEST_WAIT = 5.0  # seconds a worker waits for the request once it has said hello
SUPERVISOR_TICK = 1.0  # seconds between the supervisor's checks of its socket file and its workers
DEADLINE_GRACE = 0.05  # the kernel's timer fires this long after the evaluation deadline


class ServeError(PolicyError):
    """`policy serve` cannot run (the codes are in docs/errors.md#the-server)."""


# ---- where, and which installation ------------------------------------------------------------------------------

def client_file() -> str:
    """The hook client's path: what `policy install` writes, and what names this installation's socket."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "client.py")


def interpreter() -> str:
    return os.path.abspath(sys.executable)


def socket_path(environ: Mapping[str, str]) -> str:
    return client.socket_path(environ.get, interpreter(), client_file())


def supported() -> bool:
    """Whether this platform can check a Unix socket's peer (Linux's SO_PEERCRED): without that the server does
    not start, and the hook client always evaluates in-process."""
    import socket

    return hasattr(socket, "SO_PEERCRED") and hasattr(os, "fork")


def private_runtime_dir(environ: Mapping[str, str]) -> str:
    """The runtime directory, created 0700; refused if it exists and is not this user's alone."""
    path = client.runtime_dir(environ.get)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as error:
        raise ServeError(f"cannot create the server's directory {path}: {error.strerror}", code="serve-dir",
                         hint="set XDG_RUNTIME_DIR to a directory of your own") from None
    if not client.is_private_dir(path):
        raise ServeError(f"{path} is not a directory that only you can enter", code="serve-dir",
                         hint=f"remove it or `chmod 700 {path}` if it is yours; policy will not serve from it")
    return path


def source_paths() -> tuple[str, ...]:
    """The installed package's directories and `.py` files (what `fingerprint` checks)."""
    package = os.path.dirname(os.path.abspath(__file__))
    paths = []
    for directory, names, filenames in os.walk(package):
        names[:] = sorted(name for name in names if name != "__pycache__")
        paths.append(directory)
        paths += [os.path.join(directory, name) for name in sorted(filenames) if name.endswith(".py")]
    return tuple(paths)


def fingerprint(paths: tuple[str, ...]) -> tuple[Any, ...]:
    """What the installed policy is: the size and modification time of each of `paths` (a directory's changes
    when a file is added or removed in it). A server whose fingerprint changed (an upgrade, a new commit in an
    editable install) is stale and never answers. ~70 `stat`s: about 0.1 ms per event."""
    stats = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stats.append(None)
            continue
        stats.append((info.st_size, info.st_mtime_ns))
    return (__version__, tuple(stats))


# ---- what a worker holds across requests -------------------------------------------------------------------------

class Resources:
    """What one worker keeps for the user from one event to the next: the compiled rules, the open fact stores
    (by path), and named resources that other parts of policy open once and reuse (`held(name, opener)`: the team
    store's connection, say). Each worker has its own; nothing is shared between processes. Everything is
    closed when the worker ends (`close`)."""

    def __init__(self) -> None:
        from policy.cache import RulesetMemo

        self.rulesets: RulesetMemo = RulesetMemo()
        self.stores: dict[str, tuple[Store, tuple[int, int]]] = {}
        self.others: dict[str, Any] = {}
        self._environ: tuple[dict[bytes, bytes], dict[str, str]] | None = None

    def adopt(self, cwd: str, environ_bytes: dict[bytes, bytes]) -> dict[str, str]:
        """Take the client's working directory and environment for this event (a worker runs one event at a
        time, so they are its own, as a hook process's are); returns the environment. The same environment as the
        last event's (the usual case) is not set again."""
        try:
            os.chdir(cwd)
        except OSError:
            pass  # the evaluation still gets `cwd`; only what runs after it (a `run` effect) starts elsewhere
        if self._environ is not None and self._environ[0] == environ_bytes:
            return self._environ[1]
        environ = {os.fsdecode(key): os.fsdecode(value) for key, value in environ_bytes.items()}
        timezone = os.environ.get("TZ")
        os.environ.clear()
        os.environ.update(environ)
        if environ.get("TZ") != timezone:
            time.tzset()
        self._environ = (environ_bytes, environ)
        return environ

    def store(self, path: str) -> Store:
        """The open store at `path`; opened again when the file was replaced or removed since."""
        from policy.store import Store

        held = self.stores.get(path)
        identity = _file_identity(path)
        if held is not None and identity is not None and held[1] == identity:
            return held[0]
        if held is not None:
            self.stores.pop(path)
            _close_quietly(held[0])
        store = Store.open(path)
        self.stores[path] = (store, _file_identity(path) or (0, 0))
        return store

    def held(self, name: str, opener: Any) -> Any:
        """A resource kept across events under `name`, opened by `opener()` the first time; it is closed (its
        `close()`, if it has one) when the worker ends."""
        if name not in self.others:
            self.others[name] = opener()
        return self.others[name]

    def close(self) -> None:
        for store, _ in self.stores.values():
            _close_quietly(store)
        for resource in self.others.values():
            _close_quietly(resource)
        self.stores.clear()
        self.others.clear()


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _close_quietly(resource: Any) -> None:
    try:
        close = getattr(resource, "close", None)
        if close is not None:
            close()
    except Exception:
        pass


# ---- one event ---------------------------------------------------------------------------------------------------

def answer_request(request: tuple[Any, ...], resources: Resources, send: Any) -> None:
    """Decide the event of an "eval" request as `policy eval` would in the client's process, sending "ready"
    and then "answer" through `send`."""
    import _signal

    from policy import hook

    _, argv, cwd, environ_bytes, raw, now, started = request
    environ = resources.adopt(cwd, environ_bytes)
    options, problem, now, offset = hook.read_arguments(list(argv), now)
    if options.help and problem is None:
        out, err, code, delay, timeout = (hook.USAGE + "\n").encode(), b"", 0, 0.0, hook.DEFAULT_HOOK_TIMEOUT
    else:
        raw, too_large = hook.read_event(_Bytes(raw), hook.MAX_EVENT_BYTES_CEILING)
        problem = problem or too_large

        def ready(event: Event, ruleset: RuleSet, db_path: str) -> None:
            timeout = hook.hook_timeout(options, ruleset, event.name)
            deadline = hook.evaluation_deadline(timeout, started, ruleset.settings.max_delay)
            # Past the deadline the kernel ends this worker, wherever it is (SIGALRM's default action), as it ends
            # a hook's evaluator; the client then answers in the fail mode.
            _signal.setitimer(_signal.ITIMER_REAL, max(0.001, deadline - time.perf_counter()) + DEADLINE_GRACE)
            try:
                send(("ready", event.name, ruleset.settings.fail_mode(event.name), deadline, db_path,
                      event.agent_session, event.tool, timeout, hook.answer_deadline(timeout, started)))
            except OSError:
                pass  # the client is gone: nothing will be committed (policy.hook.watch_client)

        try:
            out, err, code, delay, timeout = hook.answer_event(
                raw, options, problem, environ, now=now, utc_offset=offset, started=started, cwd=cwd,
                on_ready=ready, rules_loader=resources.rulesets.load, store_opener=resources.store,
                keep_store=True)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    send(("answer", out, err, code, delay, hook.answer_deadline(timeout, started)))
    hook.after_answer()  # the `http` effect's requests: the client has its answer


class _Bytes:
    """`read_event` over bytes already read (the client read stdin up to the same ceiling)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int) -> bytes:
        return self.data[:size]




def fall_back(argv: list[str], raw: bytes | None, started: float, ready: tuple[Any, ...] | None, *,
              start_server: bool) -> None:
    """The hook client's way when no server answered (policy/client.py): run the hook in this process as
    `policy-hook` does, with the event it has read already, if any; once answered, start a server for the next
    event. When a server took the event and stopped answering after the evaluation deadline (the server ends a
    worker there), the answer is the fail mode the server named, as the hook's own watchdog gives it."""
    import io

    from policy import hook

    if ready is not None and time.perf_counter() >= ready[3]:
        options = hook.parse_options(argv, strict=False)
        out, err, code, _ = hook._watchdog_failure(hook.deadline_error(ready[7]), ready[:8], options,
                                                   now=time.time(), started=started)
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    hook.run(argv, stdin=io.BytesIO(raw) if raw is not None else None, started=started,
             after=(lambda: start_in_background(os.environ)) if start_server else None)


def start_in_background(environ: Mapping[str, str]) -> int | None:
    """Start `policy serve` detached from this process (its own session, stdin from /dev/null, output to
    serve.log in the state directory), for the hook client. The pid, or None when it could not be started. A
    second server for the same installation exits at once (the lock in `serve`)."""
    from policy.store import state_dir

    if not supported():
        return None
    try:
        directory = state_dir(environ)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        log = os.open(os.path.join(directory, "serve.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return None
    try:
        return os.posix_spawn(interpreter(), [interpreter(), "-m", "policy", "serve"], dict(environ),
                              file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                            (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)],
                              setsid=True)
    except OSError:
        return None
    finally:
        os.close(log)


# ---- asking a server ---------------------------------------------------------------------------------------------

def ask(environ: Mapping[str, str], request: tuple[Any, ...], *, wait: float = 2.0) -> tuple[Any, ...] | None:
    """Send a request other than an event ("status", "stop") to this installation's server; its reply, or None
    when no server answers."""
    sock = client.connect(socket_path(environ), wait) if supported() else None
    if sock is None:
        return None
    try:
        sock.settimeout(wait)
        client.send(sock, request)
        reply = client.receive(sock)
    except OSError:
        reply = None
    finally:
        sock.close()
    return reply if isinstance(reply, tuple) else None


def server_status(environ: Mapping[str, str]) -> dict[str, Any] | None:
    reply = ask(environ, ("status",))
    return reply[1] if reply is not None and reply[0] == "status" else None


# ---- the server --------------------------------------------------------------------------------------------------

def serve(environ: Mapping[str, str], *, idle_timeout: float = IDLE_TIMEOUT, workers: int = WORKERS,
          log: Any = None, http_port: int | None = None) -> int:
    """Run the server until it is stopped or idle (the supervisor). Returns the exit code. `http_port` (else the
    one `policy install --transport http` wrote, `http_port_configured`): also answer Claude Code's http hooks
    on 127.0.0.1 at that port; the server then never exits for being idle (a down server blocks every call)."""
    import fcntl
    import mmap
    import select
    import signal
    import socket

    log = log or (lambda text: (sys.stderr.write(f"policy serve: {text}\n"), sys.stderr.flush()))
    if not supported():
        raise ServeError("`policy serve` needs a Unix socket whose peer can be checked (Linux's SO_PEERCRED)",
                         code="serve-unsupported", hint="hooks evaluate in-process on this platform")
    directory = private_runtime_dir(environ)
    path = socket_path(environ)
    lock = os.open(path[:-len(".sock")] + ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if not _lock(fcntl, lock, wait=3.0) or ask(environ, ("status",), wait=0.5) is not None:
            running = server_status(environ)
            raise ServeError(f"a server already answers on {path}"
                             + (f" (pid {running['pid']})" if running else ""), code="server-running",
                             hint="`policy serve status` shows it; `policy serve stop` stops it")
        try:
            os.unlink(path)  # a socket left by a server that was killed
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)
            listener.listen(64)
        except OSError as error:
            listener.close()
            raise ServeError(f"cannot listen on {path}: {error.strerror or error}", code="serve-socket",
                             hint="set XDG_RUNTIME_DIR to a shorter directory of your own (a socket's path "
                                  "is at most 107 bytes)") from None
        identity = _file_identity(path)
        http_port = http_port if http_port is not None else http_port_configured(environ)
        web = _http_listener(http_port, listener) if http_port else None
        if web is not None:
            idle_timeout = float("inf")
        started_at = time.time()
        sources = source_paths()
        own = (sources, fingerprint(sources))
        counters = mmap.mmap(-1, 8 * workers)  # per worker: events answered (shared with the workers)
        notify_read, notify_write = os.pipe()
        stopping: list[str] = []

        def stop(signum: int, frame: Any) -> None:
            stopping.append(signal.Signals(signum).name)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        info = {"pid": os.getpid(), "version": __version__, "socket": path, "started": started_at,
                "workers": workers, "idle_timeout": idle_timeout if idle_timeout != float("inf") else None,
                "interpreter": interpreter(), "http_port": http_port if web is not None else None}
        children: dict[int, int] = {}

        def spawn(slot: int) -> None:
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.close(notify_read)
                    _worker(listener, web, notify_write, counters, slot, own, info, dict(environ))
                except BaseException:  # noqa: BLE001 - a worker ends quietly; the supervisor starts another
                    code = 1
                finally:
                    os._exit(code)
            children[pid] = slot

        _preload()
        listener.setblocking(False)
        for slot in range(workers):
            spawn(slot)
        log(f"serving {path}" + (f" and http://127.0.0.1:{http_port}/" if web is not None else "")
            + f" (pid {os.getpid()}, {workers} workers, idle timeout "
            + (f"{idle_timeout:g} s)" if web is None else "none: http hooks need it)"))
        last_event = time.monotonic()
        reason = ""
        while not reason:
            if stopping:
                reason = f"stopped ({stopping[0]})"
                break
            wait = max(0.0, min(SUPERVISOR_TICK, last_event + idle_timeout - time.monotonic()))
            try:
                readable = select.select([notify_read], [], [], wait)[0]
            except InterruptedError:
                continue
            if readable:
                signals = os.read(notify_read, 4096)
                last_event = time.monotonic()
                if b"S" in signals:
                    reason = "the installed policy changed: this server is stale"
                elif b"Q" in signals:
                    reason = "stopped (policy serve stop)"
            if not reason and time.monotonic() >= last_event + idle_timeout:
                reason = f"idle for {idle_timeout:g} s"
            if not reason and _file_identity(path) != identity:
                reason = f"{path} was removed or replaced"
            while True:  # workers that ended (the deadline's timer, a crash): others take their place
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                slot = children.pop(pid, None)
                if slot is not None and not reason and not stopping:
                    spawn(slot)
        log(f"exiting: {reason}")
        if _file_identity(path) == identity:
            os.unlink(path)
        listener.close()
        if web is not None:
            web.close()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        _reap(children, wait=5.0)
        return 0
    finally:
        os.close(lock)


def _preload() -> None:
    """Import what deciding an event imports, once, before the workers are forked (they share it)."""
    import policy.adapters.claude_code  # noqa: F401
    import policy.adapters.claude_settings  # noqa: F401
    import policy.effects  # noqa: F401
    import policy.engine  # noqa: F401
    import policy.facts  # noqa: F401
    import policy.hook  # noqa: F401
    import policy.store  # noqa: F401


def _lock(fcntl: Any, descriptor: int, *, wait: float) -> bool:
    """The installation's server lock (one server per socket), waiting up to `wait` s for a server that exits."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _reap(children: dict[int, int], *, wait: float) -> None:
    import signal

    deadline = time.monotonic() + wait
    while children and time.monotonic() < deadline:
        for pid in list(children):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    children.pop(pid)
            except ChildProcessError:
                children.pop(pid)
        time.sleep(0.01)
    for pid in children:  # a worker still busy past the wait: its client evaluates in-process
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _worker(listener: Any, web: Any, notify: int, counters: Any, slot: int, own: tuple[Any, ...],
            info: dict[str, Any], environ: dict[str, str]) -> None:
    """One worker: accept, answer, repeat, until the supervisor ends it (SIGTERM: after the event in hand).
    `web`: the http hooks' listener, or None; `environ`: the server's own environment, for http hooks (which
    bring none)."""
    import select
    import signal

    from policy import hook

    busy, ending = [False], [False]

    def end(signum: int, frame: Any) -> None:
        ending[0] = True
        if not busy[0]:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (Ctrl-C reaches the supervisor, which ends the workers)
    resources = Resources()
    from policy.boards.postgres import hold_connections_with

    hold_connections_with(resources.held)  # the team's shared store: one connection per worker, kept across events
    try:
        listeners = [listener] if web is None else [listener, web]
        while not ending[0]:
            try:
                ready = select.select(listeners, [], [])[0]
                connection, _ = ready[0].accept()  # (the listeners do not block: another worker may have it)
            except (BlockingIOError, InterruptedError):
                continue
            connection.setblocking(True)
            busy[0] = True
            try:
                if ready[0] is web:
                    flag = _serve_http(connection, resources, own, counters, slot, environ)
                else:
                    flag = _serve_connection(connection, resources, own, info, counters, slot)
            except Exception:
                flag = b"."
            finally:
                hook.watch_client(None)
                connection.close()
                busy[0] = False
            os.write(notify, flag)
            if flag == b"S" or ending[0]:
                break
    finally:
        resources.close()


def _serve_connection(connection: Any, resources: Resources, own: tuple[Any, ...], info: dict[str, Any],
                      counters: Any, slot: int) -> bytes:
    """One client: the checks, the hello, the request. What to tell the supervisor: b"." (an event or a
    question), b"S" (this installation changed: the server is stale), b"Q" (stop)."""
    from policy import hook

    if client.peer_uid(connection) != os.getuid():
        return b"."  # another user's process: closed without a word
    if fingerprint(own[0]) != own[1]:
        client.send(connection, ("stale", "the installed policy changed since this server started"))
        return b"S"
    client.send(connection, ("hello", client.PROTOCOL, os.getpid()))
    connection.settimeout(REQUEST_WAIT)
    request = client.receive(connection)
    if not isinstance(request, tuple) or not request:
        return b"."
    connection.settimeout(None)
    kind = request[0]
    if kind == "status":
        answered = sum(int.from_bytes(counters[index * 8:index * 8 + 8], "little")
                       for index in range(len(counters) // 8))
        client.send(connection, ("status", {**info, "decisions": answered, "uptime": time.time() - info["started"]}))
        return b"."
    if kind == "stop":
        client.send(connection, ("stopping", info["pid"]))
        return b"Q"
    if kind != "eval" or len(request) != 7:
        return b"."

    hook.watch_client(lambda: _gone(connection))
    _count(counters, slot)
    answer_request(request, resources, lambda message: client.send(connection, message))
    return b"."


def _gone(connection: Any) -> bool:
    """Whether the client at the other end has closed the connection (it sends nothing after its request)."""
    import socket

    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _count(counters: Any, slot: int) -> None:
    """One more event taken by this worker (counted when taken: an event whose worker the deadline ended was
    decided all the same, in the fail mode)."""
    offset = slot * 8
    counters[offset:offset + 8] = (int.from_bytes(counters[offset:offset + 8], "little") + 1).to_bytes(8, "little")


# ---- Claude Code's http hooks ------------------------------------------------------------------------------------
# `policy install --transport http` (docs/serve.md#http-hooks): Claude Code POSTs the event to
# http://127.0.0.1:<port>/<agent> and reads the response body as a command hook's stdout. The peer's uid is read
# from the kernel's table of TCP sockets (Linux's /proc/net/tcp): only this user's processes get an answer.

HTTP_PORT_FILE = "serve-http.json"
MAX_HTTP_BODY = client.MAX_EVENT_BYTES


def http_port_file(environ: Mapping[str, str]) -> str:
    from policy.store import state_dir

    return os.path.join(state_dir(environ), HTTP_PORT_FILE)


def http_port_configured(environ: Mapping[str, str]) -> int | None:
    """The port `policy install --transport http` wrote, or None."""
    import json

    try:
        with open(http_port_file(environ), encoding="utf-8") as handle:
            port = json.load(handle).get("port")
    except (OSError, ValueError, AttributeError):
        return None
    return port if isinstance(port, int) and 0 < port < 65536 else None


def _http_listener(port: int, unix_listener: Any) -> Any:
    import socket

    web = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    web.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        web.bind(("127.0.0.1", port))
        web.listen(64)
    except OSError as error:
        web.close()
        unix_listener.close()
        raise ServeError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}", code="serve-socket",
                         hint="another program has the port: choose another with `policy install --transport "
                              "http --port N`") from None
    web.setblocking(False)
    return web


def tcp_peer_uid(connection: Any) -> int | None:
    """The uid that owns the other end of a TCP connection on this machine (IPv4), from /proc/net/tcp."""
    import socket

    peer_host, peer_port = connection.getpeername()[:2]
    local_host, local_port = connection.getsockname()[:2]

    def entry(host: str, port: int) -> str:
        return "%08X:%04X" % (int.from_bytes(socket.inet_aton(host), "little"), port)

    wanted = (entry(peer_host, peer_port), entry(local_host, local_port))
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if len(fields) > 7 and (fields[1], fields[2]) == wanted:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def _serve_http(connection: Any, resources: Resources, own: tuple[Any, ...], counters: Any, slot: int,
                environ: dict[str, str]) -> bytes:
    """One http hook request: POST /<agent> with the event as its body; the answer as the response body. The
    delay is slept before responding (Claude Code waits for the response as it waits for a command's exit)."""
    import json

    from policy import hook
    from policy.adapters import ADAPTERS
    from policy.adapters.claude_code import http_body
    from policy.model import HookOutput

    if tcp_peer_uid(connection) != os.getuid():
        return b"."
    connection.settimeout(REQUEST_WAIT)
    request = _read_http(connection)
    if request is None:
        return b"."
    path, raw = request
    connection.settimeout(None)  # (blocking again: `_gone` peeks without waiting)
    agent = path.strip("/")
    if agent not in ADAPTERS:
        _respond(connection, 404, b"")
        return b"."
    if fingerprint(own[0]) != own[1]:  # a stale server does not answer; nothing else can (an http hook has no fall-back)
        _respond(connection, 503, b"policy serve is stale: restart it (policy serve stop; policy serve)\n")
        return b"S"
    try:
        named = json.loads(raw)
        cwd, named = named.get("cwd"), named.get("hook_event_name")
    except (ValueError, AttributeError):
        cwd = named = None
    cwd = cwd if isinstance(cwd, str) and os.path.isdir(cwd) else os.getcwd()
    _count(counters, slot)
    started = time.perf_counter()
    answers: list[tuple[Any, ...]] = []
    hook.watch_client(lambda: _gone(connection))
    environ_bytes = {os.fsencode(key): os.fsencode(value) for key, value in environ.items()}
    answer_request(("eval", ["--agent", agent], cwd, environ_bytes, raw, time.time(), started), resources,
                   answers.append)
    ready = next((message for message in answers if message[0] == "ready"), None)
    _, out, err, code, delay, answer_deadline = answers[-1]
    event_name = ready[1] if ready is not None else named if isinstance(named, str) else ""
    body = http_body(event_name, HookOutput(stdout=out.decode(errors="replace"), stderr=err.decode(
        errors="replace"), exit_code=code))
    if delay > 0:
        time.sleep(min(delay, max(0.0, answer_deadline - time.perf_counter())))
    _respond(connection, 200, body)
    return b"."


def _read_http(connection: Any) -> tuple[str, bytes] | None:
    """(path, body) of a `POST` request, or None (anything else is answered 400/405 here)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk or len(data) > 65536:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "POST":
        _respond(connection, 405, b"")
        return None
    headers = {name.strip().lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines[1:])}
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        _respond(connection, 411, b"")
        return None
    if not 0 <= length <= MAX_HTTP_BODY:
        _respond(connection, 413, b"")
        return None
    while len(body) < length:
        chunk = connection.recv(min(1 << 20, length - len(body)))
        if not chunk:
            return None
        body += chunk
    return parts[1].partition("?")[0], body[:length]


def _respond(connection: Any, status: int, body: bytes) -> None:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
               413: "Content Too Large", 503: "Service Unavailable"}
    head = (f"HTTP/1.1 {status} {reasons[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    try:
        connection.sendall(head.encode() + body)
    except OSError:
        pass
