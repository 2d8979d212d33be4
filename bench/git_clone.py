"""Benchmark: git clone, fetch and push through Tokenforge, nginx + fcgiwrap, a Python CGI runner, and ``file://``.

Issue 8, target 10 (PERFORMANCE.md §3e and §5 S7). In one run:

1. generates the repositories with ``git fast-import``, no network:

   * **small** — 50 commits × 30 files, every commit editing a line of every file: 1,600 objects
     and a pack of ~160 KiB, PERFORMANCE.md's "small repo" (1,600 objects, 124 KiB);
   * **medium** — one commit of 3,000 source-like text files in 305 directories: 3,306 objects and
     a pack of ~11 MB, the shape of the CPython stdlib snapshot PERFORMANCE.md measured;
   * **history** — 3,000 commits, each adding a 12 KiB file of base64 noise and editing two of
     200 text files: 21,198 objects, a pack of ~29 MiB (``--commits``);
   * **large** — ``--large-mb`` (300) blobs of 1 MiB of random bytes in one commit: the
     several-hundred-MB clone, and the large push;

   each pushed into a private repository created through Tokenforge's service and repacked
   into one pack with a bitmap (``git repack -ad``, ``-f`` to recompute fast-import's deltas), as
   ``git gc`` leaves a served repository, so every transport serves the very same files;
2. serves them four ways: **Tokenforge** (``tokenforge serve``: uvicorn, one process; a classic
   ``repo`` token in the URL, so every git command pays git's unauthenticated first request and
   its 401, and every request the token check and ``authz.decide``); **nginx + fcgiwrap** with
   plain ``git http-backend`` from Debian's packages (bench/git_nginx.py; anonymous, like
   GitHub's public-clone path); the **plain CGI** runner of bench/git_cgi_server.py (Python's
   threaded ``http.server`` around ``git http-backend``; anonymous); and **file://** (no server);
3. per run (``--runs``), transports interleaved in an order that rotates from run to run:
   ``git clone --bare`` of small, medium and history; a no-op ``git fetch`` of small; ``git push``
   of small and of history into a fresh empty repository — for the pushes Tokenforge twice, with
   the ``repo`` token and with a ``repo,workflow`` one (**Tokenforge (workflow token)**: the same
   server; the workflow rule's hook has less to check); then ``--large-runs`` rounds of cloning
   large;
4. pushes large through each HTTP server while sampling the server processes' resident set
   every 10 ms: the peak shows whether a push is held in memory;
5. ``wrk -t1 -c8`` on ``info/refs?service=git-upload-pack`` (protocol v2; Tokenforge with the
   token's Basic header) for requests per second and server CPU per request.

**Server CPU** is the CPU time (user + system) of the server and of everything it starts —
nginx's master and worker, fcgiwrap, uvicorn, http-backend, upload-pack, pack-objects,
receive-pack, index-pack, hooks — read in nanoseconds from a cpuacct cgroup that each server is
started in (``/sys/fs/cgroup/cpuacct``, cgroup v1, needs root). Where no cgroup can be made it is
summed from ``/proc/<pid>/stat`` over the server's process tree instead, in 10 ms ticks. Its
part in the server's own processes (uvicorn; nginx and fcgiwrap) comes from their CPU-time
clocks, the rest is git's. The servers run pinned to CPU 0 (``taskset``), git and wrk to CPU 1,
when the machine has two cores.

    .venv/bin/python bench/git_clone.py [--runs N] [--large-mb N] [--large-runs N] [--quick] [--json PATH]

``--quick``: the small repository only (clone, no-op fetch, push), one run, a 50 MB large
clone and push, 2 s of wrk — a smoke run of ~30 s.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import re
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import git_nginx
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
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
SERVER_CPU, CLIENT_CPU = 0, 1

TOKENFORGE = "Tokenforge (token)"
TOKENFORGE_WORKFLOW = "Tokenforge (workflow token)"  # the same server, a token with `workflow`: pushes only
NGINX = "nginx + fcgiwrap"
CGI = "Python CGI runner"
FILE = "file://"
BASELINE = NGINX


@dataclass
class Timing:
    wall: float
    server_cpu: float | None  # the server and everything it started
    server_own_cpu: float | None  # the server's own processes only (not the git children)
    client_cpu: float


@dataclass
class Sample(Timing):
    repo: str = ""
    op: str = ""
    transport: str = ""


@dataclass
class LargePush:
    transport: str
    size_mb: int
    wall: float
    rss_before_mib: float
    rss_peak_mib: float


@dataclass
class Throughput:
    transport: str
    seconds: float
    requests: int
    requests_per_second: float
    server_cpu_ms_per_request: float
    server_own_cpu_ms_per_request: float
    non_2xx: int


@dataclass
class RepoInfo:
    name: str
    shape: str
    objects: int
    pack_mib: float


@dataclass
class Report:
    machine: str
    git: str
    nginx: str
    cpu_method: str
    runs: int
    large_runs: int
    repos: list[RepoInfo] = field(default_factory=list)
    load: list[str] = field(default_factory=list)
    idle_cpu_ms_per_s: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    large: list[LargePush] = field(default_factory=list)
    info_refs: list[Throughput] = field(default_factory=list)


# -- generating repositories --------------------------------------------------------------------


def _words(rng: random.Random, n: int) -> str:
    vocabulary = ("alpha", "beta", "gamma", "delta", "token", "scope", "repo", "push", "clone", "fetch", "merge")
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def _fast_import(path: Path, *options: str, config: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    subprocess.run([GIT, "init", "-q", "--bare", str(path)], check=True)
    settings = [arg for item in config for arg in ("-c", item)]
    cmd = [GIT, f"--git-dir={path}", *settings, "fast-import", "--quiet", *options]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, env=_git_env())


def _finish(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("fast-import failed")


def _file(name: str, body: bytes) -> bytes:
    return b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(body), body)


def _commit(n: int, message: str) -> bytes:
    text = message.encode()
    return b"commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s" % (
        1_700_000_000 + n * 60,
        len(text),
        text,
    )


def generate_small(path: Path, commits: int = 50, files: int = 30, seed: int = 50) -> None:
    """PERFORMANCE.md's small repository: ``commits`` × ``files``, each commit editing every file
    (so 50 × (1 commit + 1 tree + 30 blobs) = 1,600 objects, mostly small deltas)."""
    rng = random.Random(seed)
    proc = _fast_import(path)
    assert proc.stdin is not None
    texts = {f"file_{i:02d}.txt": [_words(rng, 5) for _ in range(60)] for i in range(files)}
    for n in range(commits):
        proc.stdin.write(_commit(n, f"commit {n}: {_words(rng, 6)}\n"))
        for name, lines in texts.items():
            lines[rng.randrange(len(lines))] = _words(rng, 5)
            proc.stdin.write(_file(name, ("\n".join(lines) + "\n").encode()))
        proc.stdin.write(b"\n")
    _finish(proc)


_KEYWORDS = ("def", "return", "if", "else:", "for", "in", "import", "from", "self", "None", "True", "False",
             "class", "with", "as", "try:", "except", "raise", "yield", "not", "and", "or", "is", "pass")  # fmt: skip
_OPERATORS = ("=", "==", "+", "-", "(", ")", ",", ".", ":", "[", "]", "+=", "!=", "*", "->")


def _source_file(rng: random.Random, identifiers: list[str], lines: int) -> bytes:
    out = []
    for _ in range(lines):
        tokens = []
        for _ in range(rng.randint(2, 12)):
            r = rng.random()
            if r < 0.55:
                tokens.append(rng.choice(identifiers))
            elif r < 0.75:
                tokens.append(rng.choice(_KEYWORDS))
            elif r < 0.93:
                tokens.append(rng.choice(_OPERATORS))
            else:
                tokens.append(str(rng.randrange(1000)))
        out.append("    " * rng.choice((0, 1, 1, 2, 2, 2, 3)) + " ".join(tokens))
    return ("\n".join(out) + "\n").encode()


def generate_medium(path: Path, seed: int = 311) -> None:
    """One commit shaped like a CPython stdlib snapshot: 3,000 source-like files (sizes log-normal,
    median ~6 KiB) in 4 × 75 directories, i.e. 1 + 305 trees + 3,000 blobs = 3,306 objects, ~11 MB
    of pack (the text compresses ~2.7× with zlib, about as much as Python source)."""
    rng = random.Random(seed)
    syllables = ("ka", "lo", "mi", "ne", "ro", "su", "ta", "vi", "ze", "po", "qu", "ri", "sa", "te", "un", "xa")
    identifiers = [
        "_".join("".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))
        for _ in range(4000)
    ]
    proc = _fast_import(path)
    assert proc.stdin is not None
    proc.stdin.write(_commit(0, "stdlib-like snapshot\n"))
    n = 0
    for top in ("lib", "tests", "tools", "modules"):
        for sub in range(75):
            for _ in range(10):
                lines = max(5, int(rng.lognormvariate(4.69, 0.9)))
                proc.stdin.write(_file(f"{top}/pkg_{sub:02d}/mod_{n:04d}.py", _source_file(rng, identifiers, lines)))
                n += 1
    proc.stdin.write(b"\n")
    _finish(proc)


def generate_history(path: Path, commits: int, seed: int = 5) -> None:
    """``commits`` commits on main: each adds a 12 KiB file of base64 noise and edits two of 200 text files."""
    rng = random.Random(seed)
    proc = _fast_import(path)
    assert proc.stdin is not None
    out = proc.stdin
    texts = {f"src/module_{i:03d}.txt": [_words(rng, 12) for _ in range(60)] for i in range(200)}
    for n in range(commits):
        out.write(_commit(n, f"commit {n}: {_words(rng, 6)}\n"))
        if n == 0:
            for name, lines in texts.items():
                out.write(_file(name, ("\n".join(lines) + "\n").encode()))
        for name in rng.sample(sorted(texts), 2):
            lines = texts[name]
            lines[rng.randrange(len(lines))] = _words(rng, 12)
            out.write(_file(name, ("\n".join(lines) + "\n").encode()))
        noise = base64.b64encode(rng.randbytes(9 * 1024))
        out.write(_file(f"data/blob_{n:05d}.b64", noise))
        out.write(b"\n")
    _finish(proc)


def generate_large(path: Path, size_mb: int) -> None:
    """One commit of ``size_mb`` 1 MiB blobs of random bytes (stored, not deflated: quick to make)."""
    # Stored in one pack without deflate or delta attempts: a push or a clone then reuses the
    # objects as they are, so the client costs little and the transfer itself is what is measured.
    proc = _fast_import(path, "--big-file-threshold=64k", config=("core.compression=0", "fastimport.unpackLimit=0"))
    assert proc.stdin is not None
    for i in range(size_mb):
        proc.stdin.write(b"blob\nmark :%d\ndata %d\n" % (i + 1, MIB) + os.urandom(MIB) + b"\n")
    proc.stdin.write(b"commit refs/heads/main\ncommitter B <b@example.com> 1700000000 +0000\ndata 4\nbig\n")
    proc.stdin.write(b"".join(b"M 100644 :%d big/%04d.bin\n" % (i + 1, i) for i in range(size_mb)) + b"\n")
    _finish(proc)


def pack_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "objects" / "pack").glob("*.pack"))


def object_count(path: Path) -> int:
    done = subprocess.run(
        [GIT, f"--git-dir={path}", "count-objects", "-v"], capture_output=True, text=True, check=True, env=_git_env()
    )
    counts = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    return int(counts["count"]) + int(counts["in-pack"])


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


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (ppid is field 4 of /proc/<pid>/stat)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, ()))
    return found


def _tree_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime over a process tree: live processes and every child reaped."""
    total = 0
    for member in _descendants(pid):
        if fields := _stat_fields(member):
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / CLK_TCK


def _process_cpu(pid: int) -> float:
    """CPU seconds of one process, all its threads (exited ones too), not its children: the
    process's CPU-time clock (clockid ``(~pid << 3) | 2``, nanoseconds), else /proc's ticks."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def _rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class CpuAccount:
    """The CPU time of one server and of everything it starts.

    A cpuacct cgroup (nanoseconds; every descendant counted as it runs, reaped or not) when one
    can be made; else the server's process tree summed from /proc (10 ms ticks; a child counts
    once its parent has reaped it).
    """

    def __init__(self, name: str) -> None:
        self.cgroup: Path | None = None
        self.pids: list[int] = []  # the roots of the process trees, for the /proc fallback
        path = CPUACCT / f"tokenforge-bench-{os.getpid()}-{name}"
        with contextlib.suppress(OSError):
            path.mkdir()
            # Can this process move a process there? Try with a throwaway shell.
            probe = subprocess.run(["sh", "-c", 'echo $$ > "$0"', str(path / "cgroup.procs")], check=False)
            if probe.returncode == 0:
                self.cgroup = path
            else:
                path.rmdir()

    @property
    def method(self) -> str:
        return "cpuacct cgroup (ns)" if self.cgroup else "/proc process tree (10 ms ticks)"

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the cgroup and pinned to the server CPU, before it runs a thing."""
        if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
            argv = ["taskset", "-c", str(SERVER_CPU), *argv]
        if self.cgroup:
            argv = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.cgroup / "cgroup.procs"), *argv]
        return argv

    def seconds(self) -> float:
        if self.cgroup:
            return int((self.cgroup / "cpuacct.usage").read_text()) / 1e9
        return sum(_tree_cpu_seconds(pid) for pid in self.pids)

    def close(self) -> None:
        if self.cgroup:
            for _ in range(50):  # the last tasks may take a moment to leave
                try:
                    self.cgroup.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


class RssPeak:
    """The highest summed VmRSS of some processes while the ``with`` block runs, sampled every 10 ms."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> float:
        return sum(_rss_mib(pid) for pid in self.pids)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.01)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Server:
    name: str
    base: str  # URL prefix (with credentials for Tokenforge)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    account: CpuAccount | None = None
    rss_pids: list[int] = field(default_factory=list)  # the server's own processes (not git's)
    authorization: str | None = None  # for wrk
    pushes_only: bool = False  # another token on a server listed already: measured for pushes only

    @property
    def http(self) -> bool:
        return bool(self.procs)

    @property
    def tokenforge(self) -> bool:
        return self.name in (TOKENFORGE, TOKENFORGE_WORKFLOW)

    def cpu(self) -> tuple[float, float] | None:
        """(all, own): CPU seconds so far of the server with its children, and of its own processes."""
        if not self.account:
            return None
        return self.account.seconds(), sum(_process_cpu(pid) for pid in self.rss_pids)


@dataclass
class Repo:
    key: str
    name: str  # Tokenforge's name, under acme/
    repo_id: int
    path: Path  # on disk, served by all


def _timed(server: Server, argv: list[str], env: dict[str, str]) -> Timing:
    """Run one git command; wall time, the server's CPU during it, and the client's CPU."""
    cpu_before = server.cpu()
    client_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} via {server.name} failed: {done.stderr.decode(errors='replace')}")
    # Let the server finish whatever follows the response (reaping its children, logging).
    time.sleep(0.05)
    client = _children_cpu() - client_before
    cpu_after = server.cpu()
    if cpu_before is None or cpu_after is None:
        return Timing(wall, None, None, client)
    return Timing(wall, cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1], client)


def _rotate(items: list[Server], n: int) -> list[Server]:
    n %= len(items)
    return items[n:] + items[:n]


# -- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Report:
    git_nginx.ensure_installed()
    bench = Bench(args, Path(tempfile.mkdtemp(prefix="tokenforge-bench-git-")))
    try:
        return bench.run()
    finally:
        bench.close()


class Bench:
    """One run: the data, the three HTTP servers, the measurements."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.accounts: list[CpuAccount] = []
        home = work / "home"
        home.mkdir()
        self.env = _git_env(home)
        self.tf_port, self.cgi_port, self.nginx_port = _free_port(), _free_port(), _free_port()
        self.settings = Settings(data_dir=work / "data", secret_key=SECRET, base_url=f"http://127.0.0.1:{self.tf_port}")
        self.db = Database(self.settings.resolved_database_url)
        self.now = datetime.now(UTC)
        self.pushes = 0
        self.repos: dict[str, Repo] = {}

    def close(self) -> None:
        # nginx before fcgiwrap (the reverse of the start order), so nothing is left talking to a gone socket.
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for account in self.accounts:
            account.close()
        self.db.dispose()
        if self.args.keep:
            print(f"kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def run(self) -> Report:
        report = self.prepare()
        report.load.append(f"{_loadavg()} at start")
        servers = self.start_servers()
        report.cpu_method = self.accounts[0].method
        pushers = servers
        servers = [s for s in pushers if not s.pushes_only]
        http = [s for s in servers if s.http]
        report.idle_cpu_ms_per_s = self.idle_cpu(http)
        repos = ["small"] if self.args.quick else ["small", "medium", "history"]
        pushed = ["small"] if self.args.quick else ["small", "history"]
        # Warm-up: one clone each (page cache, the server's first-request imports); the clones of
        # small are kept as mirrors for the no-op fetch.
        self.mirrors = {s.name: self.work / f"mirror-{i}.git" for i, s in enumerate(servers)}
        for server in servers:
            for repo in repos:
                self.clone(server, self.repos[repo])
            self.mirror(server, self.repos["small"], self.mirrors[server.name])
        for i in range(self.args.runs):
            print(f"run {i + 1}/{self.args.runs} ({_loadavg()}) …", file=sys.stderr)
            order = _rotate(servers, i)
            for repo in repos:
                for server in order:
                    timing = self.clone(server, self.repos[repo])
                    report.samples.append(Sample(**asdict(timing), repo=repo, op="clone", transport=server.name))
            for server in order:
                timing = self.fetch(server)
                report.samples.append(Sample(**asdict(timing), repo="small", op="no-op fetch", transport=server.name))
            for repo in pushed:
                for server in _rotate(pushers, i):
                    timing = self.push(server, self.sources[repo])
                    report.samples.append(Sample(**asdict(timing), repo=repo, op="push", transport=server.name))
        report.load.append(f"{_loadavg()} after the clone, fetch and push runs")
        for i in range(self.args.large_runs):
            print(f"large clone {i + 1}/{self.args.large_runs} ({_loadavg()}) …", file=sys.stderr)
            for server in _rotate(servers, i):
                timing = self.clone(server, self.repos["large"])
                report.samples.append(Sample(**asdict(timing), repo="large", op="clone", transport=server.name))
        for server in http:
            with RssPeak(server.rss_pids) as rss:
                timing = self.push(server, self.sources["large"], keep=False)
            report.large.append(LargePush(server.name, self.args.large_mb, timing.wall, rss.before, rss.peak))
        if self.args.wrk_seconds > 0:
            report.info_refs = self.info_refs(http)
        # Other work on the machine shows up as noise in the wall times: say how much there was.
        report.load.append(f"{_loadavg()} at end")
        return report

    # -- data

    def prepare(self) -> Report:
        settings, now = self.settings, self.now
        self.db.migrate()
        with self.db.unit_of_work() as session:
            alice = create_user(
                session, login="alice", email="alice@example.com", password=None, verified=True, now=now
            )
            acme = create_org(session, login="acme", owner=alice, now=now)
            issued = create_classic_token(
                session, settings, user=alice, note="bench", scopes=["repo"], expires_at=None, now=now
            )
            workflow = create_classic_token(
                session, settings, user=alice, note="bench workflow", scopes=["repo", "workflow"], expires_at=None,
                now=now,
            )  # fmt: skip
            self.token, self.workflow_token, self.acme_id = issued.secret, workflow.secret, acme.id
            for key in ("small", "medium", "history", "large"):
                repo = create_repository(session, settings, owner=acme, name=f"bench-{key}", private=True, now=now)
                self.repos[key] = Repo(key, repo.name, repo.id, repo_path(settings, repo))
        wanted = ["small", "large"] if self.args.quick else ["small", "medium", "history", "large"]
        shapes = {
            "small": "50 commits × 30 files",
            "medium": "1 commit, 3,000 files in 305 directories",
            "history": f"{self.args.commits} commits (12 KiB noise + 2 text edits each)",
            "large": f"1 commit, {self.args.large_mb} × 1 MiB random",
        }
        makers: dict[str, Callable[[Path], None]] = {
            "small": generate_small,
            "medium": generate_medium,
            "history": lambda p: generate_history(p, self.args.commits),
            "large": lambda p: generate_large(p, self.args.large_mb),
        }
        self.sources: dict[str, Path] = {}
        infos = []
        for key in wanted:
            print(f"generating {key} ({shapes[key]}) …", file=sys.stderr)
            source = self.work / f"{key}.git"
            makers[key](source)
            self.sources[key] = source
            served = self.repos[key].path
            subprocess.run(
                [GIT, f"--git-dir={source}", "push", "-q", "--mirror", str(served)], check=True, env=self.env
            )
            # One pack with a bitmap (a bare repository's default), as `git gc` leaves a served
            # repository. -f: fast-import deltifies each blob against the one written before it,
            # whatever its path, so its deltas are recomputed (not for large: random bytes).
            repack = "-adq" if key == "large" else "-adfq"
            subprocess.run([GIT, f"--git-dir={served}", "repack", repack], check=True, env=self.env)
            infos.append(RepoInfo(key, shapes[key], object_count(served), pack_size(served) / MIB))
        nginx_version = git_nginx.versions()
        return Report(
            machine=_machine(),
            git=subprocess.run([GIT, "--version"], capture_output=True, text=True, check=True).stdout.strip(),
            nginx=nginx_version,
            cpu_method="",
            runs=self.args.runs,
            large_runs=self.args.large_runs,
            repos=infos,
        )

    # -- servers

    def _start(self, name: str, argv: list[str], **kwargs: object) -> tuple[subprocess.Popen[bytes], CpuAccount]:
        account = CpuAccount(name)
        self.accounts.append(account)
        proc = subprocess.Popen(account.command(argv), **kwargs)  # type: ignore[call-overload]
        account.pids.append(proc.pid)
        self.procs.append(proc)
        return proc, account

    def start_servers(self) -> list[Server]:
        settings = self.settings
        server_env = {
            **os.environ,
            "TOKENFORGE_DATA_DIR": str(settings.data_dir),
            "TOKENFORGE_SECRET_KEY": SECRET,
            "TOKENFORGE_BASE_URL": settings.base_url,
            "TOKENFORGE_LOG_LEVEL": "warning",
        }
        tf, tf_account = self._start(
            "tokenforge", [sys.executable, "-m", "tokenforge", "serve", "--port", str(self.tf_port)], env=server_env
        )
        root = settings.repositories_dir
        cgi_cmd = [sys.executable, str(HERE / "git_cgi_server.py"), "--root", str(root), "--port", str(self.cgi_port)]
        cgi, cgi_account = self._start("cgi", cgi_cmd)
        # One account for both nginx and fcgiwrap: together they are the server.
        setup = git_nginx.write_setup(self.work / "nginx", root=root, port=self.nginx_port)
        nginx_account = CpuAccount("nginx")
        self.accounts.append(nginx_account)
        fcgiwrap = subprocess.Popen(nginx_account.command(setup.fcgiwrap))
        self.procs.append(fcgiwrap)
        deadline = time.monotonic() + 10
        while not setup.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        nginx = subprocess.Popen(nginx_account.command(setup.nginx))
        self.procs.append(nginx)
        nginx_account.pids += [fcgiwrap.pid, nginx.pid]
        _wait_ready(f"http://127.0.0.1:{self.tf_port}/health", tf)
        _wait_listening(self.cgi_port, cgi)
        _wait_listening(self.nginx_port, nginx)
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {CLIENT_CPU})
        basic = base64.b64encode(f"alice:{self.token}".encode()).decode()
        return [
            Server(FILE, f"file://{root.resolve()}"),
            Server(NGINX, f"http://127.0.0.1:{self.nginx_port}", [fcgiwrap, nginx], nginx_account,
                   _descendants(nginx.pid) + _descendants(fcgiwrap.pid)),
            Server(CGI, f"http://127.0.0.1:{self.cgi_port}", [cgi], cgi_account, [cgi.pid]),
            Server(TOKENFORGE, f"http://alice:{self.token}@127.0.0.1:{self.tf_port}", [tf], tf_account, [tf.pid],
                   f"Basic {basic}"),
            Server(TOKENFORGE_WORKFLOW, f"http://alice:{self.workflow_token}@127.0.0.1:{self.tf_port}", [tf],
                   tf_account, [tf.pid], pushes_only=True),
        ]  # fmt: skip

    def idle_cpu(self, servers: list[Server], seconds: float = 1.0) -> dict[str, float]:
        """Each server's CPU while nothing is asked of it (background work, timers), ms per second."""
        before = {s.name: s.account.seconds() for s in servers if s.account}
        time.sleep(seconds)
        return {s.name: (s.account.seconds() - before[s.name]) * 1000 / seconds for s in servers if s.account}

    # -- operations

    def url(self, server: Server, repo: Repo) -> str:
        if server.tokenforge:
            return f"{server.base}/acme/{repo.name}.git"
        return f"{server.base}/{repo.repo_id}.git"

    def clone(self, server: Server, repo: Repo) -> Timing:
        dest = self.work / "clone"
        try:
            return _timed(server, [GIT, "clone", "-q", "--bare", self.url(server, repo), str(dest)], self.env)
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def mirror(self, server: Server, repo: Repo, dest: Path) -> None:
        subprocess.run([GIT, "clone", "-q", "--mirror", self.url(server, repo), str(dest)], check=True, env=self.env)

    def fetch(self, server: Server) -> Timing:
        """A fetch with nothing to fetch: ref advertisement only (plus the 401 round trip for Tokenforge)."""
        return _timed(server, [GIT, f"--git-dir={self.mirrors[server.name]}", "fetch", "-q"], self.env)

    def push(self, server: Server, source: Path, *, keep: bool = True) -> Timing:
        """Push ``source``'s main into a fresh empty repository (made by Tokenforge's service, or git init)."""
        self.pushes += 1
        name = f"push-{self.pushes}"
        if server.tokenforge:
            with self.db.unit_of_work() as session:
                owner = session.get(Organization, self.acme_id)
                assert owner is not None
                repo = create_repository(session, self.settings, owner=owner, name=name, private=True, now=self.now)
                path = repo_path(self.settings, repo)
            target = f"{server.base}/acme/{name}.git"
        else:
            path = (self.settings.repositories_dir if server.http else self.work) / f"{name}.git"
            subprocess.run([GIT, "init", "-q", "--bare", str(path)], check=True, env=self.env)
            target = f"{server.base}/{name}.git" if server.http else f"file://{path}"
        try:
            return _timed(server, [GIT, f"--git-dir={source}", "push", "-q", target, "main"], self.env)
        finally:
            if not keep:
                shutil.rmtree(path, ignore_errors=True)

    def info_refs(self, servers: list[Server]) -> list[Throughput]:
        """``wrk -t1 -c8`` on the ref advertisement of small (protocol v2), rounds interleaved; best round kept."""
        wrk = shutil.which("wrk")
        if not wrk:
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
            wrk = shutil.which("wrk")
        if not wrk:
            print("no wrk: info/refs throughput skipped", file=sys.stderr)
            return []
        best: dict[str, Throughput] = {}
        for i in range(self.args.wrk_rounds):
            for server in _rotate(servers, i):
                assert server.account is not None
                url = self.url(server, self.repos["small"]).split("@")[-1].removeprefix("http://")
                argv = [wrk, "-t1", "-c8", f"-d{self.args.wrk_seconds}s", "-H", "Git-Protocol: version=2"]
                if server.authorization:
                    argv += ["-H", f"Authorization: {server.authorization}"]
                argv.append(f"http://{url}/info/refs?service=git-upload-pack")
                before = server.cpu()
                out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
                after = server.cpu()
                assert before is not None
                assert after is not None
                cpu = (after[0] - before[0], after[1] - before[1])
                result = _parse_wrk(server.name, out, cpu, self.args.wrk_seconds)
                if server.name not in best or result.requests_per_second > best[server.name].requests_per_second:
                    best[server.name] = result
        return list(best.values())


def _parse_wrk(name: str, out: str, cpu: tuple[float, float], seconds: float) -> Throughput:
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    per = 1000 / max(requests, 1)
    return Throughput(name, seconds, requests, rps, cpu[0] * per, cpu[1] * per, int(non_2xx.group(1)) if non_2xx else 0)


def _machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    os_name = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    return f"{model}, {os.cpu_count()} CPUs; {os_name}; kernel {platform.release()}; Python {platform.python_version()}"


# -- output ------------------------------------------------------------------------------------------


@dataclass
class Row:
    wall: float  # median
    best: float
    cpu: float | None  # median server CPU, all processes
    own: float | None  # median server CPU, the server's own processes
    client: float


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _rows(report: Report) -> dict[tuple[str, str], dict[str, Row]]:
    """(repository, operation) → transport → medians (and best wall) over the runs."""
    groups: dict[tuple[str, str], dict[str, list[Sample]]] = {}
    for sample in report.samples:
        groups.setdefault((sample.repo, sample.op), {}).setdefault(sample.transport, []).append(sample)
    rows: dict[tuple[str, str], dict[str, Row]] = {}
    for key, transports in groups.items():
        rows[key] = {}
        for name, picked in transports.items():
            cpu = [s.server_cpu for s in picked if s.server_cpu is not None]
            own = [s.server_own_cpu for s in picked if s.server_own_cpu is not None]
            rows[key][name] = Row(
                _median([s.wall for s in picked]),
                min(s.wall for s in picked),
                _median(cpu) if cpu else None,
                _median(own) if own else None,
                _median([s.client_cpu for s in picked]),
            )
    return rows


def ratios(report: Report) -> dict[str, float]:
    """Tokenforge / nginx for each figure of target 10 (and S7's no-op fetch)."""
    out: dict[str, float] = {}
    for (repo, op), transports in _rows(report).items():
        if TOKENFORGE in transports and BASELINE in transports:
            tf, base = transports[TOKENFORGE], transports[BASELINE]
            if tf.cpu is not None and base.cpu:
                out[f"{repo} {op} server CPU"] = tf.cpu / base.cpu
            out[f"{repo} {op} wall"] = tf.wall / base.wall
    return out


def _ms(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 1000:.{digits}f}"


def table(report: Report) -> str:
    lines = [
        f"Git over HTTP — medians of {report.runs} runs (large clone: of {report.large_runs})",
        f"{report.machine}; {report.git}; {report.nginx}",
        f"server CPU from {report.cpu_method}; load average (1, 5, 15 min) {'; '.join(report.load)}",
        "idle server CPU (ms/s): " + ", ".join(f"{k} {v:.1f}" for k, v in report.idle_cpu_ms_per_s.items()),
        "",
        "| repository | objects | pack (MiB) | shape |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {r.name} | {r.objects:,} | {r.pack_mib:.2f} | {r.shape} |" for r in report.repos]
    lines += [
        "",
        "| repository | operation | transport | wall (ms) | best wall (ms) | server CPU (ms) "
        "| of it server processes (ms) | client CPU (ms) | wall vs nginx | server CPU vs nginx |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (repo, op), transports in _rows(report).items():
        base = transports.get(BASELINE)
        for name in (TOKENFORGE, TOKENFORGE_WORKFLOW, NGINX, CGI, FILE):
            if name not in transports:
                continue
            row = transports[name]
            wall_ratio = f"{row.wall / base.wall:.2f}×" if base else "—"
            cpu_ratio = f"{row.cpu / base.cpu:.2f}×" if base and row.cpu is not None and base.cpu else "—"
            lines.append(
                f"| {repo} | {op} | {name} | {_ms(row.wall, 0)} | {_ms(row.best, 0)} | {_ms(row.cpu)} | "
                f"{_ms(row.own)} | {_ms(row.client, 0)} | {wall_ratio} | {cpu_ratio} |"
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
    if report.info_refs:
        lines += [
            "",
            "| info/refs (v2), wrk -t1 -c8 | req/s (best round) | server CPU per request (ms) "
            "| of it server processes (ms) | non-2xx |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {t.transport} | {t.requests_per_second:.0f} | {t.server_cpu_ms_per_request:.2f} | "
            f"{t.server_own_cpu_ms_per_request:.2f} | {t.non_2xx} |"
            for t in report.info_refs
        ]
    found = ratios(report)
    checks = [
        ("small", "clone", "server_cpu", 1.10, "target 10: ≤ 1.1×"),
        ("medium", "clone", "server_cpu", 1.10, "target 10: ≤ 1.1×"),
        ("large", "clone", "wall", 1.10, "target 10: within 10 %"),
        ("small", "no-op fetch", "server_cpu", 1.30, "S7: ≤ 1.3×"),
    ]
    lines += ["", "Tokenforge / nginx + fcgiwrap (ratio of the medians; [quartiles of the per-run ratios]):"]
    for repo, op, what, limit, target in checks:
        key = f"{repo} {op} {'server CPU' if what == 'server_cpu' else 'wall'}"
        if key not in found:
            continue
        verdict = "met" if found[key] <= limit else f"NOT met: {(found[key] / limit - 1) * 100:.0f} % above the limit"
        paired = _paired(report, repo, op, what)
        spread = f" [{paired[0]:.2f}–{paired[1]:.2f}]" if paired else ""
        lines.append(f"* {key}: {found[key]:.2f}×{spread} ({target}) — {verdict}")
    return "\n".join(lines)


def _paired(report: Report, repo: str, op: str, what: str) -> tuple[float, float] | None:
    """First and third quartile of Tokenforge / nginx within each run (samples of a run are adjacent
    in time, so the ratio cancels most of the load that other processes put on the machine)."""

    def values(transport: str) -> list[float]:
        picked = [s for s in report.samples if (s.repo, s.op, s.transport) == (repo, op, transport)]
        return [v for s in picked if (v := getattr(s, what)) is not None]

    pairs = [a / b for a, b in zip(values(TOKENFORGE), values(BASELINE), strict=False) if b]
    if len(pairs) < 4:
        return None
    quartiles = statistics.quantiles(pairs, n=4)
    return quartiles[0], quartiles[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000, help="commits of the history repository")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--large-mb", type=int, default=300)
    parser.add_argument("--large-runs", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=float, default=5, help="0: skip the info/refs throughput")
    parser.add_argument("--wrk-rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small repository only, 1 run, 50 MB large, 2 s wrk")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.large_runs, args.large_mb, args.wrk_seconds, args.wrk_rounds = 1, 1, 50, 2, 1
    report = run(args)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")


if __name__ == "__main__":
    main()
