"""Parsing Authorization headers the way GitHub's clients send them."""

from __future__ import annotations

import base64

import pytest

from tokenforge.auth.header import MalformedAuthorization, Scheme, parse


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
