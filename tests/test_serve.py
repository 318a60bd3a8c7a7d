"""`policy serve` and the hook client (policy/client.py), as real processes: the installed command answers with
no server, starts one, and later events go through it; the server answers byte for byte as `policy eval` does;
killing it loses no decision and lets no denied call through; a stale server is never used; another user's
process gets no answer; concurrent clients lose no row; the deadline holds per decision inside the server."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from adversarial import bash, rule
from conftest import BIN, CLIENT, IS_ROOT, POLICY, ROOT, all_event_files, event_payload, write

from policy import client
from policy.commands import install

RULES = """
version: 1
pack: guard
rules:
  - id: no-force-push
    events: PreToolUse
    tools: [Bash]
    match: {tool_input.command: 'git push (-f|--force)'}
    decision: deny
    reason: "No force-push ({{ event.tool_use_id }})."
  - id: log-attempt
    events: PreToolUse
    do:
      - record: {table: attempts, values: {tool_use_id: "{{ event.tool_use_id }}"}}
"""
DENIED = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                 "permissionDecisionReason": "No force-push (toolu_{n})."}}
# Every run of the installed command in these tests ends in well under this (a server or not).
RUN_TIMEOUT = 60
# A socket's path is at most 107 bytes: the runtime directory is a short one in /tmp, not under tmp_path.
CLIENT_WORDS = shlex.split(install.hook_handler()["command"])


@pytest.fixture
def served(env):
    """`env` with a runtime directory of its own and the hook client allowed to use (and start) a server;
    whatever server it started is stopped at the end."""
    runtime = Path(tempfile.mkdtemp(prefix="policy-t-", dir="/tmp"))
    os.chmod(runtime, 0o700)
    env.vars["XDG_RUNTIME_DIR"] = str(runtime)
    env.vars.pop("POLICY_NO_SERVER")
    write(env.root / "policy.yaml", "rules: [rules.yaml]\n")
    write(env.root / "rules.yaml", RULES)
    yield env
    # (servers that clients started while one was busy wait for its lock and may take over once it is stopped;
    # any left when the directory goes exit by themselves: their socket file is gone)
    _wait_for(lambda: env.run("serve", "stop").stdout == b"no server was running\n", seconds=10)
    shutil.rmtree(runtime, ignore_errors=True)


def push(n: int, command: str = "git push --force origin main", cwd: object = "/home/dev/shop") -> bytes:
    """A PreToolUse Bash event. (A command hook's config is found from the hook's working directory; an http
    hook's, which has none, from the payload's `cwd`: the http tests name the test's project there.)"""
    data = event_payload("PreToolUse-Bash")
    data.update(cwd=str(cwd), tool_use_id=f"toolu_{n}")
    data["tool_input"]["command"] = command
    return json.dumps(data).encode()


def denial(n: int) -> dict:
    return json.loads(json.dumps(DENIED).replace("{n}", str(n)))


def run_client(env, payload: bytes, *args: str, extra_env: dict[str, str] | None = None,
               **kwargs) -> subprocess.CompletedProcess:
    """The installed hook command (`policy install`'s words), run as Claude Code runs it."""
    return subprocess.run([*CLIENT_WORDS, *args], input=payload, capture_output=True, cwd=str(env.root),
                          env={**env.vars, **(extra_env or {})}, timeout=RUN_TIMEOUT, **kwargs)


def server_status(env) -> dict | None:
    """What the server of `env` says about itself (asked from this process, as `policy serve status` asks)."""
    from policy import server

    return server.server_status(env.vars)


def start_server(env, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([str(POLICY), "serve", "--workers", "2", *args], env=env.vars, cwd=str(env.root),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    assert _wait_for(lambda: server_status(env) is not None, seconds=30), process.stderr
    return process


def _wait_for(condition, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def attempts(env) -> list[str]:
    return [row["tool_use_id"] for row in env.rows("SELECT tool_use_id FROM attempts ORDER BY rowid")]


def through_server(env, payload: bytes, *args: str, tries: int = 5) -> subprocess.CompletedProcess:
    """Run the client until the server has answered one of its runs (a run whose hello takes longer than
    CONNECT_WAIT on a loaded machine is evaluated in-process instead, which is also right, but not what a test
    of the server is about). Every run's answer is checked by the caller through the log."""
    for _ in range(tries):
        before = server_status(env)["decisions"]
        done = run_client(env, payload, *args)
        if server_status(env)["decisions"] == before + 1:
            return done
    raise AssertionError(f"the server answered none of {tries} runs")


def test_the_first_call_works_without_a_server_and_starts_one_that_answers_later_calls(served):
    assert server_status(served) is None
    first = run_client(served, push(1))
    assert (first.returncode, json.loads(first.stdout), first.stderr) == (0, denial(1), b"")
    assert _wait_for(lambda: server_status(served) is not None, seconds=30), (served.state / "policy" /
                                                                               "serve.log").read_text()
    status = server_status(served)
    assert (status["decisions"], status["version"]) == (0, __import__("policy").__version__)
    second = through_server(served, push(2))
    assert (second.returncode, json.loads(second.stdout), second.stderr) == (0, denial(2), b"")
    assert attempts(served)[0] == "toolu_1" and attempts(served)[-1] == "toolu_2"
    assert set(attempts(served)) == {"toolu_1", "toolu_2"}
    rows = served.rows("SELECT tool, verdict, rule_ids FROM decisions ORDER BY id")
    assert {(row["tool"], row["verdict"], row["rule_ids"]) for row in rows} == {
        ("Bash", "deny", '["guard/no-force-push","guard/log-attempt"]')}
    line = served.run_text("status").stdout.splitlines()[-1]
    assert line.startswith(f"server: answering on {client.runtime_dir(served.vars.get)}/serve-")


def test_the_server_answers_every_example_event_byte_for_byte_as_policy_eval(served, tmp_path):
    """The shipped packs and the test rules, every payload of examples/events, at a fixed time: once through
    the server, once by `policy eval` in a second environment with the same files; stdout, stderr and exit code
    equal, and the same decisions logged."""
    from conftest import Env, isolated_vars

    config = '{"version": 1, "packs": ["focus", "presence", "pacing", "activity"], "rules": ["%s"]}\n'
    twin = Env(tmp_path / "twin" / "work", isolated_vars(tmp_path / "twin"))
    for environment in (served, twin):
        environment.root.mkdir(parents=True, exist_ok=True)
        write(environment.config / "policy" / "config.yaml", config % (environment.root / "rules.yaml"))
        write(environment.root / "rules.yaml", RULES)
    (served.root / "policy.yaml").unlink()
    start_server(served)
    files = all_event_files()
    for path in files:
        payload = path.read_bytes()
        args = ("--agent", "claude-code", "--now", "2026-12-03T10:00:00+01:00")
        ours = through_server(served, payload, *args)
        theirs = twin.run("eval", *args, stdin=payload)
        assert (ours.stdout, ours.stderr, ours.returncode) == (theirs.stdout, theirs.stderr, theirs.returncode), \
            path.name
    query = "SELECT event, tool, verdict, rule_ids, reason, effects, error FROM decisions ORDER BY id"
    assert served.rows(query) == twin.rows(query)
    assert len(served.rows(query)) >= len(files) - 5  # (events no rule is for log nothing on either side)


def test_killing_the_server_between_and_during_events_loses_no_decision_and_lets_nothing_through(served):
    process = start_server(served)
    assert json.loads(through_server(served, push(1)).stdout) == denial(1)
    os.killpg(process.pid, signal.SIGKILL)  # the supervisor and its workers; the socket file stays behind
    process.wait()
    second = run_client(served, push(2))
    assert (second.returncode, json.loads(second.stdout)) == (0, denial(2))
    assert _wait_for(lambda: server_status(served) is not None, seconds=30)  # the client started a new one
    assert json.loads(through_server(served, push(3)).stdout) == denial(3)
    assert sorted(set(attempts(served))) == ["toolu_1", "toolu_2", "toolu_3"]

    # During an event: a worker stuck in one C call (a backtracking regex) when the whole server is killed. The
    # client sees the connection end after "ready", before the deadline, and evaluates in-process: the hook's
    # own watchdog then answers in the fail mode (closed for PreToolUse), and the failure is logged once.
    write(served.root / "rules.yaml", rule("matches('^(x+x+)+y$', input.command)"))
    status = server_status(served)
    with ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(run_client, served, bash("x" * 64), "--timeout", "3")
        time.sleep(1.0)
        os.killpg(os.getpgid(status["pid"]), signal.SIGKILL)
        answer = stuck.result()
    assert (answer.returncode, answer.stdout) == (2, b"")
    assert answer.stderr.decode().startswith(
        "policy: deadline: the evaluation did not finish in time (the hook's timeout is 3s)")
    failures = served.rows("SELECT verdict, error FROM decisions WHERE agent_session = 'agent-1'")
    assert failures == [{"verdict": None, "error": "deadline: the evaluation did not finish in time (the hook's "
                                                   "timeout is 3s)"}]


def test_the_deadline_holds_per_decision_inside_the_server(served):
    """A worker past the evaluation deadline is ended by the kernel's timer; the client answers in the fail mode,
    byte for byte as the hook's own watchdog does; the server starts another worker and answers the next event."""
    write(served.root / "rules.yaml", rule("matches('^(x+x+)+y$', input.command)"))
    start_server(served)
    payload = bash("x" * 64)
    ours = through_server(served, payload, "--timeout", "3")
    theirs = served.run("eval", "--timeout", "3", stdin=payload, extra_env={"POLICY_NO_SERVER": "1"})
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.returncode == 2 and ours.stderr.startswith(b"policy: deadline: ")
    write(served.root / "rules.yaml", RULES)  # (an edited rule file is picked up by the next event)
    assert json.loads(through_server(served, push(7)).stdout) == denial(7)
    errors = [row["error"] for row in served.rows("SELECT error FROM decisions ORDER BY id")]
    assert errors == ["deadline: the evaluation did not finish in time (the hook's timeout is 3s)"] * 2 + [None]


def test_a_stale_server_is_never_used(served):
    """Once the installed code changes, the server answers no event and exits; the client evaluates in-process.
    (Rules are checked on every event: an edited rule file is not staleness but the next event's rules.)"""
    process = start_server(served)
    assert json.loads(through_server(served, push(1)).stdout) == denial(1)
    write(served.root / "rules.yaml", RULES.replace("No force-push", "Never force-push"))
    assert json.loads(through_server(served, push(2)).stdout)["hookSpecificOutput"][
        "permissionDecisionReason"] == "Never force-push (toolu_2)."
    source = Path(CLIENT)
    before = source.stat()
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        third = run_client(served, push(3))
        assert json.loads(third.stdout)["hookSpecificOutput"]["permissionDecisionReason"] == \
            "Never force-push (toolu_3)."
        assert process.wait(timeout=30) == 0
        assert process.stderr.read().decode().splitlines()[-1] == \
            "policy serve: exiting: the installed policy changed: this server is stale"
        # the client started a server of the installed code in its place
        assert _wait_for(lambda: (server_status(served) or {}).get("pid") not in (None, process.pid), seconds=30)
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert sorted(set(attempts(served))) == ["toolu_1", "toolu_2", "toolu_3"]


@pytest.mark.skipif(not IS_ROOT, reason="needs root to run a process as another user")
def test_another_users_process_gets_no_answer_and_a_directory_others_can_enter_is_not_used(served):
    start_server(served)
    path = served.run("serve", "status", "--json")
    socket_file = json.loads(path.stdout)["socket"]
    directory = os.path.dirname(socket_file)
    os.chmod(served.vars["XDG_RUNTIME_DIR"], 0o755)
    os.chmod(directory, 0o755)
    os.chmod(socket_file, 0o666)
    assert connect_as_another_user(socket_file) == "answer: b''"  # closed without a word
    # The owner's own client no longer trusts the directory either: the event is evaluated in-process.
    before = server_status(served)
    assert before is None  # (`policy serve status` is a client too)
    done = run_client(served, push(4))
    assert json.loads(done.stdout) == denial(4)
    os.chmod(directory, 0o700)
    assert server_status(served)["decisions"] == 0


def connect_as_another_user(path: str, uid: int = 65534) -> str:
    """Connect to the socket at `path` from a process running as `uid` (forked, so that it needs to run nothing
    that user may not read), and say what it received."""
    import socket

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            sock.connect(path)
            os.write(writer, f"answer: {sock.recv(100)!r}".encode())
        except BaseException as error:  # noqa: BLE001
            os.write(writer, f"error: {error}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as handle:
        said = handle.read().decode()
    os.waitpid(pid, 0)
    return said


def test_concurrent_clients_through_the_server_lose_no_row(served):
    start_server(served, "--workers", "4")
    payloads = [(n, push(n) if n % 2 else push(n, "ls -la")) for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda item: (item[0], run_client(served, item[1])), payloads))
    for n, done in results:
        assert done.returncode == 0 and done.stderr == b"", done.stderr
        assert (json.loads(done.stdout) if done.stdout else None) == (denial(n) if n % 2 else None)
    assert sorted(attempts(served)) == sorted(f"toolu_{n}" for n in range(40))
    assert len(served.rows("SELECT id FROM decisions")) == 40
    assert server_status(served)["decisions"] > 0


def test_serve_status_and_stop(served):
    assert served.run_text("serve", "status").stdout == (
        f"no server answers on {json.loads(served.run('serve', 'status', '--json').stdout)['socket']}: hooks "
        "evaluate in-process\n")
    assert served.run("serve", "status").returncode == 1
    process = start_server(served)
    shown = served.run_text("serve", "status")
    assert shown.returncode == 0 and shown.stdout.startswith("policy serve: answering on ")
    assert f"(pid {process.pid}, policy " in shown.stdout
    again = served.run_text("serve")
    assert (again.returncode, again.stderr) == (1, (
        f"policy: server-running: a server already answers on {server_status(served)['socket']} (pid "
        f"{process.pid})\n    hint: `policy serve status` shows it; `policy serve stop` stops it\n"))
    stopped = served.run_text("serve", "stop")
    assert stopped.stdout == f"stopped the server (pid {process.pid})\n"
    assert process.wait(timeout=30) == 0
    assert not os.path.exists(server_status_socket(served))
    assert served.run_text("serve", "stop").stdout == "no server was running\n"


def server_status_socket(env) -> str:
    return json.loads(env.run("serve", "status", "--json").stdout)["socket"]


def test_an_idle_server_exits(served):
    process = start_server(served, "--idle-timeout", "1")
    assert process.wait(timeout=30) == 0
    assert "exiting: idle for 1 s" in process.stderr.read().decode()


def test_the_client_imports_only_what_a_bare_interpreter_has_and_socket(served):
    start_server(served)
    bare = subprocess.run([CLIENT_WORDS[0], "-I", "-S", "-X", "importtime", "-c", "pass"], capture_output=True,
                          timeout=RUN_TIMEOUT)
    at_start = {line.rsplit("|", 1)[-1].strip() for line in bare.stderr.decode().splitlines()
                if line.startswith("import time:")}
    for _ in range(5):
        traced = subprocess.run([CLIENT_WORDS[0], "-X", "importtime", *CLIENT_WORDS[1:]], input=push(1),
                                capture_output=True, cwd=str(served.root), env=served.vars, timeout=RUN_TIMEOUT)
        lines = traced.stderr.decode().splitlines()
        imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
        if "site" not in imported:  # answered by the server (not in-process)
            assert json.loads(traced.stdout) == denial(1)
            assert imported - at_start == {"_socket"}
            return
    raise AssertionError("the server answered none of 5 runs")


def test_the_event_size_ceiling_is_the_hooks():
    from policy.hook import MAX_EVENT_BYTES_CEILING

    assert client.MAX_EVENT_BYTES == MAX_EVENT_BYTES_CEILING


def test_the_server_refuses_a_runtime_directory_others_can_enter(env, tmp_path):
    runtime = Path(tempfile.mkdtemp(prefix="policy-t-", dir="/tmp"))
    try:
        (runtime / "policy").mkdir(mode=0o755)
        os.chmod(runtime / "policy", 0o755)
        done = env.run_text("serve", extra_env={"XDG_RUNTIME_DIR": str(runtime)})
        assert (done.returncode, done.stderr) == (1, (
            f"policy: serve-dir: {runtime}/policy is not a directory that only you can enter\n"
            f"    hint: remove it or `chmod 700 {runtime}/policy` if it is yours; policy will not serve from it\n"))
    finally:
        shutil.rmtree(runtime)


def test_the_socket_lives_in_a_private_fallback_without_xdg_runtime_dir():
    assert client.runtime_dir({}.get) == f"/tmp/policy-{os.getuid()}"
    assert client.runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}.get) == "/run/user/1000/policy"
    assert client.runtime_dir({"XDG_RUNTIME_DIR": "relative"}.get) == f"/tmp/policy-{os.getuid()}"


# ---- Claude Code's http hooks (`policy install --transport http`) ---------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, payload: bytes, path: str = "/claude-code") -> tuple[int, bytes]:
    """The event POSTed as Claude Code posts an http hook's (the event's JSON as the body)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=payload, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_http_transport_is_refused_for_rules_that_deny_unless_the_host_fails_closed(served):
    refused = served.run_text("install", "--scope", "project", "--transport", "http")
    assert (refused.returncode, refused.stderr) == (1, (
        "policy: http-fails-open: 1 rule deny (guard/no-force-push), and Claude Code lets a call through when an "
        "http hook's server is down, slow or failing\n    hint: add --host-fails-closed to write onFailure: "
        "\"block\" (Claude Code 2.1.295 or later: confirm yours with `claude --version`), or keep the command "
        "transport\n"))
    assert not (served.root / ".claude").exists()
    port = free_port()
    done = served.run_text("install", "--scope", "project", "--transport", "http", "--port", str(port),
                           "--host-fails-closed")
    assert done.returncode == 0, done.stderr
    assert f"  http:    http://127.0.0.1:{port}/claude-code on PreToolUse, onFailure: block; answered by `policy " \
           "serve`, which SessionStart starts (packs that deny: guard)" in done.stdout.splitlines()
    hooks = json.loads((served.root / ".claude" / "settings.json").read_text())["hooks"]
    assert hooks == {
        "SessionStart": [{"hooks": [{**install.hook_handler(executable=str(BIN / "python3")),
                                     "timeout": 75}]}],
        "PreToolUse": [{"matcher": "*", "hooks": [{"type": "http", "url": f"http://127.0.0.1:{port}/claude-code",
                                                   "onFailure": "block", "timeout": 75}]}]}
    assert json.loads((served.state / "policy" / "serve-http.json").read_text()) == {"port": port}
    # uninstall takes both kinds out
    assert served.run("uninstall", "--scope", "project").returncode == 0
    assert not (served.root / ".claude" / "settings.json").exists()  # (install had created it)


def test_http_hooks_are_answered_by_the_server_as_a_command_hook_would_answer(served):
    port = free_port()
    assert served.run("install", "--scope", "project", "--transport", "http", "--port", str(port),
                      "--host-fails-closed").returncode == 0
    # a new session: the SessionStart command hook finds no server, answers, and starts one with the http port
    session = run_client(served, json.dumps(event_payload("SessionStart")).encode())
    assert (session.returncode, session.stdout) == (0, b"")
    assert _wait_for(lambda: (server_status(served) or {}).get("http_port") == port, seconds=30)
    assert post(port, push(1, cwd=served.root)) == (200, json.dumps(denial(1), separators=(",", ":")).encode() + b"\n")
    assert post(port, push(2, "ls", cwd=served.root)) == (200, b"")
    in_process = served.run("eval", "--agent", "claude-code", stdin=push(3, cwd=served.root))
    assert post(port, push(3, cwd=served.root))[1] == in_process.stdout
    # a fail-closed failure (a rule file that does not load), which a command hook says with exit 2: a JSON deny
    write(served.root / "rules.yaml", "version: 1\npack: guard\nrules: [{id: x, events: [PreToolUse], when: '1 +'}]\n")
    failed = served.run("eval", "--agent", "claude-code", stdin=push(4, cwd=served.root))
    assert failed.returncode == 2
    status, body = post(port, push(4, cwd=served.root))
    assert (status, json.loads(body)) == (200, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": failed.stderr.decode().strip()}})
    assert post(port, push(5, cwd=served.root), path="/nobody") == (404, b"")
    assert sorted(set(attempts(served))) == ["toolu_1", "toolu_2", "toolu_3"]
    # doctor: the server answers, and the hooks fail closed
    lines = served.run_text("doctor").stdout.splitlines()
    assert any(line.startswith("ok    hooks   `policy serve` answers the http hooks on PreToolUse (pid ")
               for line in lines), lines


@pytest.mark.skipif(not IS_ROOT, reason="needs root to run a process as another user")
def test_http_hooks_answer_only_this_users_processes(served):
    port = free_port()
    start_server(served, "--http", str(port))
    assert post(port, push(1, cwd=served.root))[0] == 200
    body = push(2, cwd=served.root)  # (read before the fork: the checkout may be private to its owner)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            import socket

            os.setgid(65534)
            os.setuid(65534)
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /claude-code HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            os.write(writer, repr(sock.recv(100)).encode())
        except BaseException as error:  # noqa: BLE001
            os.write(writer, f"error: {error}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as handle:
        said = handle.read().decode()
    os.waitpid(pid, 0)
    assert said in ("b''", "error: [Errno 104] Connection reset by peer")  # closed without an answer
    assert attempts(served) == ["toolu_1"]


def test_doctor_says_which_packs_http_hooks_that_fail_open_are_safe_for(served):
    port = free_port()
    write(served.root / "rules.yaml", "version: 1\npack: logging\nrules:\n  - id: log-attempt\n"
          "    events: PreToolUse\n    do:\n"
          "      - record: {table: attempts, values: {tool_use_id: \"{{ event.tool_use_id }}\"}}\n")
    assert served.run("install", "--scope", "project", "--transport", "http", "--port", str(port)).returncode == 0
    start_server(served)
    lines = served.run_text("doctor").stdout.splitlines()
    assert "ok    hooks   the http hooks fail open, which is safe for every pack here (logging): none denies" in lines
    write(served.root / "rules.yaml", RULES)
    lines = served.run_text("doctor").stdout.splitlines()
    assert ("fail  hooks   the http hooks on PreToolUse fail open: while the server is down Claude Code lets calls "
            "through, and guard denies calls (safe that way: no pack); fix: policy install --transport http "
            "--host-fails-closed (Claude Code 2.1.295 or later), or the command transport") in lines


def test_the_shipped_packs_http_safety_is_what_docs_serve_md_says():
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.config import SHIPPED_PACKS, shipped_pack_path
    from policy.model import Settings

    ruleset = build_ruleset(compile_files([PackSource(shipped_pack_path(name), trusted=True)
                                           for name in SHIPPED_PACKS]), Settings())
    assert install.http_safety(ruleset) == (["presence"], ["focus", "pacing", "activity"])
