"""``git http-backend`` as a CGI child process, streamed in both directions.

Memory stays flat whatever the size of a push or a clone, because no stage holds more than a
bounded window:

* request body → the child's stdin: each ASGI ``http.request`` chunk is written completely
  into the pipe before the next is received. uvicorn stops reading the socket once 64 KiB of
  body is waiting (its flow control), so at any moment a 500 MB push occupies about one such
  chunk of this process's memory (plus at most 1 MiB in the kernel's pipe);
* the child's stdout → the response: read in pieces of up to ``CHUNK`` bytes as they come, each
  sent before the next read. ``send`` waits while the socket's write buffer is full, and while
  nothing is read the full pipe makes the child wait.

Two things this deliberately does *not* do (Soft Serve's 4–6× slow-down, PERFORMANCE.md §3e):
no compression of the response (a pack is already zlib-compressed; gzip again costs CPU and
gains nothing), and no flush of tiny pieces (a read returns whatever the child has written, up to
``CHUNK``, so a fast child yields large writes while progress lines from a slow one still flow).

A request body sent gzip-compressed (git does this for large fetch negotiations) is passed as is
with ``HTTP_CONTENT_ENCODING``: http-backend inflates it itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.types import Receive, Send

from tokenforge.git.pktline import ReportRewriter

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# CGI headers from http-backend are a handful of short lines; anything past this is not it.
_MAX_HEAD = 16 * 1024
_PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size for unprivileged processes
_STDERR_TAIL = 4096
# Response headers from the child that make no sense to forward: hop-by-hop, or wrong once the
# body is rewritten (Content-Length) or re-framed by the server.
_DROPPED_HEADERS = frozenset({b"status", b"connection", b"transfer-encoding", b"keep-alive"})


class BackendFailed(Exception):
    """http-backend did not produce a response (it died, or its output was not CGI)."""


@dataclass(slots=True)
class Outcome:
    exit_code: int | None  # None: killed because the client went away
    started: bool  # a response was started (its status came from the child)


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment minus anything that would steer git (``GIT_*``, user config).

    Built once per server: every child then starts from the same known state, and nothing a
    client sends becomes an environment variable unless ``http.py`` put it there by name.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "TOKENFORGE_"))}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    if extra:
        env.update(extra)
    return env


async def serve(
    argv: list[str],
    env: Mapping[str, str],
    receive: Receive,
    send: Send,
    *,
    rewriter: ReportRewriter | None = None,
    before_end: Callable[[int], Awaitable[None]] | None = None,
) -> Outcome:
    """Run the CGI child for one request and stream its answer to the client.

    ``before_end`` runs after the child has exited and before the response's last message: git
    waits for the end of the response, so whatever it does (recording a push) is visible to the
    client by the time ``git push`` returns.
    """
    child = _Child.start(argv, env)
    gone = asyncio.Event()
    feeder = asyncio.create_task(_feed(receive, child, gone))
    stderr: list[bytes] = []
    drainer = asyncio.create_task(_tail(child, stderr))
    started = False
    try:
        status, headers, first = await _read_head(child)
        if rewriter is not None:
            headers = [(k, v) for k, v in headers if k != b"content-length"]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        started = True
        chunk = first or await child.read(child.stdout, CHUNK)
        while chunk:
            body = rewriter.feed(chunk) if rewriter is not None else chunk
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            chunk = await child.read(child.stdout, CHUNK)
        code = await child.wait()
        await drainer
        if code != 0 and not gone.is_set():
            log.warning("git http-backend exited with %s: %s", code, _last_line(stderr))
        if rewriter is not None and (tail := rewriter.finish()):
            await send({"type": "http.response.body", "body": tail, "more_body": True})
        if before_end is not None and not gone.is_set():
            await before_end(code)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return Outcome(None if gone.is_set() else code, started)
    except BackendFailed:
        await child.wait()
        await drainer
        log.error("git http-backend gave no response (exit %s): %s", child.returncode, _last_line(stderr))
        raise
    finally:
        # The tasks first: each removes its fd from the loop before the fds are closed.
        feeder.cancel()
        drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        with contextlib.suppress(asyncio.CancelledError):
            await drainer
        await child.close()


class _Child:
    """A child process whose three pipes this object owns as plain non-blocking fds.

    Why not ``asyncio.create_subprocess_exec``: under uvloop (uvicorn's default loop) it spawns
    with fork(), copying the page tables of the whole server inside the event loop — measured
    here at 7 ms of CPU per spawn for a 100 MB process, 17 ms with the wait, on every git
    request. ``subprocess.Popen`` uses vfork(): ~0.4 ms.

    Why not the loop's pipe transports on top of Popen's pipes: uvloop's transports close the
    fd on their own schedule while Python's file object closes it too; a second close() of a
    number the kernel has meanwhile handed to another thread closes *that* thread's file (seen
    in the tests as EBADF in unrelated subprocess calls). Here every fd is created by os.pipe2,
    read and written with os.read/os.write when the loop says it is ready, and closed exactly
    once, by ``close``.
    """

    def __init__(self, proc: subprocess.Popen[bytes], stdin: int, stdout: int, stderr: int) -> None:
        self.proc = proc
        self.stdin: int | None = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._open = [stdin, stdout, stderr]

    @classmethod
    def start(cls, argv: list[str], env: Mapping[str, str]) -> _Child:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        ours, theirs = (in_w, out_r, err_r), (in_r, out_w, err_w)
        try:
            # Popen dup2()s the child's ends onto its 0, 1 and 2; the originals are O_CLOEXEC.
            proc = subprocess.Popen(argv, stdin=in_r, stdout=out_w, stderr=err_w, env=dict(env))
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        for fd in ours:
            os.set_blocking(fd, False)
        # Wider pipes (1 MiB, not 64 KiB) let each side run ahead of the other: pack-objects of
        # the network, the network of index-pack; each wake-up of the loop then moves more.
        for fd in (in_w, out_r):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        return cls(proc, in_w, out_r, err_r)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def read(self, fd: int, size: int) -> bytes:
        """Up to ``size`` bytes as soon as any are there; b"" at the end."""
        while True:
            try:
                return os.read(fd, size)
            except BlockingIOError:
                await _ready(fd, write=False)

    async def write(self, data: bytes) -> None:
        """All of ``data`` into stdin; returns when the pipe has taken it (BrokenPipeError if closed)."""
        view = memoryview(data)
        while view:
            if self.stdin is None:
                raise BrokenPipeError
            try:
                view = view[os.write(self.stdin, view) :]
            except BlockingIOError:
                await _ready(self.stdin, write=True)

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self._close(self.stdin)
            self.stdin = None

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def wait(self) -> int:
        if self.proc.returncode is not None:
            return self.proc.returncode
        try:
            pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): a thread waits instead
            return await asyncio.to_thread(self.proc.wait)
        try:
            await _ready(pidfd, write=False)  # a pidfd becomes readable when the process exits
        finally:
            os.close(pidfd)
        return self.proc.wait()

    async def close(self) -> None:
        """Kill the child if it still runs, reap it, and close every fd still open."""
        self.kill()
        await self.wait()
        for fd in list(self._open):
            self._close(fd)

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.remove(fd)
            os.close(fd)


async def _ready(fd: int, *, write: bool) -> None:
    """Wait until the event loop reports ``fd`` readable (or writable)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    if write:
        loop.add_writer(fd, _resolve, future)
    else:
        loop.add_reader(fd, _resolve, future)
    try:
        await future
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _feed(receive: Receive, child: _Child, gone: asyncio.Event) -> None:
    """Request body → stdin, one chunk at a time, each taken by the pipe before the next is
    received; then watch for the client leaving.

    After the body, ``receive()`` returns only when the client disconnects (or the response is
    complete): a client that goes away mid-clone must not leave pack-objects running for nobody.
    """
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                child.kill()
                return
            body = message.get("body", b"")
            if body:
                await child.write(body)
            if not message.get("more_body", False):
                break
    except (BrokenPipeError, ConnectionResetError):
        # The child stopped reading (it rejected the request and exited); its answer says why.
        pass
    finally:
        child.close_stdin()
    message = await receive()
    if message["type"] == "http.disconnect" and child.returncode is None:
        gone.set()
        child.kill()


async def _tail(child: _Child, keep: list[bytes]) -> None:
    """Drain stderr (a full pipe would block the child) and keep its last few KiB for the log."""
    size = 0
    while chunk := await child.read(child.stderr, _STDERR_TAIL):
        keep.append(chunk)
        size += len(chunk)
        while size - len(keep[0]) >= _STDERR_TAIL:
            size -= len(keep.pop(0))


def _last_line(chunks: list[bytes]) -> str:
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "(no message)"


async def _read_head(child: _Child) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The CGI response head (``Status:`` and headers, up to the empty line), and the body
    bytes that came with it."""
    buf = b""
    while True:
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := buf.find(sep)) >= 0]
        if ends:
            end, width = min(ends)
            return *_parse_head(buf[:end]), buf[end + width :]
        if len(buf) > _MAX_HEAD:
            raise BackendFailed("oversized CGI head")
        chunk = await child.read(child.stdout, CHUNK)
        if not chunk:
            raise BackendFailed("no CGI response")
        buf += chunk


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status = 200
    headers: list[tuple[bytes, bytes]] = []
    for raw in head.split(b"\n"):
        line = raw.rstrip(b"\r")
        name, sep, value = line.partition(b":")
        if not sep:
            raise BackendFailed("malformed CGI header")
        name, value = name.strip().lower(), value.strip()
        if name == b"status":
            try:
                status = int(value.split(b" ", 1)[0])
            except ValueError:
                raise BackendFailed("malformed CGI status") from None
        elif name not in _DROPPED_HEADERS:
            headers.append((name, value))
    return status, headers
