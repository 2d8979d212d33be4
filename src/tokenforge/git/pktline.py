"""Rewriting receive-pack's report-status so a hook's reason reaches the user.

git's ``update`` hook can refuse one ref of a push, but receive-pack then reports that ref as
``ng <ref> hook declined`` and git prints ``! [remote rejected] main -> main (hook declined)``.
GitHub prints its reason there instead (spec §7.4/§7.5). So the hook records its reason per ref
in a file only the server knows (``hooks.py``), and this rewriter, sitting on receive-pack's
response stream, replaces ``hook declined`` with that reason for exactly those refs.

The response is a stream of pkt-lines (4 hex digits of length, then the payload; ``0000`` is a
flush). When the client asked for ``side-band-64k`` every payload starts with a band byte:
1 carries the report — itself a sequence of pkt-lines, possibly split across several band-1
packets — 2 carries progress and messages (shown as ``remote: …``), 3 a fatal error. Without
side-band the report's pkt-lines are the stream itself. Both are handled; anything that does
not parse is passed through untouched, so the rewriter can cost a nicer message, never a push.

Only receive-pack responses go through here: they hold progress and a report of a few bytes
per ref, never pack data, so parsing every packet is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

FLUSH = b"0000"
# LARGE_PACKET_MAX (65520) minus the 4-byte length header, minus one for the band byte.
_MAX_BAND_DATA = 65520 - 4 - 1
# A report larger than this is passed through unrewritten (it would take ~17,000 refs).
_MAX_REPORT = 1 << 20

_DECLINED = re.compile(rb"ng (\S+) hook declined\n?")
_DECLINED_NOTICE = re.compile(rb"error: hook declined to update (\S+)\n?")


def pkt(payload: bytes) -> bytes:
    return b"%04x" % (len(payload) + 4) + payload


class ReportRewriter:
    """Feed it receive-pack's response body in chunks; it returns what to send on.

    ``reasons()`` returns ``{refname: reason}`` for the refs the hook refused; it is called only
    when a ``hook declined`` appears, by which time the hook has written its file.
    """

    def __init__(self, reasons: Callable[[], Mapping[str, str]]) -> None:
        self._reasons = reasons
        self._buf = bytearray()
        self._sideband: bool | None = None  # unknown until the first packet with a payload
        self._report = bytearray()  # band-1 data held until the flush that ends it
        self._passthrough = False

    def feed(self, data: bytes) -> bytes:
        if self._passthrough:
            return data
        self._buf += data
        out = bytearray()
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            try:
                size = int(buf[pos : pos + 4], 16)
            except ValueError:
                return self._give_up(out, pos)
            if size < 4:  # flush (0), delim (1), response-end (2): no payload
                out += self._special(bytes(buf[pos : pos + 4]))
                pos += 4
                continue
            if len(buf) - pos < size:
                break
            out += self._packet(bytes(buf[pos + 4 : pos + size]), bytes(buf[pos : pos + size]))
            pos += size
        del buf[:pos]
        return bytes(out)

    def finish(self) -> bytes:
        """The end of the stream: anything still held goes out (rewritten where it parsed)."""
        out = bytearray()
        if self._report:
            out += self._band1(self._rewrite_report(bytes(self._report)))
            self._report.clear()
        out += self._buf
        self._buf.clear()
        return bytes(out)

    # -- internals ----------------------------------------------------------------------------

    def _give_up(self, out: bytearray, pos: int) -> bytes:
        """Not pkt-lines after all: send everything as it came from here on."""
        self._passthrough = True
        if self._report:
            out += self._band1(bytes(self._report))
            self._report.clear()
        out += self._buf[pos:]
        self._buf.clear()
        return bytes(out)

    def _special(self, header: bytes) -> bytes:
        if header == FLUSH and self._report:
            held = self._band1(self._rewrite_report(bytes(self._report)))
            self._report.clear()
            return held + header
        return header

    def _packet(self, payload: bytes, raw: bytes) -> bytes:
        if self._sideband is None:
            self._sideband = payload[:1] in (b"\x01", b"\x02", b"\x03")
        if not self._sideband:
            return pkt(self._rewrite_line(payload)) if payload.startswith(b"ng ") else raw
        band, data = payload[:1], payload[1:]
        if band == b"\x01":
            if not data:
                return raw  # a keepalive: forward at once, it is what keeps the client waiting
            if len(self._report) + len(data) > _MAX_REPORT:
                held = self._band1(bytes(self._report)) + raw
                self._report.clear()
                self._passthrough = True
                return held
            self._report += data
            return b""
        # receive-pack's own "error: hook declined to update <ref>" would show as a remote: line
        # next to the real reason; GitHub shows only the reason.
        notice = _DECLINED_NOTICE.fullmatch(data) if band == b"\x02" else None
        if notice is not None and notice.group(1).decode("utf-8", "replace") in self._reasons():
            return b""
        return raw

    def _rewrite_line(self, line: bytes) -> bytes:
        match = _DECLINED.fullmatch(line)
        if match is None:
            return line
        reason = self._reasons().get(match.group(1).decode("utf-8", "replace"))
        if reason is None:
            return line
        # A reason must stay one line of a pkt-line: strip anything that could end it early.
        text = " ".join(reason.split())[:1000]
        return b"ng " + match.group(1) + b" " + text.encode() + b"\n"

    def _rewrite_report(self, data: bytes) -> bytes:
        out = bytearray()
        pos = 0
        while pos < len(data):
            try:
                size = int(data[pos : pos + 4], 16)
            except ValueError:
                return data
            if size < 4:
                out += data[pos : pos + 4]
                pos += 4
                continue
            if pos + size > len(data):
                return data
            line = data[pos + 4 : pos + size]
            out += pkt(self._rewrite_line(line)) if line.startswith(b"ng ") else data[pos : pos + size]
            pos += size
        return bytes(out)

    @staticmethod
    def _band1(data: bytes) -> bytes:
        return b"".join(pkt(b"\x01" + data[i : i + _MAX_BAND_DATA]) for i in range(0, len(data), _MAX_BAND_DATA))
