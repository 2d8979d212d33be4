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
from tokenforge.auth.header import ALL_SCHEMES, MAX_HEADER, HeaderReader, Presented, Scheme
from tokenforge.auth.usage import UsageRecorder
from tokenforge.authz.subjects import Anonymous, Principal, TokenPrincipal
from tokenforge.clock import Clock
from tokenforge.config import Settings
from tokenforge.credentials.format import TokenKind
from tokenforge.db import Database
from tokenforge.tokens.lookup import TokenLookup

ANONYMOUS = Anonymous()
_BASIC = Scheme.BASIC  # a module global: cheaper to read per request than the enum's attribute


class Authentication(NamedTuple):
    # A NamedTuple (immutable, cheap to build): one per request.
    principal: Principal
    # What was sent (no secret in its repr; after a success, no secret at all: see ``settle``).
    presented: Presented | None = None
    failed: bool = False  # credentials were sent and are not a live token

    @property
    def token(self) -> TokenPrincipal | None:
        return None if isinstance(self.principal, Anonymous) else self.principal  # type: ignore[return-value]

    @property
    def looks_like_password(self) -> bool:
        """A failed secret that is not even shaped like a token: someone typed a password."""
        return self.failed and self.presented is not None and not _looks_like_token(self.presented.secret)


NO_CREDENTIALS = Authentication(ANONYMOUS)
UNREADABLE = Authentication(ANONYMOUS, None, failed=True)  # credentials sent that cannot even be parsed


class Miss(NamedTuple):
    """A well-formed token not in the cache: what ``settle`` needs once the database has answered."""

    presented: Presented
    kind: TokenKind  # what the checksum screen found: the lookup need not screen again
    key: bytes  # the cache key (never the token)
    generation: int  # read before the load; see ``begin``
    ip: str | None
    now: float


class _Known(NamedTuple):
    """A cache entry: the answer to a header already verified, and what a hit must check."""

    authentication: Authentication
    scheme: Scheme
    token_id: int


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
        self.cache: PrincipalCache[_Known] = PrincipalCache(cache_size)
        self.track_usage = settings.track_usage
        self._reader = HeaderReader(settings.token_format)
        # The in-memory cache is keyed by a keyed BLAKE2b of the Authorization header, never the
        # header itself (a heap dump must not yield usable secrets). BLAKE2b costs a third of
        # HMAC-SHA256 here; the stored digest stays HMAC-SHA256 (credentials/digest.py), which
        # this key never reaches.
        cache_key = hmac.digest(settings.peppers.current.key, b"tokenforge/verification-cache/v1", "sha256")
        self._cache_hasher = hashlib.blake2b(key=cache_key, digest_size=16)

    def authenticate(self, value: str | bytes | None, *, ip: str | None, schemes: frozenset[Scheme]) -> Authentication:
        """``value``: the raw Authorization header, or None. Reads the database synchronously on a
        cache miss (tests, benchmarks, SQLite); the middleware uses ``begin`` and ``finish``."""
        if isinstance(value, str):
            try:
                value = value.encode("latin-1")  # what an HTTP server hands over: the header's bytes
            except UnicodeEncodeError:
                return UNREADABLE  # no HTTP header looks like this
        outcome = self.begin(value, ip=ip, schemes=schemes)
        if isinstance(outcome, Miss):
            principal = self.lookup.principal_of(outcome.kind, outcome.presented.secret, self.clock.now())
            return self.settle(outcome, principal)
        return outcome

    async def finish(self, miss: Miss) -> Authentication:
        """A cache miss, read from the database without holding up the event loop (PostgreSQL)."""
        now = self.clock.now()
        return self.settle(miss, await self.lookup.principal_of_on_loop(miss.kind, miss.presented.secret, now))

    def begin(self, raw: bytes | None, *, ip: str | None, schemes: frozenset[Scheme]) -> Authentication | Miss:
        """Everything short of the database: the answer, or the ``Miss`` that needs a read.
        ``raw``: the Authorization header's bytes as the server received them."""
        if raw is None:
            return NO_CREDENTIALS
        if len(raw) > MAX_HEADER:
            return UNREADABLE  # bounds the hashing; parse says the same
        # The cache is keyed by the whole header, so a hit needs neither parsing nor the checksum
        # screen: the entry was stored only after this exact header passed both and named a live
        # token. Hashing first costs an unknown string 0.5 µs more than screening first would,
        # and saves every known token the ~2 µs of the screen.
        # A copy of a hasher already keyed: keying a new BLAKE2b costs a compression of the key block.
        hasher = self._cache_hasher.copy()
        hasher.update(raw)
        key = hasher.digest()
        now = self.clock.timestamp()
        # The generation is read *before* any load, and the loaded principal is cached under it:
        # a change committed while the read is in flight (awaited, other requests run) moves the
        # generation past it, so the entry is already stale when the next request looks.
        generation = self.generation.current()
        known = self.cache.get(key, generation, now)
        # ``is ALL_SCHEMES`` first: hashing an enum member runs Python code (Enum.__hash__).
        if known is not None and (schemes is ALL_SCHEMES or known.scheme in schemes):
            if self.track_usage:
                self.usage.record(known.token_id, ip, now)
            return known.authentication
        try:
            presented, kind = self._reader.read(raw)
        except auth_header.MalformedAuthorization:
            return UNREADABLE
        if schemes is not ALL_SCHEMES and presented.scheme not in schemes:
            # e.g. Bearer sent to git: not credentials git understands, so git is asked for Basic.
            return NO_CREDENTIALS
        if presented.scheme is _BASIC and not presented.username:
            # An empty username makes Basic credentials invalid (GitHub's documented rule).
            return Authentication(ANONYMOUS, presented, True)  # failed
        if kind is None:
            # Positional: a NamedTuple built with a keyword costs twice as much, and a flood of
            # bad-checksum strings comes through here (issue 8 wants each rejected in ≤ 3 µs).
            return Authentication(ANONYMOUS, presented, True)  # failed
        return Miss(presented, kind, key, generation, ip, now)

    def settle(self, miss: Miss, principal: TokenPrincipal | None) -> Authentication:
        if principal is None:
            return Authentication(ANONYMOUS, miss.presented, True)  # failed
        # What is cached (and answered) carries no secret: nothing downstream of a success reads
        # it, and the cache must hold nothing a heap dump could replay.
        presented = miss.presented
        # Built, not ``_replace``d: NamedTuple._replace runs Python code worth 1 µs.
        authentication = Authentication(principal, Presented(presented.scheme, "", presented.username))
        known = _Known(authentication, presented.scheme, principal.token_id)
        self.cache.put(miss.key, known, miss.generation, principal.expires_at)
        if self.track_usage:
            self.usage.record(principal.token_id, miss.ip, miss.now)
        return authentication
