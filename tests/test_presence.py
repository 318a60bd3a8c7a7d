"""The presence pack (rules/presence.yaml, docs/packs/presence.md): command lines to labels, facts.claims and its
writes, the claim/heartbeat/release effects, the CLI verbs with their exact output, two sessions end to end through
`policy eval` as a new user runs it, and 8 processes claiming and releasing at once."""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from conftest import EVENTS, POLICY, ROOT

from policy.boards.local import LocalBoard
from policy.facts import claims as board
from policy.labels import check_command_map, command_labels, label_problem, render_label, simple_commands, tokens
from policy.store import Store
from policy.times import parse_iso

RULES = ROOT / "rules" / "presence.yaml"
S1 = "8f2c1d3e-5b6a-4c7d-9e8f-0a1b2c3d4e5f"
S2 = "3b9e7f10-2c4d-4e6f-8a1b-5c7d9e0f1a2b"
T0 = "2026-01-05T10:05:00+01:00"
T0_EPOCH = parse_iso(T0)[0]
OTHER = ("dev", "devbox")  # a user and host that are not this machine's, for claims made by "someone else"


def at(minutes: float) -> str:
    """T0 plus some minutes, as an ISO time in T0's offset."""
    import datetime

    zone = datetime.timezone(datetime.timedelta(hours=1))
    return datetime.datetime.fromtimestamp(T0_EPOCH + minutes * 60, zone).isoformat()


def shipped_commands() -> list[dict]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))["params"]["commands"]


# ---- command lines → simple commands ------------------------------------------------------------------------------

def test_tokens_follow_quotes_escapes_operators_and_drop_comments_and_redirections() -> None:
    assert tokens("""FOO='a b' cmd "x \\"y\\"" a\\ b>out 2>&1 && next;last | tee -a log # terraform apply""") == [
        ("word", "FOO=a b"), ("word", "cmd"), ("word", 'x "y"'), ("word", "a b"), ("op", "&&"),
        ("word", "next"), ("op", ";"), ("word", "last"), ("op", "|"), ("word", "tee"), ("word", "-a"),
        ("word", "log")]


def test_here_document_bodies_are_not_commands() -> None:
    command = "cat <<'EOF' > notes.md\nterraform apply\nEOF\ncat <<-END\n\tkubectl drain n1\n\tEND\nls"
    assert [words for words, _ in simple_commands(command)] == [("cat",), ("cat",), ("ls",)]


def test_cd_is_followed_and_scoped_to_parentheses() -> None:
    assert simple_commands("cd infra && (cd stacks/a; terraform apply); terraform destroy; cd; tofu apply",
                           "/repo") == [
        (("terraform", "apply"), "/repo/infra/stacks/a"),
        (("terraform", "destroy"), "/repo/infra"),
        (("tofu", "apply"), "~"),
    ]


def test_wrappers_assignments_and_program_paths_are_dropped() -> None:
    assert simple_commands("sudo -u root TF_LOG=debug /usr/local/bin/terraform apply") == [
        (("terraform", "apply"), "")]
    assert simple_commands("time -p nice -n 5 timeout -s KILL 60 env -i A=1 systemctl restart nginx") == [
        (("systemctl", "restart", "nginx"), "")]
    assert simple_commands("if kubectl drain n1; then echo ok; fi") == [
        (("kubectl", "drain", "n1"), ""), (("echo", "ok"), "")]


def test_shell_scripts_and_command_substitutions_are_read_too() -> None:
    assert simple_commands("bash -lc 'cd /srv/web && helm upgrade api ./chart'", "/repo") == [
        (("helm", "upgrade", "api", "./chart"), "/srv/web")]
    assert simple_commands('echo "$(cd x && terraform apply)" `kubectl cordon n2` $((1 + 2))', "/r") == [
        (("terraform", "apply"), "/r/x"), (("kubectl", "cordon", "n2"), "/r"),
        (("echo", "$(cd x && terraform apply)", "`kubectl cordon n2`", "$((1 + 2))"), "/r")]


# ---- the shipped command map --------------------------------------------------------------------------------------

MAPPED = [
    ("terraform apply -auto-approve", "/home/dev/shop/infra/stacks/billing", ["stack:billing"]),
    ("terraform -chdir=../network apply", "/s/billing", ["stack:network"]),
    ("terraform -chdir=/x/y/dns destroy -auto-approve", "/s/billing", ["stack:dns"]),
    ("cd infra/stacks/gpu && terraform apply", "/home/dev/shop", ["stack:gpu"]),
    ("terraform init && terraform apply tfplan", "/s/billing", ["stack:billing"]),
    ("terraform state rm aws_instance.web", "/s/billing", ["stack:billing"]),
    ("tofu import aws_s3_bucket.b b", "/s/b", ["stack:b"]),
    ("terragrunt apply", "/s/b", ["stack:b"]),
    ("terragrunt run-all apply --terragrunt-non-interactive", "/s/live", ["stack:live"]),
    ("terragrunt run --all apply", "/s/live", ["stack:live"]),
    ("terragrunt --terragrunt-working-dir=/a/vpc apply", "/s/live", ["stack:vpc"]),
    ("kubectl drain k8s-node1 --ignore-daemonsets --delete-emptydir-data", "/", ["node:k8s-node1"]),
    ("kubectl --context prod drain --ignore-daemonsets k8s-node1", "/", ["node:k8s-node1"]),
    ("kubectl cordon node/k8s-node2", "/", ["node:k8s-node2"]),
    ("kubectl uncordon k8s-node2", "/", ["node:k8s-node2"]),
    ("kubectl delete node k8s-node3", "/", ["node:k8s-node3"]),
    ("kubectl delete deployment api", "/", ["service:api"]),
    ("kubectl -n web delete deploy/api", "/", ["service:api"]),
    ("kubectl delete deploy api -n web", "/", ["service:api"]),
    ("kubectl delete -n web deploy api", "/", ["service:api"]),
    ("kubectl rollout restart deployment/fire-planner -n apps", "/", ["service:fire-planner"]),
    ("kubectl rollout restart deployment.apps/fire-planner", "/", ["service:fire-planner"]),
    ("kubectl scale --replicas 0 sts db", "/", ["service:db"]),
    ("kubectl set image deployment/api api=registry/api:2", "/", ["service:api"]),
    ("kubectl delete pvc data-pg-0 -n prometheus", "/", ["pvc:prometheus/data-pg-0"]),
    ("kubectl -n prometheus delete pvc prom-data", "/", ["pvc:prometheus/prom-data"]),
    ("kubectl delete pvc/data-pg-0", "/", ["pvc:default/data-pg-0"]),
    ("kubectl apply -f deploy.yaml", "/", ["infra:k8s"]),
    ("kubectl delete pod api-7d9c-xyz", "/", ["infra:k8s"]),
    ("helm upgrade --install api ./chart -n web", "/", ["service:api"]),
    ("helm upgrade --install -n web api ./chart", "/", ["service:api"]),
    ("helm -n web upgrade api ./chart --set image.tag=2", "/", ["service:api"]),
    ("helm install --create-namespace --namespace monitoring prom prometheus/kube-prometheus-stack", "/",
     ["service:prom"]),
    ("helm uninstall api -n web", "/", ["service:api"]),
    ("helm rollback api 3", "/", ["service:api"]),
    ("sudo systemctl restart nginx", "/", ["service:nginx"]),
    ("systemctl restart nginx.service", "/", ["service:nginx"]),
    ("systemctl --user stop pipewire.socket", "/", ["service:pipewire.socket"]),
    ("sudo service postgresql restart", "/", ["service:postgresql"]),
    ("docker compose up -d", "/srv/shop", ["service:shop"]),
    ("docker compose -p web down", "/srv/shop", ["service:web"]),
    ("psql -h pg1 -d shop -c 'DROP TABLE orders'", "/", ["db:pg1/shop"]),
    ("psql --dbname=shop -c 'truncate orders;'", "/", ["db:localhost/shop"]),
    ('psql -U admin shop -c "delete from users where id = 4"', "/", ["db:localhost/shop"]),
    ("psql -c 'ALTER TABLE users ADD COLUMN age int'", "/", ["db:localhost/default"]),
    ("mysql -h db1 -D shop -e 'UPDATE users SET admin = 1'", "/", ["db:db1/shop"]),
    ("sudo -u postgres dropdb -h pg1 shop", "/", ["db:pg1/shop"]),
    ("./deploy.sh prod", "/srv/shop", ["service:shop"]),
    ("bash scripts/deploy-prod.sh", "/srv/shop", ["service:shop"]),
    ("make deploy", "/srv/shop", ["service:shop"]),
    ("ssh -p 2222 root@proxmox-1 sudo reboot", "/", ["host:proxmox-1"]),
    ("ssh -i ~/.ssh/key devvm -- 'sudo shutdown -r now'", "/", ["host:devvm"]),
    ("ssh devvm systemctl reboot", "/", ["host:devvm"]),
    ("terraform apply && kubectl drain n1 && helm upgrade api ./c && terraform apply", "/s/billing",
     ["stack:billing", "node:n1", "service:api"]),
]
READ_ONLY = [
    "terraform plan -out apply.tfplan", "terraform state list", "terraform show", "terragrunt plan",
    "terragrunt --working-dir ../x plan", "kubectl get pods -n apply", "kubectl get cm delete",
    "kubectl describe node k8s-node1", "kubectl logs deploy/api", "kubectl rollout status deployment/api",
    "helm list -A", "helm status api", "helm template api ./chart", "systemctl status nginx",
    "systemctl is-active nginx", "docker compose logs -f", "docker compose ps", "ls -la", "echo terraform apply",
    "git commit -m 'terraform apply'", "grep -r 'kubectl drain' docs/", "",
    "psql -d shop -c 'SELECT * FROM drop_log'", "psql -l", "pg_dump shop", "cat deploy.sh", "vim scripts/deploy.sh",
    "make test", "ssh devvm uptime", "ssh devvm 'journalctl -b -1 | grep reboot'",
]


@pytest.mark.parametrize(("command", "cwd", "labels"), MAPPED)
def test_the_shipped_map_labels_mutating_commands(command: str, cwd: str, labels: list[str]) -> None:
    assert command_labels(command, cwd, shipped_commands()) == labels


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_commands_have_no_labels(command: str) -> None:
    assert command_labels(command, "/s/billing", shipped_commands()) == []


def test_repeated_flags_cost_linear_time() -> None:
    """A flag that two alternatives of a loop both match (`-chdir=a` is also a `-\\S+`) made the regexes backtrack
    exponentially: 22 of them took seconds. The loops are possessive (`*+`) now. A subprocess with a timeout turns a
    regression into a failure instead of a hang."""
    code = """
import sys, yaml
sys.path.insert(0, sys.argv[1])
from policy.labels import command_labels
commands = yaml.safe_load(open(sys.argv[2]))["params"]["commands"]
lines = [prefix + flag * 60 + suffix for prefix, flag, suffix in (
    ("terraform", " -chdir=a", " plan"), ("terragrunt", " --working-dir=a", " plan"),
    ("kubectl", " --namespace=a", " get pods"), ("kubectl delete deploy", " --namespace=a", ""),
    ("helm upgrade", " --namespace=a", ""), ("systemctl", " --host=a", " status x"),
    ("docker compose", " --project-name=a", " ps"))]
print([command_labels(line, "/s/b", commands) for line in lines])
"""
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(RULES)], capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"[[], [], [], ['infra:k8s'], [], [], []]\n", b"")


def test_the_shipped_map_is_valid() -> None:
    assert check_command_map(shipped_commands(), "params.commands")[0] == []


def test_maps_are_tried_in_order_and_an_empty_label_list_makes_a_command_claim_free() -> None:
    extra = [{"match": r"^terraform\s+apply\b.*-target=(?P<target>\S+)", "label": "stack:{cwd}/{target}"},
             {"match": r"^kubectl\b", "label": []},
             {"match": r"^make\s+deploy\b", "label": ["service:{cwd}", "infra:deploys"]}]
    assert command_labels("terraform apply -target=aws_db.main", "/s/billing", extra, shipped_commands()) == [
        "stack:billing/aws_db.main"]
    assert command_labels("terraform apply", "/s/billing", extra, shipped_commands()) == ["stack:billing"]
    assert command_labels("kubectl drain n1", "/", extra, shipped_commands()) == []
    assert command_labels("make deploy", "/srv/shop", extra, shipped_commands()) == ["service:shop", "infra:deploys"]


def test_label_templates() -> None:
    assert render_label("stack:{chdir:dir}", {"chdir": None}, "/infra/stacks/billing") == "stack:billing"
    assert render_label("stack:{chdir:dir}", {"chdir": "../net/"}, "/infra/stacks/billing") == "stack:net"
    assert render_label("pvc:{ns=default}/{pvc}", {"ns": None, "pvc": "data"}, "/") == "pvc:default/data"
    assert render_label("service:{release}", {"release": None}, "/") == ""
    assert render_label("stack:{cwd}", {}, "/") == ""
    assert render_label("stack:{cwd}", {}, "~") == ""


@pytest.mark.parametrize(("label", "problem"), [
    ("stack:billing", None),
    ("pvc:prometheus/prom-data", None),
    ("infra:my dns", None),
    ("billing", "label 'billing' is not <type>:<name>"),
    ("Stack:billing", "label 'Stack:billing' is not <type>:<name>"),
    ("stack:", "label 'stack:' is not <type>:<name>"),
    (":x", "label ':x' is not <type>:<name>"),
    ("", "a label must be a non-empty string, not ''"),
    ("a:b\nc", "label 'a:b\\nc' spans several lines"),
    ("a:" + "x" * 199, "label 'a:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... is longer than 200 characters"),
])
def test_label_problem(label: str, problem: str | None) -> None:
    assert label_problem(label) == problem


def test_a_broken_map_is_reported_once_per_entry_at_compile_time(tmp_path: Path) -> None:
    from policy.compiler import PackSource, compile_files

    pack = tmp_path / "mine.yaml"
    pack.write_text("""version: 1
pack: mine
params:
  commands:
    - {match: '^terraform (apply', label: 'stack:{cwd}'}
    - {match: '^helm upgrade (?P<release>\\\\S+)', label: 'service:{name}'}
    - {match: '^x', label: '{cwd}'}
    - {match: '^y', label: ['a:{cwd:up}']}
    - {match: '^z', lable: 'a:b'}
rules:
  - id: a
    events: [PreToolUse]
    when: command_labels(input.command, event.cwd, params.commands)
    reason: "{{ command_labels(input.command, event.cwd, params.commands) }}"
  - id: b
    events: [PreToolUse]
    when: command_labels(input.command, event.cwd, 'stack:x')
""", encoding="utf-8")
    compiled = compile_files([PackSource(str(pack), display="mine.yaml", trusted=True)])
    assert [f"{d.location}: {d.code}: {d.message}" for d in compiled.diagnostics] == [
        "mine.yaml:13:11: bad-command-map: params.commands[0]: invalid regex '^terraform (apply': missing ), "
        "unterminated subpattern at position 11",
        "mine.yaml:13:11: bad-command-map: params.commands[1]: label 'service:{name}' names {name}, which is not "
        "a named group of the regex (known: cwd, release)",
        "mine.yaml:13:11: bad-command-map: params.commands[2]: label template '{cwd}' does not make a label: label "
        "'x' is not <type>:<name> (e.g. stack:billing, service:api, node:k8s-node1, infra:dns)",
        "mine.yaml:13:11: bad-command-map: params.commands[3]: unknown modifier 'up' in label 'a:{cwd:up}' (use "
        "{cwd:dir})",
        "mine.yaml:13:11: bad-command-map: params.commands[4] has unknown key 'lable' (did you mean 'label'?)",
        "mine.yaml:13:11: bad-command-map: params.commands[4] needs `label`, a label template or a list of them",
        "mine.yaml:17:11: bad-command-map: argument 3 of command_labels() must be a list of {match, label} "
        "entries, not str",
    ]
    hints = {diagnostic.hint for diagnostic in compiled.diagnostics}
    assert hints == {"see docs/packs/presence.md#the-command-map for the entries' shape"}


def test_the_compiled_pack_carries_every_map_regex_precompiled() -> None:
    from policy.compiler import PackSource, compile_files

    compiled = compile_files([PackSource(str(RULES), trusted=True)])
    assert compiled.errors == ()
    patterns = {pattern for pattern, _ in compiled.regexes}
    assert {entry["match"] for entry in shipped_commands()} <= patterns


# ---- the claims table: facts and writes ----------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(str(tmp_path / "facts.db"))
    yield opened
    opened.close()


def _rows(store: Store) -> list[tuple]:
    return store.execute("SELECT agent_session, label, purpose, claimed_at, heartbeat_at, expires_at, host, user, "
                         "agent FROM claims ORDER BY agent_session, label").fetchall()


def test_claim_co_claim_reclaim_heartbeat_release(store: Store) -> None:
    with store.transaction():
        assert board.claim(LocalBoard(store), S1, ["stack:billing", "node:n1"], "  GPU\n upgrade ", now=1000.0,
                           identity=OTHER, agent="cli") == (True, [])
    with store.transaction():
        taken, others = board.claim(LocalBoard(store), S2, "stack:billing", "tcpdump", now=1060.0, ttl=300,
                                    identity=("me", "here"))
    assert taken is True  # locally, a co-claim is taken too
    assert others == [{"agent_session": S1, "label": "stack:billing", "purpose": "GPU upgrade", "claimed_at": 1000.0,
                       "heartbeat_at": 1000.0, "expires_at": 1900.0, "host": "devbox", "user": "dev",
                       "agent": "cli", "age": 60.0, "expires_in": 840.0, "mine": False, "fence": None}]
    with store.transaction():  # claiming again keeps claimed_at, renews the rest
        board.claim(LocalBoard(store), S1, "stack:billing", "GPU upgrade, take 2", now=1100.0, identity=OTHER)
    assert _rows(store) == [
        (S2, "stack:billing", "tcpdump", 1060.0, 1060.0, 1360.0, "here", "me", ""),
        (S1, "node:n1", "GPU upgrade", 1000.0, 1000.0, 1900.0, "devbox", "dev", "cli"),
        (S1, "stack:billing", "GPU upgrade, take 2", 1000.0, 1100.0, 2000.0, "devbox", "dev", ""),
    ]
    # Throttled: every claim had a heartbeat less than 120 s ago... but node:n1's is 130 s old.
    assert LocalBoard(store).heartbeat(S1, now=1130.0, every=120) == ["node:n1", "stack:billing"]
    assert LocalBoard(store).heartbeat(S1, now=1200.0, every=120) is None
    assert [row[3:6] for row in _rows(store)] == [(1060.0, 1060.0, 1360.0), (1000.0, 1130.0, 2030.0),
                                                  (1000.0, 1130.0, 2030.0)]
    assert LocalBoard(store).heartbeat(S2, now=1360.0) == []  # expired: nothing to renew
    assert LocalBoard(store).release(S1, "node:n1", now=1200.0) == ["node:n1"]
    assert LocalBoard(store).release(S1, "node:n1", now=1200.0) == []
    assert LocalBoard(store).release(S2, now=1400.0) == []  # expired claims go silently
    assert LocalBoard(store).release(S1, now=1400.0) == ["stack:billing"]
    assert _rows(store) == []


def test_expired_claims_are_never_reported_and_are_purged_by_the_next_claim(store: Store) -> None:
    with store.transaction():
        board.claim(LocalBoard(store), S1, "stack:billing", "apply", now=1000.0, ttl=60, identity=OTHER)
    assert [row["label"] for row in LocalBoard(store).active(now=1059.9)] == ["stack:billing"]
    assert LocalBoard(store).active(now=1060.0) == []
    with store.transaction():
        assert board.claim(LocalBoard(store), S2, "stack:billing", "apply", now=1060.0, identity=OTHER) == (True, [])
    assert [row[:2] for row in _rows(store)] == [(S2, "stack:billing")]


def test_bad_labels_and_ttls_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match=r"^label 'billing' is not <type>:<name> \(e\.g\. stack:billing"):
        board.claim(LocalBoard(store), S1, ["stack:a", "billing"], "x", now=1.0)
    with pytest.raises(ValueError, match=r"^ttl must be positive, not 0$"):
        board.claim(LocalBoard(store), S1, "stack:a", "x", now=1.0, ttl=0)
    assert _rows(store) == []


def test_purposes_are_one_line_and_bounded(store: Store) -> None:
    board.claim(LocalBoard(store), S1, "stack:a", "x" * 400, now=1.0, identity=OTHER)
    assert _rows(store)[0][2] == "x" * 299 + "…"


def _facts(store: Store, session: str | None, now: float):
    from policy.facts import FactContext, Facts
    from policy.model import Event, Settings

    event = Event(host="claude-code", name="PreToolUse", agent_session=session)
    return Facts(FactContext(store, event, now, Settings(), utc_offset=3600)).family("claims")


def test_the_fact_family(store: Store) -> None:
    board.claim(LocalBoard(store), S1, ["stack:billing", "node:n1"], "GPU upgrade", now=T0_EPOCH, identity=OTHER)
    board.claim(LocalBoard(store), S2, "stack:billing", "tcpdump", now=T0_EPOCH + 60, identity=OTHER)
    board.claim(LocalBoard(store), "old", "stack:gone", "expired", now=T0_EPOCH - 2000, identity=OTHER)
    claims = _facts(store, S2, T0_EPOCH + 150)
    assert [(row["agent_session"], row["label"], row["mine"]) for row in claims.mine] == [
        (S2, "stack:billing", True)]
    assert [(row["agent_session"], row["label"]) for row in claims.others] == [
        (S1, "node:n1"), (S1, "stack:billing")]
    assert [(row["agent_session"], row["mine"]) for row in claims.on("stack:billing")] == [(S1, False), (S2, True)]
    assert [row["label"] for row in claims.others_on(["stack:billing", "node:n1", "stack:gone"])] == [
        "node:n1", "stack:billing"]
    assert claims.others_on([]) == []
    assert claims.unheld(["stack:billing", "node:n1"]) == ["node:n1"]
    assert claims.describe(claims.others) == (
        '- node:n1: session 8f2c1d3e (dev@devbox), "GPU upgrade", since 10:05 (2m 30s ago)\n'
        '- stack:billing: session 8f2c1d3e (dev@devbox), "GPU upgrade", since 10:05 (2m 30s ago)')
    assert claims.describe(claims.mine) == '- stack:billing: session 3b9e7f10 (you), "tcpdump", since 10:06 (1m 30s ago)'
    # A session-less event (e.g. from another tool) sees every claim as someone else's.
    assert len(_facts(store, None, T0_EPOCH + 150).others) == 3
    assert _facts(store, None, T0_EPOCH + 150).mine == []


def test_claims_from_another_day_show_the_date(store: Store) -> None:
    board.claim(LocalBoard(store), S1, "stack:a", "long apply", now=T0_EPOCH - 86400, ttl=2 * 86400, identity=OTHER)
    assert _facts(store, S2, T0_EPOCH).describe(_facts(store, S2, T0_EPOCH).others) == (
        '- stack:a: session 8f2c1d3e (dev@devbox), "long apply", since 2026-01-04 10:05 (24h 00m ago)')


@pytest.mark.parametrize(("sql", "index"), [
    ("SELECT * FROM claims WHERE agent_session = ? AND expires_at > ?", "sqlite_autoindex_claims_1"),
    ("SELECT * FROM claims WHERE expires_at > ? AND agent_session != ?", "idx_claims_expires_at"),
    ("SELECT * FROM claims WHERE label IN (?, ?) AND expires_at > ? AND agent_session != ?",
     "idx_claims_label_expires_at"),
    ("SELECT * FROM claims WHERE label IN (?) AND expires_at > ?", "idx_claims_label_expires_at"),
    ("SELECT min(heartbeat_at) FROM claims WHERE agent_session = ? AND expires_at > ?",
     "sqlite_autoindex_claims_1"),
    ("DELETE FROM claims WHERE expires_at <= ?", "idx_claims_expires_at"),
    ("UPDATE claims SET heartbeat_at = 1 WHERE agent_session = ? AND expires_at > ?", "sqlite_autoindex_claims_1"),
    ("DELETE FROM claims WHERE agent_session = ? AND label = ?", "sqlite_autoindex_claims_1"),
])
def test_every_claims_query_uses_an_index(store: Store, sql: str, index: str) -> None:
    plan = " | ".join(row[3] for row in store.execute("EXPLAIN QUERY PLAN " + sql, (0,) * sql.count("?")))
    assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
    assert "SCAN claims" not in plan


def test_the_queries_above_are_the_ones_the_code_runs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the EXPLAIN list honest: every statement the family and its writes send is one of them."""
    sent: list[str] = []
    execute = Store.execute

    def spy(self: Store, sql: str, params: object = ()) -> object:
        sent.append(" ".join(sql.split()))
        return execute(self, sql, params)

    monkeypatch.setattr(Store, "execute", spy)
    board.claim(LocalBoard(store), S1, ["stack:a", "stack:b"], "x", now=1.0, identity=OTHER)
    LocalBoard(store).heartbeat(S1, now=500.0, every=1)
    LocalBoard(store).release(S1, "stack:a", now=600.0)
    LocalBoard(store).release(S1, now=600.0)
    family = _facts(store, S1, 700.0)
    family.mine, family.others, family.on("stack:a"), family.others_on(["stack:a", "stack:b"])
    shapes = {sql.split(" WHERE ")[1] if " WHERE " in sql else sql for sql in sent}
    assert shapes == {
        "expires_at <= ?",
        "label IN (?, ?) AND expires_at > ? AND agent_session != ? ORDER BY claimed_at, label, agent_session",
        "agent_session = ? AND expires_at > ?",
        "agent_session = ? AND expires_at > ? ORDER BY claimed_at, label",
        "agent_session = ? AND label = ? AND expires_at > ? ORDER BY claimed_at, label",
        "agent_session = ? AND label = ?",
        "agent_session = ?",
        "agent_session = ? AND expires_at > ? ORDER BY claimed_at, label, agent_session",
        "expires_at > ? AND agent_session != ? ORDER BY claimed_at, label, agent_session",
        "label IN (?) AND expires_at > ? ORDER BY claimed_at, label, agent_session",
    } | {sql for sql in shapes if sql.startswith("INSERT INTO claims")}


# ---- the CLI, in process, with exact output ----------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`policy ARGS` in this process against a private store; returns (exit code, stdout, stderr)."""
    for name, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("CLAUDE_CODE_SESSION_ID", "POLICY_SESSION", "CLAUDECODE", "POLICY_CONFIG", "CLAUDE_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLICY_DB", str(tmp_path / "facts.db"))

    def run(*args: str) -> tuple[int, str, str]:
        from policy.cli import run as run_cli

        code = run_cli(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    run.db = tmp_path / "facts.db"  # type: ignore[attr-defined]
    return run


def seed(db: Path, session: str, labels: str | list[str], purpose: str, minutes: float, ttl: float = 900) -> None:
    """A claim made by someone on another machine (dev@devbox), `minutes` after T0."""
    with Store.open(str(db)) as opened, opened.transaction():
        board.claim(LocalBoard(opened), session, labels, purpose, now=T0_EPOCH + minutes * 60, ttl=ttl, identity=OTHER,
                    agent="claude-code")


def test_claim_prints_until_when_and_the_co_claimers_with_the_defer_advice(cli) -> None:
    assert cli("claim", "stack:billing", "--purpose", "GPU driver upgrade", "--session", S1, "--now", T0) == (
        0, "claimed stack:billing until 10:20 (ttl 15m 00s)\n", "")
    seed(cli.db, "c0ffee00-1111", "stack:billing", "tcpdump on uplink", 1)
    # held by others too: recorded, and exit 1 (the caller must not go ahead unasked)
    assert cli("claim", "stack:billing", "--purpose", "resize disks", "--ttl", "1h", "--session", S2,
               "--now", at(2)) == (1, (
        "claimed stack:billing until 11:07 (ttl 1h 00m)\n"
        "also claimed by 2 other agent sessions:\n"
        '- session 8f2c1d3e, "GPU driver upgrade", since 10:05 (2m 00s ago)\n'
        '- session c0ffee00 (dev@devbox), "tcpdump on uplink", since 10:06 (1m 00s ago)\n'
        "Defer to the user: tell them what the other sessions are doing and ask before you mutate it. If you "
        "wait, drop your claim: policy release stack:billing\n"), "")


def test_claim_json(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(cli.db, S1, "node:k8s-node1", "drain for kernel update", 0)
    monkeypatch.setenv("CLAUDE_CODE_SESSION_ID", S2)
    monkeypatch.setenv("CLAUDECODE", "1")
    code, out, err = cli("claim", "node:k8s-node1", "--purpose", "GPU", "--json", "--now", at(1))
    user, host = pwd.getpwuid(os.getuid()).pw_name, os.uname().nodename.split(".")[0]
    assert (code, err) == (1, "")  # held by another session
    assert json.loads(out) == {
        "claimed": {"agent_session": S2, "label": "node:k8s-node1", "purpose": "GPU", "claimed_at": T0_EPOCH + 60,
                    "heartbeat_at": T0_EPOCH + 60, "expires_at": T0_EPOCH + 960, "host": host, "user": user,
                    "agent": "claude-code", "age": 0.0, "expires_in": 900.0, "mine": True, "fence": None},
        "co_claimers": [{"agent_session": S1, "label": "node:k8s-node1", "purpose": "drain for kernel update",
                         "claimed_at": T0_EPOCH, "heartbeat_at": T0_EPOCH, "expires_at": T0_EPOCH + 900,
                         "host": "devbox", "user": "dev", "agent": "claude-code", "age": 60.0,
                         "expires_in": 840.0, "mine": False, "fence": None}]}


def test_list_and_peek_print_local_times_and_ages_and_mark_yours(cli) -> None:
    seed(cli.db, S1, ["stack:billing", "node:k8s-node1"], "GPU driver upgrade", 0)
    seed(cli.db, S2, "stack:billing", "", 2, ttl=3600)
    table = (
        "LABEL           SESSION         USER@HOST   SINCE  AGE     EXPIRES IN  PURPOSE\n"
        "--------------  --------------  ----------  -----  ------  ----------  ------------------\n"
        "node:k8s-node1  8f2c1d3e        dev@devbox  10:05  4m 00s  11m 00s     GPU driver upgrade\n"
        "stack:billing   8f2c1d3e        dev@devbox  10:05  4m 00s  11m 00s     GPU driver upgrade\n"
        "stack:billing   3b9e7f10 (you)  dev@devbox  10:07  2m 00s  58m 00s     -\n")
    assert cli("list", "--session", S2, "--now", at(4)) == (0, table, "")
    assert cli("list", "--all", "--session", S2, "--now", at(4)) == (0, table, "")
    assert cli("list", "--mine", "--session", S2, "--now", at(4)) == (0, (
        "LABEL          SESSION         USER@HOST   SINCE  AGE     EXPIRES IN  PURPOSE\n"
        "-------------  --------------  ----------  -----  ------  ----------  -------\n"
        "stack:billing  3b9e7f10 (you)  dev@devbox  10:07  2m 00s  58m 00s     -\n"), "")
    assert cli("peek", "stack:billing", "--now", at(16)) == (0, (
        "LABEL          SESSION   USER@HOST   SINCE  AGE      EXPIRES IN  PURPOSE\n"
        "-------------  --------  ----------  -----  -------  ----------  -------\n"
        "stack:billing  3b9e7f10  dev@devbox  10:07  14m 00s  46m 00s     -\n"), "")
    assert cli("peek", "node:k8s-node1", "--now", at(16)) == (0, "no active claim on node:k8s-node1\n", "")
    assert cli("list", "--now", at(80)) == (0, "no active claims\n", "")
    assert cli("list", "--mine", "--session", S1, "--now", at(80)) == (0, "session 8f2c1d3e holds no active claims\n",
                                                                       "")
    code, out, _ = cli("peek", "stack:billing", "--json", "--session", S2, "--now", at(16))
    assert (code, [(row["agent_session"], row["mine"], row["age"]) for row in json.loads(out)]) == (
        0, [(S2, True, 840.0)])
    assert cli("list", "--json", "--now", at(80)) == (0, "[]\n", "")


def test_heartbeat_and_release(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(cli.db, S1, ["stack:billing", "node:k8s-node1"], "GPU driver upgrade", 0)
    seed(cli.db, S1, "db:orders", "migration", 1, ttl=3600)
    monkeypatch.setenv("POLICY_SESSION", S1)
    assert cli("heartbeat", "--now", at(10)) == (0, (
        "extended node:k8s-node1 until 10:30\n"
        "extended stack:billing until 10:30\n"
        "extended db:orders until 11:15\n"), "")
    code, out, _ = cli("heartbeat", "--json", "--now", at(12))
    assert (code, [(row["label"], row["expires_at"] - T0_EPOCH) for row in json.loads(out)["extended"]]) == (
        0, [("node:k8s-node1", 1620.0), ("stack:billing", 1620.0), ("db:orders", 4320.0)])
    assert cli("release", "stack:billing", "--now", at(13)) == (0, "released stack:billing\n", "")
    assert cli("release", "stack:billing", "--now", at(13)) == (  # nothing to release: exit 1
        1, "", "session 8f2c1d3e holds no active claim on stack:billing\n")
    assert cli("release", "--all-mine", "--json", "--now", at(13)) == (
        0, f'{{"session": "{S1}", "released": ["node:k8s-node1", "db:orders"]}}\n', "")
    assert cli("release", "--all-mine", "--now", at(13)) == (1, "", "session 8f2c1d3e holds no active claims\n")
    assert cli("heartbeat", "--now", at(13)) == (0, "session 8f2c1d3e holds no active claims\n", "")


@pytest.mark.parametrize(("args", "message"), [
    (("claim", "billing", "--purpose", "x", "--session", S1),
     "policy: usage: label 'billing' is not <type>:<name> (e.g. stack:billing, service:api, node:k8s-node1, "
     "infra:dns)\n"),
    (("claim", "stack:a", "--purpose", " ", "--session", S1),
     'policy: usage: --purpose is empty (say what and why, e.g. --purpose "GPU driver upgrade")\n'),
    (("claim", "stack:a", "--purpose", "x", "--ttl", "0", "--session", S1),
     "policy: usage: --ttl must be more than 0 (e.g. --ttl 15m)\n"),
    (("claim", "stack:a", "--purpose", "x", "--ttl", "soon", "--session", S1),
     "policy: usage: --ttl 'soon' is not a duration (e.g. 90, 30s, 5m, 1h30m, 2d)\n"),
    (("release", "--session", S1),
     "policy: usage: give a LABEL or --all-mine (not both) (policy release stack:billing, or policy release "
     "--all-mine)\n"),
    (("release", "stack:a", "--all-mine", "--session", S1),
     "policy: usage: give a LABEL or --all-mine (not both) (policy release stack:billing, or policy release "
     "--all-mine)\n"),
    (("list", "--mine", "--all", "--session", S1),
     "policy: usage: --mine and --all exclude each other (policy list --mine, or policy list)\n"),
    (("peek", "nope"),
     "policy: usage: label 'nope' is not <type>:<name> (e.g. stack:billing, service:api, node:k8s-node1, "
     "infra:dns)\n"),
    (("list", "--now", "yesterday"),
     "policy: usage: 'yesterday' is not an ISO 8601 time (e.g. 2026-11-20T10:00:00+01:00)\n"),
])
def test_usage_errors_are_one_line_with_exit_2(cli, args: tuple[str, ...], message: str) -> None:
    assert cli(*args) == (2, "", message)


def test_a_claim_from_a_terminal_without_a_session_gets_a_stable_id_that_release_finds(
        cli, tmp_path: Path) -> None:
    """Seed 004's fallback: `user@host@8hex`, made once (said on stderr) and kept, never the empty session."""
    import getpass
    import socket

    id_file = tmp_path / "state" / "policy" / "terminal-session"
    assert cli("list", "--now", T0) == (0, "no active claims\n", "")  # a read makes no id
    assert not id_file.exists()
    code, out, err = cli("claim", "stack:billing", "--purpose", "manual apply", "--now", T0)
    made = id_file.read_text(encoding="utf-8").strip()
    user, host, suffix = made.split("@")
    assert (user, host, len(suffix), int(suffix, 16) >= 0) == (
        getpass.getuser(), socket.gethostname().split(".")[0], 8, True)
    assert (code, out, err) == (0, "claimed stack:billing until 10:20 (ttl 15m 00s)\n", (
        f"policy: no agent session given: using this terminal's id {made} (kept in {id_file}; --session or "
        "POLICY_SESSION choose another)\n"))
    assert cli("claim", "node:n1", "--purpose", "drain", "--now", at(1)) == (
        0, "claimed node:n1 until 10:21 (ttl 15m 00s)\n", "")
    with Store.open(str(cli.db)) as opened:
        assert opened.execute("SELECT DISTINCT agent_session FROM claims").fetchall() == [(made,)]
    code, out, _ = cli("list", "--mine", "--json", "--now", at(2))
    assert (code, [row["label"] for row in json.loads(out)]) == (0, ["stack:billing", "node:n1"])
    assert cli("release", "--all-mine", "--now", at(3)) == (0, "released stack:billing, node:n1\n", "")
    assert cli("heartbeat", "--now", at(3)) == (0, f"session {made} holds no active claims\n", "")


def test_every_verb_has_an_example_in_its_help(cli) -> None:
    for verb, example in (("claim", 'policy claim node:k8s-node1 --purpose "GPU driver upgrade"'),
                          ("heartbeat", "policy heartbeat --session"), ("release", "policy release stack:billing"),
                          ("list", "policy list --mine"), ("peek", "policy peek stack:billing")):
        code, out, _ = cli(verb, "--help")
        assert code == 0 and example in " ".join(out.split()), verb


def test_status_section(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from policy.commands.claims import status_section

    with Store.open(str(cli.db)) as opened:
        assert status_section(opened, T0_EPOCH, 3600) == ("Claims: none active", {"claims": []})
    seed(cli.db, S1, "stack:billing", "GPU driver upgrade", 0)
    seed(cli.db, S2, "node:k8s-node1", "drain", 1)
    monkeypatch.setenv("CLAUDE_CODE_SESSION_ID", S2)
    with Store.open(str(cli.db)) as opened:
        text, data = status_section(opened, T0_EPOCH + 180, 3600)
        assert [(row["label"], row["mine"]) for row in data["claims"]] == [("stack:billing", False),
                                                                          ("node:k8s-node1", True)]
        assert text == (
            "Claims: 2 active (1 yours)\n"
            '  stack:billing: session 8f2c1d3e (dev@devbox), "GPU driver upgrade", since 10:05 (3m 00s ago)\n'
            '  node:k8s-node1: session 3b9e7f10 (you), "drain", since 10:06 (2m 00s ago)')
        monkeypatch.delenv("CLAUDE_CODE_SESSION_ID")
        assert status_section(opened, T0_EPOCH + 180, 3600)[0].splitlines()[0] == "Claims: 2 active"


# ---- end to end, as a new user: real processes, real payloads ----------------------------------------------------

def isolated_env(root: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "HOME": str(root / "home"), "XDG_STATE_HOME": str(root / "state"), "XDG_CACHE_HOME": str(root / "cache"),
           "XDG_CONFIG_HOME": str(root / "config")}
    for name in ("home", "state", "cache", "config", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return env


class Shell:
    """`policy` as a user runs it: a fresh process each time, one private state directory, no session env."""

    def __init__(self, root: Path) -> None:
        self.env = isolated_env(root)
        self.db = root / "state" / "policy" / "facts.db"
        self.work = root / "work"

    def run(self, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> tuple[int, str, str]:
        done = subprocess.run([str(POLICY), *args], input=stdin, capture_output=True, timeout=120,
                              env={**self.env, **(env or {})}, cwd=str(self.work))
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def eval(self, event: str | dict, now: str, *args: str) -> tuple[int, str, str]:
        payload = (EVENTS / f"{event}.json").read_bytes() if isinstance(event, str) else json.dumps(event).encode()
        return self.run("eval", "--rules", str(RULES), "--now", now, *args, stdin=payload)

    def claims(self) -> list[tuple]:
        connection = sqlite3.connect(str(self.db))
        try:
            return connection.execute("SELECT agent_session, label, purpose, claimed_at, heartbeat_at, expires_at "
                                      "FROM claims ORDER BY agent_session, label").fetchall()
        finally:
            connection.close()


def deferred(reason: str) -> str:
    return json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                                              "permissionDecisionReason": reason}}, separators=(",", ":")) + "\n"


BILLING_REASON = (
    "Another agent session is working on what this command changes:\n"
    '- stack:billing: session 8f2c1d3e, "Apply Terraform changes to the billing stack", since 10:05 ({age} ago)\n'
    "Go ahead only if the user agrees; they may prefer to wait until it is released.")


def test_two_sessions_end_to_end_until_the_first_session_ends(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    # Session 1 applies the billing stack: no output (the host's own permission flow decides), a claim.
    assert shell.eval("PreToolUse-Bash", T0) == (0, "", "")
    assert shell.claims() == [(S1, "stack:billing", "Apply Terraform changes to the billing stack", T0_EPOCH,
                               T0_EPOCH, T0_EPOCH + 900)]
    # Session 2, two minutes later, the same apply in the same stack: deferred to the user, with session 1's purpose.
    assert shell.eval("PreToolUse-Bash-session2", at(2)) == (0, deferred(BILLING_REASON.format(age="2m 00s")), "")
    # What the rule saw is what `policy list` and `policy peek` show.
    code, out, err = shell.run("list", "--json", "--now", at(2))
    assert (code, err) == (0, "")
    assert [(row["agent_session"], row["label"], row["purpose"], row["claimed_at"], row["age"], row["mine"])
            for row in json.loads(out)] == [
        (S1, "stack:billing", "Apply Terraform changes to the billing stack", T0_EPOCH, 120.0, False)]
    code, out, err = shell.run("peek", "stack:billing", "--session", S1, "--now", at(2))
    user, host = pwd.getpwuid(os.getuid()).pw_name, os.uname().nodename.split(".")[0]
    who = f"{user}@{host}"
    assert (code, err) == (0, "")
    assert out.splitlines()[2].split() == ["stack:billing", "8f2c1d3e", "(you)", who, "10:05", "2m", "00s", "13m",
                                           "00s", "Apply", "Terraform", "changes", "to", "the", "billing", "stack"]
    # Session 1 keeps working (a heartbeat), session 2 is still deferred past the first claim's ttl.
    assert shell.eval("PostToolUse-Bash", at(10)) == (0, "", "")
    assert shell.eval("PreToolUse-Bash-session2", at(20)) == (0, deferred(BILLING_REASON.format(age="20m 00s")),
                                                              "")
    # Session 1 ends: its claims go, and session 2's apply goes through and claims the stack.
    assert shell.eval("SessionEnd", at(21)) == (0, "", "")
    assert shell.claims() == []
    assert shell.eval("PreToolUse-Bash-session2", at(22)) == (0, "", "")
    assert shell.claims() == [(S2, "stack:billing", "Apply Terraform changes to the billing stack",
                               T0_EPOCH + 1320, T0_EPOCH + 1320, T0_EPOCH + 2220)]
    assert shell.run("list", "--now", at(22))[1].splitlines()[2].split()[:2] == ["stack:billing", "3b9e7f10"]


def test_two_sessions_end_to_end_until_the_first_claim_expires(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    assert shell.eval("PreToolUse-Bash", T0) == (0, "", "")
    assert shell.eval("PreToolUse-Bash-session2", at(14)) == (0, deferred(BILLING_REASON.format(age="14m 00s")),
                                                              "")
    assert shell.run("peek", "stack:billing", "--json", "--now", at(15))[1] == "[]\n"
    assert shell.eval("PreToolUse-Bash-session2", at(15)) == (0, "", "")
    assert shell.claims() == [(S2, "stack:billing", "Apply Terraform changes to the billing stack",
                               T0_EPOCH + 900, T0_EPOCH + 900, T0_EPOCH + 1800)]
    # Session 1 is now told, with its next prompt, what session 2 is doing; session 2 hears nothing of its own.
    prompt = json.loads((EVENTS / "UserPromptSubmit.json").read_text())
    assert shell.eval(prompt, at(16)) == (0, json.dumps({"hookSpecificOutput": {
        "hookEventName": "UserPromptSubmit", "additionalContext": (
            "Other agent sessions are changing these resources right now (presence board):\n"
            '- stack:billing: session 3b9e7f10, "Apply Terraform changes to the billing stack", since 10:20 '
            "(1m 00s ago)\n"
            "If your work would mutate any of them, stop and ask the user before you do.")}},
        separators=(",", ":")) + "\n", "")
    assert shell.eval({**prompt, "session_id": S2}, at(16)) == (0, "", "")


@pytest.mark.parametrize(("defer_as", "output"), [
    ("deny", {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                     "permissionDecisionReason": BILLING_REASON.format(age="1m 00s")}}),
    ("defer", {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "defer"}}),
])
def test_defer_is_rendered_as_the_config_says(tmp_path: Path, defer_as: str, output: dict) -> None:
    shell = Shell(tmp_path)
    config = tmp_path / "policy.yaml"
    config.write_text(f"version: 1\ndefer_as: {defer_as}\n", encoding="utf-8")
    assert shell.eval("PreToolUse-Bash", T0, "--config", str(config)) == (0, "", "")
    assert shell.eval("PreToolUse-Bash-session2", at(1), "--config", str(config)) == (
        0, json.dumps(output, separators=(",", ":")) + "\n", "")


@pytest.mark.parametrize(("mode", "config", "decision"), [
    ("bypassPermissions", "", "ask"),  # Claude Code still shows a hook's ask there
    ("bypassPermissions", "ask_in_bypass: deny\n", "deny"),
    ("dontAsk", "", "deny"),  # nobody is asked
])
def test_a_defer_in_the_permission_modes(tmp_path: Path, mode: str, config: str, decision: str) -> None:
    shell = Shell(tmp_path)
    (tmp_path / "policy.yaml").write_text(f"version: 1\n{config}", encoding="utf-8")
    assert shell.eval("PreToolUse-Bash", T0, "--config", str(tmp_path / "policy.yaml")) == (0, "", "")
    event = json.loads((EVENTS / "PreToolUse-Bash-session2.json").read_text())
    code, out, _ = shell.eval({**event, "permission_mode": mode}, at(1), "--config", str(tmp_path / "policy.yaml"))
    assert (code, json.loads(out)["hookSpecificOutput"]["permissionDecision"]) == (0, decision)


def test_the_command_map_is_extended_in_the_project_config(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    (shell.work / "policy.yaml").write_text("""version: 1
packs:
  - name: presence
    params:
      extra_commands:
        - match: '^make\\s+deploy\\b'
          label: 'service:{cwd}'
""", encoding="utf-8")
    event = json.loads((EVENTS / "PreToolUse-Bash.json").read_text())
    deploy = {**event, "cwd": "/home/dev/shop", "tool_input": {"command": "make deploy", "description": "Deploy"}}
    assert shell.run("eval", "--now", T0, stdin=json.dumps(deploy).encode()) == (0, "", "")
    code, out, _ = shell.run("eval", "--now", at(1), stdin=json.dumps({**deploy, "session_id": S2}).encode())
    assert (code, json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"].splitlines()[1]) == (
        0, '- service:shop: session 8f2c1d3e, "Deploy", since 10:05 (1m 00s ago)')
    # The shipped entries still apply.
    assert shell.run("eval", "--now", at(2), stdin=(EVENTS / "PreToolUse-Bash.json").read_bytes()) == (0, "", "")
    assert [row[1] for row in shell.claims()] == ["service:shop", "stack:billing"]


def test_the_eval_path_of_the_pack_imports_no_re(tmp_path: Path) -> None:
    """With a warm cache, deciding presence events needs neither `re` nor any other slow module."""
    shell = Shell(tmp_path)
    # Warm the compiled cache and claim the stack for session 1, at the real time (`--now` itself imports datetime).
    assert shell.run("eval", "--rules", str(RULES), stdin=(EVENTS / "PreToolUse-Bash.json").read_bytes())[0] == 0
    code = f"""
import io, sys
from policy import hook
for name in ("PreToolUse-Bash-session2", "PostToolUse-Bash", "UserPromptSubmit", "SessionEnd"):
    raw = open({str(EVENTS)!r} + "/" + name + ".json", "rb").read()
    out = io.BytesIO()
    hook.main(["--rules", {str(RULES)!r}], stdin=io.BytesIO(raw), stdout=out, stderr=io.BytesIO())
    print(name, bool(out.getvalue()))
print(sorted(m for m in ("re", "json", "datetime", "dataclasses", "typing", "enum", "sqlite3", "sqlite_utils",
                         "yaml", "jsonschema", "simpleeval", "shlex") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, timeout=60, cwd=str(shell.work),
                          env={**shell.env, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stderr.decode()) == (0, "")
    # Session 2 is deferred (the facts, the labels and the description ran); session 1 heartbeats, is told
    # nothing new with its prompt (its own claim), and releases.
    assert done.stdout.decode() == ("PreToolUse-Bash-session2 True\nPostToolUse-Bash False\n"
                                    "UserPromptSubmit False\nSessionEnd False\n[]\n")


# ---- concurrency: 8 processes at once ----------------------------------------------------------------------------

def test_eight_processes_claim_and_release_at_once_without_lost_or_phantom_claims(tmp_path: Path) -> None:
    shell = Shell(tmp_path)
    workers = 8
    sessions = [f"worker-{index}" for index in range(workers)]
    apply_event = json.loads((EVENTS / "PreToolUse-Bash.json").read_text())
    barrier = threading.Barrier(workers)
    reports: dict[int, dict[str, object]] = {}
    failures: list[str] = []

    def step(index: int, name: str, *args: str, stdin: bytes = b"") -> str:
        barrier.wait(timeout=120)
        code, out, err = shell.run(*args, stdin=stdin)
        held = name == "claim shared" and code == 1 and json.loads(out)["co_claimers"]  # exit 1: held by others
        if (code != 0 and not held) or err:
            failures.append(f"worker {index} {name}: exit {code}: {err}")
        return out

    def work(index: int) -> None:
        session = sessions[index]
        report: dict[str, object] = {}
        out = step(index, "claim shared", "claim", "infra:shared-board", "--purpose", f"worker {index}",
                   "--session", session, "--json")
        report["co_claimers"] = sorted(row["agent_session"] for row in json.loads(out)["co_claimers"])
        event = {**apply_event, "session_id": session, "cwd": f"/srv/stacks/stack-{index}"}
        report["eval"] = step(index, "eval", "eval", "--rules", str(RULES), stdin=json.dumps(event).encode())
        out = step(index, "claim own", "claim", f"infra:own-{index}", "--purpose", "mine", "--session", session,
                   "--json")
        report["own_co_claimers"] = json.loads(out)["co_claimers"]
        label = f"infra:own-{index}" if index % 2 == 0 else "infra:shared-board"
        out = step(index, "release", "release", label, "--session", session, "--json")
        report["released"] = json.loads(out)["released"]
        reports[index] = report

    threads = [threading.Thread(target=work, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert failures == []
    assert sorted(reports) == list(range(workers))
    # The claims of the shared label were serialised: each saw exactly the ones committed before it.
    seen = sorted((reports[index]["co_claimers"] for index in range(workers)), key=len)
    assert [len(co) for co in seen] == list(range(workers))
    assert all(set(seen[k]) < set(seen[k + 1]) for k in range(workers - 1))
    for index in range(workers):
        assert reports[index]["eval"] == ""  # separate stacks: nothing to defer
        assert reports[index]["own_co_claimers"] == []
        assert reports[index]["released"] == [f"infra:own-{index}" if index % 2 == 0 else "infra:shared-board"]
    expected = sorted(
        [(session, "infra:shared-board") for index, session in enumerate(sessions) if index % 2 == 0]
        + [(session, f"infra:own-{index}") for index, session in enumerate(sessions) if index % 2 == 1]
        + [(session, f"stack:stack-{index}") for index, session in enumerate(sessions)])
    assert sorted(row[:2] for row in shell.claims()) == expected
