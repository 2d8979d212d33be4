"""``git.backend.serve`` on its own: a child process, a fake ASGI client, no server, no database.

Each case runs a small program in place of git and checks what the client would get.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import uvloop
from starlette.types import Message

from tokenforge.git import backend

HEADERS = [(b"content-type", b"application/x-test")]


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class Client:
    """ASGI receive/send for one request: ``body`` in pieces, then (optionally) a disconnect."""

    def __init__(self, body: list[bytes], *, leave: bool = False) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": piece, "more_body": i < len(body) - 1} for i, piece in enumerate(body)
        ] or [{"type": "http.request", "body": b"", "more_body": False}]
        self.leave = leave
        self.sent: list[Message] = []
        self.done = asyncio.Event()

    async def receive(self) -> Message:
        if self.messages:
            return self.messages.pop(0)
        if not self.leave:
            await self.done.wait()  # uvicorn answers disconnect only once the response is complete
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done.set()

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


Run = Callable[[Callable[[], Awaitable[None]]], None]


@pytest.fixture(params=["uvloop", "asyncio"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """Each case on uvloop (what uvicorn serves with) and on asyncio's own loop."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:

        def run(serve: Callable[[], Awaitable[None]]) -> None:
            runner.run(asyncio.wait_for(serve(), timeout=30))

        yield run


def test_the_request_body_reaches_the_child_and_its_output_the_client(run: Run) -> None:
    client = Client([b"hello ", b"world"])
    echo = _python("import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().upper())")
    run(lambda: backend.serve(echo, dict(os.environ), client.receive, client.send, headers=HEADERS, prefix=b"> "))
    assert client.status == 200
    assert client.body == b"> HELLO WORLD"


def test_gzip_bodies_are_inflated_in_bounded_steps(run: Run) -> None:
    # 64 MiB of zeros in ~64 KiB: the child counts what it got; the server never held it whole.
    data = gzip.compress(b"\0" * (64 << 20))
    client = Client([data[i : i + 65536] for i in range(0, len(data), 65536)])
    count = _python(
        "import sys\nn = 0\nwhile chunk := sys.stdin.buffer.read(1 << 20): n += len(chunk)\nprint(n, end='')"
    )
    run(lambda: backend.serve(count, dict(os.environ), client.receive, client.send, headers=HEADERS, gzip=True))
    assert client.body == str(64 << 20).encode()


def test_a_client_gone_before_any_output_gets_nothing_and_the_child_is_stopped(run: Run) -> None:
    client = Client([], leave=True)
    sleeper = _python("import time; time.sleep(60)")
    start = time.monotonic()
    with pytest.raises(backend.ClientGone):
        run(lambda: backend.serve(sleeper, dict(os.environ), client.receive, client.send, headers=HEADERS,
                                   request_body=False))  # fmt: skip
    assert time.monotonic() - start < 20  # killed, not waited for
    assert client.sent == []


def test_a_child_that_dies_without_output_is_a_failure_with_its_last_words(run: Run) -> None:
    client = Client([])
    dies = _python("import sys; print('fatal: no such thing', file=sys.stderr); sys.exit(128)")
    with pytest.raises(backend.BackendFailed, match="exited with 128 and no output: fatal: no such thing"):
        run(lambda: backend.serve(dies, dict(os.environ), client.receive, client.send, headers=HEADERS))
    assert client.sent == []  # the caller answers 500; nothing was promised yet


def test_children_get_stdio_and_nothing_else(run: Run) -> None:
    # An fd this process would pass on (as one inherited from a supervisor would be).
    stray_r, stray_w = os.pipe()
    os.set_inheritable(stray_r, True)
    try:
        report = _python(
            "import os\n"
            "def is_open(fd):\n"
            "    try:\n        os.fstat(fd)\n    except OSError:\n        return False\n    return True\n"
            "print(sorted(fd for fd in range(3, 4096) if is_open(fd)), end='')"
        )
        client = Client([])
        inherited = backend.inherited_fds()
        assert stray_r in inherited
        run(lambda: backend.serve(report, dict(os.environ), client.receive, client.send, headers=HEADERS,
                                   request_body=False, close_fds=inherited))  # fmt: skip
        assert client.body == b"[]"
    finally:
        os.close(stray_r)
        os.close(stray_w)
