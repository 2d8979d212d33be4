"""Token formats (spec §1): GitHub's published vectors, pinned checksums, minting, scanners, rejection.

The expected values here are computed independently of ``tokenforge.credentials.format``: with
``zlib.crc32`` and the spec's straightforward base62 loop (§1.3), or written out as literals.
A token already issued must keep parsing forever, so these pins must never be "updated" to
match a changed implementation.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterator

import pytest

from tokenforge.credentials.format import InvalidPrefix, TokenFormat, TokenKind, checksum, last_eight

# The alphabet, in its order (spec §1.3). Written out rather than imported so a change in the
# module cannot silently change what the tests expect.
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

DEFAULT = TokenFormat()

# GitHub's published classic vectors (spec §1.3).
GITHUB_VECTORS = (
    "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",
    "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",
    "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",
)
CLASSIC = GITHUB_VECTORS[0]
B62_VECTOR = "b62_QdwULL38u41vs1OcAjhKqcaSZ9W63r0Zu4ln"  # checksum starts with a zero-pad "0"

# A fine-grained token built by hand from the documented layout (format.py docstring):
# "11" + 20 random, "_", 53 random, then base62(CRC-32 of everything between prefix and checksum).
FINE = "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"

MINT_COUNT = 2000


def b62(n: int, width: int = 6) -> str:
    """The spec's reference encoder (§1.3), deliberately the slow obvious loop."""
    s = ""
    while n:
        n, r = divmod(n, 62)
        s = B62[r] + s
    return s.rjust(width, "0")


def reference_checksum(data: str) -> str:
    return b62(zlib.crc32(data.encode("ascii")))


def with_classic_checksum(prefix: str, random_part: str) -> str:
    """A classic-shaped string whose checksum is right for ``random_part``, whatever that contains."""
    return prefix + random_part + b62(zlib.crc32(random_part.encode("utf-8")))


def with_fine_checksum(prefix: str, covered: str) -> str:
    return prefix + covered + b62(zlib.crc32(covered.encode("utf-8")))


def replace_at(text: str, index: int, char: str) -> str:
    return text[:index] + char + text[index + 1 :]


def next_char(char: str) -> str:
    """Another base62 character (the next one in the alphabet, wrapping)."""
    return B62[(B62.index(char) + 1) % len(B62)]


@pytest.fixture(scope="module")
def classic_mints() -> list[str]:
    return [DEFAULT.mint_classic() for _ in range(MINT_COUNT)]


@pytest.fixture(scope="module")
def fine_mints() -> list[str]:
    return [DEFAULT.mint_fine_grained() for _ in range(MINT_COUNT)]


# --- GitHub's published vectors (spec §1.3) ----------------------------------------------------


@pytest.mark.parametrize("token", GITHUB_VECTORS, ids=lambda t: t[:12])
def test_githubs_published_classic_vectors_identify_as_classic(token: str) -> None:
    assert DEFAULT.identify(token) is TokenKind.CLASSIC


def test_published_vector_with_its_last_character_changed_is_rejected() -> None:
    assert DEFAULT.identify("ghp_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V3") is None


def test_published_zero_padded_vector_is_valid_under_its_own_prefix() -> None:
    assert TokenFormat(classic_prefix="b62_").identify(B62_VECTOR) is TokenKind.CLASSIC


def test_published_zero_padded_vector_is_not_a_default_token() -> None:
    assert DEFAULT.identify(B62_VECTOR) is None


def test_hand_built_fine_grained_token_identifies_as_fine_grained() -> None:
    # Pins the documented fine-grained layout and checksum coverage: issued tokens depend on it.
    assert DEFAULT.identify(FINE) is TokenKind.FINE_GRAINED


@pytest.mark.parametrize("token", GITHUB_VECTORS, ids=lambda t: t[:12])
def test_checksum_over_prefix_and_random_part_is_rejected(token: str) -> None:
    # The prefix is excluded from the checksum (spec §1.3); a checksum that covers it is wrong.
    random_part = token[4:34]
    assert DEFAULT.identify("ghp_" + random_part + reference_checksum("ghp_" + random_part)) is None


def test_fine_grained_checksum_over_prefix_is_rejected() -> None:
    covered = FINE[len("github_pat_") : -6]
    forged = "github_pat_" + covered + reference_checksum("github_pat_" + covered)
    assert forged != FINE
    assert DEFAULT.identify(forged) is None


# --- checksum: golden pins ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param("M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq", "11T4V4", id="github-vector-1"),
        pytest.param("HEEjXavM6wKtyhAUwDblMznMEhWyTt", "4XwY6f", id="github-vector-2"),
        pytest.param("yk8LTIKF7M9SgRPBFzu7nkPQBBLcAa", "2aAbrx", id="github-vector-3"),
        pytest.param("QdwULL38u41vs1OcAjhKqcaSZ9W63r", "0Zu4ln", id="zero-padded-vector"),
        pytest.param("tokenforge", "3jmrAb", id="fixed-string"),
        pytest.param("", "000000", id="empty-crc-0"),
    ],
)
def test_checksum_golden_values(data: str, expected: str) -> None:
    assert reference_checksum(data) == expected  # the pin itself agrees with the spec's algorithm
    assert checksum(data) == expected


# Strings solved (offline, over GF(2)) to have a chosen CRC-32, so the encoder is exercised at
# every base62 digit boundary, including the pairs of digits it encodes at once (62**2, 62**4).
CRC_TARGETS = [
    pytest.param("crc-target-6:CSCWT[C@@@", 0, "000000", id="crc-0"),
    pytest.param("crc-target-6:LL]UMQ@@@@", 1, "000001", id="crc-1"),
    pytest.param("crc-target-6:YCFRW[C@@@", 61, "00000z", id="crc-61"),
    pytest.param("crc-target-6:[@WKFG@@@@", 62, "000010", id="crc-62"),
    pytest.param("crc-target-6:YHYPJGA@@@", 62**2 - 1, "0000zz", id="crc-62^2-1"),
    pytest.param("crc-target-6:WJJHEY@@@@", 62**2, "000100", id="crc-62^2"),
    pytest.param("crc-target-6:WWFN^Y@@@@", 62**4 - 1, "00zzzz", id="crc-62^4-1"),
    pytest.param("crc-target-6:KIREVHC@@@", 62**4, "010000", id="crc-62^4"),
    pytest.param("crc-target-6:ZWDLTEC@@@", 62**5, "100000", id="crc-62^5"),
    pytest.param("crc-target-6:SGBMJR@@@@", 2**32 - 1, "4gfFC3", id="crc-max"),
]


@pytest.mark.parametrize(("data", "crc", "expected"), CRC_TARGETS)
def test_checksum_at_base62_digit_boundaries(data: str, crc: int, expected: str) -> None:
    assert zlib.crc32(data.encode("ascii")) == crc  # precondition: the solved input hits its target
    assert b62(crc) == expected
    assert checksum(data) == expected


def test_checksum_of_max_crc_fits_six_characters() -> None:
    assert b62(2**32 - 1) == "4gfFC3"
    assert checksum("crc-target-6:SGBMJR@@@@") == "4gfFC3"


def _random_strings() -> Iterator[str]:
    rng = random.Random(20260321)
    alphabet = B62 + "_-. :/"
    for length in (1, 2, 5, 30, 75, 200):
        for _ in range(50):
            yield "".join(rng.choice(alphabet) for _ in range(length))


def test_checksum_matches_the_spec_reference_on_many_inputs() -> None:
    mismatches = [s for s in _random_strings() if checksum(s) != reference_checksum(s)]
    assert mismatches == []


# --- minting -----------------------------------------------------------------------------------


def test_minted_classic_tokens_have_the_classic_shape(classic_mints: list[str]) -> None:
    for token in classic_mints:
        assert len(token) == 40
        assert token.startswith("ghp_")
        assert all(c in B62 for c in token[4:]), token


def test_minted_classic_checksum_is_crc32_of_the_random_part(classic_mints: list[str]) -> None:
    for token in classic_mints:
        assert token[-6:] == reference_checksum(token[4:34]), token


def test_minted_fine_grained_tokens_have_the_fine_grained_shape(fine_mints: list[str]) -> None:
    for token in fine_mints:
        assert len(token) == 93
        assert token.startswith("github_pat_")
        body = token[len("github_pat_") :]
        assert body[:2] == "11", token  # layout tag
        assert body[22] == "_", token
        assert body.count("_") == 1, token
        assert all(c in B62 for c in body[:22] + body[23:]), token


def test_minted_fine_grained_checksum_covers_everything_between_prefix_and_checksum(fine_mints: list[str]) -> None:
    for token in fine_mints:
        assert token[-6:] == reference_checksum(token[len("github_pat_") : -6]), token


def test_minted_tokens_identify_as_their_kind(classic_mints: list[str], fine_mints: list[str]) -> None:
    assert {DEFAULT.identify(t) for t in classic_mints} == {TokenKind.CLASSIC}
    assert {DEFAULT.identify(t) for t in fine_mints} == {TokenKind.FINE_GRAINED}


@pytest.mark.parametrize("kind", list(TokenKind), ids=str)
def test_mint_by_kind_mints_that_kind(kind: TokenKind) -> None:
    assert DEFAULT.identify(DEFAULT.mint(kind)) is kind


def test_thousands_of_minted_tokens_are_unique(classic_mints: list[str], fine_mints: list[str]) -> None:
    assert len(set(classic_mints)) == MINT_COUNT
    assert len(set(fine_mints)) == MINT_COUNT
    # Uniqueness of the random parts, not only of the whole strings.
    assert len({t[4:34] for t in classic_mints}) == MINT_COUNT
    assert len({t[13:33] for t in fine_mints}) == MINT_COUNT


def test_minted_random_parts_use_the_whole_alphabet(classic_mints: list[str], fine_mints: list[str]) -> None:
    # 60,000+ draws per kind: a missing character means the generator is not uniform over base62.
    assert set("".join(t[4:34] for t in classic_mints)) == set(B62)
    assert set("".join(t[13:33] + t[34:87] for t in fine_mints)) == set(B62)


# Scanner rules, verbatim from spec §1.5.
GITLEAKS_CLASSIC = r"ghp_[0-9a-zA-Z]{36}"
GITLEAKS_FINE = r"github_pat_\w{82}"
TRUFFLEHOG_V2 = r"\b((?:ghp|gho|ghu|ghs|ghr|github_pat)_[a-zA-Z0-9_]{36,255})\b"
REDACTING_LOGGER_CLASSIC = r"ghp_[A-Za-z0-9]{36,}|[0-9A-Fa-f]{40,}"
REDACTING_LOGGER_FINE = r"github_pat_[a-zA-Z0-9]{22}_[a-zA-Z0-9]{59}"
NOSEYPARKER = r"\b(ghp_[a-zA-Z0-9]{36})\b"
DETECT_SECRETS = r"(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}"


# ``token_group``: the group the tool reports as the secret (0 = the whole match).
@pytest.mark.parametrize(
    ("pattern", "token_group"),
    [
        pytest.param(GITLEAKS_CLASSIC, 0, id="gitleaks-github-pat"),
        pytest.param(TRUFFLEHOG_V2, 1, id="trufflehog-v2"),
        pytest.param(REDACTING_LOGGER_CLASSIC, 0, id="redacting-logger"),
        pytest.param(NOSEYPARKER, 1, id="noseyparker"),
        pytest.param(DETECT_SECRETS, 0, id="detect-secrets"),
    ],
)
def test_every_minted_classic_token_is_found_whole_by_scanners(
    pattern: str, token_group: int, classic_mints: list[str]
) -> None:
    regex = re.compile(pattern)
    for token in [*classic_mints, *GITHUB_VECTORS]:
        match = regex.search(f"leaked: {token} !")
        assert match is not None, token
        assert match.group(0) == token
        assert match.group(token_group) == token


@pytest.mark.parametrize(
    ("pattern", "token_group"),
    [
        pytest.param(GITLEAKS_FINE, 0, id="gitleaks-github-fine-grained-pat"),
        pytest.param(TRUFFLEHOG_V2, 1, id="trufflehog-v2"),
        pytest.param(REDACTING_LOGGER_FINE, 0, id="redacting-logger"),
    ],
)
def test_every_minted_fine_grained_token_is_found_whole_by_scanners(
    pattern: str, token_group: int, fine_mints: list[str]
) -> None:
    regex = re.compile(pattern)
    for token in [*fine_mints, FINE]:
        match = regex.search(f"leaked: {token} !")
        assert match is not None, token
        assert match.group(0) == token
        assert match.group(token_group) == token


# --- rejection: identify answers None, never raises --------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("ghp_", id="prefix-only"),
        pytest.param("github_pat_", id="fine-prefix-only"),
        pytest.param(CLASSIC[:-1], id="classic-one-short"),
        pytest.param(CLASSIC + "a", id="classic-one-long"),
        pytest.param(CLASSIC + CLASSIC[4:], id="classic-body-twice"),
        pytest.param(FINE[:-1], id="fine-one-short"),
        pytest.param(FINE + "a", id="fine-one-long"),
        pytest.param("ghp_" + "a" * 251, id="255-chars"),
        pytest.param(CLASSIC[4:], id="classic-without-prefix"),
        pytest.param("gho_" + CLASSIC[4:], id="oauth-prefix"),
        pytest.param("ghs_" + CLASSIC[4:], id="installation-prefix"),
        pytest.param("GHP_" + CLASSIC[4:], id="uppercased-prefix"),
        pytest.param("ghpx" + CLASSIC[4:], id="prefix-without-underscore"),
        pytest.param("github_PAT_" + FINE[11:], id="fine-prefix-wrong-case"),
        pytest.param("gitlab_pat_" + FINE[11:], id="fine-other-prefix"),
        pytest.param("github_pat_" + CLASSIC[4:], id="classic-body-fine-prefix"),
        pytest.param("ghp_" + FINE[11:], id="fine-body-classic-prefix"),
        pytest.param(" " + CLASSIC, id="classic-leading-space"),
        pytest.param(CLASSIC + " ", id="classic-trailing-space"),
        pytest.param(CLASSIC + "\n", id="classic-trailing-newline"),
        pytest.param("\t" + CLASSIC, id="classic-leading-tab"),
        pytest.param(" " + FINE, id="fine-leading-space"),
        pytest.param(FINE + "\r\n", id="fine-trailing-crlf"),
        pytest.param("ghp_" + "\x00" * 36, id="classic-nul-body"),
        pytest.param("\x00" * 40, id="nul-40"),
        pytest.param("ghp_" + "\udc80" * 36, id="classic-lone-surrogates"),
        pytest.param("github_pat_" + "\udc80" * 82, id="fine-lone-surrogates"),
        pytest.param("ghp_" + "0" * 36, id="classic-all-zero"),
        pytest.param("github_pat_11" + "0" * 20 + "_" + "0" * 59, id="fine-all-zero"),
        pytest.param("Bearer " + CLASSIC, id="bearer-header-value"),
        pytest.param(CLASSIC.lower(), id="classic-lowercased"),
        pytest.param("ghp_" + CLASSIC[4:].upper(), id="classic-uppercased"),
    ],
)
def test_malformed_strings_are_rejected(token: str) -> None:
    assert DEFAULT.identify(token) is None


@pytest.mark.parametrize("position", range(4, 40), ids=lambda p: f"pos{p}")
def test_any_single_character_change_in_a_classic_token_is_rejected(position: int) -> None:
    mutated = replace_at(CLASSIC, position, next_char(CLASSIC[position]))
    assert DEFAULT.identify(mutated) is None


@pytest.mark.parametrize("position", [p for p in range(11, 93) if p != 33], ids=lambda p: f"pos{p}")
def test_any_single_character_change_in_a_fine_grained_token_is_rejected(position: int) -> None:
    mutated = replace_at(FINE, position, next_char(FINE[position]))
    assert DEFAULT.identify(mutated) is None


@pytest.mark.parametrize("position", [4, 10, 20, 32, 33, 35, 38], ids=lambda p: f"pos{p}")
def test_adjacent_transposition_in_a_classic_token_is_rejected(position: int) -> None:
    a, b = CLASSIC[position], CLASSIC[position + 1]
    assert a != b
    swapped = CLASSIC[:position] + b + a + CLASSIC[position + 2 :]
    assert DEFAULT.identify(swapped) is None


@pytest.mark.parametrize("position", [4, 33, 34, 39], ids=lambda p: f"pos{p}")
@pytest.mark.parametrize("char", ["é", "٣", "３", "ß", "Ω", "_", "-", "+", "/", "="], ids=repr)
def test_classic_token_with_a_foreign_character_is_rejected(position: int, char: str) -> None:
    assert DEFAULT.identify(replace_at(CLASSIC, position, char)) is None


@pytest.mark.parametrize("position", [11, 13, 32, 34, 60, 86, 92], ids=lambda p: f"pos{p}")
@pytest.mark.parametrize("char", ["é", "٣", "３", "ß", "Ω", "_", "-", "+", "/", "="], ids=repr)
def test_fine_grained_token_with_a_foreign_character_is_rejected(position: int, char: str) -> None:
    assert DEFAULT.identify(replace_at(FINE, position, char)) is None


# The following forgeries carry a checksum that is *correct* for their content, so only the
# shape rule can reject them.


@pytest.mark.parametrize(
    "random_part",
    [
        pytest.param("M7H4jxUDDWHP4kZ6A4dxlQYsQIWJu_", id="underscore-last"),
        pytest.param("_7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq", id="underscore-first"),
        pytest.param("M7H4jxUDDWHP4_Z6A4dxlQYsQIWJuq", id="underscore-middle"),
        pytest.param("M7H4jxUDDWHP4éZ6A4dxlQYsQIWJuq", id="e-acute"),
        pytest.param("M7H4jxUDDWHP4٣Z6A4dxlQYsQIWJuq", id="arabic-indic-digit"),
        pytest.param("M7H4jxUDDWHP4 Z6A4dxlQYsQIWJuq", id="space"),
    ],
)
def test_classic_with_non_base62_body_is_rejected_even_with_a_valid_checksum(random_part: str) -> None:
    assert len(random_part) == 30
    assert DEFAULT.identify(with_classic_checksum("ghp_", random_part)) is None


def _fine_covered(head: str = FINE[11:33], sep: str = "_", tail: str = FINE[34:87]) -> str:
    return head + sep + tail


@pytest.mark.parametrize(
    "covered",
    [
        pytest.param(_fine_covered(sep="A"), id="separator-replaced"),
        pytest.param(_fine_covered(sep="0"), id="separator-digit"),
        pytest.param(_fine_covered(head=FINE[11:32] + "_", sep=FINE[32]), id="separator-one-left"),
        pytest.param(_fine_covered(sep=FINE[34], tail="_" + FINE[35:87]), id="separator-one-right"),
        pytest.param(_fine_covered(head="12" + FINE[13:33]), id="layout-tag-12"),
        pytest.param(_fine_covered(head="21" + FINE[13:33]), id="layout-tag-21"),
        pytest.param(_fine_covered(head="01" + FINE[13:33]), id="layout-tag-01"),
        pytest.param(_fine_covered(head="00" + FINE[13:33]), id="layout-tag-00"),
        pytest.param(_fine_covered(head="ll" + FINE[13:33]), id="layout-tag-letters"),
        pytest.param(_fine_covered(head=FINE[11:20] + "_" + FINE[21:33]), id="second-underscore-in-head"),
        pytest.param(_fine_covered(tail=FINE[34:60] + "_" + FINE[61:87]), id="second-underscore-in-tail"),
        pytest.param(_fine_covered(tail=FINE[34:60] + "é" + FINE[61:87]), id="non-ascii-in-tail"),
        pytest.param(_fine_covered(head=FINE[11:20] + "٣" + FINE[21:33]), id="arabic-indic-digit-in-head"),
    ],
)
def test_fine_grained_with_wrong_layout_is_rejected_even_with_a_valid_checksum(covered: str) -> None:
    assert len(covered) == 76
    assert DEFAULT.identify(with_fine_checksum("github_pat_", covered)) is None


def test_fine_grained_forgery_helper_builds_valid_tokens() -> None:
    # Guards the test above: with nothing changed, the helper reproduces a valid token.
    assert with_fine_checksum("github_pat_", _fine_covered()) == FINE
    assert with_classic_checksum("ghp_", CLASSIC[4:34]) == CLASSIC


# --- custom prefixes ---------------------------------------------------------------------------

CUSTOM = TokenFormat("tfp_", "tf_pat_")


def test_custom_format_mints_and_identifies_its_own_tokens() -> None:
    for _ in range(200):
        classic = CUSTOM.mint_classic()
        fine = CUSTOM.mint_fine_grained()
        assert classic.startswith("tfp_")
        assert len(classic) == 4 + 36
        assert fine.startswith("tf_pat_")
        assert len(fine) == 7 + 82
        assert fine[7:9] == "11"
        assert fine[7 + 22] == "_"
        assert CUSTOM.identify(classic) is TokenKind.CLASSIC
        assert CUSTOM.identify(fine) is TokenKind.FINE_GRAINED
        assert DEFAULT.identify(classic) is None
        assert DEFAULT.identify(fine) is None


@pytest.mark.parametrize(
    "token",
    [*GITHUB_VECTORS, FINE, DEFAULT.mint_classic(), DEFAULT.mint_fine_grained()],
    ids=["vector-1", "vector-2", "vector-3", "fine-golden", "minted-classic", "minted-fine"],
)
def test_custom_format_rejects_default_prefixed_tokens(token: str) -> None:
    assert CUSTOM.identify(token) is None


def test_prefix_is_not_covered_by_the_checksum() -> None:
    # An operator can change prefixes: the same body is valid behind any configured prefix.
    assert CUSTOM.identify("tfp_" + CLASSIC[4:]) is TokenKind.CLASSIC
    assert CUSTOM.identify("tf_pat_" + FINE[11:]) is TokenKind.FINE_GRAINED


@pytest.mark.parametrize(
    ("classic_prefix", "fine_grained_prefix"),
    [
        pytest.param("a_", "b_", id="shortest"),
        pytest.param("a" * 16 + "_", "b" * 16 + "_", id="longest-17"),
        pytest.param("TF_", "TF_PAT_", id="uppercase"),
        pytest.param("t9_", "t9_pat_", id="digits-after-first"),
        pytest.param("tf__", "tf_pat__", id="inner-underscores"),
    ],
)
def test_valid_custom_prefixes_are_accepted_and_work(classic_prefix: str, fine_grained_prefix: str) -> None:
    fmt = TokenFormat(classic_prefix, fine_grained_prefix)
    assert fmt.identify(fmt.mint_classic()) is TokenKind.CLASSIC
    assert fmt.identify(fmt.mint_fine_grained()) is TokenKind.FINE_GRAINED


BAD_PREFIXES = [
    pytest.param("tfp", id="no-trailing-underscore"),
    pytest.param("1tf_", id="starts-with-digit"),
    pytest.param("_tf_", id="starts-with-underscore"),
    pytest.param("tf-p_", id="contains-dash"),
    pytest.param("tf p_", id="contains-space"),
    pytest.param("tf.p_", id="contains-dot"),
    pytest.param("tfé_", id="non-ascii-letter"),
    pytest.param("a" * 17 + "_", id="too-long-18"),
    pytest.param("_", id="underscore-only"),
    pytest.param("", id="empty"),
    pytest.param("tfp_\n", id="trailing-newline"),
]


@pytest.mark.parametrize("prefix", BAD_PREFIXES)
def test_invalid_classic_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidPrefix):
        TokenFormat(classic_prefix=prefix, fine_grained_prefix="tf_pat_")


@pytest.mark.parametrize("prefix", BAD_PREFIXES)
def test_invalid_fine_grained_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidPrefix):
        TokenFormat(classic_prefix="tfp_", fine_grained_prefix=prefix)


@pytest.mark.parametrize("prefix", ["ghp_", "tf_", "github_pat_"])
def test_equal_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidPrefix):
        TokenFormat(prefix, prefix)


def test_invalid_prefix_is_a_value_error() -> None:
    # Settings validation reports ValueErrors as configuration errors.
    with pytest.raises(ValueError, match="tf-p_"):
        TokenFormat(classic_prefix="tf-p_")


# --- scanner_pattern ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{}", id="alone"),
        pytest.param("token={} ", id="assignment"),
        pytest.param('{{"token": "{}"}}', id="json"),
        pytest.param("Authorization: token {}\r\n", id="header"),
        pytest.param("https://x:{}@example.com/r.git", id="url-credentials"),
        pytest.param("(`{}`).", id="punctuation"),
        pytest.param("first line\n{}\nlast line", id="own-line"),
    ],
)
@pytest.mark.parametrize("token", [CLASSIC, FINE], ids=["classic", "fine"])
def test_scanner_pattern_finds_tokens_in_text(template: str, token: str) -> None:
    assert DEFAULT.scanner_pattern().findall(template.format(token)) == [token]


def test_scanner_pattern_finds_both_kinds_in_one_text() -> None:
    text = f"GH_TOKEN={CLASSIC}\nGH_FG={FINE}\n"
    assert DEFAULT.scanner_pattern().findall(text) == [CLASSIC, FINE]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param("x", "", id="letter-before"),
        pytest.param("9", "", id="digit-before"),
        pytest.param("_", "", id="underscore-before"),
        pytest.param("", "x", id="letter-after"),
        pytest.param("", "9", id="digit-after"),
        pytest.param("", "_", id="underscore-after"),
    ],
)
@pytest.mark.parametrize("token", [CLASSIC, FINE], ids=["classic", "fine"])
def test_scanner_pattern_ignores_tokens_glued_to_word_characters(before: str, after: str, token: str) -> None:
    assert DEFAULT.scanner_pattern().search(f"value: {before}{token}{after} end") is None


def test_custom_scanner_pattern_finds_custom_tokens_and_not_default_ones() -> None:
    classic, fine = CUSTOM.mint_classic(), CUSTOM.mint_fine_grained()
    text = f"{classic} {fine} {CLASSIC} {FINE}"
    assert CUSTOM.scanner_pattern().findall(text) == [classic, fine]
    assert DEFAULT.scanner_pattern().findall(text) == [CLASSIC, FINE]


def test_scanner_pattern_finds_minted_tokens(classic_mints: list[str], fine_mints: list[str]) -> None:
    pattern = DEFAULT.scanner_pattern()
    for token in classic_mints[:200] + fine_mints[:200]:
        assert pattern.findall(f"<{token}>") == [token]


# --- last_eight --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(CLASSIC, "uq11T4V4", id="classic"),
        pytest.param(FINE, "1s0wneT6", id="fine"),
    ],
)
def test_last_eight(token: str, expected: str) -> None:
    assert last_eight(token) == expected


def test_last_eight_of_minted_tokens(classic_mints: list[str], fine_mints: list[str]) -> None:
    for token in classic_mints[:100] + fine_mints[:100]:
        assert len(last_eight(token)) == 8
        assert token.endswith(last_eight(token))
