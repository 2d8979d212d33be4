"""Token digests under rotatable peppers.

The expected digests are recomputed here with ``hmac``/``hashlib`` from the documented
derivation, so a change to the derivation (which would orphan every stored digest) fails.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

import argon2
import pytest

from tokenforge.credentials.digest import Pepper, PepperRing

SECRET = "correct horse battery staple"
OLD_SECRET = "old-server-secret-0001"
NEW_SECRET = "new-server-secret-0002"
OLDER_SECRET = "older-server-secret-0000"

CLASSIC = "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"
OTHER_CLASSIC = "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"
FINE = "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"


def derived_key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), b"tokenforge/token-digest/v1", hashlib.sha256).digest()


def expected_digest(secret: str, token: str) -> bytes:
    return hmac.new(derived_key(secret), token.encode("ascii"), hashlib.sha256).digest()


# --- Pepper ------------------------------------------------------------------------------------


def test_pepper_from_secret_is_deterministic() -> None:
    first, second = Pepper.from_secret(SECRET), Pepper.from_secret(SECRET)
    assert first == second
    assert first.digest(CLASSIC) == second.digest(CLASSIC)


def test_pepper_key_is_derived_with_hmac_and_a_label() -> None:
    pepper = Pepper.from_secret(SECRET)
    assert pepper.key == derived_key(SECRET)
    # Domain separation: the operator's secret is never the key itself.
    assert pepper.key != SECRET.encode()


@pytest.mark.parametrize(
    "secret", [SECRET, OLD_SECRET, "x", "ünïcødé-sécret"], ids=["horse", "old", "one-char", "unicode"]
)
def test_pepper_id_is_eight_hex_characters(secret: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{8}", Pepper.from_secret(secret).id)


def test_pepper_id_differs_per_secret() -> None:
    secrets_ = [f"secret-{n}" for n in range(200)]
    assert len({Pepper.from_secret(s).id for s in secrets_}) == len(secrets_)


def test_pepper_id_does_not_reveal_the_key() -> None:
    pepper = Pepper.from_secret(SECRET)
    assert pepper.id not in pepper.key.hex()
    assert pepper.id not in hashlib.sha256(SECRET.encode()).hexdigest()


def test_pepper_id_is_pinned() -> None:
    # Each stored row records its pepper id; the derivation must not drift.
    assert Pepper.from_secret(SECRET).id == "6e795ffb"


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_pepper_key_is_not_printed(render: Callable[[object], str]) -> None:
    pepper = Pepper.from_secret(SECRET)
    ring = PepperRing.from_secrets(NEW_SECRET, (SECRET,))
    for text in (render(pepper), render(ring)):
        assert pepper.key.hex() not in text
        assert repr(pepper.key) not in text
        assert SECRET not in text
    assert pepper.id in render(pepper)


@pytest.mark.parametrize("token", [CLASSIC, FINE], ids=["classic", "fine"])
def test_digest_is_hmac_sha256_under_the_derived_key(token: str) -> None:
    digest = Pepper.from_secret(SECRET).digest(token)
    assert len(digest) == 32
    assert digest == expected_digest(SECRET, token)


def test_digest_from_the_precomputed_states_is_hmac_for_any_input() -> None:
    # Pepper.digest finishes HMAC's two keyed states by hand (RFC 2104); it must equal the
    # library's HMAC for every length — empty, under, at and over a 64-byte block — and any
    # text, and computing one digest must not disturb the next.
    import random

    pepper = Pepper.from_secret(SECRET)
    rng = random.Random(5)
    texts = ["", "é", "x" * 63, "x" * 64, "x" * 65, "x" * 1000, CLASSIC, FINE]
    texts += ["".join(rng.choices("abcXYZ09_€", k=rng.randrange(200))) for _ in range(200)]
    for text in texts:
        assert pepper.digest(text) == hmac.new(derived_key(SECRET), text.encode(), hashlib.sha256).digest(), text
    assert pepper.digest(CLASSIC) == pepper.digest(CLASSIC)


@pytest.mark.parametrize("token", [CLASSIC, FINE], ids=["classic", "fine"])
def test_digest_is_neither_a_plain_hash_nor_keyed_by_the_raw_secret(token: str) -> None:
    digest = Pepper.from_secret(SECRET).digest(token)
    assert digest != hashlib.sha256(token.encode()).digest()
    assert digest != hmac.new(SECRET.encode(), token.encode(), hashlib.sha256).digest()


def test_digest_is_pinned() -> None:
    # A stored digest must keep matching its token across releases.
    assert (
        Pepper.from_secret(SECRET).digest(CLASSIC).hex()
        == "42b328b25301bf140f0dd99dc7b7b2f31a1341daad52b24e28dea125f932a084"
    )


def test_different_tokens_have_different_digests() -> None:
    pepper = Pepper.from_secret(SECRET)
    tokens = [CLASSIC, OTHER_CLASSIC, FINE, CLASSIC[:-1] + "3"]
    assert len({pepper.digest(t) for t in tokens}) == len(tokens)


def test_different_peppers_give_different_digests() -> None:
    peppers = [Pepper.from_secret(s) for s in (SECRET, OLD_SECRET, NEW_SECRET, SECRET + " ")]
    assert len({p.digest(CLASSIC) for p in peppers}) == len(peppers)


# --- PepperRing --------------------------------------------------------------------------------


def test_ring_digests_new_tokens_under_the_current_pepper() -> None:
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET,))
    assert ring.digest(CLASSIC) == expected_digest(NEW_SECRET, CLASSIC)


def test_ring_without_previous_secrets_has_exactly_one_candidate() -> None:
    ring = PepperRing.from_secrets(SECRET)
    assert ring.candidates(CLASSIC) == (expected_digest(SECRET, CLASSIC),)


def test_ring_candidates_one_per_pepper_current_first() -> None:
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET, OLDER_SECRET))
    assert ring.candidates(CLASSIC) == (
        expected_digest(NEW_SECRET, CLASSIC),
        expected_digest(OLD_SECRET, CLASSIC),
        expected_digest(OLDER_SECRET, CLASSIC),
    )


@pytest.mark.parametrize("old", [OLD_SECRET, OLDER_SECRET], ids=["one-rotation-ago", "two-rotations-ago"])
@pytest.mark.parametrize("token", [CLASSIC, FINE], ids=["classic", "fine"])
def test_token_digested_under_an_old_secret_still_verifies_after_rotation(old: str, token: str) -> None:
    stored = PepperRing.from_secrets(old).digest(token)
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET, OLDER_SECRET))
    assert stored in ring.candidates(token)
    assert ring.pepper_id_for(token, stored) == Pepper.from_secret(old).id


def test_token_digested_under_the_current_secret_names_the_current_pepper() -> None:
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET,))
    assert ring.pepper_id_for(CLASSIC, ring.digest(CLASSIC)) == ring.current.id
    assert ring.current.id == Pepper.from_secret(NEW_SECRET).id


def test_dropping_an_old_secret_stops_its_tokens_verifying() -> None:
    stored = PepperRing.from_secrets(OLD_SECRET).digest(CLASSIC)
    ring = PepperRing.from_secrets(NEW_SECRET)
    assert stored not in ring.candidates(CLASSIC)
    assert ring.pepper_id_for(CLASSIC, stored) is None


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(bytes(32), id="zeros"),
        pytest.param(expected_digest(NEW_SECRET, OTHER_CLASSIC), id="other-token-same-pepper"),
        pytest.param(expected_digest("unconfigured-secret", CLASSIC), id="unconfigured-pepper"),
        pytest.param(expected_digest(NEW_SECRET, CLASSIC)[:16], id="truncated"),
        pytest.param(b"", id="empty"),
    ],
)
def test_pepper_id_for_an_unknown_digest_is_none(stored: bytes) -> None:
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET,))
    assert ring.pepper_id_for(CLASSIC, stored) is None


@pytest.mark.parametrize(
    ("current", "previous"),
    [
        pytest.param(SECRET, (SECRET,), id="current-repeated-in-previous"),
        pytest.param(NEW_SECRET, (OLD_SECRET, OLD_SECRET), id="previous-repeated"),
        pytest.param(NEW_SECRET, (OLD_SECRET, NEW_SECRET), id="current-repeated-later"),
    ],
)
def test_duplicated_secret_is_refused(current: str, previous: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="twice"):
        PepperRing.from_secrets(current, previous)


def test_verification_never_calls_a_password_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    # digest.py's docstring: a slow KDF would cost milliseconds on every request for nothing.
    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("token verification must not call a password hash")

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", forbidden)
    monkeypatch.setattr(hashlib, "scrypt", forbidden)
    monkeypatch.setattr(argon2.PasswordHasher, "hash", forbidden)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", forbidden)
    ring = PepperRing.from_secrets(NEW_SECRET, (OLD_SECRET,))
    stored = ring.digest(CLASSIC)
    assert stored in ring.candidates(CLASSIC)
    assert ring.pepper_id_for(CLASSIC, stored) == ring.current.id
