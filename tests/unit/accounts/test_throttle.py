"""Password guessing: what is counted, when attempts are refused, and that concurrent guesses
cannot slip past the limit. Run on both counters: in-process and shared through a real Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from redis_check import REDIS_URL, redis_unavailable
from tokenforge.accounts.throttle import Limits, Lockout, PasswordThrottle
from tokenforge.api.ratelimit import RateLimiter, RedisRateLimiter

WINDOW = 900
T0 = 1_800_000_000.0  # a window boundary (a multiple of 900), so a test knows where windows end

Make = Callable[[Limits], PasswordThrottle]


@pytest.fixture(params=["in-process", "redis"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """Throttles over one shared counter (as every process shares Redis), fresh per test."""
    if request.param == "in-process":
        counter: RateLimiter | RedisRateLimiter = RateLimiter(enabled=True, per_user=0, per_ip=0, window=WINDOW)
    else:
        reason = redis_unavailable()
        if reason:
            pytest.skip(reason)
        prefix = f"tokenforge-test:{uuid.uuid4().hex}:"
        counter = RedisRateLimiter(REDIS_URL, enabled=True, per_user=0, per_ip=0, prefix=prefix, window=WINDOW)
    yield lambda limits: PasswordThrottle(counter, limits, b"k" * 32)
    if isinstance(counter, RedisRateLimiter):
        counter.close()


def _fail(throttle: PasswordThrottle, times: int, login: str = "alice", ip: str = "10.0.0.1", now: float = T0) -> None:
    for _ in range(times):
        assert throttle.sign_in_attempt(login, ip, now) is None  # checked, and (the test says) wrong


def test_a_login_is_locked_from_an_address_after_its_limit_then_freed_by_the_next_window(make: Make) -> None:
    throttle = make(Limits(per_address=100, per_login_and_address=3))
    _fail(throttle, 3)
    lockout = throttle.sign_in_attempt("alice", "10.0.0.1", T0 + 10)
    assert lockout == Lockout(int(T0) + WINDOW)
    assert lockout.retry_after(T0 + 10) == WINDOW - 10
    # Every attempt is refused, whatever the password would have been; other addresses and
    # other logins are not affected by this key.
    assert throttle.sign_in_attempt("alice", "10.0.0.1", T0 + WINDOW - 1) is not None
    assert throttle.sign_in_attempt("alice", "10.0.0.2", T0) is None
    assert throttle.sign_in_attempt("bob", "10.0.0.1", T0) is None
    assert throttle.sign_in_attempt("alice", "10.0.0.1", T0 + WINDOW) is None


def test_the_case_and_spacing_of_the_login_do_not_buy_more_guesses(make: Make) -> None:
    throttle = make(Limits(per_address=100, per_login_and_address=3))
    for login in ("alice", "ALICE", " Alice "):
        assert throttle.sign_in_attempt(login, "10.0.0.1", T0) is None
    assert throttle.sign_in_attempt("aLiCe", "10.0.0.1", T0) is not None


def test_an_address_is_locked_after_its_limit_across_logins(make: Make) -> None:
    throttle = make(Limits(per_address=5, per_login_and_address=100))
    for n in range(5):
        assert throttle.sign_in_attempt(f"user{n}", "10.0.0.9", T0) is None
    assert throttle.sign_in_attempt("someone-else", "10.0.0.9", T0) is not None
    assert throttle.sign_in_attempt("user0", "10.0.0.8", T0) is None  # another address


def test_right_passwords_do_not_count(make: Make) -> None:
    throttle = make(Limits(per_address=3, per_login_and_address=3))
    _fail(throttle, 2)
    for _ in range(20):  # an office behind one address signing in all day
        assert throttle.sign_in_attempt("alice", "10.0.0.1", T0) is None
        throttle.sign_in_succeeded("alice", "10.0.0.1", T0)
    _fail(throttle, 1)  # the third failure is still allowed ...
    assert throttle.sign_in_attempt("alice", "10.0.0.1", T0) is not None  # ... the fourth attempt is not


def test_a_refused_attempt_does_not_use_up_another_keys_allowance(make: Make) -> None:
    throttle = make(Limits(per_address=5, per_login_and_address=3))
    _fail(throttle, 3, login="alice")
    for _ in range(10):
        assert throttle.sign_in_attempt("alice", "10.0.0.1", T0) is not None
    # The address has had 3 password checks, not 13: two more logins may still be tried.
    _fail(throttle, 2, login="bob")
    assert throttle.sign_in_attempt("carol", "10.0.0.1", T0) is not None


def test_concurrent_guesses_get_exactly_the_limit_of_password_checks(make: Make) -> None:
    throttle = make(Limits(per_address=100, per_login_and_address=10))
    start = threading.Barrier(40)
    allowed: list[bool] = []

    def guess() -> None:
        start.wait()
        allowed.append(throttle.sign_in_attempt("alice", "10.0.0.1", T0) is None)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 10


def test_sudo_is_limited_per_user_from_any_address(make: Make) -> None:
    throttle = make(Limits(sudo_per_user=2))
    assert throttle.sudo_attempt(7, T0) is None
    assert throttle.sudo_attempt(7, T0) is None
    assert throttle.sudo_attempt(7, T0) == Lockout(int(T0) + WINDOW)
    assert throttle.sudo_attempt(8, T0) is None  # another user
    assert throttle.sudo_attempt(7, T0 + WINDOW) is None


def test_a_sudo_success_does_not_count(make: Make) -> None:
    throttle = make(Limits(sudo_per_user=1))
    for _ in range(5):
        assert throttle.sudo_attempt(7, T0) is None
        throttle.sudo_succeeded(7, T0)


def test_what_was_typed_as_a_login_is_not_kept_in_the_counters() -> None:
    # People type passwords into the login field; the counters outlive the request by a window.
    counter = RateLimiter(enabled=True, per_user=0, per_ip=0, window=WINDOW)
    PasswordThrottle(counter, Limits(), b"k" * 32).sign_in_attempt("Hunter2-Secret", "10.0.0.1", T0)
    keys = list(counter._windows)
    assert len(keys) == 2
    assert not any("hunter2-secret" in key.casefold() for key in keys)


def test_a_limit_of_zero_is_off(make: Make) -> None:
    throttle = make(Limits(per_address=0, per_login_and_address=0, sudo_per_user=0))
    _fail(throttle, 50)
    for _ in range(50):
        assert throttle.sudo_attempt(7, T0) is None


def test_taking_back_a_hit_never_goes_below_zero_nor_reaches_into_another_window(make: Make) -> None:
    throttle = make(Limits(per_address=100, per_login_and_address=2))
    # Successes reported without attempts (a bug elsewhere, or a window that just ended) must
    # not bank extra guesses.
    for _ in range(5):
        throttle.sign_in_succeeded("alice", "10.0.0.1", T0)
    _fail(throttle, 2)
    assert throttle.sign_in_attempt("alice", "10.0.0.1", T0) is not None
    throttle.sign_in_succeeded("alice", "10.0.0.1", T0 + WINDOW)  # the next window's: no effect here
    assert throttle.sign_in_attempt("alice", "10.0.0.1", T0) is not None
