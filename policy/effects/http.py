"""`http`: POST a JSON body to a URL (a status dashboard, a webhook), after the answer is written (SPEC §4).

It never blocks the answer: in the eval transaction `apply_http` only checks and queues the request; the hook
sends it once its answer is out (policy.hook.after_answer: the evaluator after it handed the answer over, the
resident server after it replied), within the evaluation's deadline (docs/security.md#the-deadline), and puts how
it went into the decision log. Only rule files the user trusts may send requests (policy.effects.untrusted_refusal).
Header values may hold `{env:NAME}` and `{file:PATH}`, as a source's do, so that a token never sits in a rule file.
Redirects are not followed; the response body is not read beyond a few bytes.
"""

from __future__ import annotations

from policy.errors import Diagnostic, EvaluationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.effects import EffectContext
    from policy.errors import Location
    from policy.model import PlannedEffect

DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
MAX_BODY_BYTES = 1 << 20

KINDS: dict[str, dict[str, Any]] = {
    "http": {
        "description": "POST a JSON body to an http(s) URL after the answer is written (never delaying it), with a "
                       "timeout; how it went goes to the decision log. Only in trusted rule files.",
        "type": "object", "required": ["url"], "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "description": "An http:// or https:// URL (a template)."},
            "body": {"description": "The JSON to send: any value; templates inside are rendered, and a "
                                    "one-expression template keeps its type. Default: {event, agent_session, tool, "
                                    "cwd, at}."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Request headers (templates); `{env:NAME}` and `{file:PATH}` in a value are "
                                       "replaced by an environment variable or a file's contents."},
            "timeout": {"description": f"Seconds to wait for the answer (default {DEFAULT_TIMEOUT:g}, at most "
                                       f"{MAX_TIMEOUT:g}; never past the hook's deadline).",
                        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
                                  {"type": "string"}]},
        },
    },
}


def check_http(args: dict[str, Any], location: Location) -> list[Diagnostic]:
    url = args.get("url")
    if isinstance(url, str) and "{{" not in url and not _is_http(url):
        return [Diagnostic(location, "bad-effect", f"the http effect's url {url!r} is not http:// or https://",
                           "e.g. url: https://dashboard.example/api/agents")]
    return []


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _request(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> tuple[str, bytes, float]:
    """(url, body as JSON bytes, timeout) of a rendered effect. Raises EvaluationError."""
    from policy.lean import json_dumps
    from policy.times import parse_duration

    where = f"effect http of rule {effect.pack}/{effect.rule_id}"
    url = args.get("url")
    if not isinstance(url, str) or not _is_http(url):
        raise EvaluationError(f"{where}: the url must be http:// or https://, not {url!r}", code="bad-effect",
                              location=effect.location)
    body = args.get("body")
    if "body" not in args:
        event = context.event
        body = {"event": event.name, "agent_session": event.agent_session, "tool": event.tool, "cwd": event.cwd,
                "at": context.now}
    try:
        data = json_dumps(body).encode()
    except (TypeError, ValueError) as error:
        raise EvaluationError(f"{where}: the body is not JSON: {error}", code="bad-effect",
                              location=effect.location) from None
    if len(data) > MAX_BODY_BYTES:
        raise EvaluationError(f"{where}: the body is larger than {MAX_BODY_BYTES:,} bytes", code="bad-effect",
                              location=effect.location)
    raw = args.get("timeout")
    seconds = DEFAULT_TIMEOUT if raw in (None, "") else parse_duration(raw, what="http timeout")
    if not 0 < seconds <= MAX_TIMEOUT:
        raise EvaluationError(f"{where}: timeout must be in (0, {MAX_TIMEOUT:g}] seconds, not {seconds:g}",
                              code="bad-effect", location=effect.location)
    return url, data, seconds


def apply_http(args: dict[str, Any], context: EffectContext, effect: PlannedEffect) -> str:
    """In the eval transaction: check the request, and queue it for after the answer (`after_http`)."""
    url, _, _ = _request(args, context, effect)
    return f"queued: POST {url}"


def after_http(args: dict[str, Any], context: EffectContext, effect: PlannedEffect, seconds_left: float) -> str:
    """After the answer is written: send the request, waiting at most its timeout and `seconds_left`."""
    import time

    url, data, timeout = _request(args, context, effect)
    wait = min(timeout, seconds_left)
    if wait <= 0:
        return f"skipped: POST {url}: the hook's deadline had passed"
    from policy import __version__
    from policy.sources import SourceError
    from policy.sources.http import expand_header

    headers = {"User-Agent": f"policy/{__version__}", "Content-Type": "application/json"}
    try:
        for name, value in (args.get("headers") or {}).items():
            headers[str(name)] = expand_header(str(name), str(value))
    except SourceError as error:
        return f"failed: POST {url}: {error}"
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    started = time.monotonic()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.build_opener(NoRedirects).open(request, timeout=wait) as response:
            response.read(4096)
            status = f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"failed: POST {url}: HTTP {error.code} {error.reason} in {time.monotonic() - started:.2f}s"
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return f"failed: POST {url}: timed out after {wait:g}s"
        return f"failed: POST {url}: {getattr(reason, 'strerror', None) or reason}"
    except TimeoutError:
        return f"failed: POST {url}: timed out after {wait:g}s"
    except (http.client.HTTPException, OSError) as error:
        return f"failed: POST {url}: {type(error).__name__}: {error}"
    return f"POST {url}: {status} in {time.monotonic() - started:.2f}s"
