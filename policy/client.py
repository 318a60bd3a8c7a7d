"""The hook client: the command `policy install` writes, `<python> -I -S …/policy/client.py --agent claude-code`.

It asks the resident evaluator (`policy serve`, policy/server.py) for the answer, and when none answers it runs
the hook in this process exactly as `policy-hook` does. `-I -S` skips `site` and the environment's PYTHON*
variables, and this file imports nothing but what a bare interpreter has already loaded (`sys`, `posix`, `time`,
`marshal`) and the `_socket` extension, so that asking a server costs less than starting a bare `python -c pass`
(docs/performance.md). Only on the way in-process does it import `site` and policy.

One exchange per connection, each message a 4-byte little-endian length and a marshal value:

    server → client   ("hello", PROTOCOL, pid)            as soon as a worker has accepted (or ("stale", why))
    client → server   ("eval", argv, cwd, environ, event, now, started)
    server → client   ("ready", event, fail mode, evaluation deadline, db, session, tool, timeout, answer deadline)
    server → client   ("answer", stdout, stderr, exit code, delay, answer deadline)

Never fail open: no server, a server that does not say hello within CONNECT_WAIT, one that is not this user's
or not this installation's (the socket's name is derived from the interpreter and this file's path, and the
server refuses to answer once its own code has changed) — the event is evaluated here. A server that dies after
taking the event: evaluated here too, unless the evaluation deadline has passed (the server stops a worker at
it), in which case the answer is the fail mode, as the hook's own watchdog gives (policy.server.fall_back).

The server imports this module for the names and the framing, so that both sides share one definition.
"""

import marshal
import posix
import sys
import time

import _socket

PROTOCOL = 1
CONNECT_WAIT = 0.02  # seconds: how long a server may take to say hello before the event is evaluated here
READY_WAIT = 60.0  # seconds: how long the server may take to load the rules (the hook's default timeout)
MAX_EVENT_BYTES = 64 * 1024 * 1024  # policy.hook.MAX_EVENT_BYTES_CEILING (a test keeps them equal)
MAX_MESSAGE_BYTES = MAX_EVENT_BYTES + 16 * 1024 * 1024  # the event, its environment and argv, framed
SOCKET_PREFIX = "serve-"


def installation_tag(executable: str, client_file: str) -> str:
    """A short stable name for one installation: the interpreter's directory (a virtualenv's `bin`, whichever
    of its `python`, `python3` started) and version, and this copy of policy; FNV-1a, 64 bits."""
    value = 0xCBF29CE484222325
    key = executable.rpartition("/")[0] + "\0" + sys.version + "\0" + client_file
    for byte in key.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % value


def runtime_dir(getenv) -> str:
    """Where the server's socket lives: `$XDG_RUNTIME_DIR/policy`, else a private directory in /tmp."""
    base = getenv("XDG_RUNTIME_DIR")
    if base and base.startswith("/"):
        return base.rstrip("/") + "/policy"
    return "/tmp/policy-%d" % posix.getuid()


def socket_path(getenv, executable: str, client_file: str) -> str:
    return runtime_dir(getenv) + "/" + SOCKET_PREFIX + installation_tag(executable, client_file) + ".sock"


def is_private_dir(path: str) -> bool:
    """Whether `path` is a directory (not a symlink) of this user that no one else may enter."""
    try:
        info = posix.lstat(path)
    except OSError:
        return False
    return info.st_mode & 0o170000 == 0o040000 and info.st_uid == posix.getuid() and not info.st_mode & 0o077


def peer_uid(sock) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux's SO_PEERCRED), None where unknown."""
    option = getattr(_socket, "SO_PEERCRED", None)
    if option is None:
        return None
    credentials = sock.getsockopt(_socket.SOL_SOCKET, option, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(credentials[4:8], sys.byteorder)


def send(sock, message) -> None:
    data = marshal.dumps(message)
    sock.sendall(len(data).to_bytes(4, "little") + data)


def receive(sock, limit: int = MAX_MESSAGE_BYTES):
    """One message, or None when the connection ends first, times out or the message is too large."""
    try:
        header = _exactly(sock, 4)
        if header is None:
            return None
        size = int.from_bytes(header, "little")
        if size > limit:
            return None
        data = _exactly(sock, size)
        return marshal.loads(data) if data is not None else None
    except (OSError, ValueError, EOFError, TypeError):
        return None


def _exactly(sock, size: int):
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def connect(path: str, wait: float = CONNECT_WAIT):
    """A connection to the server at `path` that has said hello within `wait` seconds, or None."""
    directory = path.rpartition("/")[0]
    if not is_private_dir(directory):
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(wait)
        sock.connect(path)
        if peer_uid(sock) != posix.getuid():
            sock.close()
            return None
        hello = receive(sock, 1 << 16)
    except OSError:
        sock.close()
        return None
    if type(hello) is not tuple or hello[:2] != ("hello", PROTOCOL):
        sock.close()
        return None
    return sock


def _getenv(name: str):
    value = posix.environ.get(name.encode())
    return value.decode("utf-8", "surrogateescape") if value is not None else None


def main() -> None:
    started = time.perf_counter()
    now = time.time()
    argv = sys.argv[1:]
    here = __file__
    sock = None
    serverless = _getenv("POLICY_NO_SERVER") == "1" or getattr(_socket, "SO_PEERCRED", None) is None
    if not serverless:
        sock = connect(socket_path(_getenv, sys.executable, here))
    if sock is None:
        return _in_process(here, argv, None, started, None, start_server=not serverless)
    raw = sys.stdin.buffer.read(MAX_EVENT_BYTES + 1)
    ready = answer = None
    try:
        sock.settimeout(READY_WAIT)
        send(sock, ("eval", argv, posix.getcwd(), dict(posix.environ), raw, now, started))
        while answer is None:
            message = receive(sock)
            if type(message) is not tuple or not message:
                break
            if message[0] == "ready" and len(message) == 9:
                ready = message
                sock.settimeout(max(0.001, message[8] - time.perf_counter()))
            elif message[0] == "answer" and len(message) == 6:
                answer = message
            else:
                break
    except Exception:  # (a working directory that is gone, a connection reset, ...): decided here instead
        pass
    sock.close()
    if answer is None:
        return _in_process(here, argv, raw, started, ready, start_server=False)
    _, out, err, code, delay, answer_deadline = answer
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.buffer.flush()
    if delay > 0:  # slept after the answer, and never past the host's timeout
        time.sleep(min(delay, max(0.0, answer_deadline - time.perf_counter())))
    posix._exit(code)


def _in_process(here: str, argv, raw, started: float, ready, *, start_server: bool) -> None:
    """Evaluate here, as `policy-hook` does (policy.server.fall_back): `site` first, then policy from the
    directory this file is in."""
    import gc

    gc.disable()  # as scripts/policy-hook
    import site

    site.main()
    package_parent = here.rpartition("/")[0].rpartition("/")[0] or "/"
    if package_parent not in sys.path:
        sys.path.insert(0, package_parent)
    from policy.server import fall_back

    fall_back(argv, raw, started, ready, start_server=start_server)


if __name__ == "__main__":
    main()
