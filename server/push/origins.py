"""Which push services the server may post to.

Threat: a push subscription is a URL supplied by a browser, i.e. by whoever holds a session. Left
unchecked it would make the server POST to any address it can reach (internal admin pages, cloud
metadata endpoints): server-side request forgery. So an endpoint must be on an allowed origin
(`YORISOI_PUSH_ALLOWED_ORIGINS`, by default the public push services of Google, Mozilla, Apple and
Microsoft). It is checked when a subscription is stored *and* again before every send (the list
may have changed since), and the sender never follows redirects.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = re.compile(r"^[a-z0-9-]+$")


def _split(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


_PATTERN = re.compile(r"^(https?)://([a-z0-9*.-]+)(?::(\d{1,5}))?$")


def _label_matches(pattern: str, label: str) -> bool:
    if "*" not in pattern:
        return pattern == label
    if not _LABEL.match(label):
        return False
    regex = "^" + "[a-z0-9-]*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(regex, label) is not None


def _origin_matches(pattern: str, endpoint: tuple[str, str, int]) -> bool:
    match = _PATTERN.match(pattern.lower())
    if match is None:
        return False
    scheme, host, port = match.group(1), match.group(2), match.group(3)
    e_scheme, e_host, e_port = endpoint
    if scheme != e_scheme or (int(port) if port else _DEFAULT_PORTS[scheme]) != e_port:
        return False
    p_labels, e_labels = host.split("."), e_host.split(".")
    return len(p_labels) == len(e_labels) and all(
        _label_matches(p, e) for p, e in zip(p_labels, e_labels, strict=True)
    )


def is_allowed(endpoint: str, patterns: Iterable[str]) -> bool:
    """Whether a subscription endpoint URL is on one of the allowed origins (`*` within one label)."""
    parsed = _split(endpoint)
    if parsed is None:
        return False
    return any(_origin_matches(p.strip().rstrip("/"), parsed) for p in patterns if p.strip())
