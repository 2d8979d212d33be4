"""Smart HTTP for git at ``/{owner}/{repo}`` and ``/{owner}/{repo}.git``.

An ASGI layer in front of the application that takes exactly the three smart-HTTP endpoints —
``info/refs``, ``git-upload-pack``, ``git-receive-pack`` — by their suffix, so no web route
such as ``/{owner}/{repo}/…`` added later can ever shadow them; everything else goes on to the
application. It sits inside ``AuthenticationMiddleware``, which has already turned the
``Authorization`` header (Basic only for git) into a principal.

Per request: parse the path, refuse failed credentials (401, with a different text for a
password and a bad token), look up the repository's access facts (``services.repo_access``, a
cache under the access generation) and let ``access.authorize`` — that is, ``authz.decide`` —
answer; then run git's own ``upload-pack`` or ``receive-pack`` with ``--stateless-rpc`` for the
repository's directory, which is named by id, never by the name in the URL. Every request of a
clone or push is authorized on its own: a token revoked between the ref advertisement and the
pack is refused at the pack.

What ``git http-backend`` did around those programs is done here, as http-backend 2.39 does it
(http-backend.c): the ``# service=…`` pkt-line and flush before a protocol v0/v1 advertisement
(none for v2, whose advertisement is the capability list), the content types and no-cache
headers, the exact request content type (else 415), gzip request bodies (inflated on the fly),
the 10 MiB bound on an upload-pack request, and ``GIT_COMMITTER_NAME``/``EMAIL`` for receive-pack.
Dumb HTTP (files of the repository) is refused, as before.

Nothing about a request's credentials is logged, and no exception text reaches the client:
unexpected errors are logged here and answered with a bare 500. A client that leaves before the
response has started gets nothing, and is logged at debug level only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
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
from tokenforge.git.pktline import FLUSH, ReportRewriter, pkt
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
# For GIT_COMMITTER_*: an address as uvicorn reports it (IPv4, IPv6), a login as the database has it.
_ADDRESS = re.compile(r"[0-9A-Fa-f:.]{1,64}")
_LOGIN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# http-backend's default http.maxRequestBuffer: the most an upload-pack request may inflate to.
MAX_UPLOAD_REQUEST = 10 * 1024 * 1024
_GZIP = frozenset({"gzip", "x-gzip"})
# http-backend's hdr_nocache(): nothing of git's answers may be cached by a proxy.
_NO_CACHE = [
    (b"expires", b"Fri, 01 Jan 1980 00:00:00 GMT"),
    (b"pragma", b"no-cache"),
    (b"cache-control", b"no-cache, max-age=0, must-revalidate"),
]
_HEADERS = {
    (service, kind): [(b"content-type", f"application/x-{service}-{kind}".encode()), *_NO_CACHE]
    for service in (UPLOAD_PACK, RECEIVE_PACK)
    for kind in ("advertisement", "result")
}
# The pkt-line that starts a protocol v0/v1 advertisement over HTTP, and the flush after it.
_SERVICE_LINE = {service: pkt(f"# service={service}\n".encode()) + FLUSH for service in (UPLOAD_PACK, RECEIVE_PACK)}


@dataclass(frozen=True, slots=True)
class _Route:
    owner: str
    name: str
    endpoint: str  # "info/refs" | "git-upload-pack" | "git-receive-pack"
    service: str  # "git-upload-pack" | "git-receive-pack"

    @property
    def push(self) -> bool:
        return self.service == RECEIVE_PACK

    @property
    def advertisement(self) -> bool:
        return self.endpoint == "info/refs"


@dataclass(frozen=True, slots=True)
class _Target:
    repo_id: int


class GitHTTP:
    """The git surface, as ASGI middleware (``app.add_middleware(GitHTTP, services=…)``)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        settings = services.settings
        # posix_spawn takes a path, not a name to look up: resolved once, here.
        self.git = shutil.which(settings.git_binary) or settings.git_binary
        self.repositories = str(settings.repositories_dir.resolve())
        self.hooks_dir = str(hooks.install(settings.data_dir.resolve() / "hooks"))
        self.inherited_fds = backend.inherited_fds()
        # Configuration at command-line scope (GIT_CONFIG_COUNT…, the environment form of
        # ``git -c``): it outranks the repository's own config, so no repository can point its
        # hooks elsewhere (see hooks.py), and it reaches receive-pack and every hook.
        self.env = backend.clean_environment(
            {hooks.PYTHON: sys.executable, hooks.GIT: self.git, **_config({"core.hooksPath": self.hooks_dir})}
        )

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
        except backend.ClientGone:
            # Not an error of the server's: git was interrupted, or a load tester stopped.
            log.debug("git client went away before the response: %s %s", scope["method"], path)
        except backend.RequestRefused as exc:
            # Raised only before the response started: the body was not gzip, or too large.
            log.info("git request refused: %s %s: %s", scope["method"], path, exc.message)
            await _reply(send, Refusal(exc.status, (exc.message,), reason="request body"))
        except backend.BackendFailed as exc:
            # The child's own last words are the useful part; a traceback of this module is not.
            # A warning, not an error: a malformed request (anyone can send one) ends this way too.
            log.warning("git request failed: %s %s: %s", scope["method"], path, exc)
            if not tracked.started:
                await _reply(send, Refusal(500, (messages.SERVER_ERROR,), reason="error"))
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
        # Only now, as http-backend checks only once the service is allowed: the request's shape.
        headers = _Headers.of(scope)
        if not route.advertisement and (unsupported := _check_body(route, headers)) is not None:
            await _reply(send, unsupported)
            return
        grant, target = answer
        await self._run(scope, receive, send, route=route, headers=headers, principal=principal, grant=grant,
                        target=target)  # fmt: skip

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
        self, scope: Scope, receive: Receive, send: Send, *, route: _Route, headers: _Headers, principal: Principal,
        grant: Grant, target: _Target,
    ) -> None:  # fmt: skip
        # The directory is the repository's id, from the database: the name in the URL never
        # reaches the filesystem, and nothing from the client reaches the command line.
        directory = f"{self.repositories}/{target.repo_id}.git"
        if not os.path.isdir(directory):
            # The database knows the repository and the disk does not: http-backend answered 404.
            log.error("repository %s has no directory %s", target.repo_id, directory)
            await _reply(send, access.NOT_FOUND)
            return
        argv = [self.git, route.service.removeprefix("git-"), "--stateless-rpc"]
        if route.advertisement:
            argv.append("--advertise-refs")
        argv.append(directory)
        env = dict(self.env)
        env.update(_request_environment(scope, headers, principal))
        version = _protocol_version(env.get("GIT_PROTOCOL", ""))
        kind = "advertisement" if route.advertisement else "result"
        response = _HEADERS[route.service, kind]
        # http-backend writes the service line unless the client asked for protocol v2
        # (determine_protocol_version_server() == protocol_v2), for either service.
        prefix = _SERVICE_LINE[route.service] if route.advertisement and version != 2 else b""
        body = not route.advertisement
        gzip = headers.encoding in _GZIP

        if not (route.push and route.endpoint == RECEIVE_PACK):
            await backend.serve(argv, env, receive, send, headers=response, prefix=prefix, request_body=body,
                                gzip=gzip, limit=None if route.push else MAX_UPLOAD_REQUEST,
                                close_fds=self.inherited_fds)  # fmt: skip
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
            await backend.serve(argv, env, receive, send, headers=response, request_body=True, gzip=gzip,
                                rewriter=rewriter, before_end=record, close_fds=self.inherited_fds)  # fmt: skip
        finally:
            shutil.rmtree(push_dir, ignore_errors=True)

    def _record_push(self, repo_id: int, updated: list[tuple[str, str, str]]) -> None:
        created = [ref for old, _new, ref in updated if not old.strip("0")]
        with self.services.db.unit_of_work() as session:
            repo = session.get(Repository, repo_id)
            if repo is not None:
                record_push(session, self.services.settings, repo, now=self.services.clock.now(), created_refs=created)


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


@dataclass(frozen=True, slots=True)
class _Headers:
    """The request headers git's side cares about, as text (latin-1, as HTTP has it)."""

    content_type: str
    encoding: str
    protocol: str

    @classmethod
    def of(cls, scope: Scope) -> _Headers:
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in (b"content-type", b"content-encoding", b"git-protocol"):
                found[name] = value
        return cls(
            found.get(b"content-type", b"").decode("latin-1"),
            found.get(b"content-encoding", b"").decode("latin-1").strip().lower(),
            found.get(b"git-protocol", b"").decode("latin-1"),
        )


def _check_body(route: _Route, headers: _Headers) -> Refusal | None:
    """http-backend's check_content_type(): exactly ``application/x-git-…-request``, else 415."""
    expected = f"application/x-{route.service}-request"
    if headers.content_type != expected:
        # The received type is echoed as http-backend does, but only if it is plain printable text.
        received = headers.content_type if _HEADER_VALUE.fullmatch(headers.content_type) else ""
        line = f"Expected POST with Content-Type '{expected}', but received '{received}' instead."
        return Refusal(415, (line,), reason="content type")
    if headers.encoding not in ("", "identity", *_GZIP):
        # http-backend would pass such a body on undecoded, for git to fail on; git sends only gzip.
        return Refusal(415, ("Unsupported Content-Encoding: only gzip is accepted.",), reason="content encoding")
    return None


def _request_environment(scope: Scope, headers: _Headers, principal: Principal) -> dict[str, str]:
    """The variables one request adds to the child's environment, each set by name from a checked value.

    Nothing is copied wholesale from the request. Git-Protocol becomes GIT_PROTOCOL (as
    http-backend passes HTTP_GIT_PROTOCOL on) only if it is a plain ``key=value:…`` list;
    GIT_COMMITTER_NAME/EMAIL are http-backend's (the user, ``user@http.<address>``), which
    receive-pack uses for reflogs: the login comes from the database and the address from the
    connection, each checked against its shape, and neither is anything git would act on.
    """
    env: dict[str, str] = {}
    if headers.protocol and _PROTOCOL.fullmatch(headers.protocol):
        env["GIT_PROTOCOL"] = headers.protocol
    login = getattr(principal, "login", None)
    user = login if isinstance(login, str) and _LOGIN.fullmatch(login) else "anonymous"
    address = (scope.get("client") or ("", 0))[0] or ""
    host = address if _ADDRESS.fullmatch(address) else "(none)"
    env["GIT_COMMITTER_NAME"] = user
    env["GIT_COMMITTER_EMAIL"] = f"{user}@http.{host}"
    return env


def _protocol_version(value: str) -> int:
    """git's determine_protocol_version_server(): the highest ``version=N`` it knows, else 0."""
    version = 0
    for item in value.split(":"):
        if item.startswith("version="):
            version = max(version, {"0": 0, "1": 1, "2": 2}.get(item.removeprefix("version="), -1))
    return version


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
