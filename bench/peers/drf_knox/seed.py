"""Migrate, create one user and one knox token; print the token (nothing else) on stdout.

KNOXBENCH_DB=/tmp/x.sqlite3 bench/.venv-peers/bin/python bench/peers/drf_knox/seed.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drf_knox.settings")


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from knox.models import AuthToken

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", email="bench@example.com", password=None)
    _, token = AuthToken.objects.create(user=user)  # default TTL (10 h), as knox's LoginView issues
    print(token)


if __name__ == "__main__":
    main()
