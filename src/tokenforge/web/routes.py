"""Server-rendered pages: the home page, accounts, the personal access token settings, the
security log, and organizations' token settings.

``router`` is what app.py includes. The pages live in one module per area (accounts, classic,
fine_grained, security_log, orgs); web/core.py holds what they share (session cookie, CSRF, sudo,
error pages). Styles and the small enhancement script are served from here too: nothing comes from a CDN.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from tokenforge.repos.models import Repository
from tokenforge.web import accounts, classic, fine_grained, orgs, security_log
from tokenforge.web.core import MAX_FORM_BYTES, WebRoute, context

router = APIRouter(route_class=WebRoute, max_body_size=MAX_FORM_BYTES)

STATIC_DIR = Path(__file__).parent / "static"
# Served by name from this list only, so no path from a URL ever reaches the file system.
_STATIC_TYPES = {
    "tokenforge.css": "text/css; charset=utf-8",
    "tokenforge.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@router.get("/health", response_class=PlainTextResponse)
def health(request: Request) -> str:
    request.app.state.services.db.check()
    return "ok"


@cache
def _static(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@router.get("/static/{name}")
def static(name: str) -> Response:
    media_type = _STATIC_TYPES.get(name)
    if media_type is None:
        return PlainTextResponse("Not Found", status_code=404)
    return Response(_static(name), media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/")
def home(request: Request) -> Response:
    ctx = context(request)
    settings = ctx.services.settings
    with ctx.unit_of_work() as session:
        ctx.user(session)
        repos = list(session.scalars(select(Repository).where(Repository.private.is_(False)).order_by(Repository.id)))
        rows = [
            {
                "full_name": r.full_name,
                "description": r.description,
                "clone_url": settings.web_url(f"/{r.full_name}.git"),
            }
            for r in repos
        ]
    return ctx.render("home.html", {"repos": rows})


router.include_router(accounts.router)
router.include_router(classic.router)
router.include_router(fine_grained.router)
router.include_router(security_log.router)
router.include_router(orgs.router)
