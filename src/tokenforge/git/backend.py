"""git's own ``upload-pack`` / ``receive-pack`` as a child process, streamed in both directions.

This module is the HTTP framing only: ``http.py`` decides what runs (``git upload-pack
--stateless-rpc [--advertise-refs] DIR`` or the same for receive-pack) with which environment
and response headers; git's programs speak the protocol. Running them directly, not through
``git http-backend``, saves an exec and a fork per request — about a third of the server's CPU
for a small clone (docs/benchmarks.md) — and is what Gitea and Gitaly do.

Memory stays flat whatever the size of a push or a clone, because no stage holds more than a
bounded window:

* request body → the child's stdin: each ASGI ``http.request`` chunk is written completely
  into the pipe before the next is received. uvicorn stops reading the socket once 64 KiB of
  body is waiting (its flow control), so at any moment a 500 MB push occupies about one such
  chunk of this process's memory (plus at most 1 MiB in the kernel's pipe). A gzip-encoded body
  (git compresses large fetch negotiations) is inflated on the way, at most ``CHUNK`` bytes of
  output per step, each written before the next is inflated: a small body that inflates to
  gigabytes never exists in memory either;
* the child's stdout → the response: read in pieces of up to ``CHUNK`` bytes as they come, each
  sent before the next read. ``send`` waits while the socket's write buffer is full, and while
  nothing is read the full pipe makes the child wait.

Two things this deliberately does *not* do (Soft Serve's 4–6× slow-down, PERFORMANCE.md §3e):
no compression of the response (a pack is already zlib-compressed; gzip again costs CPU and
gains nothing), and no flush of tiny pieces (a read returns whatever the child has written, up to
``CHUNK``, so a fast child yields large writes while progress lines from a slow one still flow).

The response starts with the child's first output, not before: until then nothing is promised,
so a child that dies at once, a request body that turns out to be unreadable, or a client that
has gone away can still be answered properly (or, for the last, not at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.types import Receive, Send

from tokenforge.git.pktline import ReportRewriter

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
_PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size for unprivileged processes
_STDERR_TAIL = 4096
# Python ignores SIGPIPE and SIGXFSZ for itself; an exec'd program inherits "ignored", so they are
# put back to their defaults in the child (what subprocess.Popen's restore_signals does).
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_NO_SIGNALS: tuple[int, ...] = ()


class BackendFailed(Exception):
    """The child ended without writing anything and not because of the client (it died, or failed)."""


class ClientGone(Exception):
    """The client disconnected before the response started: there is nobody to answer."""


class RequestRefused(Exception):
    """The request body could not be passed on (not gzip, too large); nothing was sent yet."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _State:
    """What the request-body side learned, for the response side to act on."""

    __slots__ = ("gone", "refusal")

    def __init__(self) -> None:
        self.gone = False
        self.refusal: RequestRefused | None = None


class _TooLarge(Exception):
    pass


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


def inherited_fds() -> tuple[int, ...]:
    """The fds above 2 that this process would pass on to a program it starts: to close in each child.

    Everything Tokenforge, uvicorn, libuv, SQLite and libpq open is close-on-exec; what is not is
    what the server was started with (a supervisor's or a shell's pipes). ``subprocess`` closes
    every fd in the child; ``posix_spawn`` cannot, so these are listed once, when the server
    starts (scanning /proc costs ~40 µs, too much for every request), and closed in each child.
    """
    try:
        candidates = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        candidates = list(range(3, 256))
    stray = []
    for fd in candidates:
        if fd > 2:
            with contextlib.suppress(OSError):
                if os.get_inheritable(fd):
                    stray.append(fd)
    return tuple(sorted(stray))


async def serve(
    argv: Sequence[str],
    env: Mapping[str, str],
    receive: Receive,
    send: Send,
    *,
    headers: list[tuple[bytes, bytes]],
    prefix: bytes = b"",
    request_body: bool = True,
    gzip: bool = False,
    limit: int | None = None,
    rewriter: ReportRewriter | None = None,
    before_end: Callable[[int], Awaitable[None]] | None = None,
    close_fds: Sequence[int] = (),
) -> None:
    """Run ``argv`` for one request and stream its output to the client as a 200 response.

    ``prefix`` goes out before the child's output (the ``# service=`` line of protocol v0).
    ``request_body``: feed the request body to the child's stdin (else it reads /dev/null);
    ``gzip``: inflate it first; ``limit``: refuse a body that (inflated) exceeds this many bytes.
    ``before_end`` runs after the child has exited and before the response's last message: git
    waits for the end of the response, so whatever it does (recording a push) is visible to the
    client by the time ``git push`` returns. ``close_fds``: ``inherited_fds()``, closed in the child.

    Raises, before anything is sent: ``ClientGone``, ``RequestRefused``, ``BackendFailed``.
    """
    child = _Child.start(argv, env, stdin=request_body, wide=request_body, close_fds=close_fds)
    state = _State()
    feeder = asyncio.create_task(_feed(receive, child, state, gzip=gzip, limit=limit))
    stderr: list[bytes] = []
    drainer = asyncio.create_task(_tail(child, stderr))
    try:
        chunk = await child.read(CHUNK)
        if not chunk:
            # Nothing at all from the child: find out why before answering anything.
            code = await child.wait()
            if state.gone:
                raise ClientGone
            if state.refusal is not None:
                raise state.refusal
            if code != 0:
                await drainer
                raise BackendFailed(f"git {argv[1]} exited with {code} and no output: {_last_line(stderr)}")
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        chunk = prefix + chunk
        while chunk:
            body = rewriter.feed(chunk) if rewriter is not None else chunk
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            chunk = await child.read(CHUNK)
        code = await child.wait()
        await drainer
        if state.gone:
            log.debug("git %s: the client went away during the response", argv[1])
        elif state.refusal is not None:  # the child was stopped for it: its exit code says nothing more
            log.info("git %s: request body refused after the response started: %s", argv[1], state.refusal)
        elif code != 0:
            log.warning("git %s exited with %s: %s", argv[1], code, _last_line(stderr))
        if rewriter is not None and (tail := rewriter.finish()):
            await send({"type": "http.response.body", "body": tail, "more_body": True})
        if before_end is not None and not state.gone:
            await before_end(code)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
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
    """A child process and its three pipes, owned here as plain non-blocking fds.

    Spawned with ``os.posix_spawn``: glibc's implementation is a ``clone(CLONE_VM|CLONE_VFORK)``
    straight into ``execve``, so neither the page tables of a 100 MB server are copied (as
    uvloop's fork-based ``create_subprocess_exec`` does: 7 ms per spawn, measured) nor the
    environment re-encoded in Python on every call (as ``subprocess.Popen`` does). Every fd this
    process opens is close-on-exec (Python's default since 3.4, libuv's, SQLite's and libpq's
    too), and the few it inherited are closed in the child (``close_fds``), so the child gets
    exactly 0, 1 and 2 (a test checks it).

    Why not the loop's pipe transports: uvloop's transports close an fd on their own schedule;
    if anything else also closes it, a second close() of a number the kernel has meanwhile handed
    to another thread closes *that* thread's file (seen in the tests as EBADF in unrelated
    subprocess calls). Here every fd is created by os.pipe2, read and written with os.read and
    os.write when the loop says it is ready, and closed exactly once, by ``close``.

    The process is watched through a pidfd: readable when it exits (no SIGCHLD handler, no
    thread) and a handle for ``kill`` that cannot reach another process once the pid is reused.
    """

    def __init__(self, pid: int, pidfd: int | None, stdin: int | None, stdout: int, stderr: int) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._open = [fd for fd in (pidfd, stdin, stdout, stderr) if fd is not None]

    @classmethod
    def start(
        cls, argv: Sequence[str], env: Mapping[str, str], *, stdin: bool, wide: bool, close_fds: Sequence[int] = ()
    ) -> _Child:
        ours: list[int] = []  # the parent's ends, kept
        theirs: list[int] = []  # the child's ends, closed here once it has them
        actions: list[tuple[object, ...]] = []

        def pipe(*, child_reads: bool) -> tuple[int, int]:
            """A pipe as (the parent's end, the child's end), recorded at once so a failure closes both."""
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            parent, child = (write_end, read_end) if child_reads else (read_end, write_end)
            ours.append(parent)
            theirs.append(child)
            return parent, child

        try:
            if stdin:
                in_w, in_r = pipe(child_reads=True)
                actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
            else:
                actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
            out_r, out_w = pipe(child_reads=False)
            err_r, err_w = pipe(child_reads=False)
            # dup2 onto 0, 1, 2 clears close-on-exec on the copies; the originals close on exec.
            actions += [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
            # After the dup2s: should a number in close_fds have been closed and reused for one of
            # the pipes since, it is closed only once copied. Closing an fd that is not open is a
            # no-op for glibc's posix_spawn.
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in close_fds]
            pid = os.posix_spawn(
                argv[0], list(argv), env, file_actions=actions, setsigdef=_DEFAULT_SIGNALS, setsigmask=_NO_SIGNALS
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): a thread waits instead
            pidfd = None
        for fd in ours:
            os.set_blocking(fd, False)
        if wide:
            # Wider pipes (1 MiB, not 64 KiB) let each side run ahead of the other: pack-objects
            # of the network, the network of index-pack; each wake-up of the loop then moves more.
            for fd in (in_w, out_r) if stdin else (out_r,):
                with contextlib.suppress(OSError):
                    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        return cls(pid, pidfd, in_w if stdin else None, out_r, err_r)

    async def read(self, size: int, *, fd: int | None = None) -> bytes:
        """Up to ``size`` bytes of stdout (or ``fd``) as soon as any are there; b"" at the end."""
        fd = self.stdout if fd is None else fd
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
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        if self.pidfd is None:
            _, status = await asyncio.to_thread(os.waitpid, self.pid, 0)
        else:
            await _ready(self.pidfd, write=False)  # a pidfd becomes readable when the process exits
            _, status = os.waitpid(self.pid, 0)
        # -N for a signal, as subprocess reports it.
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

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


async def _feed(receive: Receive, child: _Child, state: _State, *, gzip: bool, limit: int | None) -> None:
    """Request body → stdin, one chunk at a time, each taken by the pipe before the next is
    received; then watch for the client leaving.

    After the body, ``receive()`` returns only when the client disconnects (or the response is
    complete): a client that goes away mid-clone must not leave pack-objects running for nobody.
    """
    # wbits 16 + MAX_WBITS: a gzip member only, as http-backend accepts (not raw or zlib deflate).
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
    fed = 0

    async def write(data: bytes) -> None:
        nonlocal fed
        fed += len(data)
        if limit is not None and fed > limit:
            raise _TooLarge
        await child.write(data)

    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                state.gone = True
                child.kill()
                return
            body = message.get("body", b"")
            if body and child.stdin is not None:
                if inflater is None:
                    await write(body)
                elif not inflater.eof:  # after the gzip stream's end the rest is ignored, like http-backend
                    data = inflater.decompress(body, CHUNK)
                    while True:
                        await write(data)
                        if inflater.eof or not inflater.unconsumed_tail:
                            break
                        data = inflater.decompress(inflater.unconsumed_tail, CHUNK)
            if not message.get("more_body", False):
                break
        if inflater is not None and child.stdin is not None and not inflater.eof:
            _refuse(state, child, RequestRefused(400, "The request ended in the middle of its gzip stream."))
    except zlib.error:
        _refuse(state, child, RequestRefused(400, "The request body is not valid gzip."))
    except _TooLarge:
        # http-backend's limit for upload-pack requests (http.maxRequestBuffer's default): a fetch
        # negotiation is a list of object ids, and this bounds what upload-pack is made to parse.
        _refuse(state, child, RequestRefused(413, f"The request is larger than {limit} bytes."))
    except (BrokenPipeError, ConnectionResetError):
        # The child stopped reading (it rejected the request and exited); its answer says why.
        pass
    finally:
        child.close_stdin()
    message = await receive()
    if message["type"] == "http.disconnect" and child.returncode is None:
        state.gone = True
        child.kill()


def _refuse(state: _State, child: _Child, refusal: RequestRefused) -> None:
    state.refusal = refusal
    child.kill()


async def _tail(child: _Child, keep: list[bytes]) -> None:
    """Drain stderr (a full pipe would block the child) and keep its last few KiB for the log."""
    size = 0
    while chunk := await child.read(_STDERR_TAIL, fd=child.stderr):
        keep.append(chunk)
        size += len(chunk)
        while size - len(keep[0]) >= _STDERR_TAIL:
            size -= len(keep.pop(0))


def _last_line(chunks: list[bytes]) -> str:
    text = b"".join(chunks).decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "(no message)"
