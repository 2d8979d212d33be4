"""Failed password checks, counted so that guessing stops early, and stops cheaply.

Two places take a password: signing in, and confirming it again for sudo mode. Both are open to
guessing — the sign-in form to anyone, the sudo prompt to whoever holds a session cookie (a
stolen one is exactly the case sudo mode exists for). Each guess also costs the server an
argon2id verification (tens of milliseconds of CPU), so unthrottled guessing is a denial of
service as well as a search for the password.

What is counted, in fixed windows of ``window`` seconds:

* failed sign-ins from one address, whatever the login: guessing across many accounts;
* failed sign-ins for one login from one address: guessing one account's password;
* failed sudo confirmations for one user, from anywhere.

An attempt is counted *before* its password is checked, and taken back once the password proves
right. Counting after the check would let concurrent guesses all pass a "not yet locked" probe
before any of them was counted (up to one per server thread); this way no key ever gets more
than its limit of password checks in a window, however many arrive at once.

A key at its limit refuses *every* attempt until its window ends, the right password included
(GitHub's rule for its API, spec §4.1: "Maximum number of login attempts exceeded", for all
attempts, "valid ones included"); otherwise a guesser would learn the password from the one
attempt that got through. The refusal comes before the password is hashed, so a locked-out
flood costs a counter probe, not an argon2 run.

Deliberately *not* counted: failures for one login across all addresses. A per-account lock
would let anyone lock anyone out of their account with a handful of requests; the per-address
limits bound what one source can try, and argon2 plus the password rules bound the rest.

The counters are the rate limiter's (api/ratelimit.py), built by app.py: in-process, or shared
through Redis by every process when ``TOKENFORGE_REDIS_URL`` is set. In-process, N server
processes allow up to N times the limits. A Redis outage fails open (the counters read 0), as
the rate limiter does; the password check itself is unaffected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

# GitHub's wording (spec §4.1, §4.4), used for the forms too.
LOCKED_OUT = "Maximum number of login attempts exceeded. Please try again later."
# Keys are built from what the visitor typed: bounded, so a huge "login" cannot bloat a counter key.
_MAX_IDENTIFIER = 320


class Count(Protocol):
    @property
    def used(self) -> int: ...

    @property
    def reset(self) -> int: ...


class Counter(Protocol):
    """Fixed-window counting (api/ratelimit.py's ``RateLimiter`` and ``RedisRateLimiter``)."""

    def hit(self, key: str, now: float) -> Count: ...

    def release(self, key: str, now: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Failures allowed per window (0: that limit is off)."""

    per_address: int = 20
    per_login_and_address: int = 10
    sudo_per_user: int = 10


@dataclass(frozen=True, slots=True)
class Lockout:
    """Attempts are refused until ``until`` (epoch seconds)."""

    until: int

    def retry_after(self, now: float) -> int:
        """Whole seconds to wait, for a ``Retry-After`` header (at least 1)."""
        return max(1, self.until - int(now))


class PasswordThrottle:
    """Call ``*_attempt`` before checking a password and refuse without checking it if that
    returns a ``Lockout``; call ``*_succeeded`` when the password was right. A wrong password
    needs no call: the attempt was already counted."""

    def __init__(self, counter: Counter, limits: Limits, key: bytes) -> None:
        """``key``: a secret of this purpose (app.py derives it from the server secret)."""
        self.counter = counter  # app.py closes it with the other services
        self.limits = limits
        self._key = key

    def sign_in_attempt(self, identifier: str, ip: str | None, now: float) -> Lockout | None:
        return self._attempt(self._sign_in_keys(identifier, ip), now)

    def sign_in_succeeded(self, identifier: str, ip: str | None, now: float) -> None:
        self._succeeded(self._sign_in_keys(identifier, ip), now)

    def sudo_attempt(self, user_id: int, now: float) -> Lockout | None:
        return self._attempt(self._sudo_keys(user_id), now)

    def sudo_succeeded(self, user_id: int, now: float) -> None:
        self._succeeded(self._sudo_keys(user_id), now)

    def _sign_in_keys(self, identifier: str, ip: str | None) -> list[tuple[str, int]]:
        # As the sign-in matches it (login or email, either case), so changing the case of the
        # login does not buy another round of guesses.
        typed = identifier.strip().casefold()[:_MAX_IDENTIFIER]
        # Keyed-hashed: people type their password into the login field, and the key lives in
        # Redis or in memory for the whole window.
        login = hashlib.blake2b(typed.encode(), key=self._key, digest_size=16).hexdigest()
        address = ip or "-"
        return [
            (f"signin-ip:{address}", self.limits.per_address),
            (f"signin-login:{address}:{login}", self.limits.per_login_and_address),
        ]

    def _sudo_keys(self, user_id: int) -> list[tuple[str, int]]:
        return [(f"sudo:{user_id}", self.limits.sudo_per_user)]

    def _attempt(self, keys: list[tuple[str, int]], now: float) -> Lockout | None:
        counted: list[str] = []
        for key, limit in keys:
            if limit <= 0:
                continue
            count = self.counter.hit(key, now)
            counted.append(key)
            if count.used > limit:
                # Refused: not a check of the password, so no key is charged for it (a lockout
                # on one key must not use up another's allowance).
                for charged in counted:
                    self.counter.release(charged, now)
                return Lockout(count.reset)
        return None

    def _succeeded(self, keys: list[tuple[str, int]], now: float) -> None:
        for key, limit in keys:
            if limit > 0:
                self.counter.release(key, now)
