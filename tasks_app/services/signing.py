"""``X-Arbor-Signature``: HMAC-SHA256 over ``"{timestamp}.{raw body}"`` (inbound triggers and
outbound webhooks use the same scheme; docs/notifications.md has a verification example)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()
