"""nginx + fcgiwrap + plain ``git http-backend`` (Debian's packages): the baseline of issue 8, target 10.

PERFORMANCE.md §3e measured this stack at 21 ms of server CPU per clone of a small repository and
106 ms for an 11 MB pack; bench/git_clone.py serves the same repositories through it next to
Tokenforge. This module writes a throwaway configuration into a directory of its own and gives the
two command lines; the caller starts them (bench/git_clone.py does, inside a CPU-accounting
cgroup and pinned to CPU 0) and stops them.

* ``fcgiwrap -s unix:<dir>/fcgiwrap.sock -c 1``: one process, as Debian's ``fcgiwrap.service``
  runs it; it forks one CGI child per request.
* ``nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'``: one worker, every path handed to
  ``/usr/lib/git-core/git-http-backend`` with the CGI variables of git-http-backend(1)'s nginx
  example, no authentication (GitHub's anonymous public-clone path), ``client_max_body_size 0``,
  and neither request nor response buffered (``fastcgi_request_buffering off``,
  ``fastcgi_buffering off``), so a push streams through. Pushes are allowed to anyone with
  ``http.receivepack=true`` given as ``GIT_CONFIG_*`` variables; system and global git
  configuration are switched off, as Tokenforge does for its children.

Both packages come from Debian (``apt-get install nginx fcgiwrap``), installed here when missing.
Standalone, for poking at it by hand:

    python bench/git_nginx.py --root DIR --port N      # serves until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("nginx", "fcgiwrap")
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"

_CONFIG = """\
# Written by bench/git_nginx.py for one benchmark run; thrown away afterwards.
user root;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location ~ ^(/.*)$ {{
            fastcgi_pass unix:{socket};
            fastcgi_buffering off;
            fastcgi_request_buffering off;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param GIT_CONFIG_NOSYSTEM 1;
            fastcgi_param GIT_CONFIG_GLOBAL /dev/null;
            fastcgi_param GIT_CONFIG_COUNT 1;
            fastcgi_param GIT_CONFIG_KEY_0 http.receivepack;
            fastcgi_param GIT_CONFIG_VALUE_0 true;
            fastcgi_param PATH_INFO $1;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_param REMOTE_ADDR $remote_addr;
            # Request headers (Git-Protocol, Content-Encoding) also reach the CGI as HTTP_*.
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Setup:
    """A written configuration and the two command lines that serve it."""

    dir: Path
    port: int
    fcgiwrap: list[str]
    nginx: list[str]
    socket: Path


def ensure_installed() -> None:
    """``apt-get install nginx fcgiwrap`` when either is missing (we run as root here)."""
    missing = [name for name in PACKAGES if not _which(name)]
    if not missing:
        return
    print(f"{', '.join(missing)} not found: apt-get install -y {' '.join(PACKAGES)}", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, check=False, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(install, check=True, env=env)
    still = [name for name in PACKAGES if not _which(name)]
    if still:
        raise SystemExit(f"still missing after apt-get install: {', '.join(still)}")


def _which(name: str) -> str | None:
    # nginx and fcgiwrap live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def versions() -> str:
    nginx = subprocess.run([_which("nginx") or "nginx", "-v"], capture_output=True, text=True, check=False)
    version = (nginx.stderr or nginx.stdout).strip().removeprefix("nginx version: ")
    dpkg = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "fcgiwrap"], capture_output=True, text=True, check=False
    )
    return f"nginx {version.removeprefix('nginx/')}, fcgiwrap {dpkg.stdout.strip() or '?'}"


def write_setup(directory: Path, *, root: Path, port: int) -> Setup:
    """Write nginx.conf into ``directory`` (created) for repositories under ``root``."""
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "fcgiwrap.sock"
    conf = directory / "nginx.conf"
    conf.write_text(_CONFIG.format(dir=directory, port=port, socket=socket, backend=HTTP_BACKEND, root=root.resolve()))
    nginx, fcgiwrap = _which("nginx"), _which("fcgiwrap")
    if not (nginx and fcgiwrap):
        raise RuntimeError("nginx and fcgiwrap are not installed (ensure_installed() first)")
    return Setup(
        dir=directory,
        port=port,
        fcgiwrap=[fcgiwrap, "-s", f"unix:{socket}", "-c", "1"],
        nginx=[nginx, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        socket=socket,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="GIT_PROJECT_ROOT: the directory of bare repositories")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ensure_installed()
    with tempfile.TemporaryDirectory(prefix="git-nginx-") as tmp:
        setup = write_setup(Path(tmp), root=args.root, port=args.port)
        fcgiwrap = subprocess.Popen(setup.fcgiwrap)
        nginx = subprocess.Popen(setup.nginx)
        print(f"serving {args.root} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
        try:
            nginx.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for proc in (nginx, fcgiwrap):
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)


if __name__ == "__main__":
    main()
