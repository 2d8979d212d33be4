"""Plain ``git http-backend`` behind a minimal CGI runner, with no authentication: the baseline.

    python bench/git_cgi_server.py --root DIR --port N

Python's ``http.server`` (one thread per connection) does only what a CGI host must: it passes
the request to ``git http-backend`` — the body streamed into its stdin, de-chunked when git
sends ``Transfer-Encoding: chunked`` — and copies the child's stdout to the socket in 256 KiB
reads as it comes, closing the connection at the end (so no response framing is needed). It
never buffers a body, never compresses, and enables receive-pack for everyone. The stdlib
``CGIHTTPRequestHandler`` is not used: it cannot read chunked request bodies, which git sends for
every push larger than ``http.postBuffer``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

CHUNK = 256 * 1024
GIT = shutil.which("git") or "git"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "REMOTE_USER": "bench",
            "REMOTE_ADDR": self.client_address[0],
        }
        for header, variable in (
            ("Content-Type", "CONTENT_TYPE"),
            ("Content-Length", "CONTENT_LENGTH"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            value = self.headers.get(header)
            if value:
                env[variable] = value
        if "HTTP_GIT_PROTOCOL" in env:
            env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"]
        proc = subprocess.Popen(
            [GIT, "-c", "http.receivepack=true", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        feeder = threading.Thread(target=self._feed, args=(proc.stdin,), daemon=True)
        feeder.start()
        try:
            self._respond(proc.stdout)
        except (BrokenPipeError, ConnectionResetError):
            proc.kill()  # the client went away (wrk does so at the end of its run)
        finally:
            proc.stdout.close()
            proc.wait()
            feeder.join()
            self.close_connection = True

    def _respond(self, stdout: IO[bytes]) -> None:
        status, headers = 200, []
        while line := stdout.readline():
            line = line.rstrip(b"\r\n")
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        fd = stdout.fileno()
        while chunk := os.read(fd, CHUNK):
            self.wfile.write(chunk)

    def _feed(self, stdin: IO[bytes]) -> None:
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    remaining = size
                    while remaining:
                        chunk = self.rfile.read(min(remaining, CHUNK))
                        stdin.write(chunk)
                        remaining -= len(chunk)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining:
                    chunk = self.rfile.read(min(remaining, CHUNK))
                    if not chunk:
                        break
                    stdin.write(chunk)
                    remaining -= len(chunk)
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="GIT_PROJECT_ROOT: the directory of bare repositories")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Handler.root = os.path.abspath(args.root)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
