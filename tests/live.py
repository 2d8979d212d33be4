"""A live Tokenforge server for functional tests (real HTTP, real clients)."""

from __future__ import annotations

from tokenforge.config import Settings


class LiveServer:
    """The real application served by uvicorn on a free port, in a thread, on the test's database."""

    def __init__(self, settings: Settings, clock: object | None = None) -> None:
        import socket
        import threading

        import uvicorn

        from tokenforge.app import create_app

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings.model_copy(update={"base_url": self.url})
        self.app = create_app(self.settings, clock=clock)  # type: ignore[arg-type]
        self.services = self.app.state.services
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
