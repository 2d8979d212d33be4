"""Smart HTTP for git at ``/{owner}/{repo}`` and ``/{owner}/{repo}.git``.

An ASGI layer in front of the application that takes exactly the three smart-HTTP endpoints —
``info/refs``, ``git-upload-pack``, ``git-receive-pack`` — by their suffix, so no web route
such as ``/{owner}/{repo}/…`` added later can ever shadow them; everything else goes on to the
application. It sits inside ``AuthenticationMiddleware``, which has already turned the
``Authorization`` header (Basic only for git) into a principal.

Per request: parse the path, refuse failed credentials (401, with a different text for a
password and a bad token), look up the repository's access facts (``services.repo_access``, a
cache under the access generation) and let ``access.authorize`` — that is, ``authz.decide`` —
answer; then run ``git http-backend`` for the repository's directory, which is named by id,
never by the name in the URL. Every request of a clone or push is authorized on its own: a
token revoked between the ref advertisement and the pack is refused at the pack.

Nothing about a request's credentials is logged, and no exception text reaches the client:
unexpected errors are logged here and answered with a bare 500.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenforge.auth.middleware import authentication
from tokenforge.authz.subjects import Anonymous, Principal
from tokenforge.git import access, backend, hooks, messages
from tokenforge.git.access import Grant, Refusal
from tokenforge.git.pktline import ReportRewriter
from tokenforge.repos.models import Repository
from tokenforge.repos.services import record_push

if TYPE_CHECKING:
    from tokenforge.app import Services

log = logging.getLogger(__name__)

UPLOAD_PACK = "git-upload-pack"
RECEIVE_PACK = "git-receive-pack"
# The name may carry ".git" (repository names never end in it, so stripping it is unambiguous).
_ROUTE = re.compile(r"/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/(?P<endpoint>info/refs|git-(?:upload|receive)-pack)")
# Git-Protocol carries "version=2" and similar key=value pairs; anything else is not passed on.
_PROTOCOL = re.compile(r"[A-Za-z0-9=:._-]{1,256}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,256}")


@dataclass(frozen=True, slots=True)
class _Route:
    owner: str
    name: str
    endpoint: str  # "info/refs" | "git-upload-pack" | "git-receive-pack"
    service: str  # "git-upload-pack" | "git-receive-pack"

    @property
    def push(self) -> bool:
        return self.service == RECEIVE_PACK


@dataclass(frozen=True, slots=True)
class _Target:
    repo_id: int


class GitHTTP:
    """The git surface, as ASGI middleware (``app.add_middleware(GitHTTP, services=…)``)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        settings = services.settings
        self.git = settings.git_binary
        self.project_root = str(settings.repositories_dir.resolve())
        self.hooks_dir = str(hooks.install(settings.data_dir.resolve() / "hooks"))
        self.backend = _backend_command(self.git)
        self.env = backend.clean_environment(
            {"GIT_PROJECT_ROOT": self.project_root, "GIT_HTTP_EXPORT_ALL": "1", hooks.PYTHON: sys.executable,
             hooks.GIT: self.git}
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.endswith(("/info/refs", "/git-upload-pack", "/git-receive-pack")) or path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        tracked = _TrackedSend(send)
        try:
            await self._handle(scope, receive, tracked)
        except Exception:
            # Logged with its traceback here; the client gets a bare 500, or (once the response
            # has started and its status is gone) a cut-off response, which git reports as such.
            log.exception("git request failed: %s %s", scope["method"], path)
            if not tracked.started:
                await _reply(send, Refusal(500, (messages.SERVER_ERROR,), reason="error"))

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.services.settings
        route_or_error = _route(scope)
        if isinstance(route_or_error, Refusal):
            await _reply(send, route_or_error)
            return
        route = route_or_error
        auth = authentication(scope)
        if auth.failed:
            # A bad credential is refused even where anonymous access would do (a public
            # clone): silently falling back to anonymous would hide an expired token until the
            # first push, and git would never erase the stale secret from its helper.
            refusal = access.bad_credentials(looks_like_password=auth.looks_like_password, base_url=settings.base_url)
            await _reply(send, refusal)
            return
        principal = auth.principal
        answer = self._authorize(route, principal)
        if isinstance(answer, Refusal):
            # %r: the names come from the URL and must not be able to forge log lines.
            log.info("git %s %r/%r refused %s: %s", route.service, route.owner, route.name, answer.status,
                     answer.reason)  # fmt: skip
            await _reply(send, answer)
            return
        grant, target = answer
        await self._run(scope, receive, send, route=route, principal=principal, grant=grant, target=target)

    def _authorize(self, route: _Route, principal: Principal) -> tuple[Grant, _Target] | Refusal:
        # The access facts come from the shared per-(repository, user) cache under the access
        # generation: a hit costs microseconds and a miss one raw query, so this runs on the
        # event loop like authentication itself, with no thread hop and no ORM session.
        user_id = None if isinstance(principal, Anonymous) else getattr(principal, "user_id", None)
        resource = self.services.repo_access.resource(route.owner, route.name, user_id)
        answer = access.authorize(principal, resource, push=route.push)
        if isinstance(answer, Refusal):
            return answer
        assert resource is not None
        assert resource.repo_id is not None
        return answer, _Target(resource.repo_id)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, *, route: _Route, principal: Principal, grant: Grant,
        target: _Target,
    ) -> None:  # fmt: skip
        env = dict(self.env)
        env.update(_cgi_variables(scope, route, target, principal))
        # Configuration at command-line scope (GIT_CONFIG_COUNT…, the environment form of
        # ``git -c``): it outranks the repository's own config, so no repository can point its
        # hooks elsewhere (see hooks.py), and it reaches receive-pack and every hook.
        env.update(
            _config(
                {
                    "core.hooksPath": self.hooks_dir,
                    "http.receivepack": "true" if grant.push else "false",
                    "http.uploadpack": "true",
                    "http.getanyfile": "false",
                }
            )
        )
        argv = self.backend

        if not (route.push and route.endpoint == RECEIVE_PACK):
            await backend.serve(argv, env, receive, send)
            return

        # A push: the hooks get the server's decision and a directory private to this push.
        push_dir = Path(tempfile.mkdtemp(prefix="tokenforge-push-"))
        try:
            env[hooks.WORKFLOWS] = "allow" if grant.workflows else "deny"
            env[hooks.TOKEN_KIND] = "fine-grained" if grant.fine_grained else "classic"
            env[hooks.PUSH_DIR] = str(push_dir)

            async def record(_code: int) -> None:
                updated = hooks.read_updated(push_dir)
                if not updated:
                    return
                try:
                    await asyncio.to_thread(self._record_push, target.repo_id, updated)
                except Exception:
                    # The refs are updated already; failing the response now would only make git
                    # report a push that happened as failed. The next push records again.
                    log.exception("could not record the push to repository %s", target.repo_id)

            rewriter = ReportRewriter(lambda: hooks.read_rejections(push_dir))
            await backend.serve(argv, env, receive, send, rewriter=rewriter, before_end=record)
        finally:
            shutil.rmtree(push_dir, ignore_errors=True)

    def _record_push(self, repo_id: int, updated: list[tuple[str, str, str]]) -> None:
        created = [ref for old, _new, ref in updated if not old.strip("0")]
        with self.services.db.unit_of_work() as session:
            repo = session.get(Repository, repo_id)
            if repo is not None:
                record_push(session, self.services.settings, repo, now=self.services.clock.now(), created_refs=created)


def _backend_command(git: str) -> list[str]:
    """``git-http-backend`` itself, found through ``git --exec-path``; else ``git http-backend``.

    Running the program directly saves the ``git`` wrapper process (one exec per request) and
    lets a kill on client disconnect reach http-backend at once.
    """
    try:
        done = subprocess.run(
            [git, "--exec-path"], capture_output=True, text=True, check=True, env=backend.clean_environment()
        )
    except (OSError, subprocess.CalledProcessError):
        return [git, "http-backend"]
    program = Path(done.stdout.strip()) / "git-http-backend"
    return [str(program)] if os.access(program, os.X_OK) else [git, "http-backend"]


def _config(items: dict[str, str]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(items))}
    for i, (key, value) in enumerate(items.items()):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _route(scope: Scope) -> _Route | Refusal:
    match = _ROUTE.fullmatch(scope["path"])
    if match is None:
        return access.NOT_FOUND
    endpoint = match["endpoint"]
    method = scope["method"]
    if endpoint == "info/refs":
        if method != "GET":
            return Refusal(405, ("Method Not Allowed",), reason="method")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        service = query.get("service", "")
        if service not in (UPLOAD_PACK, RECEIVE_PACK):
            return Refusal(403, (messages.DUMB_HTTP,), reason="dumb http")
    else:
        if method != "POST":
            return Refusal(405, ("Method Not Allowed",), reason="method")
        service = endpoint
    return _Route(match["owner"], match["name"], endpoint, service)


def _cgi_variables(scope: Scope, route: _Route, target: _Target, principal: Principal) -> dict[str, str]:
    """The CGI variables for one request, each set by name from a checked value.

    Nothing is copied wholesale from the request: a header becomes a variable only if listed
    here, and only if its value is plain printable ASCII.
    """
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in (b"content-type", b"content-length", b"content-encoding", b"git-protocol"):
            headers[name] = value
    env = {
        "REQUEST_METHOD": scope["method"],
        # The directory is the repository's id: the name in the URL never reaches the filesystem.
        "PATH_INFO": f"/{target.repo_id}.git/{route.endpoint}",
        "QUERY_STRING": f"service={route.service}" if route.endpoint == "info/refs" else "",
        "REMOTE_ADDR": (scope.get("client") or ("", 0))[0] or "",
    }
    login = getattr(principal, "login", None)
    if login:
        env["REMOTE_USER"] = login
    for header, variable in (
        (b"content-type", "CONTENT_TYPE"),
        (b"content-length", "CONTENT_LENGTH"),
        (b"content-encoding", "HTTP_CONTENT_ENCODING"),
    ):
        text = headers.get(header, b"").decode("latin-1")
        if text and _HEADER_VALUE.fullmatch(text):
            env[variable] = text
    if "CONTENT_LENGTH" in env and not env["CONTENT_LENGTH"].isdigit():
        del env["CONTENT_LENGTH"]
    protocol = headers.get(b"git-protocol", b"").decode("latin-1")
    if protocol and _PROTOCOL.fullmatch(protocol):
        # http-backend reads the CGI form (HTTP_GIT_PROTOCOL) and passes GIT_PROTOCOL on to
        # upload-pack; both are set so either generation of git picks it up.
        env["GIT_PROTOCOL"] = env["HTTP_GIT_PROTOCOL"] = protocol
    return env


class _TrackedSend:
    """``send`` that remembers whether the response has started (after which no 500 can follow)."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


async def _reply(send: Send, refusal: Refusal) -> None:
    """A plain-text answer: git prints each line of a text/plain error body as ``remote: …``."""
    body = ("\n".join(refusal.lines) + "\n").encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
    ]
    if refusal.challenge:
        headers.append((b"www-authenticate", f'Basic realm="{messages.REALM}"'.encode()))
    if refusal.status == 405:
        headers.append((b"allow", b"GET, POST"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
