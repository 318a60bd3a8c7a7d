"""`http` sources: GET a URL with headers and read the JSON (or YAML) body, e.g. Claude's usage endpoint.

Header values may hold `{env:NAME}` (an environment variable) and `{file:PATH}` (a file's contents, stripped;
`{file:PATH#a.b}` reads the key path a.b of a JSON file), so that a bearer token never sits in the config.
Only http and https URLs; redirects are not followed (they would carry the Authorization header elsewhere);
bodies over MAX_BYTES are refused. urllib, ssl and json are imported here, only when a fetch is due.
"""

from __future__ import annotations

import os

from policy import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from policy.model import SourceSpec
    from policy.sources import Job


def _placeholder(kind: str, argument: str, header: str) -> str:
    from policy.sources import SourceError

    if kind == "env":
        value = os.environ.get(argument)
        if value is None:
            raise SourceError(f"header {header}: the environment variable {argument} is not set")
        return value
    path, _, key_path = argument.partition("#")
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1 << 20)
    except OSError as error:
        raise SourceError(f"header {header}: cannot read {path}: {error.strerror or error}") from None
    if not key_path:
        return text.strip()
    from policy.lean import json_loads

    try:
        data: Any = json_loads(text)
    except ValueError:
        raise SourceError(f"header {header}: {path} is not JSON") from None
    for key in key_path.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, str):
        raise SourceError(f"header {header}: {path} has no text at {key_path}")
    return data


def expand_header(name: str, value: str) -> str:
    """Replace `{env:NAME}` and `{file:PATH[#key.path]}` in a header value. Raises SourceError."""
    out, position = [], 0
    while True:
        start = min((index for index in (value.find("{env:", position), value.find("{file:", position))
                     if index != -1), default=-1)
        end = value.find("}", start) if start != -1 else -1
        if start == -1 or end == -1:
            out.append(value[position:])
            return "".join(out)
        kind, _, argument = value[start + 1:end].partition(":")
        out.append(value[position:start])
        out.append(_placeholder(kind, argument, name))
        position = end + 1


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A `Retry-After` header's wait in seconds: delta-seconds (`120`) or an HTTP date (RFC 9110 §10.2.3), never
    below 0; None when it is missing or neither."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    import email.utils
    import time

    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT; a zone-less one is read as such
        import datetime

        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, round(moment.timestamp() - (time.time() if now is None else now)))


def fetch(spec: SourceSpec, job: Job) -> bytes:
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    from policy.sources import MAX_BYTES, SourceError

    url = str(spec.options["url"])
    if not url.lower().startswith(("http://", "https://")):
        raise SourceError(f"only http and https URLs can be fetched, not {url!r}")
    headers = {"User-Agent": f"policy/{__version__}", "Accept": "application/json"}
    for name, value in (spec.options.get("headers") or {}).items():
        headers[str(name)] = expand_header(str(name), str(value))

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirects)
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with opener.open(request, timeout=job.remaining()) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        where = f" to {error.headers.get('Location')}" if 300 <= error.code < 400 else ""
        wait = retry_after(error.headers.get("Retry-After")) if error.code in (429, 503) else None
        asked = f" (retry after {wait:g}s)" if wait is not None else ""
        raise SourceError(f"HTTP {error.code} {error.reason}{where}".rstrip() + asked, retry_after=wait) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise SourceError(f"timed out after {spec.timeout:g}s") from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise SourceError(f"cannot connect to {urllib.parse.urlsplit(url).netloc}: {text}") from None
    except TimeoutError:
        raise SourceError(f"timed out after {spec.timeout:g}s") from None
    except (http.client.HTTPException, OSError) as error:
        raise SourceError(f"bad HTTP response: {type(error).__name__}: {error}".rstrip(": ")) from None
    return body
