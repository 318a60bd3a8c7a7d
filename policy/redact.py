"""Secrets out of hook payloads before the decision log keeps them (`log.keep_payload: redacted`, the default).

A kept payload is what `policy replay` runs candidate rules over, so redaction keeps its shape: every string stays
where it was and only the secret inside it becomes `[REDACTED]`. Replaced are the values of keys that name a secret
(`password`, `token`, `api_key`, `secret`, `authorization`, ... in a mapping, or as `NAME=value` / `NAME: value`
in text), `Bearer`/`Basic` credentials, URLs' passwords, private key blocks, and token formats that are secrets
by themselves (AWS access keys, GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic keys, JWTs). A rule that matches
on a secret itself sees `[REDACTED]` in a replay; docs/config.md#keys says so.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MARK = "[REDACTED]"
# Payloads larger than this are not kept at all (a Write of a big file): replaying half a payload would mislead.
MAX_KEPT_BYTES = 256 * 1024

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|" \
               r"private[_-]?key|credential|auth(?:orization)?|session[_-]?key|client[_-]?secret)[A-Za-z0-9_.-]*"
_compiled: list[Any] = []


def _patterns() -> tuple[Any, tuple[tuple[Any, str], ...]]:
    """(the secret-name regex, the (pattern, replacement) pairs), compiled on first use: `re` stays off the
    `policy eval` path for payloads that hold nothing like a secret."""
    if not _compiled:
        import re

        _compiled.extend((re.compile(rf"^{_SECRET_NAME}$", re.IGNORECASE), _build(re)))
    return _compiled[0], _compiled[1]


def _build(re: Any) -> tuple[tuple[Any, str], ...]:
    return (
        # -----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----
        (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
         MARK),
        # Authorization: Bearer xyz / Basic xyz
        (re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\1 {MARK}"),
        # scheme://user:password@host
        (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.IGNORECASE), rf"\1{MARK}@"),
        # NAME=value, NAME: value, --password value, "password": "value" (in text, e.g. a command line)
        (re.compile(rf"(\b{_SECRET_NAME}[\"']?\s*[=:]\s*[\"']?)(?!(?:Bearer|Basic|Token)\s|\[REDACTED\])([^\s\"'&;|]+)",
                    re.IGNORECASE), rf"\1{MARK}"),
        (re.compile(rf"(--{_SECRET_NAME}[= ])([^\s\"'&;|]+)", re.IGNORECASE), rf"\1{MARK}"),
        # tokens that are secrets by their format
        (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MARK),
        (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,})\b"), MARK),
        (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), MARK),
        (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"), MARK),
        (re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"), MARK),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MARK),
    )


# One cheap pass first (substring tests are far cheaper than any regex): most payloads hold none of these, and
# then nothing else runs.
_HINTS = ("passw", "passphrase", "secret", "token", "key", "credential", "auth", "bearer", "basic", "-----begin",
          "://", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "_live_",
          "_test_", "sk-", "eyj")


def _may_hold_secrets(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _HINTS)


def redact_text(text: str) -> str:
    """`text` with every secret the patterns know replaced by `[REDACTED]`."""
    if not _may_hold_secrets(text):
        return text
    for pattern, replacement in _patterns()[1]:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A parsed payload with its secrets replaced: the values of secret-named keys wholly, and secrets inside
    every other string."""
    if isinstance(value, dict):
        secret_key = _patterns()[0]
        return {key: (MARK if isinstance(item, (str, int, float)) and not isinstance(item, bool) and item != ""
                      and secret_key.match(str(key)) else redact(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def kept_payload(raw: bytes | None, mode: str) -> tuple[str | None, str | None]:
    """(the payload text to log, how it was kept: "full" (whole), "redacted" (secrets replaced), "too-large" (not
    kept) or None when it is not kept)."""
    if raw is None or mode == "none":
        return None, None
    if len(raw) > MAX_KEPT_BYTES:
        return None, "too-large"
    text = raw.decode("utf-8", "replace")
    if mode == "full":
        return text, "full"
    from policy.lean import json_dumps, json_loads

    try:
        data = json_loads(text)
    except ValueError:  # not JSON: the text itself, redacted
        kept = redact_text(text)
        return kept, "redacted" if kept != text else "full"
    if not _may_hold_secrets(text):
        return text, "full"
    cleaned = redact(data)
    # "redacted" only when a secret was replaced: a payload without any is kept whole. (A JSON escape may have
    # made a lone surrogate, which SQLite cannot store: it becomes "?", as in the raw text above.)
    kept = json_dumps(cleaned).encode("utf-8", "replace").decode("utf-8")
    return kept, "redacted" if cleaned != data else "full"
