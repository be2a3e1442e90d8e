"""Sending one push: a small interface, and its pywebpush implementation.

The interface lets tests swap in a recorder; the real sender is exercised end to end against a local
receiver that decrypts the message (RFC 8291) and checks the VAPID signature (RFC 8292).

Nothing here logs the endpoint (a bearer capability for the subscriber's device), the payload or the
push service's answer text: only kinds and status codes reach the log.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from server.push.vapid import VapidKey

log = logging.getLogger("yorisoi.push")

NO_ANSWER = 0  # the status recorded when the push service could not be reached


@dataclass(frozen=True)
class Target:
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Message:
    payload: bytes
    ttl: int  # seconds the push service keeps it for an offline device; never 0
    urgency: str  # very-low | low | normal | high (RFC 8030 §5.3)
    topic: str  # replaces an undelivered message with the same topic (RFC 8030 §5.4)


@dataclass(frozen=True)
class Result:
    status: int  # HTTP status, or NO_ANSWER
    retry_after: float | None = None  # seconds, when the push service asked for it

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class PushSender(Protocol):
    def send(self, target: Target, message: Message) -> Result: ...


class _NoRedirects(requests.Session):
    """A redirect from a push service could point anywhere (SSRF): treat it as a failure."""

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class WebPushSender:
    """Encrypts with aes128gcm (RFC 8291), signs with VAPID (RFC 8292), posts with TTL, Urgency, Topic."""

    def __init__(self, key: VapidKey, subject: str, timeout: float = 10.0) -> None:
        self._vapid = Vapid02(private_key=key.private_key)
        self._subject = subject
        self._timeout = timeout
        self._session = _NoRedirects()

    def send(self, target: Target, message: Message) -> Result:
        if message.ttl <= 0:
            raise ValueError("a push needs a TTL above 0 (iOS and others drop TTL 0 pushes when offline)")
        try:
            response = webpush(
                subscription_info={"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                data=message.payload,  # bytes are accepted; the annotation says str
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self._subject},  # pywebpush adds aud (the endpoint's origin) and exp
                content_encoding="aes128gcm",
                ttl=message.ttl,
                headers={"Urgency": message.urgency, "Topic": message.topic},
                timeout=self._timeout,
                requests_session=self._session,
            )
        except WebPushException as exc:
            status = exc.status_code or NO_ANSWER
            return Result(status, parse_retry_after(exc.retry_after))
        except (requests.RequestException, OSError) as exc:
            log.warning("push service unreachable (%s)", type(exc).__name__)
            return Result(NO_ANSWER)
        status = int(getattr(response, "status_code", NO_ANSWER))
        return Result(status)
