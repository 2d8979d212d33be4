"""The report-status rewriter on its own (pure: bytes in, bytes out), at every chunk boundary."""

from __future__ import annotations

import pytest

from tokenforge.git.pktline import FLUSH, ReportRewriter, pkt

REASON = "refusing to allow a Personal Access Token to create or update workflow `.github/workflows/ci.yml`"
REASONS = {"refs/heads/ci": REASON}


def band(n: int, data: bytes) -> bytes:
    return pkt(bytes([n]) + data)


def report(*lines: bytes) -> bytes:
    return b"".join(pkt(line) for line in lines) + FLUSH


def run(stream: bytes, reasons: dict[str, str], step: int | None = None) -> bytes:
    rewriter = ReportRewriter(lambda: reasons)
    if step is None:
        return rewriter.feed(stream) + rewriter.finish()
    out = b"".join(rewriter.feed(stream[i : i + step]) for i in range(0, len(stream), step))
    return out + rewriter.finish()


DECLINED = report(b"unpack ok\n", b"ok refs/heads/main\n", b"ng refs/heads/ci hook declined\n")
REWRITTEN = report(b"unpack ok\n", b"ok refs/heads/main\n", b"ng refs/heads/ci " + REASON.encode() + b"\n")


@pytest.mark.parametrize("step", [None, 1, 3, 7, 64])
def test_side_band_report_is_rewritten_at_any_chunking(step: int | None) -> None:
    stream = (
        band(2, b"Resolving deltas: 100% (1/1), done.\n")
        + band(2, b"error: hook declined to update refs/heads/ci\n")
        + band(1, DECLINED[:10])  # the report split across two band-1 packets
        + band(1, DECLINED[10:])
        + FLUSH
    )
    expected = band(2, b"Resolving deltas: 100% (1/1), done.\n") + band(1, REWRITTEN) + FLUSH
    assert run(stream, REASONS, step) == expected


def test_refs_without_a_recorded_reason_are_untouched() -> None:
    stream = band(2, b"error: hook declined to update refs/heads/ci\n") + band(1, DECLINED) + FLUSH
    assert run(stream, {}) == stream
    other = report(b"unpack ok\n", b"ng refs/heads/main non-fast-forward\n")
    assert run(band(1, other) + FLUSH, REASONS) == band(1, other) + FLUSH


def test_keepalives_pass_at_once() -> None:
    rewriter = ReportRewriter(lambda: REASONS)
    keepalive = band(1, b"")
    assert rewriter.feed(keepalive) == keepalive


def test_without_side_band_the_report_is_the_stream() -> None:
    assert run(DECLINED, REASONS) == REWRITTEN
    assert run(DECLINED, REASONS, step=5) == REWRITTEN


def test_report_v2_option_lines_pass() -> None:
    stream = report(b"unpack ok\n", b"ok refs/heads/main\n", b"option refname refs/heads/main\n")
    assert run(stream, REASONS) == stream


def test_a_reason_cannot_break_the_line() -> None:
    out = run(DECLINED, {"refs/heads/ci": "two\nlines\0x"})
    assert b"ng refs/heads/ci two lines\0x\n" in out


def test_not_pkt_lines_passes_through_untouched() -> None:
    garbage = b"HTTP/1.1 this is not a pkt-line stream at all"
    assert run(garbage, REASONS) == garbage
    assert run(garbage, REASONS, step=3) == garbage


def test_unterminated_report_is_still_sent() -> None:
    stream = band(1, DECLINED)  # no closing flush: the child died after writing the report
    assert run(stream, REASONS) == band(1, REWRITTEN)


def test_large_reports_are_reframed_in_band_sized_packets() -> None:
    lines = [b"ok refs/heads/branch-%05d\n" % i for i in range(4000)] + [b"ng refs/heads/ci hook declined\n"]
    inner = report(b"unpack ok\n", *lines)
    stream = b"".join(band(1, inner[i : i + 65515]) for i in range(0, len(inner), 65515)) + FLUSH
    out = run(stream, REASONS, step=4096)
    # Reassemble band 1 and check the report survived intact apart from the one reason.
    data, pos = b"", 0
    while pos < len(out):
        size = int(out[pos : pos + 4], 16)
        if size == 0:
            pos += 4
            continue
        assert size <= 65520
        assert out[pos + 4 : pos + 5] == b"\x01"
        data += out[pos + 5 : pos + size]
        pos += size
    assert data == inner.replace(
        pkt(b"ng refs/heads/ci hook declined\n"), pkt(b"ng refs/heads/ci " + REASON.encode() + b"\n")
    )
