"""`policy explain` (issue 20): a call described on the command line, or a real payload, evaluated against the
configuration here as a dry run, with a readable trace; and `policy eval --explain`, which prints the same trace."""

from __future__ import annotations

import json
import sqlite3

from conftest import EVENTS, ROOT, Env, write

from policy.commands.explain import agent_names
from policy.config import shipped_pack_path

FORCE_PUSH = (".policy/rules/project.yaml:9:5", "Force-pushing is blocked by this project's policy "
              "(.policy/rules/project.yaml); ask the user to do it.")
SRC_RULE = """\
  - id: src-edits
    events: PreToolUse
    tools: [Edit, Write]
    match:
      tool_input.file_path: {glob: "**/src/**"}
    decision: ask
    reason: "{{ basename(input.file_path) }} is source: confirm"
"""


def project(env: Env) -> None:
    assert env.run("init").returncode == 0


def test_explain_a_command_string(env: Env) -> None:
    project(env)
    result = env.run_text("explain", "git push --force origin main")
    assert (result.returncode, result.stderr) == (0, "")
    where, reason = FORCE_PUSH
    answer = json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                                "permissionDecisionReason": reason}}, separators=(",", ":"))
    assert result.stdout == (
        f"call: PreToolUse Bash: git push --force origin main (claude-code, in {env.root})\n"
        "explain: PreToolUse: verdict deny\n"
        f"  reason: {reason}\n"
        "  matched:\n"
        f"    project/no-force-push ({where}): decision deny\n"
        f"  claude-code gets: {answer}\n")
    result = env.run_text("explain", "git push origin main")
    assert result.stdout == (
        f"call: PreToolUse Bash: git push origin main (claude-code, in {env.root})\n"
        "explain: PreToolUse: verdict none\n"
        "  not matched:\n"
        f"    project/no-force-push ({where}): tool_input.command does not match "
        "/\\bgit\\s+push\\b[^;&|]*\\s(--force|-f)(\\s|$)/ [tool_input.command = 'git push origin main']\n"
        "  claude-code gets: (nothing on stdout)\n")
    # nothing was logged, no store row written
    if env.db.exists():
        assert env.rows("SELECT * FROM decisions") == []


def test_explain_a_tool_on_a_file(env: Env) -> None:
    project(env)
    pack = env.root / ".policy" / "rules" / "project.yaml"
    pack.write_text(pack.read_text() + SRC_RULE)
    result = env.run_text("explain", "--tool", "Edit", "--file", "src/a.py")
    assert result.returncode == 0
    assert result.stdout == (
        f"call: PreToolUse Edit: src/a.py (claude-code, in {env.root})\n"
        "explain: PreToolUse: verdict ask\n"
        "  reason: a.py is source: confirm\n"
        "  matched:\n"
        "    project/src-edits (.policy/rules/project.yaml:33:5): decision ask\n"
        "  not for tool Edit: project/no-force-push\n"
        '  claude-code gets: {"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask",'
        '"permissionDecisionReason":"a.py is source: confirm"}}\n')
    # --json: the eval report, with the payload the adapter made up
    report = json.loads(env.run_text("explain", "--tool", "Read", "--file", "src/a.py", "--json").stdout)
    assert (report["verdict"], report["rules"], report["payload"]["tool_input"]) == (
        None, [], {"file_path": f"{env.root}/src/a.py"})
    assert [step["outcome"] for step in report["trace"]] == ["tools", "tools"]


def test_explain_events_prompts_and_payloads(env: Env) -> None:
    project(env)
    result = env.run_text("explain", "--event", "Stop")
    assert result.stdout == (f"call: Stop (claude-code, in {env.root})\n"
                             "explain: Stop: verdict none\n"
                             "  no rule is on Stop\n"
                             "  claude-code gets: (nothing on stdout)\n")
    result = env.run_text("explain", "--rules", str(ROOT / "examples" / "rules"), "--payload",
                          str(EVENTS / "PreToolUse-Bash.json"))
    assert result.returncode == 0
    assert result.stdout == (
        "call: PreToolUse Bash: terraform apply -auto-approve (claude-code, in /home/dev/shop/infra/stacks/billing)\n"
        "explain: PreToolUse: verdict none\n"
        "  not matched:\n"
        f"    guard/terraform-prod ({ROOT}/examples/rules/guard.yaml:19:5): when `params.protected in (event.cwd or "
        "'')` is False [params.protected = 'prod', event.cwd = '/home/dev/shop/infra/stacks/billing']\n"
        "  claude-code gets: (nothing on stdout)\n")


def test_explain_for_every_host_of_the_adapter_registry(env: Env) -> None:
    """`--agent` makes up that host's payload (its adapter's payload()) and shows that host's answer."""
    project(env)
    where, reason = FORCE_PUSH
    result = env.run_text("explain", "--agent", "gemini", "git push --force")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"call: PreToolUse Bash: git push --force (gemini, in {env.root})\n"
        "explain: PreToolUse: verdict deny\n"
        f"  reason: {reason}\n"
        "  matched:\n"
        f"    project/no-force-push ({where}): decision deny\n"
        f'  gemini gets: {{"decision":"deny","reason":"{reason}"}}\n')
    report = json.loads(env.run_text("explain", "--agent", "codex", "--tool", "Write", "--file", "a.txt",
                                     "--json").stdout)
    assert (report["payload"]["tool_name"], report["payload"]["tool_input"]["file_path"]) == (
        "Write", f"{env.root}/a.txt")  # the canonical event codex's apply_patch became
    result = env.run_text("explain", "--agent", "codex", "--tool", "Read", "--file", "a.txt")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: Codex CLI has no Read tool (docs/hosts.md lists each host's events and tools)\n")


def test_explain_usage_errors_name_the_registry(env: Env) -> None:
    project(env)
    result = env.run_text("explain", "--agent", "claude-cod", "ls")
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "policy: usage: unknown agent 'claude-cod' (did you mean 'claude-code'?)\n")
    result = env.run_text("explain")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: nothing to explain: describe a call (policy explain 'git push --force', --tool Edit "
           "--file src/a.py, --prompt PROMPT, --event Stop, or --payload FILE)\n")
    result = env.run_text("explain", "--event", "PreToolUs", "ls")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: unknown event 'PreToolUs' (did you mean 'PreToolUse'?)\n")
    # the help lists the agents the adapter registry has
    assert f"The agent host whose payload is made up: {', '.join(agent_names())}." in " ".join(
        env.run_text("explain", "--help").stdout.split())


def test_eval_explain_is_readable_on_the_shipped_packs(env: Env) -> None:
    """The ~8-11 KB dump (whole param lists, bound-method reprs) is now a short trace, one line per rule."""
    result = env.run("eval", "--rules", str(ROOT / "rules"), "--explain", "--dry-run",
                     stdin=(EVENTS / "PreToolUse-Bash.json").read_bytes())
    trace = result.stderr.decode()
    assert "object at 0x" not in trace and "<bound method" not in trace and "<KvFacts>" not in trace
    assert max(len(line) for line in trace.splitlines()) < 320
    assert len(trace) < 3000
    assert trace.splitlines()[:3] == ["explain: PreToolUse: verdict deny",
                                      "  reason: No active focus session. Start one in a terminal: policy session "
                                      "start --type personal --intention \"...\" (or --type expected), or send the "
                                      "prompt: !focus personal <what you will do>",
                                      "  matched:"]
    assert "    focus/require-session: decision deny [facts.focus.active = False" in trace
    assert "  skipped:\n    focus/mark-used: an earlier `final` rule of this pack matched\n" in trace


def test_explain_reads_the_real_fact_store(env: Env) -> None:
    """A focus session started with the CLI changes the explanation: explain sees the same facts as the hook."""
    write(env.root / "policy.yaml", "version: 1\npacks: [focus]\n")
    before = env.run_text("explain", "ls")
    line = next(number for number, text in enumerate(open(shipped_pack_path("focus")), 1)
                if "id: require-session" in text)
    shipped = f"{shipped_pack_path('focus')}:{line}:5"
    assert f"    focus/require-session ({shipped}): decision deny [facts.focus.active = False" in before.stdout
    assert env.run("session", "start", "--type", "expected", "--intention", "explain").returncode == 0
    after = env.run_text("explain", "ls")
    assert "verdict none" in after.stdout.splitlines()[1]
    assert f"    focus/require-session ({shipped}): when `not facts.focus.active" in after.stdout
    assert "` is False [facts.focus.active = True" in after.stdout
    with sqlite3.connect(env.db) as connection:
        assert connection.execute("SELECT count(*) FROM decisions").fetchone() == (0,)
