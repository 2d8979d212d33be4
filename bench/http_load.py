"""Side by side over HTTP: Tokenforge, DRF + django-rest-knox, FastAPI + fastapi-users (issue 8, target 5).

The same "who am I" request, authenticated by each stack's own token scheme, on SQLite, each served
by uvicorn (httptools + uvloop) with one worker pinned to CPU 0 (``taskset -c 0``), the load
generator pinned to CPU 1 — PERFORMANCE.md §1 and §5:

* Tokenforge: ``GET /api/v3/user`` with ``Authorization: token <classic token>``
  (``tokenforge serve``, rate limiting off, in-server maintenance off);
* DRF + knox: ``GET /api/user/`` with ``Authorization: Token <knox token>`` (bench/peers/drf_knox,
  Django's ASGI application under the uvicorn CLI);
* fastapi-users, database strategy: ``GET /users/me`` with ``Authorization: Bearer <token>``
  (bench/peers/fastapi_users_app, SQLAlchemy async + aiosqlite).

Each run: start the server, check that the token gets 200 with the seeded identity and that no
token and a wrong token get 401, warm up 2 s, ``wrk -t1 -c32 -d10s --latency``, stop the server.
A run during which other processes took more than ``--disturbed-above`` (10 %) of CPU 0 is
repeated, at most ``--retries`` (2) times per round; every attempt counts towards the best.
An informative fourth row serves the same Django project through its WSGI application
(``uvicorn --interface wsgi``); it is kept out of the headline ratio, which compares ASGI apps as
the target asks, and reported next to it. Rounds are interleaved (A, B, C, D, A, B, C, D, …) and
each stack's best round is reported, because other work on this 2-core machine moves absolute
figures. Besides req/s and wrk's p50/p99, each row gives the server's CPU time per request
(``/proc/<pid>/stat``) and the share of CPU 0 that other processes took meanwhile; CPU per request
is less disturbed by such neighbours than req/s, though not immune (caches, the GIL's wake-ups).

The peers are installed from ``bench/peers/requirements.txt`` into ``bench/.venv-peers`` (created
here when missing or when the requirements change), never into the project's ``.venv``. wrk comes
from Debian (``apt-get install -y wrk``) when it is not on PATH.

    .venv/bin/python bench/http_load.py [--quick] [--rounds N] [--json PATH] [--profile DIR]

``--quick``: ``-d3s``, one round, for smoke runs. ``--profile DIR``: afterwards, one extra
(unreported) run per stack under ``py-spy record --gil --nonblocking --rate 250`` (py-spy from the
peers venv, pinned to CPU 1; ``--gil`` samples only the thread holding the GIL, i.e. where the
Python-side CPU goes; time inside C calls that release the GIL, such as SQLite's own work, is
not in it), leaving collapsed stacks and a summary in DIR; its self-time shares of small functions
are not reliable (a 2.5 µs check showed as 7 %), its coarse inclusive shares are. Before each
measured run the harness waits (``--quiet-below``, ``--quiet-wait``) until other processes leave
CPU 0 mostly idle. The micro-benchmark of bench/gitea_pbkdf2.py runs at the end unless
``--no-micro``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / "peers"
PEERS_VENV = BENCH / ".venv-peers"
REQUIREMENTS = PEERS / "requirements.txt"
ALL_STACKS = ("tokenforge", "drf-knox", "fastapi-users", "drf-knox-wsgi")
HEADLINE_PEERS = ("drf-knox", "fastapi-users")  # ASGI apps under uvicorn, as target 5 asks
SERVER_CPU = 0
LOAD_CPU = 1
WARMUP_SECONDS = 2
CONNECTIONS = 32
PEER_LIBRARIES = (
    "django",
    "djangorestframework",
    "django-rest-knox",
    "fastapi-users",
    "fastapi-users-db-sqlalchemy",
    "sqlalchemy",
    "aiosqlite",
    "uvicorn",
    "uvloop",
    "httptools",
    "fastapi",
    "starlette",
    "pydantic",
)
TOKENFORGE_LIBRARIES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "pydantic", "orjson")


# -- stacks ----------------------------------------------------------------------------------------


@dataclass
class Stack:
    key: str
    label: str
    path: str
    scheme: str
    token: str
    argv: list[str]
    env: dict[str, str]
    identity: tuple[str, str]  # (JSON field, expected value) in the 200 answer
    wrong_token: str
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def header(self) -> str:
        return f"Authorization: {self.scheme} {self.token}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that could reconfigure a stack, plus ``extra``."""
    drop = ("TOKENFORGE_", "DJANGO_", "FUA_", "KNOXBENCH_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def run_seed(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"seeding failed: {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout.strip().splitlines()[-1].strip()


def tokenforge_stack(work: Path, tokenforge_bin: Path) -> Stack:
    data = work / "tokenforge"
    env = clean_env(
        TOKENFORGE_DATA_DIR=str(data),
        TOKENFORGE_SECRET_KEY="bench-" + secrets.token_hex(16),
        TOKENFORGE_RATE_LIMIT_ENABLED="false",
        TOKENFORGE_MAINTENANCE_INTERVAL_SECONDS="0",
        # Access log lines are INFO: at "warning" none is written, as for the peers below.
        TOKENFORGE_LOG_LEVEL="warning",
    )
    run_seed([str(tokenforge_bin), "user", "create", "bench", "--email", "bench@example.com", "--verified"], env)
    token = run_seed(
        [str(tokenforge_bin), "token", "create", "bench", "--classic", "--scopes", "read:user", "--expires-in", "30"],
        env,
    )
    wrong = token[:-8] + secrets.token_hex(4)  # right shape, wrong checksum
    return Stack(
        key="tokenforge",
        label="Tokenforge",
        path="/api/v3/user",
        scheme="token",
        token=token,
        argv=[str(tokenforge_bin), "serve", "--host", "127.0.0.1", "--port", "{port}"],
        env=env,
        identity=("login", "bench"),
        wrong_token=wrong,
    )


def peer_uvicorn(app: str, *options: str) -> list[str]:
    return [
        str(PEERS_VENV / "bin" / "uvicorn"),
        "--app-dir",
        str(PEERS),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        *options,
        app,
    ]


def knox_stack(work: Path) -> Stack:
    env = clean_env(KNOXBENCH_DB=str(work / "knox.sqlite3"), DJANGO_SETTINGS_MODULE="drf_knox.settings")
    token = run_seed([str(PEERS_VENV / "bin" / "python"), str(PEERS / "drf_knox" / "seed.py")], env)
    return Stack(
        key="drf-knox",
        label="DRF + knox",
        path="/api/user/",
        scheme="Token",
        token=token,
        argv=peer_uvicorn("drf_knox.asgi:application"),
        env=env,
        identity=("username", "bench"),
        wrong_token=token[:15] + secrets.token_hex(32)[: len(token) - 15],  # same key prefix, wrong digest
    )


def knox_wsgi_stack(knox: Stack) -> Stack:
    """The same Django project and token, as WSGI under uvicorn's (deprecated) native WSGI
    interface: one thread hop per request instead of one per middleware. Informative only."""
    return Stack(
        key="drf-knox-wsgi",
        label="DRF + knox, WSGI (informative)",
        path=knox.path,
        scheme=knox.scheme,
        token=knox.token,
        argv=peer_uvicorn("drf_knox.wsgi:application", "--interface", "wsgi"),
        env={**knox.env, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
        identity=knox.identity,
        wrong_token=knox.wrong_token,
    )


def fastapi_users_stack(work: Path) -> Stack:
    env = clean_env(FUA_DB=str(work / "fastapi_users.sqlite3"))
    token = run_seed([str(PEERS_VENV / "bin" / "python"), str(PEERS / "fastapi_users_app" / "seed.py")], env)
    return Stack(
        key="fastapi-users",
        label="fastapi-users (database strategy)",
        path="/users/me",
        scheme="Bearer",
        token=token,
        argv=peer_uvicorn("fastapi_users_app.app:app"),
        env=env,
        identity=("email", "bench@example.com"),
        wrong_token=secrets.token_urlsafe(),
    )


# -- environment -----------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(install, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install")
    return found


def ensure_peers_venv() -> None:
    """bench/.venv-peers with exactly bench/peers/requirements.txt; rebuilt when the file changes."""
    marker = PEERS_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = PEERS_VENV / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text().strip() == wanted:
        return
    print(f"installing the peers into {PEERS_VENV.relative_to(ROOT)} …", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(wanted + "\n")


def versions_in(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\nout = {}\n"
        "for n in sys.argv[1:]:\n    try: out[n] = version(n)\n    except PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(done.stdout)
    return result


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def machine_info(wrk: str, tokenforge_python: Path) -> dict[str, Any]:
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
        if hasattr(platform, "freedesktop_os_release")
        else platform.system(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("[")[0].strip(),
        "tokenforge_stack": versions_in(tokenforge_python, ("tokenforge", *TOKENFORGE_LIBRARIES)),
        "peers": versions_in(PEERS_VENV / "bin" / "python", PEER_LIBRARIES),
    }


# -- measuring -------------------------------------------------------------------------------------


def task_ticks(pid: int) -> int:
    """utime + stime of a process, all threads (clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def cpu_busy_ticks(cpu: int) -> int:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:9]]
            return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
    return 0


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    if rps is None or total is None or len(pct) < 4:
        raise RuntimeError(f"could not parse wrk's output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:(.*)", output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        p50_ms=_ms(pct["50"]),
        p75_ms=_ms(pct["75"]),
        p90_ms=_ms(pct["90"]),
        p99_ms=_ms(pct["99"]),
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "",
    )


@dataclass
class Run:
    stack: str
    round: int
    wrk: WrkResult
    server_cpu_us_per_request: float
    server_cpu_share: float  # server CPU time / wall time (1.0 = a whole core)
    others_on_server_cpu: float  # share of CPU 0 used by other processes meanwhile
    loadavg_before: str
    loadavg_after: str
    settle_wait_s: float  # time spent waiting for a quieter CPU 0 before starting the server
    cpu0_busy_before: float  # CPU 0's busy share (others' work) just before the run


def http_get(url: str, authorization: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 (a loopback URL built here)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextlib.contextmanager
def serving(stack: Stack, work: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The stack's server on a free port, pinned to SERVER_CPU, answering correctly; stopped after."""
    stack.port = free_port()
    argv = [a.replace("{port}", str(stack.port)) for a in stack.argv]
    env = dict(stack.env)
    if stack.key == "tokenforge":
        env["TOKENFORGE_BASE_URL"] = f"http://127.0.0.1:{stack.port}"
    log_path = work / f"{stack.key}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), *argv],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(stack, proc, log_path)
        check_answers(stack)
        yield proc
    finally:
        stop(proc)


def wait_ready(stack: Stack, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{stack.label} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            status, _ = http_get(stack.url, f"{stack.scheme} {stack.token}")
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{stack.label} did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def check_answers(stack: Stack) -> None:
    """The token is really checked: 200 with the seeded identity; 401 without it and with a wrong one."""
    status, body = http_get(stack.url, f"{stack.scheme} {stack.token}")
    key, value = stack.identity
    if status != 200 or json.loads(body).get(key) != value:
        raise RuntimeError(f"{stack.label}: expected 200 with {key}={value!r}, got {status}: {body[:300]!r}")
    for label, header in (("no token", None), ("a wrong token", f"{stack.scheme} {stack.wrong_token}")):
        status, body = http_get(stack.url, header)
        if status != 401:
            raise RuntimeError(f"{stack.label}: expected 401 with {label}, got {status}: {body[:300]!r}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (Tokenforge flushes last-used)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group of the server we started, only
            proc.wait(timeout=10)


def wrk_argv(wrk: str, stack: Stack, seconds: float, *, latency: bool) -> list[str]:
    argv = ["taskset", "-c", str(LOAD_CPU), wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s"]
    if latency:
        argv.append("--latency")
    return [*argv, "-H", stack.header, stack.url]


def run_wrk(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def busy_share(cpu: int, seconds: float = 1.0) -> float:
    """How busy ``cpu`` is (0..1) over ``seconds``, by whatever runs there."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, t0 = cpu_busy_ticks(cpu), time.monotonic()
    time.sleep(seconds)
    return (cpu_busy_ticks(cpu) - busy0) / hz / (time.monotonic() - t0)


def settle(threshold: float, max_wait: float) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until other work leaves CPU 0 at most ``threshold`` busy.

    Returns (seconds waited, last reading). Nothing of ours runs then, so all of it is others'.
    """
    start = time.monotonic()
    reading = busy_share(SERVER_CPU)
    while reading > threshold and time.monotonic() - start < max_wait:
        reading = busy_share(SERVER_CPU)
    return time.monotonic() - start, reading


def measure(stack: Stack, work: Path, wrk: str, seconds: float, *, round_no: int, quiet: tuple[float, float]) -> Run:
    waited, reading = settle(*quiet)
    with serving(stack, work) as proc:
        run_wrk(wrk_argv(wrk, stack, WARMUP_SECONDS, latency=False))
        load_before = loadavg()
        ticks0, busy0, t0 = task_ticks(proc.pid), cpu_busy_ticks(SERVER_CPU), time.monotonic()
        output = run_wrk(wrk_argv(wrk, stack, seconds, latency=True))
        ticks1, busy1, t1 = task_ticks(proc.pid), cpu_busy_ticks(SERVER_CPU), time.monotonic()
        load_after = loadavg()
    result = parse_wrk(output)
    hz = os.sysconf("SC_CLK_TCK")
    server_seconds = (ticks1 - ticks0) / hz
    others = max(0.0, ((busy1 - busy0) - (ticks1 - ticks0)) / hz / (t1 - t0))
    return Run(
        stack=stack.key,
        round=round_no,
        wrk=result,
        server_cpu_us_per_request=server_seconds / max(result.requests, 1) * 1e6,
        server_cpu_share=server_seconds / (t1 - t0),
        others_on_server_cpu=others,
        loadavg_before=load_before,
        loadavg_after=load_after,
        settle_wait_s=round(waited, 1),
        cpu0_busy_before=round(reading, 2),
    )


# -- profiling -------------------------------------------------------------------------------------


def _frame_name(frame: str) -> str:
    """py-spy raw frames look like ``function (path/to/file.py:123)``; keep ``function (file.py)``."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{function} ({short})"


def summarize_profile(raw: Path, top: int = 25) -> str:
    """Inclusive and self shares of the busiest frames in py-spy's collapsed output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    if total == 0:
        return f"{raw.name}: no samples\n"
    lines = [f"{raw.name}: {total} samples", "", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def profile(stack: Stack, work: Path, wrk: str, seconds: float, *, out: Path, quiet: tuple[float, float]) -> None:
    py_spy = PEERS_VENV / "bin" / "py-spy"
    raw = out / f"{stack.key}.txt"
    settle(*quiet)
    with serving(stack, work) as proc:
        run_wrk(wrk_argv(wrk, stack, WARMUP_SECONDS, latency=False))
        spy = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(LOAD_CPU),
                str(py_spy),
                "record",
                "--gil",  # only the thread holding the GIL: where the Python-side CPU goes
                "--nonblocking",  # (blocking mode here lost the worker threads' samples)
                "--rate",
                "250",
                "--format",
                "raw",
                "--duration",
                str(int(seconds)),
                "--pid",
                str(proc.pid),
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        run_wrk(wrk_argv(wrk, stack, seconds, latency=False))
        _, err = spy.communicate(timeout=60)
    if spy.returncode != 0 or not raw.exists():
        print(f"py-spy failed for {stack.label}: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return
    summary = summarize_profile(raw)
    (out / f"{stack.key}.summary.txt").write_text(summary)
    print(summary, file=sys.stderr)


# -- report ----------------------------------------------------------------------------------------


@dataclass
class Report:
    command: str
    machine: dict[str, Any]
    seconds: float
    connections: int
    rounds: int
    loadavg_start: str
    loadavg_end: str = ""
    runs: list[Run] = field(default_factory=list)
    best: dict[str, Run] = field(default_factory=dict)  # each stack's round with the most req/s
    min_cpu_us: dict[str, float] = field(default_factory=dict)  # each stack's lowest CPU µs/req, any round
    ratio_rps: float | None = None
    ratio_cpu: float | None = None
    ratio_vs_wsgi: float | None = None  # Tokenforge / DRF + knox served as WSGI (informative row)
    faster_peer: str = ""
    micro: list[dict[str, Any]] = field(default_factory=list)


def conclude(report: Report, labels: dict[str, str]) -> None:
    for run in report.runs:
        cpu = report.min_cpu_us.get(run.stack)
        if cpu is None or run.server_cpu_us_per_request < cpu:
            report.min_cpu_us[run.stack] = run.server_cpu_us_per_request
        kept = report.best.get(run.stack)
        if kept is None or run.wrk.requests_per_second > kept.wrk.requests_per_second:
            report.best[run.stack] = run
    peers = [k for k in report.best if k in HEADLINE_PEERS]
    if "tokenforge" in report.best and "drf-knox-wsgi" in report.best:
        wsgi = report.best["drf-knox-wsgi"].wrk.requests_per_second
        report.ratio_vs_wsgi = report.best["tokenforge"].wrk.requests_per_second / wsgi
    if "tokenforge" in report.best and peers:
        faster = max(peers, key=lambda k: report.best[k].wrk.requests_per_second)
        report.faster_peer = labels[faster]
        tf = report.best["tokenforge"]
        report.ratio_rps = tf.wrk.requests_per_second / report.best[faster].wrk.requests_per_second
        cheapest = min(peers, key=lambda k: report.min_cpu_us[k])
        report.ratio_cpu = report.min_cpu_us[cheapest] / report.min_cpu_us["tokenforge"]


def markdown(report: Report, stacks: list[Stack]) -> str:
    header = (
        "| Stack | Request | req/s | p50 ms | p99 ms | server CPU µs/req | server on CPU 0 | others on CPU 0"
        " | non-2xx | lowest CPU µs/req, any round |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for stack in stacks:
        run = report.best.get(stack.key)
        if run is None:
            continue
        w = run.wrk
        lines.append(
            f"| {stack.label} | `GET {stack.path}` · `{stack.scheme} …` | {w.requests_per_second:,.0f} | "
            f"{w.p50_ms:.2f} | {w.p99_ms:.2f} | {run.server_cpu_us_per_request:,.0f} | "
            f"{run.server_cpu_share:.0%} | {run.others_on_server_cpu:.0%} | {w.non_2xx} | "
            f"{report.min_cpu_us[stack.key]:,.0f} |"
        )
    out = ["\n".join(lines), ""]
    if report.ratio_rps is not None:
        out.append(
            f"Tokenforge / faster peer ({report.faster_peer}): **{report.ratio_rps:.2f}×** req/s "
            f"(target ≥ 2×); lowest server CPU per request, cheapest peer / Tokenforge: {report.ratio_cpu:.2f}×."
        )
    if report.ratio_vs_wsgi is not None:
        out.append(f"Informative: Tokenforge / DRF + knox served as WSGI: {report.ratio_vs_wsgi:.2f}×.")
    rounds = {}
    for run in report.runs:
        rounds.setdefault(run.stack, []).append(f"{run.wrk.requests_per_second:,.0f}")
    out.append(
        "All rounds (req/s, in run order): "
        + "; ".join(f"{s.label} {', '.join(rounds.get(s.key, []))}" for s in stacks)
        + f". Load average at start {report.loadavg_start}, at end {report.loadavg_end}."
    )
    return "\n".join(out)


def build_stacks(work: Path, wanted: set[str], tokenforge_bin: Path) -> list[Stack]:
    """Seed each wanted stack (in ``work``), in the order they are run in each round."""
    stacks = []
    if "tokenforge" in wanted:
        stacks.append(tokenforge_stack(work, tokenforge_bin))
    knox = knox_stack(work) if wanted & {"drf-knox", "drf-knox-wsgi"} else None
    if knox is not None and "drf-knox" in wanted:
        stacks.append(knox)
    if "fastapi-users" in wanted:
        stacks.append(fastapi_users_stack(work))
    if knox is not None and "drf-knox-wsgi" in wanted:
        stacks.append(knox_wsgi_stack(knox))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="-d3s and one round (smoke run)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per stack (default 3; 1 with --quick)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 10; 3 with --quick)")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.25,
        help="before each run, wait until other work keeps CPU 0 at most this busy (default 0.25)",
    )
    parser.add_argument("--quiet-wait", type=float, default=180.0, help="but at most this long (s, default 180)")
    parser.add_argument(
        "--disturbed-above",
        type=float,
        default=0.10,
        help="a run during which other processes took more of CPU 0 than this is repeated (default 0.10)",
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="repeat a disturbed run at most this often per round (default 2)"
    )
    parser.add_argument("--json", type=Path, help="also write the whole report as JSON here")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="afterwards, profile each stack with py-spy")
    parser.add_argument("--no-micro", action="store_true", help="skip the Gitea PBKDF2 / Tokenforge micro-benchmark")
    parser.add_argument("--only", action="append", choices=ALL_STACKS, help="run only these stacks (repeatable)")
    parser.add_argument(
        "--tokenforge", type=Path, default=ROOT / ".venv" / "bin" / "tokenforge", help="the tokenforge executable"
    )
    args = parser.parse_args()
    seconds = args.duration or (3.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 3)

    if len(os.sched_getaffinity(0)) < 2 or os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        raise SystemExit("needs two CPUs: the server on CPU 0, wrk on CPU 1")
    wrk = ensure_wrk()
    ensure_peers_venv()
    tokenforge_python = args.tokenforge.parent / "python"
    report = Report(
        command=" ".join([os.path.relpath(sys.executable, ROOT), *sys.argv]),
        machine=machine_info(wrk, tokenforge_python),
        seconds=seconds,
        connections=CONNECTIONS,
        rounds=rounds,
        loadavg_start=loadavg(),
    )
    with tempfile.TemporaryDirectory(prefix="tf-side-by-side-") as tmp:
        work = Path(tmp)
        stacks = build_stacks(work, set(args.only or ALL_STACKS), args.tokenforge)
        quiet = (args.quiet_below, args.quiet_wait)
        for round_no in range(1, rounds + 1):
            for stack in stacks:
                for attempt in range(1 + args.retries):
                    run = measure(stack, work, wrk, seconds, round_no=round_no, quiet=quiet)
                    report.runs.append(run)
                    print(
                        f"round {round_no}.{attempt} {stack.label}: {run.wrk.requests_per_second:,.0f} req/s, "
                        f"p50 {run.wrk.p50_ms:.2f} ms, p99 {run.wrk.p99_ms:.2f} ms, "
                        f"{run.server_cpu_us_per_request:,.0f} µs CPU/req, "
                        f"others on CPU 0 {run.others_on_server_cpu:.0%},"
                        f" load {run.loadavg_after}; CPU 0 {run.cpu0_busy_before:.0%} busy before"
                        f" (waited {run.settle_wait_s:.0f} s)",
                        file=sys.stderr,
                    )
                    if run.others_on_server_cpu <= args.disturbed_above:
                        break
        report.loadavg_end = loadavg()
        conclude(report, {s.key: s.label for s in stacks})
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for stack in stacks:
                profile(stack, work, wrk, seconds, out=args.profile, quiet=(args.quiet_below, args.quiet_wait))

    print(markdown(report, stacks))
    if not args.no_micro:
        from gitea_pbkdf2 import markdown as micro_markdown
        from gitea_pbkdf2 import measure as micro_measure

        settle(args.quiet_below, args.quiet_wait)
        micro = micro_measure(quick=args.quick)
        report.micro = [asdict(r) for r in micro]
        print()
        print(micro_markdown(micro))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")


if __name__ == "__main__":
    main()
