"""The personal access token pages over real HTTP: every form's validation, the token shown once,
pre-filled forms, lists, token pages, edit / regenerate / delete, and other users' tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

import factories
from live import LiveServer
from tokenforge.accounts.services import get_user
from tokenforge.authz.roles import OrgRole
from tokenforge.clock import FixedClock
from tokenforge.config import Settings
from tokenforge.orgs.services import get_org, set_member
from tokenforge.tokens.models import Token
from tokenforge.web.tokens import LIST_PAGE
from webui import PASSWORD, WebClient, csrf_of, field_errors, secret_in, web_server

NEW_CLASSIC = "/settings/tokens/new"
NEW_FINE = "/settings/personal-access-tokens/new"


@dataclass
class Site:
    server: LiveServer
    clock: FixedClock
    clients: list[WebClient] = field(default_factory=list)

    def signed_in(self, login: str) -> WebClient:
        with self.server.services.db.unit_of_work() as session:
            factories.user(session, login, self.clock.now(), password=PASSWORD)
        client = WebClient(self.server.url)
        self.clients.append(client)
        client.login(login)
        return client

    def api(self, path: str, secret: str) -> httpx.Response:
        return httpx.get(f"{self.server.url}/api/v3{path}", headers={"Authorization": f"token {secret}"})

    def tokens(self) -> int:
        with self.server.services.db.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(Token).where(Token.revoked_at.is_(None))) or 0)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    with web_server(settings) as (server, clock):
        running = Site(server, clock)
        try:
            yield running
        finally:
            for client in running.clients:
                client.close()


def classic(client: WebClient, note: str = "laptop", scopes: tuple[str, ...] = ("repo",), **extra: str) -> str:
    response = client.submit(
        NEW_CLASSIC, NEW_CLASSIC, {"note": note, "scopes": list(scopes), "expiration": "30", **extra}
    )
    assert response.status_code == 200, field_errors(response.text) or response.text[:2000]
    return secret_in(response.text)


def fine(client: WebClient, **fields: str | list[str]) -> httpx.Response:
    data: dict[str, str | list[str]] = {"name": "deploy", "expiration": "30", "repository_selection": "none"}
    data.update(fields)
    return client.submit(NEW_FINE, NEW_FINE, data)


# -- the secret is shown once -----------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_never_again(site: Site) -> None:
    client = site.signed_in("alice")
    response = client.submit(NEW_CLASSIC, NEW_CLASSIC, {"note": "laptop", "scopes": "repo", "expiration": "30"})
    secret = secret_in(response.text)
    assert "Make sure to copy your personal access token now. You won't be able to see it again!" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert secret not in response.headers.get("set-cookie", "")
    assert "location" not in response.headers
    assert site.api("/user", secret).status_code == 200
    token_id = re.search(r"/settings/tokens/(\d+)", response.text).group(1)  # type: ignore[union-attr]
    for path in (
        "/",
        "/settings/tokens",
        f"/settings/tokens/{token_id}",
        f"/settings/tokens/{token_id}/regenerate",
        f"/settings/tokens/{token_id}/delete",
        "/settings/emails",
        NEW_CLASSIC,
    ):
        page = client.get(path)
        assert secret not in page.text, path
        assert secret[-8:] not in page.text, path
    # Nor in the mail outbox or anywhere in the data directory's text files.
    for path in site.server.settings.data_dir.rglob("*.eml"):
        assert secret not in path.read_text()


def test_a_fine_grained_token_is_shown_once(site: Site) -> None:
    client = site.signed_in("alice")
    response = fine(client, name="ci", resource_owner="alice", **{"perm.contents": "read"})
    secret = secret_in(response.text)
    assert secret.startswith("github_pat_")
    assert "You won't be able to see it again" in response.text
    assert secret not in client.page("/settings/personal-access-tokens")
    assert secret not in client.page("/settings/personal-access-tokens/1")


# -- classic form -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field_name", "message"),
    [
        ({"note": ""}, "name", "Note can't be blank"),
        ({"note": "   "}, "name", "Note can't be blank"),
        ({"note": "x" * 256}, "name", "Note is too long (maximum is 255 characters)"),
        ({"scopes": ["repo", "sudo"]}, "scopes", "Unknown scope: sudo"),
        ({"expiration": "45"}, "expiration", "Choose an expiration"),
        ({"expiration": ""}, "expiration", "Choose an expiration"),
        (
            {"expiration": "custom", "expiration_date": "tomorrow"},
            "expiration",
            "Enter the expiration date as YYYY-MM-DD",
        ),
        ({"expiration": "custom", "expiration_date": "2026-02-30"}, "expiration", "Enter a real date"),
        ({"expiration": "custom", "expiration_date": "2001-01-01"}, "expiration", "Expiration must be in the future"),
        (
            {"expiration": "custom", "expiration_date": "9999-12-31"},
            "expiration",
            "Expiration is too far in the future",
        ),
    ],
)
def test_classic_form_errors_are_shown_next_to_the_field(
    site: Site, fields: dict[str, str], field_name: str, message: str
) -> None:
    client = site.signed_in("alice")
    data: dict[str, str | list[str]] = {"note": "laptop", "scopes": ["repo"], "expiration": "30"}
    data.update(fields)
    response = client.submit(NEW_CLASSIC, NEW_CLASSIC, data)
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert field_name in errors, errors
    assert errors[field_name].startswith(message)
    assert site.tokens() == 0


def test_classic_form_keeps_what_was_entered_and_refuses_duplicates(site: Site) -> None:
    client = site.signed_in("alice")
    classic(client, "ci")
    response = client.submit(
        NEW_CLASSIC, NEW_CLASSIC, {"note": "ci", "scopes": ["gist", "workflow"], "expiration": "7"}
    )
    assert field_errors(response.text) == {"name": "Note has already been taken"}
    assert 'value="gist" data-scope-parent checked' in response.text
    assert re.search(r'<option value="7"[^>]*selected', response.text)


def test_unicode_notes_and_custom_dates_and_no_expiry_work(site: Site) -> None:
    client = site.signed_in("alice")
    classic(client, "déploiement 🚀 <b>", ())
    classic(client, "forever", ("gist",), expiration="none")
    date = (site.clock.now() + timedelta(days=45)).date().isoformat()
    classic(client, "dated", ("gist",), expiration="custom", expiration_date=date)
    page = client.page("/settings/tokens")
    assert "déploiement 🚀 &lt;b&gt;" in page
    assert "<b>" not in page.split("<main")[1]
    assert "This token has no expiration date" in page
    assert "no scopes" in page


def test_classic_form_is_prefilled_from_the_url(site: Site) -> None:
    client = site.signed_in("alice")
    page = client.page(f"{NEW_CLASSIC}?scopes=repo,workflow&description=CI%20deploys")
    assert 'id="note" name="note" type="text" maxlength="255" required value="CI deploys"' in page
    for scope in ("repo", "workflow", "public_repo"):  # a parent ticks its children
        assert f'value="{scope}" data-scope-{"child" if scope == "public_repo" else "parent"} checked' in page
    assert 'value="gist" data-scope-parent>' in page
    bad = client.page(f"{NEW_CLASSIC}?scopes=repo,nonsense")
    assert field_errors(bad)["scopes"] == "Unknown scope: nonsense"


# -- fine-grained form ------------------------------------------------------------------------------


@pytest.fixture
def org_site(site: Site) -> Site:
    """alice (verified, signed in later) owns acme; bob is a member; lockdown forbids fine-grained
    tokens; shortlived allows 30 days; alice has a private repository, bob another."""
    with site.server.services.db.unit_of_work() as session:
        now = site.clock.now()
        alice = factories.user(session, "alice", now, password=PASSWORD)
        bob = factories.user(session, "bob", now, password=PASSWORD)
        acme = factories.org(session, "acme", alice, now, members=[bob])
        factories.org(session, "lockdown", alice, now, fine_grained_tokens_allowed=False)
        factories.org(session, "shortlived", bob, now, members=[alice], max_lifetime_fine_grained_days=30)
        factories.repo(session, site.server.settings, alice, "dots", now, private=True)
        factories.repo(session, site.server.settings, bob, "secret", now, private=True)
        factories.repo(session, site.server.settings, acme, "site", now)
        factories.repo(session, site.server.settings, acme, "infra", now, private=True)
    return site


def login(site: Site, name: str) -> WebClient:
    client = WebClient(site.server.url)
    site.clients.append(client)
    client.login(name)
    return client


def repo_id(site: Site, full_name: str) -> str:
    from tokenforge.repos.services import get_repository

    with site.server.services.db.unit_of_work() as session:
        return str(get_repository(session, full_name).id)


def test_fine_grained_form_offers_only_allowed_owners_and_visible_repositories(org_site: Site) -> None:
    page = login(org_site, "alice").page(NEW_FINE)
    owners = re.findall(r'<option value="([^"]+)" data-is-org', page)
    assert owners == ["alice", "acme", "shortlived"]  # not lockdown: it forbids fine-grained tokens
    assert "alice/dots" in page
    assert "acme/site" in page
    assert "acme/infra" in page
    assert "bob/secret" not in page
    assert 'data-max-days="30"' in page  # shortlived's policy, for the script to limit choices
    assert '<select id="perm-metadata" disabled' in page
    assert "Mandatory" in page


def test_fine_grained_form_is_prefilled_from_the_url(org_site: Site) -> None:
    client = login(org_site, "alice")
    page = client.page(
        f"{NEW_FINE}?name=Deploy&description=Ships%20it&target_name=acme&expires_in=45&contents=write&issues=read"
    )
    assert 'value="Deploy"' in page
    assert ">Ships it</textarea>" in page
    assert re.search(r'<option value="acme"[^>]*selected', page)
    assert re.search(r'<option value="custom"[^>]*selected', page)
    expected = (org_site.clock.now() + timedelta(days=45)).date().isoformat()
    assert f'value="{expected}"' in page
    assert re.search(
        r'name="perm\.contents">\s*<option value="">No access</option>\s*<option value="read">Read-only'
        r'</option>\s*<option value="write" selected>',
        page,
    )
    assert re.search(r'<option value="read" selected>Read-only</option>', page)

    unknown = client.page(f"{NEW_FINE}?target_name=octodemo")
    assert field_errors(unknown)["resource_owner"] == "Cannot find the specified resource owner: octodemo"
    forbidden = client.page(f"{NEW_FINE}?target_name=lockdown")
    assert field_errors(forbidden)["resource_owner"] == "Cannot find the specified resource owner: lockdown"
    bad = client.page(f"{NEW_FINE}?workflows=read&contents=sudo&expires_in=400")
    errors = field_errors(bad)
    assert "workflows can be write, not read" in errors["permissions"]
    assert "contents: unknown level 'sudo'" in errors["permissions"]
    assert errors["expiration"] == "expires_in must be a number of days from 1 to 366, or none"


def test_fine_grained_token_with_selected_repositories(org_site: Site) -> None:
    client = login(org_site, "alice")
    response = fine(
        client,
        resource_owner="alice",
        repository_selection="subset",
        repositories=[repo_id(org_site, "alice/dots")],
        **{"perm.contents": "write", "perm.emails": "read"},
    )
    secret = secret_in(response.text)
    assert org_site.api("/repos/alice/dots", secret).status_code == 200
    page = client.page("/settings/personal-access-tokens")
    assert "Resource owner: <strong>alice</strong>" in page
    assert "1 selected repository" in page
    assert "Read and write: Contents" in page
    assert "Read-only: Email addresses, Metadata" in page
    detail = client.page("/settings/personal-access-tokens/1")
    assert "alice/dots" in detail
    assert "Account permissions" in detail


@pytest.mark.parametrize(
    ("fields", "field_name", "message"),
    [
        ({"name": ""}, "name", "Name can't be blank"),
        ({"name": "n" * 41}, "name", "Name is too long (maximum is 40 characters)"),
        ({"description": "d" * 1025}, "description", "Description is too long (maximum is 1024 characters)"),
        ({"resource_owner": ""}, "resource_owner", "Choose a resource owner"),
        ({"resource_owner": "nobody"}, "resource_owner", "Cannot find the specified resource owner: nobody"),
        ({"resource_owner": "lockdown"}, "resource_owner", "Cannot find the specified resource owner: lockdown"),
        ({"resource_owner": "bob"}, "resource_owner", "Cannot find the specified resource owner: bob"),
        ({"repository_selection": "everything"}, "repositories", "Choose the repository access"),
        ({"repository_selection": "subset"}, "repositories", "Select at least one repository"),
        ({"repository_selection": "subset", "repositories": "abc"}, "repositories", "Repository not found"),
        ({"repository_selection": "subset", "repositories": "99999999999"}, "repositories", "Repository not found"),
        ({"perm.contents": "admin"}, "permissions", "contents can be read, write, not admin"),
        ({"perm.metadata": "write"}, "permissions", "metadata can be read, not write"),
        ({"perm.bogus": "read"}, "permissions", "unknown permission: 'bogus'"),
        ({"perm.members": "read"}, "permissions", "members is an organization permission"),
        ({"expiration": "none", "resource_owner": "shortlived"}, "expiration", "shortlived requires fine-grained"),
        ({"expiration": "60", "resource_owner": "shortlived"}, "expiration", "shortlived requires fine-grained"),
        ({"justification": "j" * 1025}, "justification", "Justification is too long"),
    ],
)
def test_fine_grained_form_errors_are_shown_next_to_the_field(
    org_site: Site, fields: dict[str, str], field_name: str, message: str
) -> None:
    client = login(org_site, "alice")
    data = {"resource_owner": "alice", **fields}
    response = fine(client, **data)
    assert response.status_code == 422, response.text[:1000]
    errors = field_errors(response.text)
    assert field_name in errors, errors
    assert errors[field_name].startswith(message), errors
    assert org_site.tokens() == 0


def test_someone_elses_private_repository_cannot_be_selected_or_probed(org_site: Site) -> None:
    client = login(org_site, "alice")
    response = fine(
        client, resource_owner="alice", repository_selection="subset", repositories=[repo_id(org_site, "bob/secret")]
    )
    assert field_errors(response.text) == {"repositories": "Repository not found"}
    assert "bob/secret" not in response.text


def test_organization_permissions_are_for_organization_owners(org_site: Site) -> None:
    bob = login(org_site, "bob")
    refused = fine(bob, resource_owner="acme", **{"perm.members": "read"})
    assert field_errors(refused.text) == {"permissions": "Only organization owners can grant organization permissions"}
    alice = login(org_site, "alice")
    assert secret_in(fine(alice, resource_owner="acme", **{"perm.members": "read"}).text)


def test_a_members_organization_token_waits_for_approval(org_site: Site) -> None:
    bob = login(org_site, "bob")
    page = bob.page(NEW_FINE)
    assert 'data-needs-approval="true"' in page
    secret_in(fine(bob, resource_owner="acme", justification="deploys the site").text)
    listing = bob.page("/settings/personal-access-tokens")
    assert "Pending approval by acme" in listing


def test_a_shorter_lifetime_policy_limits_the_choices(org_site: Site) -> None:
    client = login(org_site, "bob")
    page = client.page(f"{NEW_FINE}?target_name=shortlived")
    assert re.search(r'<option value="60" data-days="60" disabled>', page)
    assert re.search(r'<option value="none" data-days="none" disabled>', page)
    assert "requires tokens to expire within 30 days" in page


# -- lists and token pages ---------------------------------------------------------------------------


def test_lists_are_newest_first_with_githubs_wording(site: Site) -> None:
    client = site.signed_in("alice")
    used = classic(client, "oldest", ("gist",))
    site.clock.advance(timedelta(minutes=1))
    classic(client, "middle", ("gist",), expiration="none")
    site.clock.advance(timedelta(minutes=1))
    classic(client, "newest", ("gist",), expiration="7")
    assert site.api("/user", used).status_code == 200
    site.server.services.flush_usage()
    site.clock.advance(timedelta(days=8))
    page = client.page("/settings/tokens")
    names = re.findall(r'class="token-name" href="/settings/tokens/\d+">([^<]+)</a>', page)
    assert names == ["newest", "middle", "oldest"]
    assert "Last used within the last 2 weeks" in page
    assert page.count("Never used") == 2
    assert "This token has no expiration date" in page
    assert re.search(r"Expired on \w{3}, \w{3} \d{1,2} \d{4}", page)
    assert re.search(r"Expires on \w{3}, \w{3} \d{1,2} \d{4}", page)
    detail = client.page("/settings/tokens/1")
    assert "127.0.0.1" in detail  # recent IPs
    with site.server.services.db.unit_of_work() as session:
        session.execute(update(Token).values(last_used_at=site.clock.now() - timedelta(days=400)))
    assert "Last used more than a year ago" in client.page("/settings/tokens")


def test_long_lists_are_paged_newest_first(site: Site) -> None:
    client = site.signed_in("alice")
    with site.server.services.db.unit_of_work() as session:
        alice = get_user(session, "alice")
        for i in range(LIST_PAGE + 3):
            site.clock.advance(timedelta(seconds=1))
            factories.classic(session, site.server.settings, alice, site.clock.now(), "gist", note=f"ci-{i:02d}")
        factories.fine_grained(session, site.server.settings, alice, site.clock.now(), name="only one")

    def names(path: str) -> list[str]:
        return re.findall(r'class="token-name" href="/settings/[a-z-]+/\d+">([^<]+)</a>', client.page(path))

    first = client.page("/settings/tokens")
    assert names("/settings/tokens") == [f"ci-{i:02d}" for i in range(LIST_PAGE + 2, 2, -1)]
    assert 'rel="next" href="/settings/tokens?page=2"' in first
    assert 'rel="prev"' not in first
    second = client.page("/settings/tokens?page=2")
    assert names("/settings/tokens?page=2") == ["ci-02", "ci-01", "ci-00"]
    assert 'rel="prev" href="/settings/tokens"' in second
    assert 'rel="next"' not in second
    beyond = client.page("/settings/tokens?page=7")
    assert "Nothing on this page." in beyond
    assert "You have no personal access tokens" not in beyond
    # Each kind is paged on its own: the fine-grained list has its one token and no pager.
    fine_list = client.page("/settings/personal-access-tokens")
    assert names("/settings/personal-access-tokens") == ["only one"]
    assert 'class="pager"' not in fine_list


def test_the_settings_menu_reaches_every_section(site: Site) -> None:
    client = site.signed_in("alice")
    page = client.page("/settings")
    for link in ("/settings/emails", "/settings/personal-access-tokens", "/settings/tokens"):
        assert f'href="{link}"' in page
        assert client.get(link).status_code == 200
    assert "Developer settings" in page
    assert "Fine-grained tokens" in page
    assert "Tokens (classic)" in page
    assert client.get("/settings/apps").headers["location"] == "/settings/personal-access-tokens"


# -- edit, regenerate, delete -------------------------------------------------------------------------


def test_updating_a_classic_token_keeps_its_secret(site: Site) -> None:
    client = site.signed_in("alice")
    secret = classic(client, "ci", ("gist",))
    page = client.page("/settings/tokens/1")
    response = client.post("/settings/tokens/1", {"note": "ci v2", "scopes": ["repo", "user"]}, csrf=csrf_of(page))
    assert response.status_code == 303
    assert "Token updated." in client.page("/settings/tokens/1")
    assert site.api("/user", secret).headers["X-OAuth-Scopes"] == "repo, user"
    bad = client.post("/settings/tokens/1", {"note": "", "scopes": ["nope"]}, csrf=csrf_of(page))
    assert bad.status_code == 422
    assert field_errors(bad.text) == {"name": "Note can't be blank"}


def test_editing_a_fine_grained_token_cannot_move_it_to_another_owner(org_site: Site) -> None:
    client = login(org_site, "alice")
    secret = secret_in(fine(client, name="dots", resource_owner="alice", **{"perm.contents": "read"}).text)
    form = client.page("/settings/personal-access-tokens/1/edit")
    assert "(cannot be changed)" in form
    response = client.post(
        "/settings/personal-access-tokens/1",
        {
            "name": "dots v2",
            "description": "now with issues",
            "resource_owner": "acme",  # tampered: ignored
            "repository_selection": "all",
            "perm.contents": "read",
            "perm.issues": "write",
        },
        csrf=csrf_of(form),
    )
    assert response.status_code == 303
    page = client.page("/settings/personal-access-tokens/1")
    assert "dots v2" in page
    assert "All repositories" in page
    assert "<dt>Resource owner</dt><dd>alice</dd>" in page
    assert org_site.api("/repos/alice/dots", secret).status_code == 200
    bad = client.post(
        "/settings/personal-access-tokens/1",
        {"name": "x" * 41, "repository_selection": "none"},
        csrf=csrf_of(form),
    )
    assert field_errors(bad.text) == {"name": "Name is too long (maximum is 40 characters)"}


def test_regenerating_replaces_the_secret_at_once(site: Site) -> None:
    client = site.signed_in("alice")
    old = classic(client, "ci", ("gist",))
    page = client.page("/settings/tokens/1/regenerate")
    assert "Regenerate personal access token" in page
    response = client.post("/settings/tokens/1/regenerate", {"expiration": "90"}, csrf=csrf_of(page))
    new = secret_in(response.text)
    assert new != old
    assert site.api("/user", old).status_code == 401
    assert site.api("/user", new).status_code == 200
    assert "ci" in client.page("/settings/tokens/1")  # same token, same id
    bad = client.post("/settings/tokens/1/regenerate", {"expiration": "x"}, csrf=csrf_of(page))
    assert field_errors(bad.text) == {"expiration": "Choose an expiration"}
    assert site.api("/user", new).status_code == 200


def test_regenerating_a_fine_grained_token_respects_the_owners_lifetime_policy(org_site: Site) -> None:
    client = login(org_site, "bob")
    old = secret_in(fine(client, name="short", resource_owner="shortlived").text)
    page = client.page("/settings/personal-access-tokens/1/regenerate")
    assert re.search(r'<option value="90" data-days="90" disabled>', page)
    refused = client.post("/settings/personal-access-tokens/1/regenerate", {"expiration": "90"}, csrf=csrf_of(page))
    assert refused.status_code == 422
    assert "shortlived requires fine-grained tokens to expire within 30 days" in refused.text
    new = secret_in(
        client.post("/settings/personal-access-tokens/1/regenerate", {"expiration": "7"}, csrf=csrf_of(page)).text
    )
    assert new != old


def test_deleting_asks_for_confirmation_and_refuses_the_token_at_once(site: Site) -> None:
    client = site.signed_in("alice")
    secret = classic(client, "ci", ("gist",))
    confirm = client.page("/settings/tokens/1/delete")
    assert "Are you sure you want to delete" in confirm
    response = client.post("/settings/tokens/1/delete", {}, csrf=csrf_of(confirm))
    assert response.headers["location"] == "/settings/tokens"
    assert "Deleted personal access token “ci”." in client.page("/settings/tokens")
    assert site.api("/user", secret).status_code == 401
    assert client.get("/settings/tokens/1").status_code == 404


# -- other people's tokens, odd ids --------------------------------------------------------------------


def test_another_users_token_is_404_everywhere(site: Site) -> None:
    bob = site.signed_in("bob")
    bobs_classic = classic(bob, "bob's", ("gist",))
    bobs_fine = secret_in(fine(bob, name="bob's fine", resource_owner="bob").text)
    alice = site.signed_in("alice")
    csrf = csrf_of(alice.page("/logout"))
    for base, token_id in (("/settings/tokens", "1"), ("/settings/personal-access-tokens", "2")):
        for suffix in ("", "/regenerate", "/delete", "/edit"):
            if suffix == "/edit" and "personal" not in base:
                continue
            assert alice.get(f"{base}/{token_id}{suffix}").status_code == 404, (base, suffix)
        for suffix, data in (
            ("", {"note": "mine", "name": "mine"}),
            ("/regenerate", {"expiration": "7"}),
            ("/delete", {}),
        ):
            response = alice.post(f"{base}/{token_id}{suffix}", data, csrf=csrf)
            assert response.status_code == 404, (base, suffix, response.text[:300])
    assert site.api("/user", bobs_classic).status_code == 200
    assert site.api("/user", bobs_fine).status_code == 200
    assert "bob&#39;s" in bob.page("/settings/tokens")
    # A classic id on the fine-grained pages (and the reverse) is not found either.
    own = classic(alice, "mine", ("gist",))
    assert alice.get("/settings/personal-access-tokens/3").status_code == 404
    assert site.api("/user", own).status_code == 200


@pytest.mark.parametrize("token_id", ["abc", "0", "-1", "99999999999", "1.5", "%C2%B2", "1%20"])
def test_ids_that_cannot_exist_are_404(site: Site, token_id: str) -> None:
    client = site.signed_in("alice")
    classic(client, "ci", ())
    assert client.get(f"/settings/tokens/{token_id}").status_code == 404
    assert (
        client.post(f"/settings/tokens/{token_id}/delete", {}, csrf=csrf_of(client.page("/logout"))).status_code == 404
    )


def test_a_signed_out_visitor_is_sent_to_sign_in(site: Site) -> None:
    with WebClient(site.server.url) as anonymous:
        for path in (
            "/settings/tokens",
            "/settings/personal-access-tokens/new",
            "/settings/tokens/1",
            "/settings/emails",
        ):
            response = anonymous.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?return_to=")
        token = csrf_of(anonymous.page("/login"))
        assert (
            anonymous.post("/settings/tokens/new", {"note": "x"}, csrf=token).headers["location"]
            == "/login?return_to=%2F"
        )


def test_org_member_ship_changes_are_reflected_in_the_offered_owners(org_site: Site) -> None:
    client = login(org_site, "bob")
    assert re.search(r'<option value="acme"', client.page(NEW_FINE))
    with org_site.server.services.db.unit_of_work() as session:
        acme = get_org(session, "acme")
        set_member(session, org=acme, user=get_user(session, "bob"), role=OrgRole.OWNER, now=org_site.clock.now())
    page = client.page(NEW_FINE)
    assert re.search(r'<option value="acme" data-is-org="true" data-org-owner="true"', page)
