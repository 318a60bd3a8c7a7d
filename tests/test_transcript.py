"""`facts.transcript` against real files in Claude Code's JSONL transcript shape: what it reads, its 4 MiB bound,
paths it refuses, regexes checked when the rules load, and the pacing pack's tests gate through `policy eval`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import EVENTS, ROOT
from policy.facts import FactContext
from policy.facts.transcript import MAX_TRANSCRIPT_BYTES, TranscriptFacts
from policy.model import Event, Settings


def assistant(*blocks: dict) -> dict:
    return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/shop",
            "sessionId": "8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f", "version": "2.1.12", "gitBranch": "main",
            "type": "assistant", "uuid": "a1", "timestamp": "2026-01-05T10:00:00.000Z", "requestId": "req_1",
            "message": {"model": "claude-opus-4-5-20251101", "id": "msg_1", "type": "message", "role": "assistant",
                        "content": list(blocks), "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 2}}}


def tool_use(tool_id: str, name: str, **tool_input: object) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def result(tool_id: str, content: str, *, error: bool = False) -> dict:
    block: dict = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
    if error:
        block["is_error"] = True
    return {"type": "user", "uuid": "u1", "timestamp": "2026-01-05T10:00:01.000Z",
            "message": {"role": "user", "content": [block]}, "toolUseResult": {"stdout": content, "stderr": "",
                                                                               "interrupted": False}}


def write_transcript(path: Path, entries: list) -> Path:
    path.write_text("".join((entry if isinstance(entry, str) else json.dumps(entry)) + "\n" for entry in entries),
                    encoding="utf-8")
    return path


def facts_for(path: object) -> TranscriptFacts:
    event = Event(host="claude-code", name="Stop", agent_session="s1", transcript_path=path)  # type: ignore[arg-type]
    return TranscriptFacts(FactContext(None, event, 0.0, Settings()))


SESSION = [
    {"type": "summary", "summary": "Cart rounding", "leafUuid": "5c1e"},
    {"type": "user", "message": {"role": "user", "content": "fix the cart rounding"}},
    assistant({"type": "thinking", "thinking": "Read it first.", "signature": "x"},
              {"type": "text", "text": "Reading cart.py."}, tool_use("toolu_01", "Read", file_path="/s/cart.py")),
    result("toolu_01", "     1→def total(): ..."),
    assistant(tool_use("toolu_02", "Bash", command="pytest -q", description="Run the tests")),
    result("toolu_02", "Exit code 1\n1 failed", error=True),
    assistant(tool_use("toolu_03", "Edit", file_path="/s/cart.py", old_string="a", new_string="b")),
    result("toolu_03", "The file /s/cart.py has been updated."),
    assistant(tool_use("toolu_04", "Bash", command="cd /s && .venv/bin/pytest -q tests/test_cart.py"),
              tool_use("toolu_05", "Bash", command="git status")),
    result("toolu_04", "3 passed"),
    assistant({"type": "text", "text": "All 3 tests pass."}, {"type": "text", "text": "Done."}),
]


def test_it_reads_tools_commands_results_edits_and_the_last_text(tmp_path: Path) -> None:
    facts = facts_for(str(write_transcript(tmp_path / "s.jsonl", SESSION)))
    assert (facts.available, facts.truncated, facts.edited) == (True, False, True)
    assert facts.tools == ["Read", "Bash", "Edit", "Bash", "Bash"]
    assert facts.commands == ["pytest -q", "cd /s && .venv/bin/pytest -q tests/test_cart.py", "git status"]
    assert facts.commands_since_edit == ["cd /s && .venv/bin/pytest -q tests/test_cart.py", "git status"]
    assert [call["ok"] for call in facts.calls] == [True, False, True, True, None]
    assert facts.calls[2] == {"tool": "Edit", "input": {"file_path": "/s/cart.py", "old_string": "a",
                                                        "new_string": "b"}, "ok": True}
    assert facts.last_text == "All 3 tests pass.\nDone."
    # Simple commands are matched as the command map reads them: the program's directory dropped, `cd` apart.
    assert (facts.ran("^pytest"), facts.ran_since_edit("^pytest"), facts.passed_since_edit("^pytest")) == (
        True, True, True)
    assert (facts.ran("^cargo test"), facts.ran_since_edit("^git status"), facts.passed_since_edit("^git")) == (
        False, True, False)


def test_without_an_edit_since_edit_means_the_whole_transcript(tmp_path: Path) -> None:
    facts = facts_for(str(write_transcript(tmp_path / "s.jsonl", SESSION[:6])))
    assert (facts.edited, facts.commands_since_edit) == (False, ["pytest -q"])
    assert (facts.ran_since_edit("^pytest"), facts.passed_since_edit("^pytest")) == (True, False)


@pytest.mark.parametrize("path", [None, "", "/nonexistent/s.jsonl", "relative/s.json", 42])
def test_no_transcript_means_nothing_was_done(path: object) -> None:
    facts = facts_for(path)
    assert (facts.available, facts.tools, facts.commands, facts.edited, facts.last_text) == (
        False, [], [], False, None)
    assert facts.ran("^pytest") is False


def test_only_jsonl_regular_files_are_read(tmp_path: Path) -> None:
    secret = tmp_path / "notes.txt"
    write_transcript(secret, SESSION)
    assert facts_for(str(secret)).available is False
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    assert facts_for(str(fifo)).available is False  # refused at once: a FIFO would block the hook
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    assert facts_for(str(directory)).available is False


def test_only_the_last_4_mib_are_read_and_the_cut_line_is_skipped(tmp_path: Path) -> None:
    old = assistant(tool_use("toolu_old", "Bash", command="make test"), {"type": "text", "text": "x" * 1000})
    padding = [old] * (MAX_TRANSCRIPT_BYTES // len(json.dumps(old)) + 10)
    path = write_transcript(tmp_path / "long.jsonl", padding + SESSION)
    assert path.stat().st_size > MAX_TRANSCRIPT_BYTES
    facts = facts_for(str(path))
    assert facts.truncated is True
    assert facts.tools[-5:] == ["Read", "Bash", "Edit", "Bash", "Bash"]
    assert len(facts.tools) < len(padding)  # the oldest calls are beyond the window
    assert facts.last_text == "All 3 tests pass.\nDone."


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    path = write_transcript(tmp_path / "s.jsonl", [
        '{"type":"assistant","message":{"content":[{"type":"tool_use"', "[1, 2]", '{"type":"assistant"}',
        '{"type":"assistant","message":{"content":"plain"}}', b"\xff\xfe".decode("latin-1"),
        *SESSION[4:6]])
    facts = facts_for(str(path))
    assert (facts.tools, [call["ok"] for call in facts.calls]) == (["Bash"], [False])


def test_the_regexes_must_be_constant_and_valid_when_the_rules_load(tmp_path: Path) -> None:
    from test_compiler import compile_text

    compiled = compile_text(tmp_path, """
        version: 1
        pack: mine
        params: {tests: '^pytest'}
        rules:
          - id: a
            events: [Stop]
            when: facts.transcript.ran(params.tests) and not facts.transcript.ran_since_edit('(unclosed')
            decision: deny
          - id: b
            events: [Stop]
            when: facts.transcript.passed_since_edit(event.last_assistant_message)
            decision: deny
    """)
    assert [(d.code, d.message) for d in compiled.diagnostics] == [
        ("bad-regex", "invalid regex '(unclosed': missing ), unterminated subpattern at position 0"),
        ("not-constant", "the regex of facts.transcript.passed_since_edit() must be a literal or a param")]


def test_the_tests_gate_through_policy_eval_with_a_real_transcript(env, tmp_path: Path) -> None:
    config = env.config / "policy" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("version: 1\npacks: [{name: pacing, params: {tests_gate: true}}]\n", encoding="utf-8")
    transcript = tmp_path / "8f2c1d3e.jsonl"
    payload = json.loads((EVENTS / "Stop.json").read_text(encoding="utf-8"))
    payload["transcript_path"] = str(transcript)
    stop = json.dumps(payload).encode()

    write_transcript(transcript, SESSION[:8])  # edited after the failing run
    done = env.eval(stdin=stop)
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, {"decision": "block", "reason": (
        "continue: files were edited and the tests have not run since. Run them and fix what fails before you "
        "stop; if they cannot run here, say why.")}, b"")
    write_transcript(transcript, SESSION)  # then the tests passed
    done = env.eval(stdin=stop)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
