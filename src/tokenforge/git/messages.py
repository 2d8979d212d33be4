"""What git prints, in GitHub's words where GitHub has words (spec §7.4).

git shows the body of a failed ``info/refs`` request line by line as ``remote: …`` when, and only
when, it is ``text/plain``; so each function returns the body's lines and ``http.py`` joins them.
No text here ever contains a token, a password or a username that was *presented*: only the login
of an authenticated token's owner, which the caller already knows.
"""

from __future__ import annotations

# The realm in ``WWW-Authenticate``. git ignores it; desktop credential helpers do not: GitHub
# Desktop treats realm="GitHub" as "this is a GitHub endpoint" (spec §7.2) and may offer a
# github.com credential to it. A self-hosted server must never invite another service's secret,
# so the realm names this product.
REALM = "Tokenforge"

REPOSITORY_NOT_FOUND = "Repository not found."
INVALID_TOKEN = "Invalid username or token. Password authentication is not supported for Git operations."  # noqa: S105
WRITE_NOT_GRANTED = "Write access to repository not granted."
# Dumb HTTP (plain file fetches) bypasses upload-pack; like GitHub, only smart HTTP is served.
DUMB_HTTP = "Git over dumb HTTP is not supported. Please upgrade your git client."
SERVER_ERROR = "Internal server error. Please try again later."
# For the 401 that asks git to fetch credentials: git does not show it (it asks its credential
# helper instead), but a person reading the response with curl should learn what to send.
CREDENTIALS_NEEDED = "Authentication required: use your username and a personal access token as the password."


def password_not_supported(base_url: str) -> list[str]:
    """An account password where a token belongs (GitHub removed password auth on 2021-08-13).

    The wording follows GitHub's two lines (spec §7.4) but points at this server's token page,
    since a person seeing it needs to know where to create the token, not a date in GitHub's history.
    """
    return [
        "Password authentication is not supported for Git operations.",
        f"Please use a personal access token instead: create one at {base_url}/settings/tokens",
        "and enter it when git asks for your password.",
    ]


def permission_denied(full_name: str, login: str) -> str:
    """A person (or a classic token) without push rights on a repository they can see."""
    return f"Permission to {full_name}.git denied to {login}."


def workflow_refused(path: str, *, fine_grained: bool) -> str:
    """The reason in ``! [remote rejected] <ref> -> <ref> (…)`` when the workflow rule refuses a ref.

    GitHub's classic wording (spec §7.4) names the ``workflow`` scope; a fine-grained token lacks
    the ``workflows`` permission instead, the noun GitHub uses for Apps in the same message.
    """
    missing = "`workflows` permission" if fine_grained else "`workflow` scope"
    return f"refusing to allow a Personal Access Token to create or update workflow `{path}` without {missing}"
