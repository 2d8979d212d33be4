"""Benchmark: git clone and push through Tokenforge, plain ``git http-backend``, and ``file://``.

Issue 5 / PERFORMANCE.md §5 S7. In one run:

1. generates a repository with ``git fast-import`` (default 3,000 commits; each adds a 12 KiB
   file of base64 noise and edits two of 200 text files: a pack of a few tens of MB);
2. serves it three ways — Tokenforge (``tokenforge serve``: uvicorn, the private repository
   reached with a classic ``repo`` token in the URL, so each operation includes git's 401
   challenge and the token check); plain ``git http-backend`` behind ``bench/git_cgi_server.py``
   (a minimal threaded CGI runner, no authentication); and ``file://`` (no HTTP at all);
3. times ``git clone --bare`` and ``git push`` (into a fresh empty repository) for each,
   interleaved, ``--runs`` times, reporting medians of wall time and of the server process's CPU
   (user+system of the server and its waited-for children — http-backend, upload-pack,
   receive-pack, index-pack, hooks — from ``/proc/<pid>/stat``; ``file://`` has no server);
4. pushes one large repository (``--large-mb`` of incompressible blobs) through both HTTP
   servers while sampling the server process's resident set every 10 ms: the peak shows
   whether a push is held in memory.

The servers are pinned to CPU 0 and the git client to CPU 1 when the machine has two cores.

    .venv/bin/python bench/git_clone.py [--commits N] [--runs N] [--large-mb N] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tokenforge.accounts.models import Organization
from tokenforge.accounts.services import create_user
from tokenforge.config import Settings
from tokenforge.db import Database
from tokenforge.orgs.services import create_org
from tokenforge.repos.services import create_repository, repo_path
from tokenforge.tokens.services import create_classic_token

GIT = shutil.which("git") or "git"
SECRET = "bench-secret-key-0123456789abcdef"
HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20


@dataclass
class Sample:
    transport: str
    op: str
    wall: float
    server_cpu: float | None
    client_cpu: float


@dataclass
class LargePush:
    transport: str
    size_mb: int
    wall: float
    rss_before_mib: float
    rss_peak_mib: float


@dataclass
class Report:
    machine: str
    git: str
    load: str
    commits: int
    pack_mib: float
    runs: int
    samples: list[Sample] = field(default_factory=list)
    large: list[LargePush] = field(default_factory=list)


# -- generating repositories --------------------------------------------------------------------


def _words(rng: random.Random, n: int) -> str:
    vocabulary = ("alpha", "beta", "gamma", "delta", "token", "scope", "repo", "push", "clone", "fetch", "merge")
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def generate(path: Path, commits: int, seed: int = 5) -> None:
    """A repository with ``commits`` commits on main, written by fast-import in one process."""
    rng = random.Random(seed)
    subprocess.run([GIT, "init", "-q", "--bare", str(path)], check=True)
    proc = subprocess.Popen([GIT, f"--git-dir={path}", "fast-import", "--quiet"], stdin=subprocess.PIPE, env=_git_env())
    assert proc.stdin is not None
    out = proc.stdin
    texts = {f"src/module_{i:03d}.txt": [_words(rng, 12) for _ in range(60)] for i in range(200)}
    stamp = 1_700_000_000
    for n in range(commits):
        out.write(b"commit refs/heads/main\n")
        out.write(b"committer Bench <bench@example.com> %d +0000\n" % (stamp + n * 60))
        message = f"commit {n}: {_words(rng, 6)}\n".encode()
        out.write(b"data %d\n%s" % (len(message), message))
        if n == 0:
            for name, lines in texts.items():
                body = ("\n".join(lines) + "\n").encode()
                out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(body), body))
        for name in rng.sample(sorted(texts), 2):
            lines = texts[name]
            lines[rng.randrange(len(lines))] = _words(rng, 12)
            body = ("\n".join(lines) + "\n").encode()
            out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(body), body))
        noise = base64.b64encode(rng.randbytes(9 * 1024))
        out.write(b"M 100644 inline data/blob_%05d.b64\ndata %d\n%s\n" % (n, len(noise), noise))
        out.write(b"\n")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("fast-import failed")
    # One pack, as a real repository served for a while would have.
    subprocess.run([GIT, f"--git-dir={path}", "repack", "-adq"], check=True, env=_git_env())


def generate_large(path: Path, size_mb: int) -> None:
    """One commit of ``size_mb`` 1 MiB blobs of random bytes (stored, not deflated: quick to make)."""
    subprocess.run([GIT, "init", "-q", "--bare", str(path)], check=True)
    # Stored in one pack without deflate or delta attempts: a push then reuses the objects as they
    # are, so the client costs little and the server's side of the transfer is what is measured.
    cmd = [GIT, f"--git-dir={path}", "-c", "core.compression=0", "-c", "fastimport.unpackLimit=0", "fast-import",
           "--quiet", "--big-file-threshold=64k"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=_git_env())
    assert proc.stdin is not None
    for i in range(size_mb):
        proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (i + 1, MIB) + os.urandom(MIB) + b"\n")
    proc.stdin.write(b"commit refs/heads/main\ncommitter B <b@example.com> 1700000000 +0000\ndata 4\nbig\n")
    proc.stdin.write(b"".join(b"M 100644 :%d big/%04d.bin\n" % (i + 1, i) for i in range(size_mb)) + b"\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("fast-import failed")


def pack_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "objects" / "pack").glob("*.pack"))


# -- processes ------------------------------------------------------------------------------------


def _git_env(home: Path | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    env["HOME"] = str(home) if home else tempfile.gettempdir()
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a local URL we built)
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error answer: the server is up
                return
            time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def _cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid``: itself and every child it has waited for."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssPeak:
    """The highest VmRSS of a process while the ``with`` block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = self.peak = _rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mib(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib(self.pid))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes] | None
    base: str  # URL prefix (with credentials for Tokenforge)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


def _timed(server: Server, argv: list[str], env: dict[str, str]) -> tuple[float, float | None, float]:
    """Run one git command; wall time, the server's CPU during it, and the client's CPU."""
    cpu_before = _cpu_seconds(server.pid) if server.pid else None
    client_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} via {server.name} failed: {done.stderr.decode(errors='replace')}")
    # Let the server reap its children (their CPU is counted once waited for).
    time.sleep(0.05)
    server_cpu = _cpu_seconds(server.pid) - cpu_before if server.pid and cpu_before is not None else None
    return wall, server_cpu, _children_cpu() - client_before


# -- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Report:
    bench = Bench(args, Path(tempfile.mkdtemp(prefix="tokenforge-bench-git-")))
    try:
        return bench.run()
    finally:
        bench.close()


class Bench:
    """One run: the data, the two HTTP servers, the measurements."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        home = work / "home"
        home.mkdir()
        self.env = _git_env(home)
        self.tf_port, self.cgi_port = _free_port(), _free_port()
        self.settings = Settings(data_dir=work / "data", secret_key=SECRET, base_url=f"http://127.0.0.1:{self.tf_port}")
        self.db = Database(self.settings.resolved_database_url)
        self.now = datetime.now(UTC)
        self.pushes = 0

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.db.dispose()
        if self.args.keep:
            print(f"kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def run(self) -> Report:
        before = os.getloadavg()[0]
        report = self.prepare()
        servers = self.start_servers()
        # Warm-up: one clone each (page cache, the server's first-request imports).
        for server in servers:
            self.clone(server)
        for i in range(self.args.runs):
            print(f"run {i + 1}/{self.args.runs} …", file=sys.stderr)
            report.samples += [Sample(server.name, "clone", *self.clone(server)) for server in servers]
            report.samples += [Sample(server.name, "push", *self.push(server, self.source)) for server in servers]
        print(f"generating a {self.args.large_mb} MB repository for the large push …", file=sys.stderr)
        large = self.work / "large.git"
        generate_large(large, self.args.large_mb)
        for server in servers[1:]:
            assert server.pid is not None
            with RssPeak(server.pid) as rss:
                wall, _, _ = self.push(server, large)
            report.large.append(LargePush(server.name, self.args.large_mb, wall, rss.before, rss.peak))
        # Other work on the machine shows up as noise in the wall times: say how much there was.
        report.load = f"load average {before:.1f} at start, {os.getloadavg()[0]:.1f} at end"
        return report

    def prepare(self) -> Report:
        settings, now = self.settings, self.now
        self.db.migrate()
        with self.db.unit_of_work() as session:
            alice = create_user(
                session, login="alice", email="alice@example.com", password=None, verified=True, now=now
            )
            acme = create_org(session, login="acme", owner=alice, now=now)
            repo = create_repository(session, settings, owner=acme, name="bench", private=True, now=now)
            issued = create_classic_token(
                session, settings, user=alice, note="bench", scopes=["repo"], expires_at=None, now=now
            )
            self.token, self.repo_id, self.acme_id = issued.secret, repo.id, acme.id
            served = repo_path(settings, repo)
        print(f"generating {self.args.commits} commits …", file=sys.stderr)
        self.source = self.work / "source.git"
        generate(self.source, self.args.commits)
        subprocess.run(
            [GIT, f"--git-dir={self.source}", "push", "-q", "--mirror", str(served)], check=True, env=self.env
        )
        return Report(
            machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            load="",
            git=subprocess.run([GIT, "--version"], capture_output=True, text=True, check=True).stdout.strip(),
            commits=self.args.commits,
            pack_mib=pack_size(served) / MIB,
            runs=self.args.runs,
        )

    def start_servers(self) -> list[Server]:
        settings = self.settings
        server_env = {
            **os.environ,
            "TOKENFORGE_DATA_DIR": str(settings.data_dir),
            "TOKENFORGE_SECRET_KEY": SECRET,
            "TOKENFORGE_BASE_URL": settings.base_url,
            "TOKENFORGE_LOG_LEVEL": "warning",
        }
        tf = subprocess.Popen(
            [sys.executable, "-m", "tokenforge", "serve", "--port", str(self.tf_port)], env=server_env
        )
        self.procs.append(tf)
        root = str(settings.repositories_dir)
        cgi_cmd = [sys.executable, str(HERE / "git_cgi_server.py"), "--root", root, "--port", str(self.cgi_port)]
        cgi = subprocess.Popen(cgi_cmd)
        self.procs.append(cgi)
        _wait_ready(f"http://127.0.0.1:{self.tf_port}/health", tf)
        _wait_listening(self.cgi_port, cgi)
        for proc in self.procs:
            _pin(proc.pid, 0)
        _pin(os.getpid(), 1)
        self.tokenforge = tf
        return [
            Server("file://", None, f"file://{settings.repositories_dir.resolve()}"),
            Server("http-backend (plain CGI)", cgi, f"http://127.0.0.1:{self.cgi_port}"),
            Server("Tokenforge (token)", tf, f"http://alice:{self.token}@127.0.0.1:{self.tf_port}"),
        ]

    def clone(self, server: Server) -> tuple[float, float | None, float]:
        path = "acme/bench" if server.proc is self.tokenforge else str(self.repo_id)
        dest = self.work / "clone"
        try:
            return _timed(server, [GIT, "clone", "-q", "--bare", f"{server.base}/{path}.git", str(dest)], self.env)
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def push(self, server: Server, source: Path) -> tuple[float, float | None, float]:
        """Push ``source``'s main into a fresh empty repository (made by Tokenforge's service, or git init)."""
        self.pushes += 1
        name = f"push-{self.pushes}"
        if server.proc is self.tokenforge:
            with self.db.unit_of_work() as session:
                owner = session.get(Organization, self.acme_id)
                assert owner is not None
                create_repository(session, self.settings, owner=owner, name=name, private=True, now=self.now)
            target = f"{server.base}/acme/{name}.git"
        else:
            path = (self.settings.repositories_dir if server.proc else self.work) / f"{name}.git"
            subprocess.run([GIT, "init", "-q", "--bare", str(path)], check=True, env=self.env)
            target = f"{server.base}/{name}.git" if server.proc else f"file://{path}"
        return _timed(server, [GIT, f"--git-dir={source}", "push", "-q", target, "main"], self.env)


# -- output ------------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def table(report: Report) -> str:
    lines = [
        f"Git over HTTP: {report.commits} commits, {report.pack_mib:.1f} MiB pack; median of {report.runs} runs",
        f"{report.machine}; {report.git}; {report.load}",
        "",
        "| operation | transport | wall (s) | best wall (s) | server CPU (s) | client CPU (s) "
        "| wall vs http-backend | server CPU vs http-backend |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op in ("clone", "push"):
        rows = {}
        for name in dict.fromkeys(s.transport for s in report.samples):
            picked = [s for s in report.samples if s.transport == name and s.op == op]
            cpu = [s.server_cpu for s in picked if s.server_cpu is not None]
            rows[name] = (
                _median([s.wall for s in picked]),
                min(s.wall for s in picked),
                _median(cpu) if cpu else None,
                _median([s.client_cpu for s in picked]),
            )
        base_wall, _, base_cpu, _ = rows["http-backend (plain CGI)"]
        for name, (wall, best, cpu, client) in rows.items():
            cpu_text = f"{cpu:.3f}" if cpu is not None else "—"
            wall_ratio = f"{wall / base_wall:.2f}×"
            cpu_ratio = f"{cpu / base_cpu:.2f}×" if cpu is not None and base_cpu else "—"
            lines.append(
                f"| {op} | {name} | {wall:.3f} | {best:.3f} | {cpu_text} | {client:.3f} | {wall_ratio} | {cpu_ratio} |"
            )
    lines += [
        "",
        "| large push | size | wall (s) | server RSS before (MiB) | server RSS peak (MiB) | growth (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for big in report.large:
        lines.append(
            f"| {big.transport} | {big.size_mb} MB | {big.wall:.2f} | {big.rss_before_mib:.1f} | "
            f"{big.rss_peak_mib:.1f} | {big.rss_peak_mib - big.rss_before_mib:+.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--large-mb", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="300 commits, 1 run, a 50 MB large push (for CI)")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.commits, args.runs, args.large_mb = 300, 1, 50
    report = run(args)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")


if __name__ == "__main__":
    main()
