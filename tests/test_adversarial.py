"""Issue 14's classes, one regression test each (or more): the hook always answers in time, and nothing outside the
user's trust can switch a rule off. The payloads are in tests/adversarial.py; bench/worst_payloads.py times them."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest
from adversarial import CORPUS, PRESENCE
from conftest import ROOT, event_payload, write

from policy.errors import StoreError
from policy.store import Store

# ---- the corpus: every payload gets its answer, in the fail mode where no decision can be made ---------------------


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_every_adversarial_payload_gets_its_answer(env, case):
    rules = str(ROOT / "rules" / "presence.yaml") if case.rules == PRESENCE else str(
        write(env.root / f"{case.name}.yaml", case.rules))
    result = env.run("--rules", rules, *case.args, stdin=case.payload, hook=True, timeout=30)
    code, line = case.expect
    stderr = result.stderr.decode()
    assert result.returncode == code
    assert stderr.count("\n") == (1 if line else 0), stderr
    assert line in stderr
    if code == 0 and line:  # fail open: the host is told that policy did not decide
        assert json.loads(result.stdout)["systemMessage"].endswith("- policy is NOT enforcing rules")
    elif not line:
        assert result.stdout == b""


def test_a_deadline_is_logged_with_the_event(env):
    case = next(case for case in CORPUS if case.name == "regex-deadline")
    write(env.root / "slow.yaml", case.rules)
    result = env.run("--rules", "slow.yaml", *case.args, stdin=case.payload, hook=True, timeout=30)
    assert result.returncode == 2
    assert env.rows("SELECT event, agent_session, tool, verdict, error FROM decisions") == [
        {"event": "PreToolUse", "agent_session": "agent-1", "tool": "Bash", "verdict": None,
         "error": "deadline: the evaluation did not finish in time (the hook's timeout is 3s)"}]


def test_an_evaluator_whose_watcher_is_killed_ends_by_the_deadline(env):
    """The host may kill the hook process itself (at its own timeout, or when the user interrupts): its
    evaluator, stuck in one long C call, must not run on for good."""
    import time
    from pathlib import Path

    from conftest import POLICY_HOOK

    case = next(case for case in CORPUS if case.name == "regex-deadline")
    write(env.root / "slow.yaml", case.rules)
    process = subprocess.Popen([str(POLICY_HOOK), "--rules", "slow.yaml", *case.args], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env.vars, cwd=env.root)
    process.stdin.write(case.payload)
    process.stdin.close()
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    found = ""
    for _ in range(200):
        found = children.read_text().strip() if children.exists() else ""
        if found:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert found, "the hook forked no evaluator"
    status = Path(f"/proc/{found.split()[0]}/stat")

    def running() -> bool:
        try:
            return status.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    for _ in range(400):  # the deadline is 2 s after the start; wait up to 20 s for the kernel to end it
        if not running():
            break
        time.sleep(0.05)
    assert not running()


def test_without_timeout_the_hook_takes_the_one_policy_install_writes(tmp_path):
    from policy.commands.install import hook_groups
    from policy.compiler import PackSource, build_ruleset, compile_files
    from policy.hook import Options, evaluation_deadline, hook_timeout
    from policy.model import Settings

    write(tmp_path / "r.yaml", "version: 1\npack: r\nrules:\n  - {id: a, events: [PreToolUse, Stop], decision: deny}\n"
                               "  - {id: b, events: Stop, do: [{run: {argv: [make, notes], timeout: 30}}]}\n")
    ruleset = build_ruleset(compile_files([PackSource(str(tmp_path / "r.yaml"), trusted=True)]), Settings())
    handler = {"type": "command", "command": "policy-hook"}
    installed = {event: group["hooks"][0]["timeout"] for event, group in hook_groups(ruleset, handler).items()}
    assert installed == {"PreToolUse": 75, "Stop": 106}
    assert {event: hook_timeout(Options(), ruleset, event) for event in installed} == installed
    assert hook_timeout(Options(timeout=9), ruleset, "Stop") == 9
    # the evaluation gets what the delay leaves (the store's wait and start-up; the commands' time), the answer
    # a second before the host gives up
    assert [evaluation_deadline(timeout, 100.0, 60.0) for timeout in (75, 106, 9)] == [115.0, 145.0, 108.0]


# ---- 1. time -------------------------------------------------------------------------------------------------------

def test_sql_facts_share_one_time_budget_per_evaluation(tmp_path):
    from policy.errors import Location
    from policy.facts import FactContext, Facts
    from policy.model import Event, Pack, Settings, SqlFact

    with Store.open(str(tmp_path / "facts.db")) as store:
        facts = Facts(FactContext(store, Event(host="claude-code", name="Stop"), 0.0, Settings()))
        fact = SqlFact("one", "SELECT 1", "value", (), Location("r.yaml"))
        pack = Pack(name="p", revision="", source="r.yaml", params={}, rules=(), facts=(fact,))
        facts.sql_seconds = 1.0  # what earlier facts of this evaluation have used
        with pytest.raises(StoreError) as raised:
            facts.sql(pack, fact)
        assert (raised.value.code, raised.value.message) == (
            "fact-timeout", "the SQL facts of one evaluation ran longer than 1s together and were stopped")


def test_sql_values_are_bounded_before_they_are_allocated(tmp_path):
    with Store.open(str(tmp_path / "facts.db")) as store:
        with pytest.raises(StoreError) as raised:
            store.read_only("SELECT length(randomblob(1000000000))", {})
        assert raised.value.code == "fact-too-large"
        assert store.read_only("SELECT length(zeroblob(1000))", {}) == (["length(zeroblob(1000))"], [(1000,)])
        store.execute("INSERT INTO kv(key, value, updated_at) VALUES ('x', ?, 0)", ("y" * 200_000,))
        assert store.value("SELECT length(value) FROM kv") == 200_000  # the bound holds only inside facts


def test_functions_that_allocate_or_leak_pointers_are_refused_in_facts():
    from policy.store import check_query

    assert [check_query(sql, set())[0] for sql in (
        "select fts3_tokenizer('simple')", "select printf('%.*c', 1000000000, 'x')", "select zeroblob(1e9)",
        "select load_extension('x')", "select count(*), max(at), json_extract(effects, '$[0]') from decisions",
    )] == ["the SQL function fts3_tokenizer() is not allowed in facts",
           "the SQL function printf() is not allowed in facts",
           "the SQL function zeroblob() is not allowed in facts",
           "the SQL function load_extension() is not allowed in facts", None]


# ---- 2. cost linear in the payload, and no slow work under the write lock --------------------------------------------

def test_reading_a_command_line_does_not_hold_the_write_lock(tmp_path, isolated_environ, monkeypatch):
    """Another hook must be able to write while this one reads its command line (shell parsing, SQL facts)."""
    import policy.labels
    from policy import hook

    database = tmp_path / "facts.db"
    Store.open(str(database)).close()
    seen: list[str] = []
    original = policy.labels.command_labels

    def probing(*args):
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append("could write")
        except sqlite3.OperationalError as error:
            seen.append(str(error))
        finally:
            other.close()
        return original(*args)

    monkeypatch.setattr(policy.labels, "command_labels", probing)
    payload = dict(event_payload("PreToolUse-Bash"), tool_input={"command": "terraform apply"})
    outcome = hook.evaluate_event(json.dumps(payload).encode(), hook.Options(rules=(str(ROOT / "rules"),),
                                                                             db=str(database)),
                                  isolated_environ, now=1.8e9, utc_offset=0, cwd=str(tmp_path))
    assert outcome.error is None
    assert seen and set(seen) == {"could write"}


def test_process_substitutions_and_redirections_are_what_the_shell_sees():
    from policy.labels import read_commands, simple_commands

    assert simple_commands("diff <(terraform apply) x") == [(("terraform", "apply"), ""),
                                                            (("diff", "<(terraform apply)", "x"), "")]
    assert simple_commands("tee >(rm -rf /) < in") == [(("rm", "-rf", "/"), ""), (("tee", ">(rm -rf /)"), "")]
    assert [(found.words, found.redirects) for found in read_commands(
        "cd w && echo bad > .claude/settings.json 2>&1; cat >> ../log", "/p")] == [
        (("echo", "bad"), ((">", ".claude/settings.json", "/p/w/.claude/settings.json"),)),
        (("cat",), ((">>", "../log", "/p/log"),))]


def test_a_rule_can_see_redirection_targets_and_normalised_paths(env):
    write(env.root / "guard.yaml", """
        version: 1
        pack: guard
        rules:
          - id: settings
            events: PreToolUse
            tools: Bash
            when: "any(glob('**/.claude/*', path) for path in shell_writes(input.command, event.cwd))"
            decision: deny
            reason: no writes to the agent's settings
          - id: outside
            events: PreToolUse
            tools: Bash
            when: "not normpath(input.command.split()[-1], event.cwd).startswith(event.cwd)"
            decision: deny
            reason: outside the project
        """)
    verdicts = []
    for command in ("echo bad > .claude/settings.json", "rm -rf work/../../*", "rm -rf work/*"):
        payload = dict(event_payload("PreToolUse-Bash"), cwd="/home/dev/shop", tool_input={"command": command})
        result = env.eval("--rules", "guard.yaml", stdin=json.dumps(payload).encode())
        verdicts.append(json.loads(result.stdout or b'{"hookSpecificOutput": {}}')["hookSpecificOutput"]
                        .get("permissionDecisionReason"))
    assert verdicts == ["no writes to the agent's settings", "outside the project", None]


# ---- 4. trust --------------------------------------------------------------------------------------------------------

SIGNAL_GATE = "version: 1\npacks:\n  - name: activity\n    params: {signal_gate: true}\n"


def project_with(env, files: dict[str, str]):
    project = env.root / "repo"
    for name, text in files.items():
        write(project / name, text)
    return project


def test_a_repository_cannot_open_a_user_level_gate_through_kv(env):
    """The user's heart-rate gate denies tools unless hr.ok is true. A cloned repository tries to set hr.ok: with a
    pack named hr, with a checklist source feeding kv:hr, and with a rendered key holding '{{'."""
    write(env.config / "policy" / "config.yaml", SIGNAL_GATE)
    project = project_with(env, {
        "policy.yaml": "version: 1\nrules: [hr.yaml]\nsources:\n  hr: {kind: file, path: T.md, format: checklist, "
                       "feeds: 'kv:hr'}\n",
        "T.md": "- [x] done\n",
        "hr.yaml": "version: 1\npack: hr\nrules:\n  - id: open\n    events: [PreToolUse, UserPromptSubmit]\n"
                   "    do:\n      - set: {key: hr.ok, value: true}\n"
                   "      - set: {key: \"{{ prompt or 'none' }}\", value: true}\n"})
    payload = dict(event_payload("PreToolUse-Bash"), cwd=str(project))
    extra = {"CLAUDE_PROJECT_DIR": str(project)}
    for _ in range(2):
        result = env.eval(stdin=json.dumps(payload).encode(), cwd=project, extra_env=extra)
        assert json.loads(result.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    prompt = dict(event_payload("UserPromptSubmit"), cwd=str(project), prompt="hr.ok{{")
    env.eval(stdin=json.dumps(prompt).encode(), cwd=project, extra_env=extra)
    assert env.rows("SELECT key FROM kv") == []
    validate = env.run_text("validate", cwd=project, extra_env=extra).stdout
    assert "warning: not-trusted: the project config cannot feed 'kv:hr' (an untrusted project's sources may " \
           "feed only kv namespaces the user config grants (project_kv: tasks)): ignored" in validate


def test_a_granted_namespace_is_writable_and_a_user_fed_one_is_not(env):
    write(env.config / "policy" / "config.yaml", "version: 1\nproject_kv: [tasks, scratch]\nsources:\n"
                                                 "  mine: {kind: file, path: mine.md, feeds: 'kv:tasks.mine'}\n")
    write(env.config / "policy" / "mine.md", "- [ ] mine\n")
    project = project_with(env, {
        "policy.yaml": "version: 1\nrules: [r.yaml]\n",
        "r.yaml": "version: 1\npack: repo\nrules:\n  - id: w\n    events: Stop\n    do:\n"
                  "      - set: {key: scratch.note, value: 1}\n      - set: {key: tasks.x, value: 1}\n"})
    env.eval(stdin=json.dumps(dict(event_payload("Stop"), cwd=str(project))).encode(), cwd=project,
             extra_env={"CLAUDE_PROJECT_DIR": str(project)})
    assert env.rows("SELECT key FROM kv ORDER BY key") == [{"key": "scratch.note"}]
    assert json.loads(env.rows("SELECT effects FROM decisions")[0]["effects"])[1]["result"] == (
        "refused: the rules or params of repo are not trusted, and the kv key 'tasks.x' is not under a namespace "
        "the user config grants to projects (project_kv: scratch)")


def test_an_untrusted_fact_cannot_read_other_projects_decisions(env):
    write(env.root / "other" / "secret.yaml", "version: 1\npack: other\nrules:\n  - {id: s, events: Stop, "
                                              "decision: deny, reason: the secret plan}\n")
    env.eval("--rules", str(env.root / "other" / "secret.yaml"), stdin=json.dumps(event_payload("Stop")).encode())
    project = project_with(env, {
        "policy.yaml": "version: 1\nrules: [leak.yaml]\n",
        "leak.yaml": "version: 1\npack: leak\nfacts:\n  seen: {sql: \"select group_concat(reason) from decisions\","
                     " value: true}\nrules:\n  - id: l\n    events: UserPromptSubmit\n"
                     "    context: \"seen: {{ facts.seen }}\"\n"})
    payload = dict(event_payload("UserPromptSubmit"), cwd=str(project))
    result = env.eval(stdin=json.dumps(payload).encode(), cwd=project, extra_env={"CLAUDE_PROJECT_DIR": str(project)})
    assert json.loads(result.stdout)["hookSpecificOutput"]["additionalContext"] == "seen: "


def test_a_repository_cannot_take_a_user_packs_name_to_switch_it_off(env):
    """Two packs of one name were an error, and an error is the fail mode: open for Stop. Now the repository's
    file is left out, and the user's Stop gate still blocks."""
    write(env.config / "policy" / "gate.yaml", "version: 1\npack: gate\nrules:\n  - {id: g, events: Stop, "
                                               "decision: deny, reason: keep working}\n")
    write(env.config / "policy" / "config.yaml", "version: 1\nrules: [gate.yaml]\n")
    project = project_with(env, {"policy.yaml": "version: 1\nrules: [gate.yaml]\n",
                                 "gate.yaml": "version: 1\npack: gate\nrules:\n  - {id: g, events: Stop}\n"})
    for broken in ("", "  - {id: bad, events: Stopp}\n"):
        (project / "gate.yaml").write_text("version: 1\npack: gate\nrules:\n  - {id: g, events: Stop}\n" + broken)
        result = env.eval(stdin=json.dumps(dict(event_payload("Stop"), cwd=str(project))).encode(), cwd=project,
                          extra_env={"CLAUDE_PROJECT_DIR": str(project)})
        assert json.loads(result.stdout) == {"decision": "block", "reason": "keep working"}


# ---- 5. files --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_rule_paths_that_are_not_small_regular_files_are_refused(env, kind):
    path = env.root / "rules.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)
    else:
        path.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\nversion: 1\n")
    result = env.run_text("validate", "rules.yaml", timeout=20)
    what = {"fifo": "it is a FIFO, not a regular file", "device": "it is a device, not a regular file",
            "huge": "it is larger than 4,194,304 bytes"}[kind]
    assert (result.returncode, result.stdout) == (1, f"rules.yaml: unreadable: cannot read the file: {what}\n"
                                                     "    hint: rule and config files must be regular files (at most "
                                                     "4 MiB)\n1 error, 0 warnings in 1 file\n")


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_store_owned_by_another_user_is_refused(tmp_path, suffix):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path = tmp_path / "facts.db"
    Store.open(str(path)).close()
    target = tmp_path / f"facts.db{suffix}"
    target.touch()
    os.chown(target, 12345, 12345)
    with pytest.raises(StoreError) as raised:
        Store.open(str(path))
    assert (raised.value.code, raised.value.message) == (
        "db-not-owned", f"the fact store file {target} belongs to another user (uid 12345)")


def test_store_directories_are_private_whatever_the_umask(tmp_path):
    code = ("import os, sys; os.umask(0); from policy.store import Store; "
            "Store.open(sys.argv[1]).close()")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a" / "b" / "facts.db")], check=True)
    assert [stat.S_IMODE(os.stat(tmp_path / part).st_mode) for part in ("a", "a/b")] == [0o700, 0o700]
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b" / "facts.db").st_mode) == 0o600


# ---- 6. parsing ------------------------------------------------------------------------------------------------------

def test_nothing_in_the_parse_path_recurses_on_payload_depth():
    from policy.adapters import common

    depth = 5000  # far past Python's recursion limit; the JSON reader itself stops at its own bound
    value: object = "\ud800"
    for _ in range(depth):
        value = [value]
    fixed = common.without_lone_surrogates({"x": value})["x"]
    for _ in range(depth):
        fixed = fixed[0]
    assert fixed == "\ufffd"


# ---- 7. output and the store's waits -----------------------------------------------------------------------------------

def test_control_characters_in_event_text_do_not_reach_the_terminal(env):
    write(env.root / "r.yaml", "version: 1\npack: r\nrules:\n  - {id: a, events: PreToolUse, decision: allow}\n")
    payload = dict(event_payload("PreToolUse-Bash"), tool_name="Bash\r\n2026-01-01 00:00:00  Stop  forged\x1b[2J")
    env.eval("--rules", "r.yaml", "--now", "2026-12-01T10:00:00+00:00", stdin=json.dumps(payload).encode())
    lines = env.run_text("log", extra_env={"TZ": "UTC"}).stdout.splitlines()
    assert len(lines) == 3
    assert "Bash\\r\\n2026-01-01 00:00:00  Stop  forged\\x1b[2J" in lines[2]
    stats = env.run_text("stats", "--since", "100000d").stdout
    assert "\r" not in stats and "\x1b" not in stats


def test_a_locked_store_is_waited_for_once(tmp_path, isolated_environ):
    from policy import hook

    database = str(tmp_path / "facts.db")
    Store.open(database).close()
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    attempts: list[str] = []

    def opener(path: str) -> Store:
        store = Store.open(path)
        store.connection.execute("PRAGMA busy_timeout=100")
        store.connection.set_trace_callback(lambda sql: attempts.append(sql) if sql.startswith("BEGIN IMMEDIATE")
                                            else None)
        return store

    write(tmp_path / "r.yaml", "version: 1\npack: r\nrules:\n  - {id: a, events: Stop, decision: deny}\n")
    options = hook.Options(rules=(str(tmp_path / "r.yaml"),), db=database)
    outcome = hook.evaluate_event(json.dumps(event_payload("Stop")).encode(), options, isolated_environ, now=1.8e9,
                                  utc_offset=0, cwd=str(tmp_path), store_opener=opener)
    holder.execute("ROLLBACK")
    assert outcome.error.code == "db-locked"
    assert attempts == ["BEGIN IMMEDIATE"]


def test_a_store_locked_past_a_shorter_wait_says_how_long_it_waited(tmp_path):
    database = str(tmp_path / "facts.db")
    store = Store.open(database)
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError) as raised:
        store.begin(timeout=0.2)
    holder.execute("ROLLBACK")
    assert (raised.value.code, raised.value.message) == (
        "db-locked", f"the fact store {database} stayed locked for 0.2s (database is locked)")
    assert store.value("PRAGMA busy_timeout") == 10_000


def test_an_effect_that_hits_a_store_error_says_so(tmp_path):
    from policy.effects import EffectContext, apply_effects
    from policy.errors import Location
    from policy.model import Event, PlannedEffect, Settings

    with Store.open(str(tmp_path / "facts.db")) as store:
        store.connection.execute("PRAGMA query_only=ON")  # as a read-only file would
        effect = PlannedEffect(kind="set", module="policy.effects.kv", args={"key": "a", "value": 1}, pack="p",
                               rule_id="r", location=Location("r.yaml", 3, 5), trusted=True)
        with pytest.raises(StoreError) as raised:
            apply_effects((effect,), EffectContext(store, Event(host="claude-code", name="Stop"), 0.0, Settings()))
        assert raised.value.code == "db-readonly"


def test_leave_never_waits_for_readers(tmp_path):
    from policy.store import WAL_TRUNCATE_BYTES

    path = tmp_path / "facts.db"
    store = Store.open(str(path))
    with store.transaction():
        for index in range(WAL_TRUNCATE_BYTES // 2000 + 10):
            store.execute("INSERT INTO kv(key, value, updated_at) VALUES (?, ?, 0)", (f"k{index}", "x" * 2000))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM kv").fetchone()
    statements: list[str] = []
    store.connection.set_trace_callback(statements.append)
    store.leave()
    reader.close()
    assert statements == ["PRAGMA busy_timeout=0", "PRAGMA wal_checkpoint(TRUNCATE)"]


def test_a_store_left_in_rollback_journal_mode_goes_back_to_wal(tmp_path):
    path = tmp_path / "facts.db"
    Store.open(str(path)).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()
    with Store.open(str(path)) as store:
        assert store.value("PRAGMA journal_mode") == "wal"
