"""Presented credentials → a principal, for the API and git alike.

The order matters for cost and for safety: the checksum screen runs before anything is hashed;
the cache is keyed by the digest and checked against the generation and the expiry; only a miss
touches the database. A bad, expired or revoked token is a *failure* — the surfaces answer 401 —
never a fall-back to anonymous, even where anonymous access would have been allowed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

from tokenforge.auth import header as auth_header
from tokenforge.auth.cache import PrincipalCache
from tokenforge.auth.generation import Generation
from tokenforge.auth.header import ALL_SCHEMES, Presented, Scheme
from tokenforge.auth.usage import UsageRecorder
from tokenforge.authz.subjects import Anonymous, Principal, TokenPrincipal
from tokenforge.clock import Clock
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.tokens.lookup import TokenLookup

ANONYMOUS = Anonymous()
_BASIC = Scheme.BASIC  # a module global: cheaper to read per request than the enum's attribute


class Authentication(NamedTuple):
    # A NamedTuple (immutable, cheap to build): one per request.
    principal: Principal
    presented: Presented | None = None  # what was sent (no secret in its repr)
    failed: bool = False  # credentials were sent and are not a live token

    @property
    def token(self) -> TokenPrincipal | None:
        return None if isinstance(self.principal, Anonymous) else self.principal  # type: ignore[return-value]

    @property
    def looks_like_password(self) -> bool:
        """A failed secret that is not even shaped like a token: someone typed a password."""
        return self.failed and self.presented is not None and not _looks_like_token(self.presented.secret)


NO_CREDENTIALS = Authentication(ANONYMOUS)


class Miss(NamedTuple):
    """A well-formed token not in the cache: what ``settle`` needs once the database has answered."""

    presented: Presented
    key: bytes  # the cache key (never the token)
    generation: int  # read before the load; see ``begin``
    ip: str | None
    now: float


def _looks_like_token(secret: str) -> bool:
    return secret.startswith(("ghp_", "github_pat_", "gho_", "ghu_", "ghs_", "ghr_")) or "_" in secret[:12]


class Authenticator:
    def __init__(  # noqa: PLR0917 (the collaborators, each named; built once in app.py)
        self,
        settings: Settings,
        db: Database,
        lookup: TokenLookup,
        generation: Generation,
        usage: UsageRecorder,
        clock: Clock,
        *,
        cache_size: int = 10_000,
    ) -> None:
        self.settings = settings
        self.db = db
        self.lookup = lookup
        self.generation = generation
        self.usage = usage
        self.clock = clock
        self.cache = PrincipalCache(cache_size)
        self.track_usage = settings.track_usage
        self._format = settings.token_format
        # The in-memory cache is keyed by a keyed BLAKE2b of the token, never the token itself (a
        # heap dump must not yield usable secrets). BLAKE2b costs a third of HMAC-SHA256 here; the
        # stored digest stays HMAC-SHA256 (credentials/digest.py), which this key never reaches.
        cache_key = hmac.digest(settings.peppers.current.key, b"tokenforge/verification-cache/v1", "sha256")
        self._cache_hasher = hashlib.blake2b(key=cache_key, digest_size=16)

    def authenticate(self, value: str | None, *, ip: str | None, schemes: frozenset[Scheme]) -> Authentication:
        """``value``: the raw Authorization header, or None. Reads the database synchronously on a
        cache miss (tests, benchmarks, SQLite); the middleware uses ``begin`` and ``finish``."""
        outcome = self.begin(value, ip=ip, schemes=schemes)
        if isinstance(outcome, Miss):
            return self.settle(outcome, self.lookup.principal(outcome.presented.secret, self.clock.now()))
        return outcome

    async def finish(self, miss: Miss) -> Authentication:
        """A cache miss, read from the database without holding up the event loop (PostgreSQL)."""
        return self.settle(miss, await self.lookup.principal_on_loop(miss.presented.secret, self.clock.now()))

    def begin(self, value: str | None, *, ip: str | None, schemes: frozenset[Scheme]) -> Authentication | Miss:
        """Everything short of the database: the answer, or the ``Miss`` that needs a read."""
        if value is None:
            return NO_CREDENTIALS
        try:
            presented = auth_header.parse(value)
        except auth_header.MalformedAuthorization:
            return Authentication(ANONYMOUS, None, failed=True)
        # ``is ALL_SCHEMES`` first: hashing an enum member runs Python code (Enum.__hash__).
        if schemes is not ALL_SCHEMES and presented.scheme not in schemes:
            # e.g. Bearer sent to git: not credentials git understands, so git is asked for Basic.
            return NO_CREDENTIALS
        if presented.scheme is _BASIC and not presented.username:
            # An empty username makes Basic credentials invalid (GitHub's documented rule).
            return Authentication(ANONYMOUS, presented, failed=True)
        secret = presented.secret
        if self._format.identify(secret) is None:
            return Authentication(ANONYMOUS, presented, failed=True)
        now = self.clock.timestamp()
        # A copy of a hasher already keyed: keying a new BLAKE2b costs a compression of the key block.
        hasher = self._cache_hasher.copy()
        hasher.update(secret.encode())
        key = hasher.digest()
        # The generation is read *before* any load, and the loaded principal is cached under it:
        # a change committed while the read is in flight (awaited, other requests run) moves the
        # generation past it, so the entry is already stale when the next request looks.
        generation = self.generation.current()
        principal = self.cache.get(key, generation, now)
        if principal is None:
            return Miss(presented, key, generation, ip, now)
        if self.track_usage:
            self.usage.record(principal.token_id, ip, now)
        return Authentication(principal, presented)

    def settle(self, miss: Miss, principal: TokenPrincipal | None) -> Authentication:
        if principal is None:
            return Authentication(ANONYMOUS, miss.presented, failed=True)
        self.cache.put(miss.key, principal, miss.generation)
        if self.track_usage:
            self.usage.record(principal.token_id, miss.ip, miss.now)
        return Authentication(principal, miss.presented)
