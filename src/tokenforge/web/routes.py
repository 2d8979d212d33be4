"""Server-rendered pages. The foundation has the home page; the settings pages come with the
web UI issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from tokenforge.repos.models import Repository

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _services(request: Request) -> Any:
    return request.app.state.services


@router.get("/health", response_class=PlainTextResponse)
def health(request: Request) -> str:
    _services(request).db.check()
    return "ok"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    services = _services(request)
    with services.db.unit_of_work() as session:
        repos = list(session.scalars(select(Repository).where(Repository.private.is_(False)).order_by(Repository.id)))
        rows = [
            {
                "full_name": r.full_name,
                "description": r.description,
                "clone_url": services.settings.web_url(f"/{r.full_name}.git"),
            }
            for r in repos
        ]
    return templates.TemplateResponse(request, "home.html", {"repos": rows})
