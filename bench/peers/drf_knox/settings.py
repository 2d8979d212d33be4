"""A minimal real Django + Django REST Framework + django-rest-knox project.

``django-admin startproject``'s settings, reduced to what an API-only project keeps: its default
middleware stack, SQLite, ``DEBUG = False``, and DRF configured for knox tokens and JSON only.
The database path comes from ``KNOXBENCH_DB`` (bench/http_load.py points it at a temporary file).
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("KNOXBENCH_SECRET_KEY", "bench-only-django-secret-key-not-used-for-tokens")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "knox",
]

# startproject's default stack, unchanged.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "drf_knox.urls"
ASGI_APPLICATION = "drf_knox.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("KNOXBENCH_DB", "knoxbench.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ("knox.auth.TokenAuthentication",),
    "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
    "DEFAULT_RENDERER_CLASSES": ("rest_framework.renderers.JSONRenderer",),
}
# knox's defaults: SHA-512 digests, 10-hour tokens, "Token" header prefix, no auto-refresh.
REST_KNOX: dict[str, object] = {}
