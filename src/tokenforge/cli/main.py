"""The admin CLI: ``tokenforge …``.

Each command opens one unit of work, calls services, and prints. Every failure a user can
cause — bad input, an unknown name, an unreachable database — ends as one line on stderr and
a non-zero exit, with nothing changed: the unit of work rolls back (and removes any bare
repository it created) before the message is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tokenforge.accounts import services as accounts
from tokenforge.accounts.models import Organization
from tokenforge.authz.roles import OrgRole, RepoRole
from tokenforge.authz.subjects import RepositorySelection
from tokenforge.clock import SystemClock
from tokenforge.config import Settings
from tokenforge.db import Database, first_line
from tokenforge.errors import Invalid, TokenforgeError, Unavailable
from tokenforge.mail import mailer_for
from tokenforge.orgs import review as review_services
from tokenforge.orgs import services as orgs
from tokenforge.repos import services as repos
from tokenforge.tokens import services as tokens
from tokenforge.tokens.models import RevokedReason, Token

app = typer.Typer(
    name="tokenforge",
    help="Tokenforge: a Git server with GitHub's personal access tokens.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
repo_app = typer.Typer(help="Repositories.", no_args_is_help=True)
token_app = typer.Typer(help="Personal access tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(repo_app, name="repo")
app.add_typer(token_app, name="token")

clock = SystemClock()


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"tokenforge: error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problem = exc.errors()[0]
        fail(f"invalid setting TOKENFORGE_{str(problem['loc'][0]).upper()}: {problem['msg']}")


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[Session]:
    db = Database(settings.resolved_database_url)
    try:
        db.migrate()
        with db.unit_of_work() as session:
            yield session
    finally:
        db.dispose()


def parse_expiry(text: str, now: datetime) -> datetime | None:
    if text.strip().lower() in {"never", "none"}:
        return None
    try:
        days = int(text)
    except ValueError:
        raise Invalid(f"--expires-in must be a number of days or 'never', not {text!r}") from None
    if not 1 <= days <= 3660:
        raise Invalid("--expires-in must be between 1 and 3660 days, or 'never'")
    return now + timedelta(days=days)


# -- serve --------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed demo users, an organization and repositories.")] = False,
    workers: Annotated[int, typer.Option(help="Server processes (they share the database; caches stay coherent).")] = 1,
) -> None:
    """Migrate the database, then serve the web UI, the API and git."""
    import uvicorn

    from tokenforge import demo as demo_data
    from tokenforge.app import create_app

    settings = load_settings(demo=demo)
    settings.peppers  # noqa: B018  (refuse a missing secret before touching anything)
    db = Database(settings.resolved_database_url)
    try:
        db.migrate()
        if demo:
            with db.unit_of_work() as session:
                accounts_ = demo_data.seed(session, settings, now=clock.now())
            _print_demo(settings, accounts_.passwords, accounts_.tokens)
    finally:
        db.dispose()
    if workers > 1:
        # Each worker builds its own application from the environment (the demo flag included).
        os.environ["TOKENFORGE_DEMO"] = "true" if demo else "false"
        uvicorn.run(
            "tokenforge.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)


def _print_demo(settings: Settings, passwords: dict[str, str], tokens: dict[str, str]) -> None:
    base = settings.base_url
    lines = [
        "",
        "Tokenforge demo",
        f"  data directory: {settings.data_dir.resolve()}",
        f"  web:            {base}/",
        *(f"  user {login:<6}     password {pw}" for login, pw in passwords.items()),
        "  organization:   acme (alice owner, bob member; fine-grained tokens need approval)",
        f"  repositories:   {base}/acme/website.git (public), {base}/acme/infrastructure.git (private)",
        "  pending:        bob's token for acme/infrastructure waits for alice:"
        f" {base}/organizations/acme/settings/personal-access-token-requests",
        "                  (or: tokenforge org requests acme; tokenforge org review acme 1 --approve)",
        "  make a token:   TOKENFORGE_DEMO=true TOKENFORGE_DATA_DIR="
        f"{settings.data_dir} .venv/bin/tokenforge token create alice --classic --scopes repo",
    ]
    for who, secret in tokens.items():
        lines.append(f"  token of {who}, shown only now: {secret}")
    typer.echo("\n".join([*lines, ""]))


# -- users --------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    login: str,
    email: Annotated[str, typer.Option("--email", help="Primary email address.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    verified: Annotated[bool, typer.Option("--verified", help="Mark the email as verified.")] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a site administrator.")] = False,
) -> None:
    """Create a user."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    with unit_of_work(load_settings()) as session:
        user = accounts.create_user(
            session, login=login, email=email, password=password, verified=verified, site_admin=admin, now=clock.now()
        )
        typer.echo(f"created user {user.login} (id {user.id})")


# -- organizations ------------------------------------------------------------------------------


@org_app.command("create")
def org_create(login: str, owner: Annotated[str, typer.Option("--owner", help="The first owner's login.")]) -> None:
    """Create an organization with one owner."""
    with unit_of_work(load_settings()) as session:
        org = orgs.create_org(session, login=login, owner=accounts.get_user(session, owner), now=clock.now())
        typer.echo(f"created organization {org.login} (id {org.id}), owner {owner}")


@org_app.command("add-member")
def org_add_member(
    org: str,
    login: str,
    role: Annotated[str, typer.Option("--role", help="owner or member.")] = "member",
) -> None:
    """Add a member to an organization, or change a member's role."""
    try:
        parsed = OrgRole.parse(role)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    with unit_of_work(load_settings()) as session:
        organization = orgs.get_org(session, org)
        orgs.set_member(session, org=organization, user=accounts.get_user(session, login), role=parsed, now=clock.now())
        typer.echo(f"{login} is now {parsed.label} of {organization.login}")


@org_app.command("remove-member")
def org_remove_member(org: str, login: str) -> None:
    """Take a user out of an organization (their tokens lose what the membership gave, at once)."""
    with unit_of_work(load_settings()) as session:
        organization = orgs.get_org(session, org)
        orgs.remove_member(session, org=organization, user=accounts.get_user(session, login), now=clock.now())
        typer.echo(f"{login} is no longer a member of {organization.login}")


def _allow(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    choices = {"allow": True, "restrict": False}
    if value not in choices:
        raise Invalid(f"{option} must be allow or restrict, not {value!r}")
    return choices[value]


def _days(value: str | None, option: str) -> int | object | None:
    if value is None:
        return review_services.UNCHANGED
    if value.strip().lower() == "none":
        return None
    try:
        days = int(value)
    except ValueError:
        raise Invalid(f"{option} must be a number of days or 'none', not {value!r}") from None
    if days < 1:
        raise Invalid(f"{option} must be at least 1 day, or 'none'")
    return days


@org_app.command("set-policy")
def org_set_policy(
    org: str,
    classic: Annotated[str | None, typer.Option("--classic", help="allow or restrict classic tokens.")] = None,
    fine_grained: Annotated[
        str | None, typer.Option("--fine-grained", help="allow or restrict fine-grained tokens.")
    ] = None,
    approval: Annotated[
        str | None, typer.Option("--approval", help="required or not-required for fine-grained tokens.")
    ] = None,
    max_fine_grained: Annotated[str | None, typer.Option("--max-lifetime-fine-grained", help="DAYS or none.")] = None,
    max_classic: Annotated[str | None, typer.Option("--max-lifetime-classic", help="DAYS or none.")] = None,
) -> None:
    """Set an organization's personal access token policy."""
    approvals = {"required": True, "not-required": False, None: None}
    if approval not in approvals:
        raise Invalid(f"--approval must be required or not-required, not {approval!r}")
    classic_allowed = _allow(classic, "--classic")
    fine_allowed = _allow(fine_grained, "--fine-grained")
    max_fg, max_cl = (
        _days(max_fine_grained, "--max-lifetime-fine-grained"),
        _days(max_classic, "--max-lifetime-classic"),
    )
    with unit_of_work(load_settings()) as session:
        organization = orgs.get_org(session, org)
        changes = review_services.set_policy(
            session,
            org=organization,
            now=clock.now(),
            classic_allowed=classic_allowed,
            fine_grained_allowed=fine_allowed,
            approval_required=approvals[approval],
            max_lifetime_fine_grained_days=max_fg,
            max_lifetime_classic_days=max_cl,
        )
        for key, (old, new) in changes.items():
            typer.echo(f"{key}: {_policy_value(old)} -> {_policy_value(new)}")
        if not changes:
            typer.echo("no change")
        typer.echo(_policy_line(organization))


def _policy_value(value: object) -> str:
    return "none" if value is None else str(value).lower()


def _policy_line(org: Organization) -> str:
    def days(n: int | None) -> str:
        return "none" if n is None else f"{n} days"

    return (
        f"{org.login}: classic {'allow' if org.classic_tokens_allowed else 'restrict'}, fine-grained "
        f"{'allow' if org.fine_grained_tokens_allowed else 'restrict'}, approval "
        f"{'required' if org.approval_required else 'not-required'}, max lifetime fine-grained "
        f"{days(org.max_lifetime_fine_grained_days)}, classic {days(org.max_lifetime_classic_days)}"
    )


@org_app.command("requests")
def org_requests(org: str) -> None:
    """List pending fine-grained token requests of an organization."""
    with unit_of_work(load_settings()) as session:
        organization = orgs.get_org(session, org)
        rows = session.scalars(review_services.requests_query(organization, review_services.Filters())).all()
        typer.echo(f"{'REQUEST':>7}  {'TOKEN':>6}  {'REQUESTER':<16}  {'CREATED':<16}  NAME — ASKS FOR")
        for request in rows:
            token = request.token
            permissions = ", ".join(f"{k}={v}" for k, v in request.permissions.items())
            upgrade = " (more access for an approved token)" if request.upgrade else ""
            reason = f' — "{request.reason}"' if request.reason else ""
            typer.echo(
                f"{request.id:>7}  {token.id:>6}  {token.user.login:<16}  "
                f"{request.created_at.strftime('%Y-%m-%d %H:%M'):<16}  {token.name} — "
                f"{request.repository_selection}; {permissions}{upgrade}{reason}"
            )


@org_app.command("review")
def org_review(
    org: str,
    request_id: Annotated[int, typer.Argument(metavar="REQUEST_ID")],
    approve: Annotated[bool, typer.Option("--approve", help="Approve the request.")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Deny the request.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Told to the requester.")] = "",
) -> None:
    """Approve or deny a fine-grained token request (the requester is emailed)."""
    if approve == deny:
        raise Invalid("choose exactly one of --approve and --deny")
    settings = load_settings()
    with unit_of_work(settings) as session:
        organization = orgs.get_org(session, org)
        [done] = review_services.review(
            session,
            org=organization,
            request_ids=[request_id],
            approve=approve,
            reason=reason,
            now=clock.now(),
            actor=None,
            mailer=mailer_for(settings),
            settings_url=settings.base_url,
        )
        typer.echo(f"request {done.request.id} {'approved' if approve else 'denied'}")


# -- repositories -------------------------------------------------------------------------------


@repo_app.command("create")
def repo_create(
    full_name: Annotated[str, typer.Argument(metavar="OWNER/NAME")],
    private: Annotated[bool, typer.Option("--private", help="Only people with access can see it.")] = False,
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create an empty repository."""
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name:
        raise Invalid(f"expected OWNER/NAME, got {full_name!r}")
    settings = load_settings()
    with unit_of_work(settings) as session:
        repo = repos.create_repository(
            session,
            settings,
            owner=accounts.get_account(session, owner),
            name=name,
            private=private,
            description=description,
            now=clock.now(),
        )
        typer.echo(f"created {repo.visibility} repository {repo.full_name} (id {repo.id})")


@repo_app.command("add-collaborator")
def repo_add_collaborator(
    full_name: Annotated[str, typer.Argument(metavar="OWNER/NAME")],
    login: str,
    role: Annotated[str, typer.Option("--role", help="read, triage, write, maintain or admin.")],
) -> None:
    """Give a user a role on a repository."""
    try:
        parsed = RepoRole.parse(role)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    with unit_of_work(load_settings()) as session:
        repo = repos.get_repository(session, full_name)
        repos.add_collaborator(session, repo=repo, user=accounts.get_user(session, login), role=parsed, now=clock.now())
        typer.echo(f"{login} has the {parsed.label} role on {repo.full_name}")


# -- tokens -------------------------------------------------------------------------------------


def _parse_permissions(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, level = item.partition("=")
        if not sep or not key.strip() or not level.strip():
            raise Invalid(f"--permission expects NAME=LEVEL (e.g. contents=write), not {item!r}")
        out[key.strip()] = level.strip()
    return out


@token_app.command("create")
def token_create(
    login: str,
    classic: Annotated[bool, typer.Option("--classic", help="A classic token with OAuth scopes.")] = False,
    fine_grained: Annotated[bool, typer.Option("--fine-grained", help="A fine-grained token.")] = False,
    scopes: Annotated[str, typer.Option("--scopes", help="Classic: comma-separated scopes.")] = "",
    note: Annotated[str, typer.Option("--note", help="Classic: what the token is for.")] = "",
    name: Annotated[str, typer.Option("--name", help="Fine-grained: the token's name.")] = "",
    description: Annotated[str, typer.Option("--description", help="Fine-grained: a description.")] = "",
    owner: Annotated[str, typer.Option("--owner", help="Fine-grained: resource owner (you or an org).")] = "",
    repos_: Annotated[str, typer.Option("--repos", help="Fine-grained: only these repositories (a,b).")] = "",
    all_repos: Annotated[bool, typer.Option("--all-repos", help="Fine-grained: all the owner's repositories.")] = False,
    permission: Annotated[
        list[str] | None, typer.Option("--permission", help="Fine-grained: NAME=LEVEL, repeatable.")
    ] = None,
    expires_in: Annotated[str, typer.Option("--expires-in", help="Days until expiry, or 'never'.")] = "30",
) -> None:
    """Create a token and print it once on stdout (nothing else)."""
    if classic == fine_grained:
        raise Invalid("choose exactly one of --classic and --fine-grained")
    settings = load_settings()
    now = clock.now()
    expires_at = parse_expiry(expires_in, now)
    with unit_of_work(settings) as session:
        user = accounts.get_user(session, login)
        if classic:
            if name or owner or repos_ or all_repos or permission:
                raise Invalid("--name, --owner, --repos, --all-repos and --permission are for --fine-grained tokens")
            from tokenforge.credentials.scopes import UnknownScope, parse

            try:
                scope_list = parse(scopes)
            except UnknownScope as exc:
                raise Invalid(f"unknown scope: {exc.scope}") from None
            issued = tokens.create_classic_token(
                session,
                settings,
                user=user,
                note=note or "cli token",
                scopes=scope_list,
                expires_at=expires_at,
                now=now,
                mailer=mailer_for(settings),
            )
        else:
            if scopes or note:
                raise Invalid("--scopes and --note are for --classic tokens")
            if not name:
                raise Invalid("--name is required for a fine-grained token")
            if repos_ and all_repos:
                raise Invalid("choose at most one of --repos and --all-repos")
            resource_owner = accounts.get_account(session, owner or login)
            chosen = [
                repos.get_repository(session, f"{resource_owner.login}/{r.strip()}")
                for r in repos_.split(",")
                if r.strip()
            ]
            selection = (
                RepositorySelection.SUBSET
                if repos_
                else RepositorySelection.ALL
                if all_repos
                else RepositorySelection.NONE
            )
            issued = tokens.create_fine_grained_token(
                session,
                settings,
                user=user,
                name=name,
                description=description,
                resource_owner=resource_owner,
                permissions=_parse_permissions(permission or []),
                repository_selection=selection,
                repositories=chosen,
                expires_at=expires_at,
                now=now,
                mailer=mailer_for(settings),
            )
        secret = issued.secret
    # Printed only after the commit: a token that failed to save is never shown.
    typer.echo(secret)


def _status(token: Token, now: datetime) -> str:
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    if token.grant is not None and token.grant.approval != "approved":
        return token.grant.approval
    return "active"


def _grant(token: Token) -> str:
    if token.grant is None:
        return "scopes: " + (", ".join(token.scope_list) or "(none)")
    grant = token.grant
    repositories = {"none": "public repositories (read-only)", "all": "all repositories"}.get(
        grant.repository_selection, "repositories: " + ", ".join(sorted(r.name for r in grant.repositories))
    )
    permissions = ", ".join(f"{k}={v}" for k, v in grant.permissions.items())
    return f"owner: {grant.resource_owner.login}; {repositories}; {permissions}"


@token_app.command("list")
def token_list(login: str) -> None:
    """List a user's tokens, newest first (never their secrets)."""
    now = clock.now()
    with unit_of_work(load_settings()) as session:
        user = accounts.get_user(session, login)
        typer.echo(f"{'ID':>6}  {'KIND':<12}  {'STATUS':<8}  {'EXPIRES':<16}  {'LAST USED':<16}  NAME — GRANT")
        for t in tokens.list_tokens(session, user):
            expires = t.expires_at.strftime("%Y-%m-%d %H:%M") if t.expires_at else "never"
            used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
            typer.echo(
                f"{t.id:>6}  {t.kind:<12}  {_status(t, now):<8}  {expires:<16}  {used:<16}  {t.name} — {_grant(t)}"
            )


@token_app.command("regenerate")
def token_regenerate(
    token_id: Annotated[int, typer.Argument(metavar="ID")],
    expires_in: Annotated[str, typer.Option("--expires-in", help="Days until expiry, or 'never'.")] = "30",
) -> None:
    """Give a token a new secret (same id, same grants, new expiry) and print it once."""
    settings = load_settings()
    now = clock.now()
    expires_at = parse_expiry(expires_in, now)
    with unit_of_work(settings) as session:
        issued = tokens.regenerate_token(
            session,
            settings,
            token=tokens.get_token(session, token_id),
            expires_at=expires_at,
            now=now,
            mailer=mailer_for(settings),
        )
        secret = issued.secret
    typer.echo(secret)  # only after the commit: the old secret is refused from now on


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token at once."""
    with unit_of_work(load_settings()) as session:
        token = tokens.get_token(session, token_id)
        tokens.revoke_token(session, token=token, reason=RevokedReason.ADMIN, now=clock.now())
        typer.echo(f"revoked token {token.id} ({token.name}) of {token.user.login}")


maintenance_app = typer.Typer(help="Periodic work, on demand.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(audit_app, name="audit")


@maintenance_app.command("run")
def maintenance_run() -> None:
    """Send expiry reminders and notices, remove unused tokens, send owners' digests — now.

    Safe to run while servers run the same work: each piece is done once.
    """
    from tokenforge.jobs import maintenance

    settings = load_settings()
    db = Database(settings.resolved_database_url)
    try:
        db.migrate()
        report = maintenance.run(db, settings, mailer_for(settings), now=clock.now())
    finally:
        db.dispose()
    for line in report.lines():
        typer.echo(line)


def _parse_since(text: str) -> datetime:
    """``2026-11-01``, an ISO timestamp, or a relative ``7d`` / ``12h``."""
    text = text.strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return clock.now() - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"--since must be a date, a timestamp or a duration like 7d, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_app.command("list")
def audit_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's security log.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="A date, a timestamp, or e.g. 7d.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events, newest first.")] = 200,
) -> None:
    """Show audit events (every user's, or one user's security log)."""
    from sqlalchemy import select

    from tokenforge.audit.models import AuditEvent

    start = _parse_since(since) if since else None
    with unit_of_work(load_settings()) as session:
        query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(max(limit, 1))
        if user:
            query = query.where(AuditEvent.user_id == accounts.get_user(session, user).id)
        if start is not None:
            query = query.where(AuditEvent.created_at >= start)
        typer.echo(f"{'TIME':<20}  {'ACTION':<28}  {'ACTOR':<12}  {'TOKEN':<28}  {'IP':<15}  DETAILS")
        for event in session.scalars(query):
            token = f"{event.token_name} (#{event.token_id})" if event.token_id else ""
            details = ", ".join(f"{k}={v}" for k, v in event.data.items() if v not in (None, "", [], {}))
            typer.echo(
                f"{event.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20}  {event.action:<28}  "
                f"{event.actor_login or '(system)':<12}  {token[:28]:<28}  {event.ip or '':<15}  {details}"
            )


def _die(message: str, code: int) -> NoReturn:
    print(f"tokenforge: error: {message}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    """Entry point. Usage errors are Typer's (exit 2); every other error a user can cause is one
    line on stderr: exit 1 for bad input, 3 when the database cannot be reached."""
    try:
        app()
    except Unavailable as exc:
        _die(exc.message, 3)
    except TokenforgeError as exc:
        _die(exc.message, 1)
    except SQLAlchemyError as exc:
        _die(f"database error: {first_line(getattr(exc, 'orig', None) or exc)}", 3)
    except OSError as exc:
        _die(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 1)
