"""services.signing: the X-Arbor-Signature scheme shared by triggers and webhooks."""

import hashlib
import hmac

from tasks_app.services.signing import SIGNATURE_PREFIX, sign


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", b"{}") == SIGNATURE_PREFIX + expected


def test_each_part_changes_the_signature():
    base = sign("a", "1", b"x")
    assert len({base, sign("b", "1", b"x"), sign("a", "2", b"x"), sign("a", "1", b"y")}) == 4
    assert sign("a", "1", b"x") == base  # deterministic
