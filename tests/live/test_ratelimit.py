"""The one in-process token bucket (websocket inbound messages, task.log frames)."""

from tasks_app.ratelimit import TokenBucket


def test_a_full_bucket_allows_its_burst_then_refills_at_its_rate():
    now = [100.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.25  # half a token: still empty
    assert not bucket.take()
    now[0] += 0.25
    assert bucket.take() and not bucket.take()
    now[0] += 60  # never more than the burst saved up
    assert sum(bucket.take() for _ in range(10)) == 3


def test_a_refused_take_spends_nothing():
    bucket = TokenBucket(rate=1, burst=1, clock=lambda: 0.0)
    assert bucket.take(0.0) and not bucket.take(0.5) and bucket.take(1.0)
