"""``Idempotency-Key`` support for write endpoints (Stripe's model).

The first request with a key inserts an ``IdempotencyRecord`` (user, key, endpoint, sha256 of the
body) with no status, in its own committed transaction: the unique constraint is the lock, so a
concurrent duplicate fails to insert and answers 409 while the first is in flight. A successful
(2xx) response is stored and replayed verbatim for 24 hours to a retry with the same key and body
(header ``Idempotent-Replayed: true``); the same key with a different body answers 422. A failed
request stores nothing (its transaction rolled back, nothing happened), so the client may retry
it with the same key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from tasks_app.models import IdempotencyRecord

from .exceptions import error_body

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
RETENTION = timedelta(hours=24)
# A record still without a response after this long belongs to a request that died mid-way.
ABANDONED_AFTER = timedelta(minutes=5)

MSG_BAD_KEY = f"{HEADER} must be 1..{MAX_KEY_LENGTH} printable characters"
MSG_REUSED = f"this {HEADER} was already used with a different request body"
MSG_IN_FLIGHT = f"a request with this {HEADER} is still being processed; retry later"

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Makes the write safe to retry: a repeat with the same key and body replays the first "
    "response for 24 h; a different body answers 422; a concurrent duplicate answers 409.",
)


def body_hash(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(user, key: str, endpoint: str, digest: str):
    """Insert the record; return ``None`` when claimed, else the existing record."""
    for _ in range(2):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(user=user, key=key, endpoint=endpoint, body_hash=digest)
            return None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key, endpoint=endpoint).first()
            if existing is None:
                continue  # deleted in between: try again
            now = timezone.now()
            stale = existing.created_at < now - RETENTION or (
                existing.status_code is None and existing.created_at < now - ABANDONED_AFTER
            )
            if not stale:
                return existing
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
    return None


def idempotent(view_method):
    """Decorate a write method of a DRF view to honour the ``Idempotency-Key`` header."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            return Response(error_body("validation", MSG_BAD_KEY), status=400)
        endpoint = f"{request.method} {request.path}"[:200]
        digest = body_hash(request.data)
        existing = _claim(request.user, key, endpoint, digest)
        if existing is not None:
            if existing.body_hash != digest:
                return Response(error_body("idempotency_key_reused", MSG_REUSED), status=422)
            if existing.status_code is None:
                return Response(error_body("idempotency_in_flight", MSG_IN_FLIGHT), status=409)
            response = Response(existing.response, status=existing.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        records = IdempotencyRecord.objects.filter(user=request.user, key=key, endpoint=endpoint)
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            records.delete()
            raise
        if 200 <= response.status_code < 300:
            stored = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            records.update(status_code=response.status_code, response=stored)
        else:
            records.delete()
        return response

    return wrapper
