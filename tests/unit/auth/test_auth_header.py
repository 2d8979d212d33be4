"""Parsing Authorization headers the way GitHub's clients send them."""

from __future__ import annotations

import base64

import pytest

from tokenforge.auth.header import HeaderReader, MalformedAuthorization, Scheme, parse
from tokenforge.credentials.format import TokenFormat


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("value", "scheme", "secret", "username"),
    [
        ("token abc", Scheme.TOKEN, "abc", ""),
        ("Token abc", Scheme.TOKEN, "abc", ""),
        ("Bearer abc", Scheme.BEARER, "abc", ""),
        ("bearer   abc  ", Scheme.BEARER, "abc", ""),
        (basic("x-access-token", "abc"), Scheme.BASIC, "abc", "x-access-token"),
        (basic("alice", "a:b:c"), Scheme.BASIC, "a:b:c", "alice"),  # only the first ':' separates
        (basic("", "abc"), Scheme.BASIC, "abc", ""),
    ],
)
def test_accepted_forms(value: str, scheme: Scheme, secret: str, username: str) -> None:
    presented = parse(value)
    assert (presented.scheme, presented.secret, presented.username) == (scheme, secret, username)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "token",
        "token a b",
        "Digest abc",
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "token " + "a" * 5000,
    ],
)
def test_malformed(value: str) -> None:
    with pytest.raises(MalformedAuthorization):
        parse(value)


def test_the_secret_never_appears_in_repr() -> None:
    assert "s3cret" not in repr(parse("token s3cret"))
    assert "s3cret" not in repr(parse(basic("alice", "s3cret")))


# HeaderReader reads the common header in one regex; whatever the shape, its answer must be the
# general path's: parse, then TokenFormat.identify on the secret.
def _shapes(fmt: TokenFormat) -> list[bytes]:
    classic, fine = fmt.mint_classic(), fmt.mint_fine_grained()
    bad_classic = classic[:-1] + ("A" if classic[-1] != "A" else "B")
    bad_fine = fine[:-1] + ("A" if fine[-1] != "A" else "B")
    secrets = [
        classic,
        fine,
        bad_classic,
        bad_fine,
        classic[:-1],  # one short
        classic + "A",  # one long
        fine.replace("_", "-", 3),  # the layout's "_" moved
        fine[: len(fmt.fine_grained_prefix)] + "12" + fine[len(fmt.fine_grained_prefix) + 2 :],  # layout tag
        classic.upper(),
        classic[:10] + "é" + classic[11:],
        "ghp_" + classic[len(fmt.classic_prefix) :],  # another instance's prefix
        "not-a-token",
        "",
    ]
    shapes: list[bytes] = []
    for secret in secrets:
        for text in (
            f"token {secret}",
            f"Token {secret}",
            f"BEARER {secret}",
            f"bEaReR {secret}",
            f"token  {secret}",
            f" token {secret}",
            f"token {secret} ",
            f"token\t{secret}",
            f"token {secret}\n",
            f"Bearer {secret} extra",
            f"Digest {secret}",
            f"tokens {secret}",
            basic("x-access-token", secret),
            basic("", secret),
        ):
            shapes.append(text.encode("utf-8"))
            shapes.append(text.encode("latin-1", "replace"))
    return shapes


@pytest.mark.parametrize("fmt", [TokenFormat(), TokenFormat(classic_prefix="tfp_", fine_grained_prefix="tf_pat_")])
def test_the_reader_answers_as_parse_and_identify_do(fmt: TokenFormat) -> None:
    reader = HeaderReader(fmt)
    shapes = _shapes(fmt)
    well_formed = 0
    for raw in shapes:
        try:
            expected = parse(raw.decode("latin-1"))
        except MalformedAuthorization:
            with pytest.raises(MalformedAuthorization):
                reader.read(raw)
            continue
        presented, kind = reader.read(raw)
        assert presented == expected, raw
        assert presented.scheme is expected.scheme
        assert kind is fmt.identify(expected.secret), raw
        well_formed += kind is not None
    assert well_formed >= 20  # the valid tokens, in every accepted spelling, were among the shapes
