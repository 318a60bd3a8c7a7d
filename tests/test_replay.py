"""`policy replay` and the payloads the decision log keeps for it (issue 20): real `policy eval` runs fill a real
store, then candidate rule files are replayed over it (or over exported payloads) as a real `policy` process."""

from __future__ import annotations

import json

from conftest import EVENTS, Env, event_payload, write

from policy.redact import redact, redact_text

NO_EDITS = """\
  - id: no-edits
    events: PreToolUse
    tools: [Edit, Write]
    decision: deny
    reason: no edits today
"""
SECRET = 'curl -H "Authorization: Bearer abcdefghijklmnop" https://api.example.com && export GITHUB_TOKEN=ghp_x1'


def payload_with(command: str) -> bytes:
    data = event_payload("PreToolUse-Bash")
    data["tool_input"]["command"] = command
    return json.dumps(data).encode()


def project_with_history(env: Env) -> None:
    """A project (`policy init`) and six real decisions: a force push (denied), a secret-bearing curl, an Edit, a
    Write, an ls and a prompt."""
    assert env.run("init").returncode == 0
    for payload in (payload_with("git push --force origin main"), payload_with(SECRET)):
        assert env.eval(stdin=payload).returncode == 0
    for name in ("PreToolUse-Edit", "PreToolUse-Write", "PreToolUse-Bash-ls", "UserPromptSubmit"):
        assert env.eval(stdin=(EVENTS / f"{name}.json").read_bytes()).returncode == 0


def candidate(env: Env, extra: str = NO_EDITS, drop_force_push: bool = False) -> str:
    text = (env.root / ".policy" / "rules" / "project.yaml").read_text()
    if drop_force_push:
        text = text.replace("decision: deny\n    reason: Force", "reason: Force", 1)
    write(env.root / "candidate" / "project.yaml", text + extra)
    return "candidate"


# ---- the payloads kept ------------------------------------------------------------------------------------------------

def test_the_log_keeps_payloads_redacted_by_default(env: Env) -> None:
    project_with_history(env)
    rows = env.rows("SELECT tool, payload, payload_form FROM decisions ORDER BY id")
    assert [row["payload_form"] for row in rows] == ["full", "redacted", "full", "full", "full", "full"]
    assert json.loads(rows[0]["payload"]) == json.loads(payload_with("git push --force origin main"))
    kept = json.loads(rows[1]["payload"])
    assert kept["tool_input"]["command"] == ('curl -H "Authorization: Bearer [REDACTED]" https://api.example.com '
                                             '&& export GITHUB_TOKEN=[REDACTED]')
    assert "abcdefghijklmnop" not in rows[1]["payload"] and "ghp_x1" not in rows[1]["payload"]
    # `policy log --payloads` exports them, oldest first, one per line
    exported = env.run_text("log", "--payloads").stdout.splitlines()
    assert [json.loads(line) for line in exported] == [json.loads(row["payload"]) for row in rows]


def test_keep_payload_none_and_full_and_what_a_project_may_not_choose(env: Env) -> None:
    assert env.run("init").returncode == 0
    config = env.root / "policy.yaml"
    config.write_text(config.read_text() + "log: {keep_payload: none}\n")
    env.eval(stdin=payload_with(SECRET))
    # an untrusted project cannot keep secrets: `full` is refused (a warning), the user's default applies
    config.write_text(config.read_text().replace("keep_payload: none", "keep_payload: full"))
    result = env.run_text("validate")
    assert "not-trusted: the project config cannot keep payloads unredacted (the secrets in them would be stored " \
           "in your fact store): ignored" in result.stdout
    env.eval(stdin=payload_with(SECRET))
    # the user config may
    write(env.config / "policy" / "config.yaml", "version: 1\nlog: {keep_payload: full}\n")
    env.eval(stdin=payload_with(SECRET))
    rows = env.rows("SELECT payload, payload_form FROM decisions ORDER BY id")
    assert [(row["payload"] is None, row["payload_form"]) for row in rows] == [
        (True, None), (False, "redacted"), (False, "full")]
    assert json.loads(rows[2]["payload"])["tool_input"]["command"] == SECRET


def test_redaction_keeps_the_shape_and_replaces_only_secrets() -> None:
    assert redact_text("git push --force origin main") == "git push --force origin main"
    assert redact_text("mysql --password=swordfish -u root") == "mysql --password=[REDACTED] -u root"
    assert redact_text("git clone https://bob:hunter2@github.com/x/y") == \
        "git clone https://bob:[REDACTED]@github.com/x/y"
    assert redact_text("aws configure set aws_secret_access_key wJalrXUtnFEMI AKIAIOSFODNN7EXAMPLE") == \
        "aws configure set aws_secret_access_key wJalrXUtnFEMI [REDACTED]"
    assert redact_text("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nrest") == \
        "[REDACTED]\nrest"
    assert redact({"tool_input": {"command": "ls", "env": {"API_KEY": "k1", "PATH": "/bin"}, "password": ""}}) == \
        {"tool_input": {"command": "ls", "env": {"API_KEY": "[REDACTED]", "PATH": "/bin"}, "password": ""}}


# ---- replay ------------------------------------------------------------------------------------------------------------

def test_replay_shows_new_denies_per_rule_with_examples(env: Env) -> None:
    project_with_history(env)
    rules = candidate(env)
    result = env.run_text("replay", "--rules", rules)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == ("replayed 6 events from the decision log; 1 with secrets redacted (a rule matching a secret "
                        "sees [REDACTED])")
    assert lines[1] == "newly denied: 2"
    assert lines[2].endswith("  PreToolUse Edit: /home/dev/shop/src/cart.py  none -> deny  (project/no-edits)")
    assert lines[3].endswith("  PreToolUse Write: /home/dev/shop/tests/test_cart.py  none -> deny  (project/no-edits)")
    assert lines[4:] == [
        "newly allowed: 0",
        "other verdict changes: 0",
        "errors: 0",
        "per rule:",
        "rule              newly matches  no longer matches  e.g.",
        "----------------  -------------  -----------------  -------------------------------------------",
        "project/no-edits              2                  0  PreToolUse Edit: /home/dev/shop/src/cart.py"]
    # the CI switch
    result = env.run_text("replay", "--rules", rules, "--fail-on", "new-denies")
    assert (result.returncode, result.stderr) == (1, "policy: replay: 2 new denies (--fail-on new-denies)\n")
    # nothing was written by the replays
    assert env.rows("SELECT count(*) AS n FROM decisions") == [{"n": 6}]


def test_replay_shows_new_allows_as_json(env: Env) -> None:
    project_with_history(env)
    rules = candidate(env, extra="", drop_force_push=True)
    result = env.run_text("replay", "--rules", rules, "--json", "--fail-on", "new-denies")
    assert result.returncode == 0  # no new denies
    report = json.loads(result.stdout)
    assert (report["replayed"], report["without_payload"], report["redacted"], report["failed"]) == (6, 0, 1, False)
    assert report["newly_denied"] == [] and report["other_changes"] == [] and report["errors"] == []
    [allowed] = report["newly_allowed"]
    assert (allowed["event"], allowed["before"], allowed["after"], allowed["lost"]) == (
        "PreToolUse Bash: git push --force origin main", "deny", "none", [])
    assert report["rules"] == {}  # the rule still matches; it no longer decides
    result = env.run_text("replay", "--rules", rules, "--fail-on", "changes")
    assert result.returncode == 1


def test_replay_over_exported_payloads_against_a_baseline(env: Env) -> None:
    write(env.root / "before.yaml", "version: 1\npack: p\nrules:\n  - {id: a, events: Stop, context: hi}\n")
    write(env.root / "after.yaml", "version: 1\npack: p\nrules:\n  - {id: a, events: Stop, context: hi}\n"
                                   "  - {id: b, events: PreToolUse, tools: Bash, decision: deny, match: "
                                   "{tool_input.command: '^terraform'}}\n")
    result = env.run_text("replay", "--baseline-rules", "before.yaml", "--rules", "after.yaml", "--payloads",
                          str(EVENTS), "--json")
    report = json.loads(result.stdout)
    assert report["replayed"] == len(list(EVENTS.glob("*.json")))
    # the four PreToolUse Bash payloads that run terraform (default, bypass and dontAsk modes, another session)
    assert [item["event"] for item in report["newly_denied"]] == ["PreToolUse Bash: terraform apply -auto-approve"] * 4
    assert report["rules"] == {"p/b": {"gained": 4, "lost": 0, "example": "PreToolUse Bash: terraform apply "
                                                                          "-auto-approve"}}


def test_replay_errors_are_usage_errors(env: Env) -> None:
    result = env.run_text("replay")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: no candidate rules (policy replay --rules rules/ (or --config FILE))\n")
    write(env.root / "bad.yaml", "version: 1\npack: p\nrules:\n  - {id: a, events: Stp}\n")
    result = env.run_text("replay", "--rules", "bad.yaml")
    assert result.returncode == 1
    assert result.stderr.startswith("policy: invalid: the candidate rules do not load: ")
    result = env.run_text("replay", "--rules", "bad.yaml", "--fail-on", "denies")
    assert (result.returncode, result.stderr) == (
        2, "policy: usage: --fail-on must be new-denies or changes, not 'denies'\n")
