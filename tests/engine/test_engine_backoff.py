from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks_app.engine import retry_delay


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 1.0, 10.0),
        (1, 0.0, 5.0),
        (2, 1.0, 20.0),
        (3, 0.5, 30.0),
        (4, 1.0, 60.0),  # capped: 80 -> 60
        (50, 0.0, 30.0),
        (10**6, 1.0, 60.0),  # no float overflow
    ],
)
def test_retry_delay_doubles_jitters_and_caps(attempt, rand, expected):
    assert retry_delay(10, attempt, 60, rand=lambda: rand) == pytest.approx(expected)


def test_zero_base_means_no_delay():
    assert retry_delay(0, 5, 60) == 0.0


def test_rand_is_clamped():
    assert retry_delay(10, 1, 60, rand=lambda: 7.0) == 10.0
    assert retry_delay(10, 1, 60, rand=lambda: -3.0) == 5.0


@pytest.mark.parametrize(("base", "attempt", "cap"), [(1, 0, 10), (-1, 1, 10), (1, 1, -5)])
def test_bad_arguments(base, attempt, cap):
    with pytest.raises(ValueError):
        retry_delay(base, attempt, cap)


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=5000),
    cap=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    rand=st.floats(min_value=0, max_value=1),
)
def test_retry_delay_bounds(base, attempt, cap, rand):
    delay = retry_delay(base, attempt, cap, rand=lambda: rand)
    raw = float(min(Fraction(base) * 2 ** (attempt - 1), Fraction(cap)))  # exact arithmetic as the oracle
    assert 0.5 * raw - 1e-9 <= delay <= raw + 1e-9
    assert delay <= cap + 1e-9


@settings(max_examples=50, deadline=None)
@given(base=st.floats(min_value=0.01, max_value=100), attempt=st.integers(min_value=1, max_value=30))
def test_retry_delay_upper_bound_is_monotonic(base, attempt):
    cap = 1e9
    assert retry_delay(base, attempt, cap, rand=lambda: 1.0) <= retry_delay(
        base, attempt + 1, cap, rand=lambda: 1.0
    )
